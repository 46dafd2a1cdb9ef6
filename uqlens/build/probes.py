"""The build's supervised stage: hidden states kept as a compact table, and the probes of
:mod:`uqlens.core.methods.supervised` scored after judging (they learn from the labels).

Kept apart from :mod:`uqlens.build.pipeline` so that the pipeline calls two functions:
:func:`hidden_state_table` (what to write as ``hidden_states.parquet``) and
:func:`supervised_stage` (score rows, ``method_info`` entries and skip reasons).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from uqlens.core.methods import supervised


def hidden_state_table(gens: pd.DataFrame) -> pd.DataFrame | None:
    """``question_id, sample_id, hidden_state`` (float16) of every generation that has a
    hidden state, or None when none has. float16 halves the float32 size and keeps ~3
    significant digits: plenty for a PCA and a regularised linear probe."""
    if "hidden_state" not in gens:
        return None
    keep = gens["hidden_state"].map(
        lambda v: v is not None and not isinstance(v, float) and len(v) > 0).to_numpy(bool)
    if not keep.any():
        return None
    rows = gens.loc[keep, ["question_id", "sample_id", "hidden_state"]].reset_index(drop=True)
    rows["hidden_state"] = [np.asarray(v, dtype=np.float16) for v in rows["hidden_state"]]
    return rows


def judged_rows(gens: pd.DataFrame) -> pd.DataFrame:
    """``question_id, sample_id`` of each question's judged answer: its greedy generation,
    else its first (the convention of :func:`uqlens.run.rescore.judged_rows`)."""
    greedy = gens[gens["is_greedy"].astype(bool)].drop_duplicates("question_id")
    rest = gens[~gens["question_id"].isin(greedy["question_id"])].drop_duplicates("question_id")
    return pd.concat([greedy, rest], ignore_index=True)[["question_id", "sample_id"]]


def judged_correct(gens: pd.DataFrame, correct: pd.DataFrame, judge: str) -> pd.Series:
    """``correct`` (bool) of each judged answer under ``judge``, indexed by question id."""
    c = correct[correct["judge"] == judge][["question_id", "sample_id", "label"]]
    rows = judged_rows(gens).merge(c, on=["question_id", "sample_id"], how="inner")
    rows = rows.dropna(subset=["label"])
    return pd.Series(rows["label"].astype(bool).to_numpy(), index=rows["question_id"].to_numpy())


def supervised_stage(
    gens: pd.DataFrame,
    hidden: pd.DataFrame | None,
    correct: pd.DataFrame,
    scores: pd.DataFrame,
    question_ids: Iterable[str],
    rules: Iterable[str],
    *,
    judge: str | None,
    wanted: Iterable[str] | None = None,
    params: Mapping[str, Mapping] | None = None,
    memo: supervised.FitMemo | None = None,
    stats: dict | None = None,
) -> supervised.RunProbes:
    """Score the supervised methods (all, or those in ``wanted``) over the whole run.

    ``judge``: the labels ``hidden_state_probe`` learns (the build's ``probe_judge``, else
    its default judge). ``memo``: fitted predictions kept between builds (the content cache),
    so that a rebuild refits only the probes whose hidden states, labels or settings changed;
    ``stats`` counts the fits computed and read back."""
    methods = [m for m in supervised.SUPERVISED if wanted is None or m in set(wanted)]
    states = pd.DataFrame({"question_id": [], "hidden_state": []})
    if hidden is not None:
        states = supervised.judged_hidden_states(hidden, judged_rows(gens))
    labels = judged_correct(gens, correct, judge) if judge else None
    return supervised.score_run(states, question_ids, list(rules), labels=labels, judge=judge,
                                scores=scores, methods=methods, params=params, memo=memo,
                                stats=stats)


def hidden_state_summary(questions: pd.DataFrame, hidden: pd.DataFrame | None) -> dict | None:
    """Manifest ``hidden_states``: rows, dimension and how the vectors were made (the first
    ``meta.hidden_state`` record ``uqlens generate`` left on a question: model, layer,
    pooling), or None without hidden states."""
    import json

    if hidden is None:
        return None
    out = {"rows": int(len(hidden)), "questions": int(hidden["question_id"].nunique()),
           "dim": int(len(hidden["hidden_state"].iloc[0]))}
    for text in questions["meta"] if "meta" in questions else ():
        try:
            made = json.loads(text).get("hidden_state") if isinstance(text, str) else None
        except (ValueError, AttributeError):
            made = None
        if isinstance(made, dict):
            out["made"] = made
            break
    return out
