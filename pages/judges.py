"""Correctness-judge audit: agreement between judges, threshold sweeps, provenance."""

import streamlit as st

from components import pathology, state
from uqlens.analysis import judge_audit
from uqlens.report import judge_sweep_figure

view = state.current()
st.title("Correctness-judge audit")
state.require_correctness(view)  # off, with the reason, when the run has no labels
st.caption("The 'ground truth' of a UQ evaluation is itself a judge. How much do judges agree, "
           "and how much do method AUROCs move when a judge's threshold moves?")

labels = pathology.compute("judge_audit", "label_matrix", view)
st.subheader("Agreement between judges (Cohen's κ)")

st.dataframe(judge_audit.kappa_table(labels), hide_index=True, width="stretch", key="j.kappa")
cols = list(labels.columns)
if len(cols) >= 2:
    c1, c2 = st.columns(2)
    a = c1.selectbox("Judge A", cols, index=0, key="w.j.a")
    b = c2.selectbox("Judge B", cols, index=1, key="w.j.b")
    st.table(judge_audit.confusion(labels, a, b))

st.subheader("Re-threshold a graded judge")
graded = pathology.compute("judge_audit", "thresholdable", view)
if graded:
    j = st.selectbox("Judge", graded, key="w.j.sweep")
    sw = pathology.compute("judge_audit", "threshold_sweep", view, view.rule, j, n_boot=100)
    st.plotly_chart(judge_sweep_figure(sw["curve"], j, sw["reference"]), width="stretch",
                    key="j.sweep")
    st.dataframe(sw["flips"], hide_index=True, key="j.flips")
else:
    st.info("No judge of this run has a graded value to re-threshold.")

st.subheader("Provenance of every label")
st.dataframe(pathology.compute("judge_audit", "provenance_table", view), hide_index=True,
             key="j.prov")
only = st.toggle("Only labels no model judged (heuristic / provided)", key="w.j.free")
st.dataframe(pathology.compute("judge_audit", "method_auroc_by_judge", view, view.rule,
                               only_model_free=only), width="stretch", key="j.byjudge")
