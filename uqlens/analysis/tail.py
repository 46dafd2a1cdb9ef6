"""Tail metrics and calibration: what happens where a UQ gate actually operates.

- :func:`roc_points`: the ROC curve (distinct thresholds, high → low), for a plot with a
  log-scale FPR axis; points with FPR = 0 cannot sit on a log axis and are flagged.
- :func:`tail_table`: TPR at FPR ≤ 0.1 %, 1 %, 5 % per method with
  :func:`uqlens.analysis.evaluation.tpr_at_fpr`'s warning where the run has fewer than 1/FPR correct
  answers (the FPR then moves in steps coarser than the target).
- :func:`rejection_curves`: accuracy of the kept answers against the fraction rejected
  (:func:`uqlens.analysis.evaluation.rejection_curve`), plus the oracle and random references.
- :func:`reliability`: reliability-diagram bins and ECE for scores that are probabilities
  (``p_true``, ``verbalized_confidence``: confidence = 1 − uncertainty).

The positive class is an incorrect judged answer; higher uncertainty flags it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from uqlens.analysis.evaluation import ece, ece_bins, rejection_curve, tpr_at_fpr
from uqlens.run.rescore import judged_labels, run_scores, score_methods

DEFAULT_FPRS = (0.001, 0.01, 0.05)
PROBABILITY_METHODS = ("p_true", "verbalized_confidence")


def roc_points(u: Sequence[float], incorrect: Sequence[bool]) -> pd.DataFrame:
    """ROC over the distinct thresholds (ties form one point), from (0, 0) to (1, 1).

    Columns ``threshold`` (flag u ≥ threshold; +inf for the origin), ``fpr``, ``tpr``,
    ``on_log_axis`` (fpr > 0). Empty when a class is missing."""
    u = np.asarray(u, dtype=float)
    y = np.asarray(incorrect, dtype=bool)
    keep = ~np.isnan(u)
    u, y = u[keep], y[keep]
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    cols = ["threshold", "fpr", "tpr", "on_log_axis"]
    if n_pos == 0 or n_neg == 0:
        return pd.DataFrame(columns=cols)
    order = np.argsort(-u, kind="mergesort")
    u_s, y_s = u[order], y[order]
    last = np.r_[np.nonzero(np.diff(u_s))[0], len(u_s) - 1]
    tpr = np.r_[0.0, np.cumsum(y_s)[last] / n_pos]
    fpr = np.r_[0.0, np.cumsum(~y_s)[last] / n_neg]
    thr = np.r_[np.inf, u_s[last]]
    return pd.DataFrame({"threshold": thr, "fpr": fpr, "tpr": tpr, "on_log_axis": fpr > 0})


def _labelled(run, rule: str, judge: str, methods: Sequence[str] | None):
    lab = judged_labels(run, judge)
    methods = list(methods) if methods is not None else score_methods(run, rule)
    s = run_scores(run, rule, methods)
    wide = s.pivot(index="question_id", columns="method", values="uncertainty")
    return lab, wide.reindex(lab.index), methods


def run_roc(run, rule: str, judge: str, methods: Sequence[str] | None = None) -> pd.DataFrame:
    """:func:`roc_points` for every method, with a ``method`` column."""
    lab, wide, methods = _labelled(run, rule, judge, methods)
    frames = [roc_points(wide[m].to_numpy(dtype=float), ~lab.to_numpy()).assign(method=m)
              for m in methods if m in wide]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=["threshold", "fpr", "tpr", "on_log_axis", "method"])
    return pd.concat(frames, ignore_index=True)


def tail_table(run, rule: str, judge: str, fprs: Sequence[float] = DEFAULT_FPRS,
               methods: Sequence[str] | None = None) -> pd.DataFrame:
    """Per method and target FPR: ``tpr`` (None when undefined), ``warning``, ``n_correct``,
    ``n_incorrect``, ``min_fpr_step`` (1 / number of correct answers)."""
    lab, wide, methods = _labelled(run, rule, judge, methods)
    rows = []
    for m in methods:
        if m not in wide:
            continue
        u = wide[m].to_numpy(dtype=float)
        keep = ~np.isnan(u)
        y = ~lab.to_numpy()
        n_neg = int((~y[keep]).sum())
        for f in fprs:
            v, w = tpr_at_fpr(u, y, f)
            rows.append({"method": m, "fpr": float(f), "tpr": v, "warning": w,
                         "n_correct": n_neg, "n_incorrect": int(y[keep].sum()),
                         "min_fpr_step": (1.0 / n_neg) if n_neg else np.nan})
    return pd.DataFrame(rows, columns=["method", "fpr", "tpr", "warning", "n_correct",
                                       "n_incorrect", "min_fpr_step"])


def rejection_curves(run, rule: str, judge: str,
                     methods: Sequence[str] | None = None) -> pd.DataFrame:
    """Long frame ``method, fraction_rejected, accuracy`` for every method, plus the
    ``oracle`` (wrong answers rejected first) and ``random`` (base accuracy) references,
    each over the questions the method scores."""
    lab, wide, methods = _labelled(run, rule, judge, methods)
    frames = []
    c = lab.to_numpy()
    for m in methods:
        if m not in wide:
            continue
        frac, acc = rejection_curve(wide[m].to_numpy(dtype=float), c)
        frames.append(pd.DataFrame({"method": m, "fraction_rejected": frac, "accuracy": acc}))
    n = len(c)
    if n:
        k = np.arange(n)
        n_wrong = int((~c).sum())
        oracle = (c.sum() - np.maximum(0, k - n_wrong)) / (n - k)
        frames.append(pd.DataFrame({"method": "oracle", "fraction_rejected": k / n,
                                    "accuracy": oracle}))
        frames.append(pd.DataFrame({"method": "random", "fraction_rejected": k / n,
                                    "accuracy": float(c.mean())}))
    if not frames:
        return pd.DataFrame(columns=["method", "fraction_rejected", "accuracy"])
    return pd.concat(frames, ignore_index=True)


def reliability(confidence: Sequence[float], correct: Sequence[bool],
                n_bins: int = 10) -> tuple[pd.DataFrame, float | None]:
    """Reliability-diagram data with equal-width bins on confidence ∈ [0, 1] (the bins of
    :func:`uqlens.analysis.evaluation.ece`, the last one closed) and the ECE.

    Columns ``bin, lo, hi, n, mean_confidence, accuracy`` (empty bins have n = 0, NaN means).
    """
    conf = np.asarray(confidence, dtype=float)
    c = np.asarray(correct, dtype=bool)
    keep = ~np.isnan(conf)
    conf, c = conf[keep], c[keep]
    if conf.size and (conf.min() < 0 or conf.max() > 1):
        raise ValueError("confidence must lie in [0, 1]")
    b = ece_bins(conf, n_bins)  # by edges: 1 − 0.9 lands in [0.1, 0.2), as ece() counts it
    rows = []
    for k in range(n_bins):
        m = b == k
        rows.append({"bin": k, "lo": k / n_bins, "hi": (k + 1) / n_bins, "n": int(m.sum()),
                     "mean_confidence": float(conf[m].mean()) if m.any() else np.nan,
                     "accuracy": float(c[m].mean()) if m.any() else np.nan})
    return pd.DataFrame(rows), ece(conf, c, n_bins=n_bins)


def probability_methods(run, rule: str) -> list[str]:
    """Methods of the run whose uncertainty is 1 − a probability (all values in [0, 1])."""
    s = run_scores(run, rule)
    out = []
    for m in score_methods(run, rule):
        info = run.manifest.get("method_info", {}).get(m, {})
        if m not in PROBABILITY_METHODS and not info.get("probability"):
            continue
        u = s.loc[s["method"] == m, "uncertainty"].dropna()
        if len(u) and u.between(0, 1).all():
            out.append(m)
    return out


def run_reliability(run, rule: str, judge: str, n_bins: int = 10,
                    methods: Sequence[str] | None = None) -> dict[str, tuple[pd.DataFrame, float]]:
    """:func:`reliability` for each probability-valued method (confidence = 1 − u)."""
    methods = list(methods) if methods is not None else probability_methods(run, rule)
    lab, wide, methods = _labelled(run, rule, judge, methods)
    return {m: reliability(1.0 - wide[m].to_numpy(dtype=float), lab.to_numpy(), n_bins)
            for m in methods if m in wide}
