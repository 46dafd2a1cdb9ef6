"""Question view: one question's answers, clusters, scores and similarity graph."""

import numpy as np
import pandas as pd
import streamlit as st

from components import cards, labelling, shell, url
from components.cache import cached
from components.tables import fmt, md_escape, visible
from uqlens.analysis import overview as analysis
from uqlens.analysis.marks import distinct_answers
from uqlens.analysis.spectrum import question_spectrum
from uqlens.core.text import visible_controls
from uqlens.run.rescore import Replay
from uqlens.viz import answers as figures

view = shell.start("Question", write_url=False)
questions = view.run.table("questions")
ids = questions["question_id"].tolist()
text_of = dict(zip(questions["question_id"], questions["question"], strict=True))
current = st.session_state.get(url.QUESTION)
if current is not None and current not in ids:
    st.warning(f"Unknown question {current!r} in this run; showing the first one.")
    current = None
current = current or ids[0]
st.session_state[url.QUESTION] = current
if st.session_state.get("w.q") != current:
    st.session_state["w.q"] = current


def go_to(qid: str) -> None:
    st.session_state[url.QUESTION] = st.session_state["w.q"] = qid
    st.session_state.pop(url.CLUSTER, None)


i = ids.index(current)
nav = st.columns([1.3, 1.3, 7.4], vertical_alignment="bottom")
nav[0].button("Previous", icon=":material/arrow_back:", disabled=i == 0, width="stretch",
              on_click=go_to, args=(ids[max(i - 1, 0)],))
nav[1].button("Next", icon=":material/arrow_forward:", disabled=i == len(ids) - 1,
              width="stretch", on_click=go_to, args=(ids[min(i + 1, len(ids) - 1)],))
nav[2].selectbox("Find a question", ids, key="w.q",
                 format_func=lambda q: f"{q} · {visible_controls(str(text_of[q]))[:100]}",
                 on_change=lambda: go_to(st.session_state["w.q"]))
cluster = st.session_state.get(url.CLUSTER)
url.sync(view, q=current, cluster=cluster)

st.caption(f"Question {i + 1} of {len(ids)} · `{current}`")
st.markdown(f"### {md_escape(visible_controls(str(text_of[current])))}")

# computed from this question's rows alone (a million answers: never whole-run frames)
detail = cached(analysis.question_detail, view.run.restricted([current]), view.rule,
                view.method, view.judge)
judged = detail["judged"]
j = judged[judged["question_id"] == current].iloc[0]
clusters = detail["clusters"]
clusters = clusters[clusters["question_id"] == current]
mine = cached(analysis.question_scores_of, view.run, view.rule, current)
# the chosen method first, then the run's order: its score is visible without scrolling
order = {m: k for k, m in enumerate(dict.fromkeys([view.method, *view.run.methods]))}
mine = mine.assign(_o=mine["method"].map(order).fillna(len(order))).sort_values(
    ["_o", "method"]).drop(columns="_o")
mine_m = mine[mine["method"] == view.method]

top_left, top_right = st.columns([1, 1])
with top_left:
    refs = questions.loc[questions["question_id"] == current, "references"].iloc[0]
    st.caption("References")
    cards.model_text(" | ".join(str(r) for r in list(refs)), limit=600)
    with st.container(border=True):
        left, right = st.columns([3, 1])
        with left:
            st.caption("Judged answer "
                       f"({'greedy' if bool(j.get('is_greedy')) else 'first sample'})")
            cards.model_text(j["text"])
        with right:
            cards.correctness_badge(j["correct"])
            st.caption(f"judge `{view.judge}`")
    labelling.human_caption(view)
with top_right:
    st.dataframe(mine[["method", "uncertainty", "percentile", "tie"]], hide_index=True,
                 width="stretch", height=min(36 + 35 * len(mine), 282), key="q.scores",
                 column_config={
                     "method": st.column_config.TextColumn("method (current first)",
                                                           width=185),
                     "uncertainty": st.column_config.NumberColumn(format="%.3f", width=85),
                     "percentile": st.column_config.NumberColumn(
                         "percentile", format="%.0f", width=75,
                         help="100 = the run's most uncertain question; tied scores share "
                              "their mid-rank"),
                 })

