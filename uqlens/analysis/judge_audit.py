"""Correctness-judge audit: how much the "ground truth" of a UQ evaluation depends on the judge.

- :func:`kappa_table` / :func:`confusion`: Cohen's κ and 2×2 confusion tables between every
  pair of judges, over the judged answers both labelled.
- :func:`threshold_sweep`: re-cut a graded judge (``rouge_l``, ``squad_f1``,
  ``embedding_similarity``, ...) at other thresholds τ from the run's ``correctness.value``
  column (the graded score the label was cut from, so nothing is recomputed), and each
  method's AUROC across the sweep, with rank flips relative to the judge's own τ.
- :func:`provenance_table`: where every label came from (``heuristic``, ``embedding``,
  ``nli``, ``provided``, ...); :func:`model_free_judges` lists the judges no model was involved
  in (provenance ``heuristic`` or ``provided``), the "only labels no model judged" filter.

Re-thresholding rule: label(τ) = value ≥ τ, except that an answer the judge rejected although
its value reached the judge's own τ₀ stays rejected at every τ (that happens only when the
judge also compared against known-false references, see :mod:`uqlens.core.correctness`).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from uqlens.analysis.evaluation import auroc, bootstrap_ci
from uqlens.run.rescore import judged_labels, judged_rows, run_scores, score_methods

MODEL_FREE = ("heuristic", "program", "provided")
GRADED = ("rouge_l", "squad_f1", "embedding_similarity", "nli_reference")
DEFAULT_GRIDS = {
    "rouge_l": (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8),
    "squad_f1": (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    "embedding_similarity": (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95),
    "nli_reference": (0.3, 0.5, 0.7, 0.9),
}


def cohen_kappa(a: Sequence[bool], b: Sequence[bool]) -> float | None:
    """Cohen's κ = (p_o − p_e) / (1 − p_e) of two binary labelings; None when undefined
    (empty, or p_e = 1: both raters constant and equal)."""
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError("label arrays differ in length")
    n = a.size
    if n == 0:
        return None
    po = float(np.mean(a == b))
    pa, pb = a.mean(), b.mean()
    pe = float(pa * pb + (1 - pa) * (1 - pb))
    if pe >= 1.0:
        return None
    return (po - pe) / (1.0 - pe)


def label_matrix(run, judges: Sequence[str] | None = None) -> pd.DataFrame:
    """``question_id × judge`` labels (nullable boolean) of each question's judged answer."""
    judges = list(judges or run.judges or run.table("correctness")["judge"].unique())
    cols = {j: judged_labels(run, j).astype("boolean") for j in judges}
    index = judged_rows(run)["question_id"].sort_values()
    return pd.DataFrame({j: s.reindex(index.to_numpy()) for j, s in cols.items()},
                        index=index.to_numpy())


def confusion(labels: pd.DataFrame, judge_a: str, judge_b: str) -> pd.DataFrame:
    """2×2 counts over questions both judges labelled: rows ``judge_a`` correct/incorrect,
    columns ``judge_b`` correct/incorrect."""
    both = labels[[judge_a, judge_b]].dropna().astype(bool)
    a, b = both[judge_a], both[judge_b]
    idx = [f"{judge_a}: correct", f"{judge_a}: incorrect"]
    cols = [f"{judge_b}: correct", f"{judge_b}: incorrect"]
    return pd.DataFrame([[int((a & b).sum()), int((a & ~b).sum())],
                         [int((~a & b).sum()), int((~a & ~b).sum())]], index=idx, columns=cols)


def kappa_table(labels: pd.DataFrame) -> pd.DataFrame:
    """Per judge pair: ``n`` shared labels, ``agreement`` (share equal), ``kappa``,
    ``both_correct, a_only, b_only, both_incorrect`` and each judge's accuracy."""
    rows = []
    for a, b in combinations(labels.columns, 2):
        both = labels[[a, b]].dropna().astype(bool)
        x, y = both[a].to_numpy(), both[b].to_numpy()
        k = cohen_kappa(x, y)
        rows.append({"judge_a": a, "judge_b": b, "n": len(both),
                     "agreement": float(np.mean(x == y)) if len(both) else np.nan,
                     "kappa": np.nan if k is None else k,
                     "both_correct": int((x & y).sum()), "a_only": int((x & ~y).sum()),
                     "b_only": int((~x & y).sum()), "both_incorrect": int((~x & ~y).sum()),
                     "accuracy_a": float(x.mean()) if len(x) else np.nan,
                     "accuracy_b": float(y.mean()) if len(y) else np.nan})
    return pd.DataFrame(rows, columns=["judge_a", "judge_b", "n", "agreement", "kappa",
                                       "both_correct", "a_only", "b_only", "both_incorrect",
                                       "accuracy_a", "accuracy_b"])


