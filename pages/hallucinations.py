"""Confident hallucinations: stable but wrong answers, ranked by how certain the method is."""

import pandas as pd
import streamlit as st

from components import figures, labelling, pathology, state
from components.tables import label_text
from uqlens.analysis import overview as analysis

view = state.current()
st.title("Confident hallucinations")
state.require_correctness(view)  # off, with the reason, when the run has no labels
st.caption(
    "Questions whose largest cluster of sampled answers is **wrong** yet holds most of the "
    f"samples, ranked by `{view.method}` from most to least certain. A UQ gate accepting the "
    "least uncertain questions lets the top of this list through."
)
st.caption(analysis.scored_samples_note(view.run))


def keep(widget: str, key: str) -> None:
    st.session_state[key] = st.session_state[widget]


c1, c2 = st.columns(2)
dom = c1.slider("Dominant cluster holds at least", 0.5, 1.0, st.session_state.get("uq.dom", 0.7),
                0.05, format="%.2f", key="w.ch.dom", on_change=keep, args=("w.ch.dom", "uq.dom"))
op = c2.slider("Operating point: accept the least uncertain share", 0.05, 1.0,
               st.session_state.get("uq.op", 0.2), 0.05, format="%.2f", key="w.ch.op",
               on_change=keep, args=("w.ch.op", "uq.op"))

ch = state.compute("confident_hallucinations", view, view.rule, view.method, view.judge, dom, op)
m = st.columns(3)
m[0].metric("Confident hallucinations", len(ch))
m[1].metric(f"Accepted at {op:.0%}", int(ch["accepted"].sum()) if len(ch) else 0)
m[2].metric("Questions", len(view.run.table("questions")))

if ch.empty:
    st.success("No question meets these thresholds.")
else:
    flags = pathology.compute("review", "hallucination_flags", view, view.rule, view.judge)
    table = pd.DataFrame({
        "rank": ch["certainty_rank"],
        "open": [state.url_for("question", view, q=q) for q in ch["question_id"]],
        "question_id": ch["question_id"],
        "question": ch["question"],
        "flags": ch["question_id"].map(flags["flags"]).fillna(""),
        "dominant answer": ch["dominant_representative"],
        "share": ch["dominant_share"],
        "judged answer": ch["judged_text"],
        "judged": label_text(ch["judged_correct"]),
        view.method: ch["uncertainty"],
        "percentile": ch["percentile"],
        "tie": ch["tie"],
        "accepted": ch["accepted"],
    })
    st.dataframe(table, hide_index=True, width="stretch", key="ch.table", column_config={
        "rank": st.column_config.NumberColumn("certainty rank", format="%d",
                                              help="1 = the least uncertain question"),
        "share": st.column_config.ProgressColumn("dominant share", format="percent",
                                                 min_value=0.0, max_value=1.0, color="blue"),
        view.method: st.column_config.NumberColumn(format="%.3f"),
        "percentile": st.column_config.NumberColumn(format="%.0f"),
        "accepted": st.column_config.CheckboxColumn(f"passes a {op:.0%} gate"),
        "open": st.column_config.LinkColumn("question view", display_text="open"),
        "flags": st.column_config.TextColumn(help="mixed cluster: the dominant cluster's "
                                             "members are judged differently; judges "
                                             "disagree; reference disputed (by a person)"),
    })
    labelling.list_review(view, ch["question_id"].tolist(), key="ch.lab")

st.subheader("Uncertainty against correctness, per method")
quad = state.compute("quadrant_table", view, view.rule, view.judge, dom, op)
frames = {m: part for m, part in quad.groupby("method", sort=False)}
st.plotly_chart(figures.quadrants(frames), width="stretch", key="ch.quadrants")
st.caption("Shaded: questions a gate at this operating point accepts although fewer than half "
           "of their sampled answers are correct.")

st.subheader("Correct but outvoted")
st.caption("Some sampled answer was right, but the largest cluster was wrong.")
out = state.compute("correct_but_outvoted", view, view.rule, view.judge)
if out.empty:
    st.info("None in this run under the current rule and judge.")
else:
    st.dataframe(pd.DataFrame({
        "open": [state.url_for("question", view, q=q) for q in out["question_id"]],
        "question_id": out["question_id"],
        "question": out["question"],
        "dominant answer": out["dominant_representative"],
        "share": out["dominant_share"],
        "correct answers": out["correct_answers"],
    }), hide_index=True, width="stretch", key="ch.outvoted", column_config={
        "share": st.column_config.ProgressColumn("dominant share", format="percent",
                                                 min_value=0.0, max_value=1.0, color="blue"),
        "open": st.column_config.LinkColumn("question view", display_text="open"),
    })
