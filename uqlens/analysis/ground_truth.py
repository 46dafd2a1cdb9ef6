"""The verifiable slice: questions whose correctness no language model decided.

A label has *non-LLM ground truth* when a program checked it (judge provenance ``"program"``,
e.g. an integer answer parsed and compared) or it is exact gold (provenance ``"exact"``).
The paper behind uqlens asks UQ methods to prove themselves there first, with AUROC and the
TPR at very low FPR a deployed gate would run at; :func:`verifiable_metrics` reports those,
with bootstrap intervals and the warnings that say when a number rests on a few answers.

Orientation as everywhere: the positive class is an incorrect judged answer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from uqlens.analysis import evaluation
from uqlens.core.frames import isin
from uqlens.run.rescore import judged_rows

NON_LLM_PROVENANCES = ("program", "exact")
FEW_INCORRECT = 10
"""Below this many incorrect answers, TPR moves in steps of more than 10 %: say so."""


def _non_llm_rows(run, judge: str | None) -> pd.DataFrame:
    """Judged-answer correctness rows with a non-LLM provenance (judges in manifest order)."""
    corr = run.table("correctness")
    if "provenance" not in corr:
        return corr.iloc[0:0]
    corr = corr[corr["provenance"].isin(NON_LLM_PROVENANCES) & corr["label"].notna()]
    if judge is not None:
        corr = corr[corr["judge"] == judge]
    rows = judged_rows(run).merge(corr, on=["question_id", "sample_id"], how="inner")
    rank = {j: i for i, j in enumerate(run.manifest.get("judges", []))}
    rows = rows.assign(_r=rows["judge"].map(rank).fillna(len(rank)))
    return rows.sort_values(["_r", "judge"], kind="stable").drop(columns="_r")


def non_llm_ground_truth(run, judge: str | None = None) -> list[str]:
    """Question ids whose judged answer has a label from a program judge or exact gold
    (provenance in :data:`NON_LLM_PROVENANCES`), in the run's question order; ``judge``
    restricts to one judge."""
    found = _non_llm_rows(run, judge)["question_id"].unique()
    if not len(found):  # the usual case: no program judge, nothing to look up
        return []
    questions = run.table("questions")["question_id"]
    return questions[isin(questions, found)].tolist()


def non_llm_labels(run, judge: str | None = None) -> pd.Series:
    """``correct`` (bool) of each verifiable question's judged answer, indexed by question
    id; where several non-LLM judges label it, the first in the manifest's judge order."""
    rows = _non_llm_rows(run, judge).drop_duplicates("question_id", keep="first")
    return pd.Series(rows["label"].astype(bool).to_numpy(),
                     index=rows["question_id"].to_numpy(), name="correct").sort_index()


def verifiable_metrics(run, rule: str, judge: str | None = None, scores: pd.DataFrame | None
                       = None, n_boot: int = 1000, level: float = 0.95,
                       seed: int = 0) -> pd.DataFrame:
    """Per method on the verifiable slice: AUROC, TPR@1%FPR and TPR@0.1%FPR with percentile
    bootstrap intervals over questions.

    ``scores`` (``question_id, method, uncertainty``) defaults to the run's under ``rule``.
    Columns: ``method, n, n_incorrect, auroc, auroc_lo, auroc_hi, tpr_at_1fpr`` (+ ``_lo``,
    ``_hi``), ``tpr_at_01fpr`` (+ ``_lo``, ``_hi``) and ``warning``: too few correct answers
    for the FPR target (:func:`uqlens.analysis.evaluation.tpr_at_fpr`) or fewer than
    :data:`FEW_INCORRECT` incorrect ones. Empty when the run has no verifiable question.
    """
    labels = non_llm_labels(run, judge)
    cols = ["method", "n", "n_incorrect"]
    for name in ("auroc", "tpr_at_1fpr", "tpr_at_01fpr"):
        cols += [name, f"{name}_lo", f"{name}_hi"]
    cols.append("warning")
    if labels.empty:  # before reading every score of the run for nothing
        return pd.DataFrame(columns=cols)
    if scores is None:
        s = run.table("scores")
        scores = s[s["rule"] == rule][["question_id", "method", "uncertainty"]]
    scores = scores[scores["question_id"].isin(labels.index)]
    if scores.empty:
        return pd.DataFrame(columns=cols)
    incorrect = ~labels
    table = evaluation.method_table(scores, incorrect, n_boot=n_boot, level=level, seed=seed)
    extra = []
    for method, g in scores.groupby("method", sort=False):
        u = g["uncertainty"].to_numpy(dtype=float)
        y = incorrect.loc[g["question_id"]].to_numpy(dtype=bool)
        value, warn_01 = evaluation.tpr_at_fpr(u, y, 0.001)
        ci = evaluation.bootstrap_ci(_tpr_01, u, y, n_boot=n_boot, level=level, seed=seed)
        n_wrong = int(y[~np.isnan(u)].sum())
        warnings = [w for w in (warn_01,) if w]
        if 0 < n_wrong < FEW_INCORRECT:
            warnings.append(f"only {n_wrong} incorrect answers: TPR moves in steps of "
                            f"1/{n_wrong}")
        extra.append({"method": method, "tpr_at_01fpr": value, "tpr_at_01fpr_lo": ci.low,
                      "tpr_at_01fpr_hi": ci.high, "warning": "; ".join(warnings) or None})
    out = table.merge(pd.DataFrame(extra), on="method", how="left")
    return out[cols]


def _tpr_01(u: np.ndarray, y: np.ndarray) -> float | None:
    return evaluation.tpr_at_fpr(u, y, 0.001)[0]