def provenance_table(run) -> pd.DataFrame:
    """Per judge and provenance: number of labels (all answers) and of judged answers."""
    corr = run.table("correctness")
    if "provenance" not in corr:
        corr = corr.assign(provenance="unknown")
    judged = judged_rows(run).assign(_judged=True)
    c = corr.merge(judged, on=["question_id", "sample_id"], how="left")
    c["_judged"] = c["_judged"].fillna(False).astype(bool)
    out = c.groupby(["judge", "provenance"]).agg(labels=("label", "size"),
                                                 judged_answers=("_judged", "sum"))
    out = out.reset_index()
    out["model_free"] = out["provenance"].isin(MODEL_FREE)
    return out


def model_free_judges(run) -> list[str]:
    """Judges all of whose labels have provenance ``heuristic`` or ``provided``."""
    p = provenance_table(run)
    ok = p.groupby("judge")["model_free"].all()
    return [j for j in (run.judges or ok.index) if ok.get(j, False)]


def base_threshold(judge: str) -> tuple[str, float | None]:
    """``"squad_f1:0.7"`` → ("squad_f1", 0.7); ``"rouge_l"`` → ("rouge_l", its default τ)."""
    from uqlens.core.correctness import JUDGES

    name, _, tau = judge.partition(":")
    if tau:
        return name, float(tau)
    j = JUDGES.get(name)
    return name, (None if j is None else j.threshold)


def relabel(frame: pd.DataFrame, tau: float, tau0: float | None) -> pd.Series:
    """Labels at τ from ``value`` (module docstring's rule); ``frame`` has label, value."""
    value = frame["value"].astype(float)
    keep_rejected = (~frame["label"].astype(bool)) & (value >= tau0) if tau0 is not None \
        else pd.Series(False, index=frame.index)
    return (value >= tau) & ~keep_rejected


def thresholdable(run) -> list[str]:
    """The run's judges with a graded value that re-thresholding can re-cut."""
    return [j for j in (run.judges or []) if base_threshold(j)[0] in GRADED]


def threshold_sweep(run, rule: str, judge: str, thresholds: Sequence[float] | None = None,
                    methods: Sequence[str] | None = None, n_boot: int = 200,
                    seed: int = 0) -> dict[str, pd.DataFrame]:
    """Each method's AUROC as ``judge`` is re-cut at each τ.

    Returns ``{"curve": value, method, auroc, lo, hi, accuracy, n, n_incorrect;
    "ranks": value, method, rank; "flips": value, n_pairs, flips}`` (flips relative to the
    judge's own τ₀, which is always part of the grid)."""
    from uqlens.analysis.sensitivity import rank_flips, rank_methods

    name, tau0 = base_threshold(judge)
    grid = thresholds if thresholds is not None else DEFAULT_GRIDS.get(name, ())
    if not grid:
        raise ValueError(f"judge {judge!r} has no graded value to re-threshold")
    values = sorted({round(float(t), 6) for t in [*grid, *([tau0] if tau0 is not None else [])]})
    frame = judged_labels(run, judge, values=True)
    frame = frame.dropna(subset=["value"])
    methods = list(methods) if methods is not None else score_methods(run, rule)
    s = run_scores(run, rule, methods)
    wide = s.pivot(index="question_id", columns="method", values="uncertainty")
    wide = wide.reindex(frame.index)
    rows = []
    for tau in values:
        incorrect = ~relabel(frame, tau, tau0).to_numpy()
        for m in methods:
            u = wide[m].to_numpy(dtype=float) if m in wide else np.full(len(frame), np.nan)
            a = auroc(u, incorrect)
            ci = bootstrap_ci(auroc, u, incorrect, n_boot=n_boot, seed=seed) \
                if a is not None and n_boot else None  # n_boot 0: no interval
            keep = ~np.isnan(u)
            rows.append({"value": tau, "method": m, "auroc": np.nan if a is None else a,
                         "lo": np.nan if ci is None or ci.low is None else ci.low,
                         "hi": np.nan if ci is None or ci.high is None else ci.high,
                         "accuracy": float(1 - incorrect.mean()) if len(incorrect) else np.nan,
                         "n": int(keep.sum()), "n_incorrect": int(incorrect[keep].sum())})
    curve = pd.DataFrame(rows, columns=["value", "method", "auroc", "lo", "hi", "accuracy", "n",
                                        "n_incorrect"])
    ref = round(tau0, 6) if tau0 is not None else values[0]
    return {"curve": curve, "ranks": rank_methods(curve), "flips": rank_flips(curve, ref),
            "reference": ref}


