"""Conformal sets over meaning clusters: coverage and set sizes at a chosen target."""

import streamlit as st

from components import shell
from components.cache import cached
from uqlens.analysis import conformal
from uqlens.viz.metrics import set_size_figure

view = shell.start("Conformal sets")
st.title("Conformal sets")
shell.require_correctness(view)  # off, with the reason, when the run has no labels
st.caption("Split conformal over each question's clusters. Nonconformity of a cluster = "
           "(the question's confidence rank under the method) × (1 − the cluster's share of "
           "samples); see `uqlens.analysis.conformal` for the exact definition.")

c1, c2 = st.columns(2)
target = c1.slider("Target coverage", 0.5, 0.99, 0.9, 0.01, key="w.cf.target")
splits = c2.select_slider("Random splits", [5, 10, 20, 50], value=20, key="w.cf.splits")
try:
    res = cached(conformal.run_conformal, view.run, view.rule, view.judge, coverage=target,
                 n_splits=splits)
except ValueError as exc:
    st.info(f"Not computable on this run: {exc}")
    st.stop()
table = conformal.summary_table(res)
for note in sorted({n for r in res.values() for n in r.notes}):
    st.warning(note)
st.dataframe(table, hide_index=True, width="stretch", key="cf.table", column_config={
    "coverage": st.column_config.NumberColumn(format="%.3f"),
    "ch_mean_set_size": st.column_config.NumberColumn("set size on confident hallucinations",
                                                      format="%.2f"),
})
st.plotly_chart(set_size_figure(res), width="stretch", key="cf.sizes")
