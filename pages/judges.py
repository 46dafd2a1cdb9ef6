"""Correctness-judge audit: agreement between judges, threshold sweeps, provenance."""

import streamlit as st

from components import shell
from components.cache import cached
from uqlens.analysis import judge_audit
from uqlens.viz.common import method_colors
from uqlens.viz.metrics import judge_sweep_figure

view = shell.start("Judge audit")
st.title("Correctness-judge audit")
shell.require_correctness(view)  # off, with the reason, when the run has no labels
st.caption("The 'ground truth' of a UQ evaluation is itself a judge. How much do judges agree, "
           "and how much do method AUROCs move when a judge's threshold moves?")

labels = cached(judge_audit.label_matrix, view.run)
st.subheader("Agreement between judges (Cohen's κ)")

st.dataframe(judge_audit.kappa_table(labels), hide_index=True, width="stretch", key="j.kappa")
cols = list(labels.columns)
if len(cols) >= 2:
    c1, c2 = st.columns(2)
    a = c1.selectbox("Judge A", cols, index=0, key="w.j.a")
    b = c2.selectbox("Judge B", cols, index=1, key="w.j.b")
    st.table(judge_audit.confusion(labels, a, b))

st.subheader("Re-threshold a graded judge")
graded = cached(judge_audit.thresholdable, view.run)
if graded:
    j = st.selectbox("Judge", graded, key="w.j.sweep")
    sw = cached(judge_audit.threshold_sweep, view.run, view.rule, j, n_boot=100)
    methods = list(dict.fromkeys(sw["curve"]["method"]))
    shown = st.multiselect("Methods in the chart", methods, key="w.j.methods",
                           placeholder="all methods", help="Leave empty to show every method.")
    curve = sw["curve"][sw["curve"]["method"].isin(shown or methods)]
    st.plotly_chart(judge_sweep_figure(curve, j, sw["reference"], method_colors(methods)),
                    width="stretch", key="j.sweep")
    st.dataframe(sw["flips"], hide_index=True, key="j.flips")
else:
    st.info("No judge of this run has a graded value to re-threshold.")

st.subheader("Provenance of every label")
st.dataframe(cached(judge_audit.provenance_table, view.run), hide_index=True,
             key="j.prov")
only = st.toggle("Only labels no model judged (heuristic / provided)", key="w.j.free")
st.dataframe(cached(judge_audit.method_auroc_by_judge, view.run, view.rule,
                               only_model_free=only), width="stretch", key="j.byjudge")
