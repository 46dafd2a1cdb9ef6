"""``uqlens report RUN_DIR --out FILE.html``: the paper's pathologies on one built run, as a
self-contained HTML file (Plotly figures embedded, plotly.js inlined once so it opens
offline) and a Markdown twin (``FILE.md``, tables only).

Sections: overview numbers, method agreement, hyperparameter sensitivity, correctness-judge
audit, tail metrics and calibration, conformal sets. Everything is computed from the run's
tables (no model is loaded). Every string that comes from the run (answers, questions, ids,
method and judge names) is HTML-escaped.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from uqlens.analysis import agreement, conformal, judge_audit, sensitivity, tail
from uqlens.analysis.evaluation import method_table
from uqlens.run.labels import human_base, human_counts
from uqlens.run.rescore import judged_labels, run_scores, score_methods
from uqlens.viz.metrics import (
    bump_figure,
    curve_figure,
    heatmap,
    judge_sweep_figure,
    rejection_figure,
    reliability_figure,
    roc_figure,
    set_size_figure,
)

SECTIONS = ("Overview", "Method agreement", "Hyperparameter sensitivity",
            "Correctness-judge audit", "Tail metrics and calibration", "Conformal sets")


@dataclass
class Section:
    title: str
    blocks: list[tuple[str, object]] = field(default_factory=list)  # (kind, payload)

    def text(self, s: str) -> None:
        self.blocks.append(("text", s))

    def table(self, df: pd.DataFrame, caption: str = "") -> None:
        self.blocks.append(("table", (caption, df)))

    def figure(self, fig, caption: str = "") -> None:
        self.blocks.append(("figure", (caption, fig)))

    def subtitle(self, s: str) -> None:
        self.blocks.append(("h3", s))


# --------------------------------------------------------------------------- content


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        if math.isnan(v):
            return ""
        if math.isinf(v):
            return "∞"
        return f"{v:.3f}"
    return str(v)


def build_sections(run, rule: str | None = None, judge: str | None = None, n_boot: int = 200,
                   seed: int = 0, coverage: float = 0.9, n_draws: int = 5,
                   n_splits: int = 20) -> tuple[list[Section], dict]:
    """All report sections for a run; also returns the overview numbers."""
    from uqlens.run.folder import RunError, correctness_off

    m = run.manifest
    if correctness_off(run):  # the report compares scores with correctness throughout
        raise RunError(correctness_off(run).replace("This view needs", "The report needs"))
    rule = rule or m.get("default_rule") or run.rules[0]
    judge = judge or m.get("default_judge") or run.judges[0]
    if run.rules and rule not in run.rules:
        raise ValueError(f"unknown rule {rule!r}; this run has {run.rules}")
    if human_base(judge) is not None:
        run.offer_human(judge)
    known = [*run.judges, *run.human_judges]
    if run.judges and judge not in known:
        raise ValueError(f"unknown judge {judge!r}; this run has {known}")
    methods = score_methods(run, rule)
    labels = judged_labels(run, judge)
    gens = run.table("generations")
    overview = {
        "run": run.name, "dataset": ", ".join(map(str, m.get("dataset", []))) or "",
        "model": ", ".join(map(str, m.get("model", []))) or "",
        "questions": int(len(run.table("questions"))),
        "samples": int((~gens["is_greedy"].astype(bool)).sum()),
        "rule": rule, "judge": judge, "methods": len(methods),
        "labelled questions": int(len(labels)),
        "judged answers labelled by a person": human_counts(run, judge)["judged"],
        "accuracy (judged answers)": float(labels.mean()) if len(labels) else float("nan"),
    }
    sections = [
        _overview_section(run, rule, methods, labels, overview, n_boot, seed),
        _agreement_section(run, rule, methods),
        _sensitivity_section(run, rule, judge, n_boot, seed, n_draws),
        _judges_section(run, rule, methods, n_boot, seed),
        _tail_section(run, rule, judge, methods),
        _conformal_section(run, rule, judge, methods, coverage, n_splits, seed),
    ]
    return sections, overview


def _overview_section(run, rule, methods, labels, overview, n_boot, seed) -> Section:
    s = Section("Overview")
    s.table(pd.DataFrame({"": list(overview), "value": [_fmt(v) for v in overview.values()]}))
    mt = method_table(run_scores(run, rule, methods), ~labels, n_boot=n_boot, seed=seed)
    s.table(mt.drop(columns=["tpr_warning"]), "Per method: AUROC, AUPRC, PRR, TPR@1%FPR with "
            "95 % bootstrap intervals (positive class: incorrect judged answer).")
    return s


def _agreement_section(run, rule, methods) -> Section:
    s = Section("Method agreement")
    s.text("Jaccard overlap of the top-k % most uncertain questions of two methods, next to "
           "the chance level k/(2 − k) of two random rankings, and Kendall's τ-b. Scores are "
           "rounded to 9 decimals first. `topK`: ties in uncertainty broken by question id "
           "(ascending; the `ties_at_cut` columns of the long table flag when that rule "
           "decided the set); `topK_random_ties`: the same Jaccard averaged over random "
           "tie-breaks (exact).")
    agr = agreement.run_agreement(run, rule, methods=methods)
    s.table(agreement.paper_table(agr), "Top-k Jaccard per method pair (paper's Table 1).")
    for k in agreement.DEFAULT_KS:
        s.figure(heatmap(agreement.jaccard_matrix(agr, k), f"Top-{k:.0%} Jaccard (chance "
                                                           f"{agreement.top_k_chance(k):.3f})"))
    s.figure(heatmap(agreement.jaccard_matrix(agr, agreement.DEFAULT_KS[0], "kendall_tau"),
                     "Kendall's τ", zmin=-1.0, zmax=1.0))
    return s


def _sensitivity_section(run, rule, judge, n_boot, seed, n_draws) -> Section:
    s = Section("Hyperparameter sensitivity")
    s.text("Each sweep re-clusters and re-scores from the run's cached pairs, embeddings and "
           "samples (no model call). AUSC = trapezoid mean of AUROC over the swept range "
           "divided by its width (plain mean for rules); spread = max − min AUROC.")
    sweeps, skipped = sensitivity.all_sweeps(run, judge, n_boot=n_boot, seed=seed,
                                             n_draws=n_draws, rule=rule)
    for sw in sweeps:
        s.subtitle(f"{sw.label} (reference {_fmt(sw.reference)})")
        for note in sw.notes:
            s.text(note)
        s.figure(curve_figure(sw.curve, f"AUROC vs {sw.label}", sw.label, sw.numeric))
        s.table(sw.summary, "Stability per method.")
        if not sw.clusters.empty:
            s.table(sw.clusters, "Share of questions whose cluster count differs from the "
                    "reference value's.")
        s.figure(bump_figure(sw.ranks, f"Method ranks vs {sw.label}", sw.label, sw.numeric))
        s.table(sw.flips, "Method pairs whose AUROC order flips relative to the reference.")
    if skipped:
        s.table(pd.DataFrame({"sweep": list(skipped), "why not": list(skipped.values())}),
                "Sweeps this run does not support.")
    return s


def _judges_section(run, rule, methods, n_boot, seed) -> Section:
    s = Section("Correctness-judge audit")
    lab = judge_audit.label_matrix(run)
    s.table(judge_audit.kappa_table(lab), "Cohen's κ between judges (judged answers).")
    cols = list(lab.columns)
    for i, a in enumerate(cols):
        for b in cols[i + 1:]:
            s.table(judge_audit.confusion(lab, a, b), f"Confusion: {a} vs {b}")
    s.table(judge_audit.provenance_table(run), "Provenance of every label.")
    free = judge_audit.model_free_judges(run)
    s.text("Judges no model was involved in (provenance heuristic/provided): "
           + (", ".join(free) if free else "none"))
    s.table(judge_audit.method_auroc_by_judge(run, rule, methods=methods).reset_index(),
            "AUROC of each method under each judge.")
    for j in judge_audit.thresholdable(run):
        sw = judge_audit.threshold_sweep(run, rule, j, methods=methods, n_boot=n_boot,
                                         seed=seed)
        s.figure(judge_sweep_figure(sw["curve"], j, sw["reference"]))
        s.table(sw["flips"], f"Rank flips vs {j} at its own τ = {_fmt(sw['reference'])}.")
    return s


def _tail_section(run, rule, judge, methods) -> Section:
    s = Section("Tail metrics and calibration")
    roc = tail.run_roc(run, rule, judge, methods)
    if len(roc):
        s.figure(roc_figure(roc))
    s.table(tail.tail_table(run, rule, judge, methods=methods), "TPR at FPR ≤ 0.1 %, 1 %, 5 %.")
    s.figure(rejection_figure(tail.rejection_curves(run, rule, judge, methods)))
    rel = tail.run_reliability(run, rule, judge)
    if not rel:
        s.text("No method of this run gives a probability (p_true, verbalized confidence).")
    for name, (bins, e) in rel.items():
        s.figure(reliability_figure(bins, name, e))
    return s


def _conformal_section(run, rule, judge, methods, coverage, n_splits, seed) -> Section:
    s = Section("Conformal sets")
    s.text(f"Split conformal over each question's clusters, target coverage {coverage:.0%}, "
           f"{n_splits} random calibration/test halves. Nonconformity of a cluster = "
           "confidence rank of the question × (1 − cluster mass); see uqlens.analysis.conformal.")
    try:
        res = conformal.run_conformal(run, rule, judge, methods, coverage=coverage,
                                      n_splits=n_splits, seed=seed)
        s.table(conformal.summary_table(res), "Coverage and set sizes; ch_* = on the "
                "confident-hallucination questions (dominant cluster ≥ 70 % and incorrect).")
        s.figure(set_size_figure(res))
        notes = sorted({n for r in res.values() for n in r.notes})
        for n in notes:
            s.text(n)
    except ValueError as exc:
        s.text(f"Not computed: {exc}")
    rows = _hallucination_rows(run, rule, judge)
    if rows:
        s.table(pd.DataFrame(rows), "Confident hallucinations (model text, shown escaped).")
    return s


def _hallucination_rows(run, rule, judge) -> list[dict]:
    """The confident hallucinations: question, dominant (incorrect) answer and its mass."""
    cands = conformal.candidates(run, rule, judge)
    hall = conformal.hallucination_ids(cands)
    if not hall:
        return []
    gens_ = run.table("generations")
    rows = []
    cl = run.table("clusters")
    cl = cl[(cl["rule"] == rule) & cl["is_representative"].astype(bool)]
    top = cands[cands["question_id"].isin(hall)].sort_values(
        ["question_id", "size"], ascending=[True, False]).drop_duplicates("question_id")
    q = run.table("questions").set_index("question_id")
    for qid, cid, mass in zip(top["question_id"], top["cluster_id"], top["mass"], strict=True):
        rep = cl[(cl["question_id"] == qid) & (cl["cluster_id"] == cid)]
        text = ""
        if len(rep):
            g = gens_[(gens_["question_id"] == qid)
                      & (gens_["sample_id"] == rep.iloc[0]["sample_id"])]
            text = g.iloc[0]["text"] if len(g) else ""
        rows.append({"question_id": qid, "question": q.at[qid, "question"],
                     "dominant answer": text, "mass": mass})
    return rows


# --------------------------------------------------------------------------- rendering

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1200px;padding:0 1rem;color:#222}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0 1.5rem}
th,td{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}
th{background:#f3f3f3} caption{caption-side:top;text-align:left;font-style:italic;padding:.3rem 0}
nav a{margin-right:1rem} h2{border-bottom:2px solid #444;margin-top:2.5rem}
.overview{display:flex;flex-wrap:wrap;gap:1rem}
.overview div{border:1px solid #ddd;border-radius:6px;padding:.5rem 1rem}
"""


