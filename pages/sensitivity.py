"""Hyperparameter sensitivity: AUROC against each swept choice, recomputed from cache."""

import streamlit as st

from components import pathology, state
from uqlens.report import bump_figure, curve_figure

view = state.current()
st.title("Hyperparameter sensitivity")
st.caption("Every sweep re-clusters and re-scores from the run's cached entailment pairs, "
           "embeddings and samples; no model is called. AUSC = mean AUROC over the swept "
           "range (trapezoid / range width); spread = max − min. Stable beats best-point.")

c1, c2 = st.columns(2)
n_boot = c1.select_slider("Bootstrap resamples", [50, 100, 200, 500], value=100, key="w.sens.b")
n_draws = c2.select_slider("Draws per sample count", [1, 3, 5, 10], value=3, key="w.sens.d")
sweeps, skipped = pathology.compute("sensitivity", "all_sweeps", view, view.judge,
                                    n_boot=n_boot, n_draws=n_draws, rule=view.rule)
if not sweeps:
    st.info("No sweep is possible on this run.")
tabs = st.tabs([s.label for s in sweeps]) if sweeps else []
for tab, sw in zip(tabs, sweeps, strict=True):
    with tab:
        for note in sw.notes:
            st.caption(note)
        st.plotly_chart(curve_figure(sw.curve, f"AUROC vs {sw.label}", sw.label, sw.numeric),
                        width="stretch", key=f"sens.curve.{sw.name}")
        st.dataframe(sw.summary, hide_index=True, width="stretch", key=f"sens.sum.{sw.name}")
        if not sw.clusters.empty:
            st.caption(f"Share of questions whose cluster count differs from the reference "
                       f"({sw.reference}).")
            st.dataframe(sw.clusters, hide_index=True, key=f"sens.cl.{sw.name}")
        st.plotly_chart(bump_figure(sw.ranks, "Method ranks", sw.label, sw.numeric),
                        width="stretch", key=f"sens.bump.{sw.name}")
        st.dataframe(sw.flips, hide_index=True, key=f"sens.flips.{sw.name}")
if skipped:
    with st.expander("Sweeps this run does not support"):
        st.table({"sweep": list(skipped), "why not": list(skipped.values())})