m = st.columns(5)
m[0].metric("Samples", int(clusters["size"].sum()) if len(clusters) else 0)
m[1].metric("Clusters", len(clusters))
m[2].metric("Dominant share", f"{clusters['mass'].max():.0%}" if len(clusters) else "–")
m[3].metric(view.method, fmt(mine_m["uncertainty"].iloc[0]) if len(mine_m) else "–",
            help="Uncertainty under the current method (higher = more uncertain).")
pct = mine_m["percentile"].iloc[0] if len(mine_m) else float("nan")
tie = str(mine_m["tie"].iloc[0]) if len(mine_m) and "tie" in mine_m else ""
m[4].metric("Percentile", "–" if pd.isna(pct) else f"{pct:.0f}",
            help=f"Share of the run's questions at most this uncertain under {view.method} "
                 "(100 = the most uncertain)" + (f"; {tie}" if tie else "") + ".")

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

st.subheader("This question's answers on the map")
if view.run.table("projection").empty:
    st.info("This run has no `projection` table, so its answers have no map positions.")
else:
    q_points = detail["points"]
    q_marks = distinct_answers(q_points[q_points["question_id"] == current])
    if q_marks.empty:
        st.info("None of this question's answers has a map position.")
    else:
        reps = dict(zip(clusters["cluster_id"].astype(int), clusters["representative"],
                        strict=True))
        st.plotly_chart(figures.question_map(q_marks, reps, view.method), width="stretch",
                        key="q.map")
        st.caption(f"{len(q_marks)} distinct answers of {int(q_marks['count'].sum())}, placed "
                   "as on the Answer map. Colour: cluster; symbol: ● correct, ✕ incorrect, "
                   "○ unknown (a diamond of the same kind for the judged answer); area ∝ how "
                   "often the answer was given.")

st.subheader("Similarity graph (as `eigv` sees it)")
# a Replay of this question's rows only: one of the whole run reads and re-scores every pair
spec = cached(question_spectrum, view.run.restricted([current]), view.rule, current,
              via=Replay)
if spec is None:
    backend = analysis.rule_backend(view.run.manifest, view.rule)
    which = f" (backend `{backend}`)" if backend else ""
    st.info(f"No similarity graph for this question under `{view.rule}`{which}: fewer than "
            "two scored samples, or no entailment pairs.")
else:
    h1, h2 = st.columns(2)
    h1.plotly_chart(figures.affinity_heatmap(spec.affinity, spec.sample_ids, spec.texts),
                    width="stretch", key="q.affinity")
    h2.plotly_chart(figures.eigenvalue_bars(spec.eigenvalues), width="stretch", key="q.eigs")
    params = ", ".join(f"{k} {v}" for k, v in spec.params.items())
    st.caption(f"Affinity and normalised-Laplacian eigenvalues of the `eigv` method ({params}; "
               f"pairs from `{analysis.rule_backend(view.run.manifest, view.rule)}`) over the "
               f"{len(spec.sample_ids)} scored samples. Eigenvalues below 1 count "
               f"near-separate groups; Σ max(0, 1 − λ) = {spec.eigv:.3f}.")
    stored = mine.loc[mine["method"] == "eigv", "uncertainty"]
    if len(stored) and not np.isclose(float(stored.iloc[0]), spec.eigv, atol=5e-4):
        st.warning(f"The run stores eigv = {fmt(stored.iloc[0])} for this question; re-scored "
                   f"from its tables it is {spec.eigv:.3f}.", icon=":material/warning:")
    with st.expander("Scored samples"):
        st.dataframe(pd.DataFrame({"sample": spec.sample_ids,
                                   "answer": visible(pd.Series(spec.texts, dtype=object))}),
                     hide_index=True, width="stretch", key="q.samples")