def _table_html(df: pd.DataFrame, caption: str) -> str:
    shown = df.copy()
    for c in shown.columns:
        shown[c] = [_fmt(v) for v in shown[c]]
    body = shown.to_html(index=not isinstance(df.index, pd.RangeIndex), escape=True, border=0,
                         na_rep="")
    cap = f"<p><em>{html.escape(caption)}</em></p>" if caption else ""
    return cap + body


def _slug(title: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in title.lower())


def render_html(sections: list[Section], overview: dict, title: str) -> str:
    import plotly.io as pio

    first = True
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             "<nav>" + "".join(f"<a href='#{_slug(s.title)}'>{html.escape(s.title)}</a>"
                               for s in sections) + "</nav>",
             "<div class='overview'>" + "".join(
                 f"<div><b>{html.escape(str(k))}</b><br>{html.escape(_fmt(v))}</div>"
                 for k, v in overview.items()) + "</div>"]
    for s in sections:
        parts.append(f"<h2 id='{_slug(s.title)}'>{html.escape(s.title)}</h2>")
        for kind, payload in s.blocks:
            if kind == "text":
                parts.append(f"<p>{html.escape(payload)}</p>")
            elif kind == "h3":
                parts.append(f"<h3>{html.escape(payload)}</h3>")
            elif kind == "table":
                parts.append(_table_html(payload[1], payload[0]))
            elif kind == "figure":
                caption, fig = payload
                parts.append(pio.to_html(fig, full_html=False,
                                         include_plotlyjs=True if first else False,
                                         config={"displaylogo": False}))
                first = False
                if caption:
                    parts.append(f"<p><em>{html.escape(caption)}</em></p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _md_cell(v) -> str:
    return _fmt(v).replace("|", "\\|").replace("\n", " ")


def _table_md(df: pd.DataFrame, caption: str) -> str:
    d = df.reset_index() if not isinstance(df.index, pd.RangeIndex) else df
    head = "| " + " | ".join(_md_cell(c) for c in d.columns) + " |"
    sep = "|" + "---|" * len(d.columns)
    rows = ["| " + " | ".join(_md_cell(v) for v in row) + " |"
            for row in d.itertuples(index=False)]
    return "\n".join(([f"*{caption}*", ""] if caption else []) + [head, sep, *rows]) + "\n"


def render_markdown(sections: list[Section], overview: dict, title: str) -> str:
    out = [f"# {title}", ""]
    out += [f"- **{k}**: {_fmt(v)}" for k, v in overview.items()]
    for s in sections:
        out += ["", f"## {s.title}", ""]
        for kind, payload in s.blocks:
            if kind == "text":
                out += [payload, ""]
            elif kind == "h3":
                out += [f"### {payload}", ""]
            elif kind == "table":
                out += [_table_md(payload[1], payload[0])]
            elif kind == "figure":
                out += ["*(figure in the HTML report)*", ""]
    return "\n".join(out) + "\n"


def write_report(run_dir, out: str | Path, **kwargs) -> tuple[Path, Path]:
    """Write ``out`` (HTML) and the same path with ``.md``; returns both paths."""
    from uqlens.run.folder import load_run

    run = load_run(run_dir)
    sections, overview = build_sections(run, **kwargs)
    title = f"uqlens report: {run.name}"
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    md = out.with_suffix(".md")
    out.write_text(render_html(sections, overview, title), encoding="utf-8")
    md.write_text(render_markdown(sections, overview, title), encoding="utf-8")
    return out, md
