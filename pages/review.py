"""Review queue: the questions most worth a person's look, one at a time, keyboard-friendly."""

import streamlit as st

from components import cards, labelling, shell
from components.cache import cached
from components.tables import md_escape, visible
from components.url import link
from uqlens.analysis import overview, review
from uqlens.core.text import visible_controls

view = shell.start("Review queue")
st.title("Review queue")
st.caption("Ordered by value: judges disagree or a reference is doubtful (weight 3), a cluster "
           "holds answers judged right and wrong, a confident hallucination nobody reviewed "
           "(2; +1 if a gate accepts it). Reviewed questions go last. Labels go to the run's "
           "`labels.jsonl`; pick the `human+…` judge in the sidebar to see every view with them.")
labelling.reviewer()
labelling.human_caption(view)
queue = cached(review.review_queue, view.run, view.rule, view.method, view.judge)
if queue.empty:
    st.success("Nothing to review under this rule, method and judge.")
    st.stop()

ids = queue["question_id"].tolist()
qid = st.session_state.get(labelling.QUEUE_Q)
qid = qid if qid in ids else ids[0]
st.session_state[labelling.QUEUE_Q] = qid
item = queue.set_index("question_id").loc[qid]
st.caption(f"Item {ids.index(qid) + 1} of {len(ids)} · {int(queue['reviewed'].sum())} reviewed"
           f" · `{qid}` · priority {int(item['priority'])}: {item['reasons']}")
st.markdown(f"### {md_escape(visible_controls(str(item['question'])))}")
# the chosen method's verdict first: what a reviewer weighs the answers against
scores = cached(overview.question_scores, view.run, view.rule, view.method).set_index(
    "question_id")
if qid in scores.index and scores.loc[qid, "uncertainty"] == scores.loc[qid, "uncertainty"]:
    mine_score = scores.loc[qid]
    cols = st.columns(3)
    cols[0].metric(view.method, f"{mine_score['uncertainty']:.3f}",
                   help="Uncertainty under the sidebar's method and rule (higher = less sure).")
    cols[1].metric("Percentile", f"{mine_score['percentile']:.0f}",
                   help="Mid-rank percentile among the run's questions; 100 = most uncertain.")
    cols[2].metric("Ties", mine_score["tie"] or "none")
refs = view.run.table("questions").set_index("question_id").loc[qid, "references"]
st.caption("References")
cards.model_text(" | ".join(str(r) for r in list(refs)), limit=600)

clusters = cached(overview.cluster_summary, view.run, view.rule, view.judge)
clusters = clusters[clusters["question_id"] == qid]
mine = clusters[clusters["holds_judged"]]
with st.container(border=True):
    left, right = st.columns([3, 1])
    left.caption("Judged answer")
    with left:
        cards.model_text(item["judged_text"])
    with right:
        cards.correctness_badge(item["judged_correct"])
        st.caption(f"judge `{view.judge}`")
    labelling.queue_controls(view, queue, qid,
                             list(mine["members"].iloc[0]) if len(mine) else [],
                             str(item["judged_text"]))
if len(clusters):
    cards.cluster_cards(clusters, selected=int(mine["cluster_id"].iloc[0]) if len(mine) else None)
st.link_button("Open in the question view", link("question", view, q=qid))

st.subheader("The queue")
shown = queue[["question_id", "priority", "reasons", "reviewed", "question", "judged_text",
               "dominant_share", "uncertainty"]]
st.dataframe(shown.assign(question=visible(shown["question"]),
                          judged_text=visible(shown["judged_text"])),
             hide_index=True, width="stretch", key="review.table")
