"""Confident hallucinations: stable but wrong answers, ranked by how certain the method is."""

import pandas as pd
import streamlit as st

from components import labelling, shell
from components.cache import cached
from components.tables import label_text, visible
from components.url import question_links
from components.widgets import persist
from uqlens.analysis import overview as analysis
from uqlens.analysis import review
from uqlens.viz import answers as figures

view = shell.start("Confident hallucinations")
st.title("Confident hallucinations")
shell.require_correctness(view)  # off, with the reason, when the run has no labels
st.caption(
    "Questions whose largest cluster of sampled answers is **wrong** yet holds most of the "
    f"samples, ranked by `{view.method}` from most to least certain. A UQ gate accepting the "
    "least uncertain questions lets the top of this list through."
)
st.caption(analysis.scored_samples_note(view.run))


c1, c2 = st.columns(2)
dom = c1.slider("Dominant cluster holds at least", 0.5, 1.0, step=0.05, format="%.2f",
                **persist("w.ch.dom", 0.7, "uq.dom"))
op = c2.slider("Operating point: accept the least uncertain share", 0.05, 1.0, step=0.05,
               format="%.2f", **persist("w.ch.op", 0.2, "uq.op"))

ch = cached(analysis.confident_hallucinations, view.run, view.rule, view.method, view.judge,
            dom, op)
m = st.columns(3)
m[0].metric("Confident hallucinations", len(ch))
m[1].metric(f"Accepted at {op:.0%}", int(ch["accepted"].sum()) if len(ch) else 0)
m[2].metric("Questions", len(view.run.table("questions")))

if ch.empty:
    st.success("No question meets these thresholds.")
else:
    flags = cached(review.hallucination_flags, view.run, view.rule, view.judge)
    # what the ranking is about first (the method's score, percentile, ties, the gate), then
    # the flags and the text
    table = pd.DataFrame({
        "rank": ch["shared_rank"],
        view.method: ch["uncertainty"],
        "percentile": ch["percentile"],
        "tie": ch["tie"],
        "accepted": ch["accepted"],
        "share": ch["dominant_share"],
        "open": question_links(view, ch["question_id"]),
        "flags": ch["question_id"].map(flags["flags"]).fillna(""),
        "question": visible(ch["question"]),
        "dominant answer": visible(ch["dominant_representative"]),
        "judged answer": visible(ch["judged_text"]),
        "judged": label_text(ch["judged_correct"]),
        "question_id": ch["question_id"],
    })
    # narrow numeric columns, so that the answers fit beside them at 1440 pixels
    st.dataframe(table, hide_index=True, width="stretch", key="ch.table", column_config={
        "rank": st.column_config.NumberColumn("rank", format="%g", width=50,
                                              help="Certainty rank: 1 = the least uncertain "
                                                   "question"),
        view.method: st.column_config.NumberColumn(format="%.3f", width=115),
        "percentile": st.column_config.NumberColumn("pct", format="%.0f", width=45,
                                                    help="Percentile of the score (100 = the "
                                                         "most uncertain question)"),
        "accepted": st.column_config.CheckboxColumn("gate", width=45,
                                                    help=f"Passes a {op:.0%} gate"),
        "share": st.column_config.ProgressColumn("dominant share", format="percent",
                                                 min_value=0.0, max_value=1.0, color="blue",
                                                 width=110),
        "tie": st.column_config.TextColumn(width=75),
        "open": st.column_config.LinkColumn("question", display_text="open", width=70),
        "flags": st.column_config.TextColumn(width=85,
                                             help="mixed cluster: the dominant cluster's "
                                             "members are judged differently; judges "
                                             "disagree; reference disputed (by a person)"),
        "question": st.column_config.TextColumn("question text", width="medium"),
        "dominant answer": st.column_config.TextColumn(width="medium"),
        "judged answer": st.column_config.TextColumn(width="medium"),
    })
    labelling.list_review(view, ch["question_id"].tolist(), key="ch.lab")

st.subheader("Uncertainty against correctness, per method")
quad_fig, drawn, n_questions = cached(figures.quadrant_figure, view.run, view.rule, view.judge,
                                     dom, op)
st.plotly_chart(quad_fig, width="stretch", key="ch.quadrants")
st.caption("Shaded: questions a gate at this operating point accepts although fewer than half "
           "of their sampled answers are correct."
           + (f" Each panel draws the same {drawn:,} of the {n_questions:,} questions, chosen "
              "at random; the gate is that of all of them." if drawn < n_questions else ""))

st.subheader("Correct but outvoted")
st.caption("Some sampled answer was right, but the largest cluster was wrong.")
out = cached(analysis.correct_but_outvoted, view.run, view.rule, view.judge)
if out.empty:
    st.info("None in this run under the current rule and judge.")
else:
    st.dataframe(pd.DataFrame({
        "open": question_links(view, out["question_id"]),
        "question_id": out["question_id"],
        "question": visible(out["question"]),
        "dominant answer": visible(out["dominant_representative"]),
        "share": out["dominant_share"],
        "correct answers": visible(out["correct_answers"]),
    }), hide_index=True, width="stretch", key="ch.outvoted", column_config={
        "share": st.column_config.ProgressColumn("dominant share", format="percent",
                                                 min_value=0.0, max_value=1.0, color="blue"),
        "open": st.column_config.LinkColumn("question view", display_text="open"),
    })