def method_auroc_by_judge(run, rule: str, judges: Sequence[str] | None = None,
                          only_model_free: bool = False,
                          methods: Sequence[str] | None = None) -> pd.DataFrame:
    """``method × judge`` AUROC; with ``only_model_free`` only the judges no model judged."""
    judges = list(judges or run.judges)
    if only_model_free:
        free = set(model_free_judges(run))
        judges = [j for j in judges if j in free]
    methods = list(methods) if methods is not None else score_methods(run, rule)
    s = run_scores(run, rule, methods)
    wide = s.pivot(index="question_id", columns="method", values="uncertainty")
    out = pd.DataFrame(index=methods, columns=judges, dtype=float)
    for j in judges:
        lab = judged_labels(run, j)
        w = wide.reindex(lab.index)
        for m in methods:
            if m in w:
                a = auroc(w[m].to_numpy(dtype=float), ~lab.to_numpy())
                out.loc[m, j] = np.nan if a is None else a
    out.index.name = "method"
    return out


TEXT_PROVENANCES = ("heuristic", "embedding", "nli")
"""Judges that compare the answer's text with the references (token overlap, embeddings,
NLI), as opposed to a language model reading the question (``llm``), a program or a person."""


def judges_of(run, provenances: Sequence[str]) -> list[str]:
    """The run's judges (manifest order) whose labels all have one of ``provenances``."""
    p = provenance_table(run)
    ok = p.assign(_in=p["provenance"].isin(provenances)).groupby("judge")["_in"].all()
    return [j for j in (run.judges or ok.index) if ok.get(j, False)]


def llm_vs_text(run) -> pd.DataFrame:
    """:func:`kappa_table` rows pairing each LLM judge (``judge_a``) with each text judge
    (``judge_b``): how far a language model reading the question and the references agrees
    with the judges that match text. Empty when the run has no judge of either kind."""
    llm, text = judges_of(run, ("llm",)), judges_of(run, TEXT_PROVENANCES)
    rows = [kappa_table(label_matrix(run, [a, b])) for a in llm for b in text]
    if not rows:
        return kappa_table(pd.DataFrame(columns=["a", "b"])).iloc[0:0]
    return pd.concat(rows, ignore_index=True)


def disagreements(run, judge_a: str, judge_b: str) -> pd.DataFrame:
    """The judged answers two judges label differently: ``question_id, question, references,
    answer``, each judge's label and graded value (columns named after the judges)."""
    la = judged_labels(run, judge_a, values=True)
    lb = judged_labels(run, judge_b, values=True)
    both = la[["label", "value"]].join(lb[["label", "value"]], how="inner", lsuffix="_a",
                                       rsuffix="_b")
    both = both[both["label_a"] != both["label_b"]]
    judged = judged_rows(run).merge(run.table("generations")[["question_id", "sample_id", "text"]],
                                    on=["question_id", "sample_id"], how="left")
    questions = run.table("questions").set_index("question_id")
    out = pd.DataFrame({
        "question_id": both.index,
        "question": questions["question"].reindex(both.index).to_numpy(),
        "references": [" | ".join(str(r) for r in list(v)) for v in
                       questions["references"].reindex(both.index)],
        "answer": judged.set_index("question_id")["text"].reindex(both.index).to_numpy(),
        judge_a: both["label_a"].to_numpy(), f"{judge_a} value": both["value_a"].to_numpy(),
        judge_b: both["label_b"].to_numpy(), f"{judge_b} value": both["value_b"].to_numpy(),
    })
    return out.reset_index(drop=True)
