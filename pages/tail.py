"""Tail metrics and calibration: where a UQ gate actually operates."""

import streamlit as st

from components import shell
from components.cache import cached
from components.widgets import persist
from uqlens.analysis import tail
from uqlens.core.frames import first_seen, isin
from uqlens.viz.common import method_colors
from uqlens.viz.metrics import rejection_figure, reliability_figure, roc_figure

view = shell.start("Tail metrics")
st.title("Tail metrics and calibration")
shell.require_correctness(view)  # off, with the reason, when the run has no labels
st.caption(f"Judge `{view.judge}`, rule `{view.rule}`. Positive class: an incorrect judged "
           "answer. A gate runs at low false-positive rates, where the ROC's left edge lives.")

roc = cached(tail.run_roc, view.run, view.rule, view.judge)
curves = cached(tail.rejection_curves, view.run, view.rule, view.judge)
# distinct methods without iterating a million rows (Arrow's own unique)
methods = first_seen(roc["method"]) if len(roc) else []
methods += [m for m in first_seen(curves["method"]) if m not in methods + ["oracle", "random"]]
colors = method_colors([*methods, "oracle", "random"])  # one colour per method, whatever is shown
if st.session_state.get("uq.tail.methods") is not None:
    st.session_state["uq.tail.methods"] = [m for m in st.session_state["uq.tail.methods"]
                                           if m in methods]
shown = st.multiselect("Methods in the charts", methods, placeholder="all methods",
                       help="Leave empty to show every method.",
                       **persist("w.tail.methods", []))
shown = shown or methods
if len(roc):
    st.plotly_chart(roc_figure(roc[isin(roc["method"], shown)], colors), width="stretch",
                    key="tail.roc")
table = cached(tail.tail_table, view.run, view.rule, view.judge)
warn = table["warning"].dropna().unique()
if len(warn):
    st.warning(f"{warn[0]} (and {len(warn) - 1} more)" if len(warn) > 1 else warn[0])
st.dataframe(table, hide_index=True, width="stretch", key="tail.table")
kept = isin(curves["method"], [*shown, "oracle", "random"])
st.plotly_chart(rejection_figure(curves[kept], colors), width="stretch", key="tail.rej")
rel = cached(tail.run_reliability, view.run, view.rule, view.judge)
if not rel:
    st.info("No method of this run gives a probability (p_true, verbalized confidence).")
for name, (bins, e) in rel.items():
    st.plotly_chart(reliability_figure(bins, name, e), width="stretch", key=f"tail.rel.{name}")
