"""Hyperparameter sensitivity: AUROC against one swept choice, recomputed from cache on demand."""

import streamlit as st

from components import shell
from components.cache import cached
from uqlens.analysis import sensitivity
from uqlens.viz.metrics import bump_figure, curve_figure

view = shell.start("Sensitivity")
st.title("Hyperparameter sensitivity")
shell.require_correctness(view)  # off, with the reason, when the run has no labels
st.caption("A sweep re-clusters and re-scores from the run's cached entailment pairs, "
           "embeddings and samples; no model is called. AUSC = mean AUROC over the swept "
           "range (trapezoid / range width); spread = max − min. Stable beats best-point.")

# One sweep at a time, computed when chosen (cached per run, rule, judge, sweep and settings):
# computing all of them on a run of a few hundred questions takes minutes (`uqlens report`).
c1, c2, c3 = st.columns([2, 1, 1])
name = c1.selectbox("Sweep", list(sensitivity.SWEEPS), format_func=sensitivity.SWEEPS.get,
                    key="w.sens.sweep")
# Above this many questions the intervals wait to be asked for: 200 resamples of 90,909
# questions at every curve point take ~4 s of the page's first render.
AUTO_INTERVAL_QUESTIONS = 20_000
n_questions = len(view.run.table("questions"))
n_boot = c2.select_slider(
    "Bootstrap resamples", [0, 50, 100, 200, 500], key="w.sens.b",
    value=200 if n_questions <= AUTO_INTERVAL_QUESTIONS else 0,
    format_func=lambda b: "off" if b == 0 else str(b),
    help="Resamples of the questions behind each point's 95 % interval; off by default above "
         f"{AUTO_INTERVAL_QUESTIONS:,} questions (seconds per sweep).")
n_draws = c3.select_slider("Draws per sample count", [1, 2, 3, 5, 10], value=2, key="w.sens.d",
                           disabled=name != "n_samples",
                           help="Only for the number-of-samples sweep.")
with st.spinner(f"Computing the {sensitivity.SWEEPS[name]} sweep from the run's cache…"):
    sw, why = cached(sensitivity.one_sweep, view.run, view.judge, name, n_boot=n_boot,
                     rule=view.rule, n_draws=n_draws if name == "n_samples" else 1)
live = (f"Intervals: percentile bootstrap over questions, {n_boot} resamples in this live "
        "view (`uqlens report`: `--n-boot`, 200 by default)." if n_boot else
        f"No intervals: {n_questions:,} questions make them take seconds per sweep; choose a "
        "number of *Bootstrap resamples* above to add them.")
if name == "n_samples":
    live += f" {n_draws} random draw(s) per sample count m here; the report uses 5."
st.caption(live)
if sw is None:
    st.info(f"This run does not support the {sensitivity.SWEEPS[name]} sweep: {why}")
else:
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
