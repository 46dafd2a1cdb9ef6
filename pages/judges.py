"""Correctness-judge audit: agreement between judges, threshold sweeps, provenance."""

import streamlit as st

from components import shell
from components.cache import cached
from components.tables import visible
from uqlens.analysis import judge_audit
from uqlens.viz.common import method_colors
from uqlens.viz.metrics import judge_sweep_figure

SWEEP_BOOT = 100  # bootstrap resamples behind the sweep's intervals
# Questions × methods × thresholds up to which the sweep's intervals are computed at once
# (the demo: 804 × 15 × 9); above, they wait for the toggle.
AUTO_BAND = 400_000

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

llm_judges = cached(judge_audit.judges_of, view.run, ("llm",))
if llm_judges:
    st.subheader("The LLM judge against the text judges")
    st.caption("A language model that reads the question, the correct and the incorrect "
               "references (provenance `llm`) against the judges that match the answer's text "
               "with the references (token overlap, embeddings, NLI). Where they disagree, "
               "read the answers: each row is a label one of them gets wrong.")
    pairs = cached(judge_audit.llm_vs_text, view.run)
    if pairs.empty:
        st.info("This run has no text judge to compare the LLM judge with.")
    else:
        st.dataframe(pairs, hide_index=True, width="stretch", key="j.llm.kappa",
                     column_config={"agreement": st.column_config.NumberColumn(format="%.2f"),
                                    "kappa": st.column_config.NumberColumn("κ", format="%.2f")})
        c1, c2 = st.columns(2)
        la = c1.selectbox("LLM judge", llm_judges, key="w.j.llm")
        lb = c2.selectbox("Text judge", list(dict.fromkeys(pairs["judge_b"])), key="w.j.text")
        diff = cached(judge_audit.disagreements, view.run, la, lb)
        st.caption(f"{len(diff)} judged answer(s) labelled differently by `{la}` and `{lb}`.")
        if len(diff):
            for col in ("question", "references", "answer"):
                diff[col] = visible(diff[col])
            st.dataframe(diff, hide_index=True, width="stretch", key="j.llm.diff")

st.subheader("Re-threshold a graded judge")
graded = cached(judge_audit.thresholdable, view.run)
if graded:
    j = st.selectbox("Judge", graded, key="w.j.sweep")
    n_cuts = len(judge_audit.DEFAULT_GRIDS.get(judge_audit.base_threshold(j)[0], ())) + 1
    work = len(labels) * max(1, len(view.run.methods)) * n_cuts
    band = work <= AUTO_BAND or st.toggle(
        "Bootstrap intervals", key="w.j.boot",
        help=f"{SWEEP_BOOT} resamples of {len(labels):,} questions for every method and "
             "threshold: seconds on a run this size, so they wait to be asked for.")
    sw = cached(judge_audit.threshold_sweep, view.run, view.rule, j,
                n_boot=SWEEP_BOOT if band else 0)
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
