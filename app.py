"""uqlens dashboard: ``streamlit run app.py -- --run PATH``.

This script is the home page, the Overview: what the run is, how each UQ method separates
right from wrong, and how many confident hallucinations a gate built on each method would
let through. The other pages are the scripts in pages/ (see components/shell.py).
"""

import streamlit as st

from components import labelling, shell
from components.cache import cached
from components.tables import md_escape, metric_table
from components.widgets import persist
from uqlens.analysis import ground_truth
from uqlens.analysis import overview as analysis

N_BOOT = 200  # bootstrap resamples behind the intervals of the method table
# Question × method pairs up to which the intervals come with the table (about a second);
# above, they wait for the "Bootstrap intervals" toggle (10,000 questions × 13 methods: 2-4 s).
AUTO_INTERVALS = 40_000

view = shell.start("Overview")
st.title("Overview")
summary = cached(analysis.run_summary, view.run, view.judge)
# Names come from the data: escaped, never rendered as Markdown.
st.caption(f"Run **{md_escape(summary['name'])}** · dataset "
           f"**{md_escape(summary['dataset'] or '–')}** · model "
           f"**{md_escape(summary['model'] or '–')}** · rule `{view.rule}` · judge `{view.judge}`")

st.info(
    "**These scores measure consistency, not correctness.** Every method here samples several "
    "answers, groups them by meaning and scores how much they agree. A model that gives the "
    "same wrong answer every time looks *certain* to all of them: a confident hallucination.",
    icon=":material/lightbulb:",
)

cols = st.columns(4)
cols[0].metric("Questions", f"{summary['questions']:,}")
cols[1].metric("Sampled answers", f"{summary['samples']:,}")
cols[2].metric("Methods scored", len(view.run.methods) or "–")
acc = summary["accuracy"]
cols[3].metric("Judged-answer accuracy", "–" if acc is None else f"{acc:.1%}",
               help=f"{summary['labelled']} judged answers labelled by `{view.judge}`.")
labelling.human_caption(view)

shell.require_correctness(view)  # the rest compares scores with correctness

st.subheader("How well each method flags wrong answers")
pairs = summary["questions"] * max(1, len(view.run.methods))
intervals = pairs <= AUTO_INTERVALS or st.toggle(
    "Bootstrap intervals", key="w.ov.boot",
    help=f"{N_BOOT} resamples of {summary['questions']:,} questions for every method: a few "
         "seconds on a run this size, so they wait to be asked for.")
table = cached(analysis.method_metrics, view.run, view.rule, view.judge,
               N_BOOT if intervals else 0)
if table is not None:
    shown = metric_table(table.drop(columns=["boot_dropped", "tpr_warning"], errors="ignore"))
    shown = shown.rename(columns={"n": "questions", "n_incorrect": "wrong", "auroc": "AUROC",
                                  "auprc": "AUPRC", "prr": "PRR", "tpr_at_1fpr": "TPR@1%FPR"})
    st.dataframe(shown, hide_index=True, width="stretch")
    warnings = sorted({str(w) for w in table.get("tpr_warning", []) if isinstance(w, str) and w})
    for w in warnings:
        st.caption(f"TPR@1%FPR: {w}")
    st.caption(
        "Positive class: the judged answer is incorrect. "
        + (f"Intervals: bootstrap over questions ({N_BOOT} resamples). " if intervals else
           "No intervals yet: turn on *Bootstrap intervals* above. ")
        + "*undefined* where only one class is present."
    )

verifiable = cached(ground_truth.verifiable_metrics, view.run, view.rule, n_boot=N_BOOT)
if len(verifiable):
    st.subheader("Verifiable slice: non-LLM ground truth")
    n_slice = int(verifiable["n"].max())
    st.caption(
        f"The {n_slice} questions whose judged answer a program checked (integer answers) or "
        "exact gold labels: no language model decided what is correct. Here a method must "
        "flag wrong answers at the very low false-positive rates a deployed gate runs at. "
        f"Labels: the non-LLM judge, whatever the sidebar's judge (`{view.judge}`).")
    shown = metric_table(verifiable.drop(columns="warning")).rename(columns={
        "n": "questions", "n_incorrect": "wrong", "auroc": "AUROC",
        "tpr_at_1fpr": "TPR@1%FPR", "tpr_at_01fpr": "TPR@0.1%FPR"})
    st.dataframe(shown, hide_index=True, width="stretch", key="ov.verifiable")
    for w in sorted({str(w) for w in verifiable["warning"] if isinstance(w, str) and w}):
        st.warning(f"Verifiable slice: {w}", icon=":material/warning:")
    st.caption("Positive class: the judged answer is incorrect. Intervals: bootstrap over the "
               f"slice's questions ({N_BOOT} resamples).")

st.subheader("Confident hallucinations a gate would let through")
c1, c2 = st.columns(2)
op = c1.slider("Operating point: accept the least uncertain share of questions", 0.05, 1.0,
               step=0.05, format="%.2f", **persist("w.ov.op", 0.2, "uq.op"))
dom = c2.slider("Dominant cluster holds at least", 0.5, 1.0, step=0.05, format="%.2f",
                **persist("w.ov.dom", 0.7, "uq.dom"))
counts = cached(analysis.hallucination_counts, view.run, view.rule, view.judge, dom, op)
st.dataframe(
    counts, hide_index=True, width="stretch",
    column_config={
        "accepted": st.column_config.NumberColumn("accepted questions"),
        "confident_hallucinations": st.column_config.NumberColumn("confident hallucinations"),
        "share": st.column_config.ProgressColumn("share of accepted", format="percent",
                                                 min_value=0.0, max_value=1.0),
        "total_confident_hallucinations": st.column_config.NumberColumn("in the whole run"),
    },
)
st.page_link("pages/hallucinations.py", label="Inspect them", icon=":material/arrow_forward:")

skipped = view.run.manifest.get("skipped_methods") or {}
if skipped:
    with st.expander(f"{len(skipped)} method(s) not scored for this run"):
        st.dataframe({"method": list(skipped), "reason": [str(v) for v in skipped.values()]},
                     hide_index=True, width="stretch")
