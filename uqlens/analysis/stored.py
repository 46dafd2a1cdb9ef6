"""The run's precomputed summaries (:mod:`uqlens.run.summaries`) as the analyses see a run:
through its slice (:meth:`uqlens.run.folder.Run.restricted`) and its human judges.

A stored table holds every question of the run under the judges the build ran. A slice keeps
its questions' rows (the cluster summary and the per-question judge table describe one
question at a time); the ranks and percentiles of ``question_scores`` depend on every
question scored, so a slice computes them. A human judge ``human+<base>`` (see
:mod:`uqlens.run.labels`) gives ``<base>``'s verdict wherever no person labelled an answer:
its tables are ``<base>``'s, with the questions someone labelled recomputed (only those).
Each function returns None when there is nothing stored to serve; the caller computes.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from uqlens.core.frames import isin
from uqlens.run import labels, summaries

CLUSTER_ORDER = (["question_id", "size", "cluster_id"], [True, False, True])


def clusters(run, rule: str, judge: str, compute: Callable,
             columns: tuple[str, ...] | None = None) -> pd.DataFrame | None:
    """The cluster summary of ``(rule, judge)``; ``compute(run, rule, judge)`` computes it
    (for the questions a person labelled, under a human judge). ``columns``: only those
    (they must include ``question_id, size, cluster_id``, the row order)."""
    return _served(run, "clusters", rule, judge, lambda view: compute(view, rule, judge),
                   lambda t: t.sort_values(CLUSTER_ORDER[0], ascending=CLUSTER_ORDER[1]),
                   columns)


def judge_table(run, judge: str, compute: Callable,
                columns: tuple[str, ...] | None = None) -> pd.DataFrame | None:
    """The per-question table of ``judge`` (``compute(run, judge)`` computes it);
    ``columns``: only those (with ``question_id``)."""
    return _served(run, "judge", None, judge, lambda view: compute(view, judge),
                   lambda t: t.sort_values("question_id"), columns)


def scores(run, rule: str) -> pd.DataFrame | None:
    """Every method's ``question_scores`` under ``rule``; None for a slice."""
    if getattr(run, "subset", None) is not None:
        return None
    return summaries.read(run, "scores", rule)


def labelled_questions(run) -> set[str]:
    """Questions with an answer a person labelled (their ``human+`` verdicts may differ)."""
    verdicts = labels.answer_verdicts(labels.read(run))
    return set(verdicts["question_id"])


def _served(run, kind: str, rule: str | None, judge: str, compute: Callable,
            order: Callable, columns: tuple[str, ...] | None = None) -> pd.DataFrame | None:
    base = labels.human_base(judge)
    table = summaries.read(run, kind, rule, base or judge, columns=columns)
    if table is None or table.empty:
        return None
    subset = getattr(run, "subset", None)
    if subset is not None:
        table = table[isin(table["question_id"], subset)]
    if base is not None:
        labelled = labelled_questions(run)  # none: nothing to box or recompute
        changed = sorted(labelled & set(table["question_id"])) if labelled else []
        if changed:
            view = run.restricted(changed)
            view.offer_human(judge)
            part = compute(view)
            if columns is not None and len(part):
                part = part[list(columns)]
            kept = table[~isin(table["question_id"], changed)]
            table = order(pd.concat([kept, part], ignore_index=True) if len(part) else kept)
    return table.reset_index(drop=True)
