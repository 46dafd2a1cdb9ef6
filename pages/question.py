"""Question view: one question's answers, clusters, scores and similarity graph."""

import pandas as pd
import streamlit as st

from components import cards, figures, labelling, state
from components.tables import fmt, md_escape
from uqlens.analysis import overview as analysis

view = state.current()
questions = view.run.table("questions")
ids = questions["question_id"].tolist()
text_of = dict(zip(questions["question_id"], questions["question"], strict=True))
current = st.session_state.get(state.QUESTION)
if current is not None and current not in ids:
    st.warning(f"Unknown question {current!r} in this run; showing the first one.")
    current = None
current = current or ids[0]
st.session_state[state.QUESTION] = current
if st.session_state.get("w.q") != current:
    st.session_state["w.q"] = current


def go_to(qid: str) -> None:
    st.session_state[state.QUESTION] = st.session_state["w.q"] = qid
    st.session_state.pop(state.CLUSTER, None)


i = ids.index(current)
nav = st.columns([1.3, 1.3, 7.4], vertical_alignment="bottom")
nav[0].button("Previous", icon=":material/arrow_back:", disabled=i == 0, width="stretch",
              on_click=go_to, args=(ids[max(i - 1, 0)],))
nav[1].button("Next", icon=":material/arrow_forward:", disabled=i == len(ids) - 1,
              width="stretch", on_click=go_to, args=(ids[min(i + 1, len(ids) - 1)],))
nav[2].selectbox("Find a question", ids, key="w.q",
                 format_func=lambda q: f"{q} · {str(text_of[q])[:100]}",
                 on_change=lambda: go_to(st.session_state["w.q"]))
cluster = st.session_state.get(state.CLUSTER)
state.sync_url(view, q=current, cluster=cluster)

st.caption(f"Question {i + 1} of {len(ids)} · `{current}`")
st.markdown(f"### {md_escape(text_of[current])}")
refs = questions.loc[questions["question_id"] == current, "references"].iloc[0]
st.caption("References")
st.text(" | ".join(str(r) for r in list(refs)))

judged = analysis.judged_answers(view.run, view.judge)
j = judged[judged["question_id"] == current].iloc[0]
clusters = state.compute("cluster_summary", view, view.rule, view.judge, current)
with st.container(border=True):
    left, right = st.columns([3, 1])
    left.caption(f"Judged answer ({'greedy' if bool(j.get('is_greedy')) else 'first sample'})")
    left.text(str(j["text"]))
    with right:
        cards.correctness_badge(j["correct"])
        st.caption(f"judge `{view.judge}`")
labelling.human_caption(view)

scores = state.compute("question_scores", view, view.rule)
mine = scores[scores["question_id"] == current]
m = st.columns(4)
m[0].metric("Samples", int(clusters["size"].sum()) if len(clusters) else 0)
m[1].metric("Clusters", len(clusters))
m[2].metric("Dominant share", f"{clusters['mass'].max():.0%}" if len(clusters) else "–")
mine_m = mine[mine["method"] == view.method]
m[3].metric(view.method, fmt(mine_m["uncertainty"].iloc[0]) if len(mine_m) else "–",
            help="Uncertainty under the current method (higher = more uncertain).")

st.subheader(f"Clusters under `{view.rule}`")
st.caption(analysis.scored_samples_note(view.run))
try:
    selected = None if cluster is None else int(cluster)
except ValueError:
    st.warning(f"Unknown cluster {cluster!r} in the link.")
    selected = None
if selected is not None and selected not in set(clusters["cluster_id"]):
    st.warning(f"Cluster {selected} does not exist for this question under `{view.rule}`.")
cards.cluster_cards(clusters, selected=selected)
labelling.review_box(view, current, clusters, str(j["text"]), refs)

left, right = st.columns([1, 1])
with left:
    st.subheader("Every method's score")
    st.dataframe(mine[["method", "uncertainty", "percentile", "tie"]], hide_index=True,
                 width="stretch",
                 column_config={
                     "uncertainty": st.column_config.NumberColumn(format="%.3f"),
                     "percentile": st.column_config.ProgressColumn(
                         "percentile (100 = most uncertain)", format="%.0f", min_value=0,
                         max_value=100, color="orange"),
                 })
with right:
    backend = analysis.rule_backend(view.run.manifest, view.rule)
    st.subheader("Similarity graph")
    w, samples = analysis.affinity_matrix(view.run, current, backend)
    if w.size == 0:
        which = f" (backend `{backend}`)" if backend else ""
        st.info(f"No entailment pairs for this question{which}.")
    else:
        gen = view.run.table("generations")
        g = gen[gen["question_id"] == current].set_index("sample_id")["text"]
        eigs = analysis.laplacian_eigenvalues(w)
        h1, h2 = st.columns(2)
        h1.plotly_chart(figures.affinity_heatmap(w, samples, [g[s] for s in samples]),
                        width="stretch", key="q.affinity")
        h2.plotly_chart(figures.eigenvalue_bars(eigs), width="stretch", key="q.eigs")
        eigv = float(pd.Series(1 - eigs).clip(lower=0).sum())
        st.caption(f"Affinity: mean two-way entailment probability (`{backend}`). "
                   f"Laplacian eigenvalues below 1 count near-separate groups; "
                   f"Σ max(0, 1 − λ) = {eigv:.2f}.")
