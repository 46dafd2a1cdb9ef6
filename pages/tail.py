"""Tail metrics and calibration: where a UQ gate actually operates."""

import streamlit as st

from components import pathology, state
from uqlens.report import rejection_figure, reliability_figure, roc_figure

view = state.current()
st.title("Tail metrics and calibration")
state.require_correctness(view)  # off, with the reason, when the run has no labels
st.caption(f"Judge `{view.judge}`, rule `{view.rule}`. Positive class: an incorrect judged "
           "answer. A gate runs at low false-positive rates, where the ROC's left edge lives.")

roc = pathology.compute("tail", "run_roc", view, view.rule, view.judge)
if len(roc):
    st.plotly_chart(roc_figure(roc), width="stretch", key="tail.roc")
table = pathology.compute("tail", "tail_table", view, view.rule, view.judge)
warn = table["warning"].dropna().unique()
if len(warn):
    st.warning(f"{warn[0]} (and {len(warn) - 1} more)" if len(warn) > 1 else warn[0])
st.dataframe(table, hide_index=True, width="stretch", key="tail.table")
st.plotly_chart(rejection_figure(pathology.compute("tail", "rejection_curves", view, view.rule,
                                                   view.judge)),
                width="stretch", key="tail.rej")
rel = pathology.compute("tail", "run_reliability", view, view.rule, view.judge)
if not rel:
    st.info("No method of this run gives a probability (p_true, verbalized confidence).")
for name, (bins, e) in rel.items():
    st.plotly_chart(reliability_figure(bins, name, e), width="stretch", key=f"tail.rel.{name}")
