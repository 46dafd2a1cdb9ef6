"""Conformal sets over meaning clusters: coverage and set sizes at a chosen target."""

import streamlit as st

from components import shell
from components.cache import cached
from uqlens.analysis import conformal
from uqlens.viz.metrics import set_size_bars

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
    # the page's numbers, not the per-(split, question) sets behind them: a cache hit copies
    # what it returns, and the sets are a million rows per method on a large run
    cv = cached(conformal.conformal_view, view.run, view.rule, view.judge, coverage=target,
                n_splits=splits)
except ValueError as exc:
    st.info(f"Not computable on this run: {exc}")
    st.stop()
for note in cv.notes:
    st.warning(note)
st.dataframe(cv.table, hide_index=True, width="stretch", key="cf.table", column_config={
    "coverage": st.column_config.NumberColumn(format="%.3f"),
    "ch_mean_set_size": st.column_config.NumberColumn("set size on confident hallucinations",
                                                      format="%.2f"),
})
if cv.agreement:
    st.caption(cv.agreement)
if len(cv.differ):
    with st.expander(f"Where the sets differ: {len(cv.differ):,} questions"):
        st.caption("Mean set size over the splits that tested the question, per method.")
        st.dataframe(cv.differ, hide_index=True, width="stretch", key="cf.differ",
                     column_config={m: st.column_config.NumberColumn(format="%.2f")
                                    for m in cv.differ.columns if m != "question_id"})
st.plotly_chart(set_size_bars(cv.sizes), width="stretch", key="cf.sizes")
