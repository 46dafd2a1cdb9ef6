"""The rounding every ranking compares (:func:`rounded`) and the words for a tie
(:func:`tie_note`), shared by the analyses (:mod:`uqlens.analysis.evaluation` re-exports them)
and the run's precomputed summaries (:mod:`uqlens.run.summaries`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

RANK_DECIMALS = 9
"""Decimal places scores are rounded to before any ranking (absolute: 1e-9 is far above
double rounding noise of scores of order 1-100, far below any difference a method means)."""


def rounded(u: Sequence[float] | np.ndarray, decimals: int = RANK_DECIMALS) -> np.ndarray:
    """``u`` as floats rounded to ``decimals`` places (−0.0 made 0.0; NaN kept): the values
    every ranking here compares."""
    r = np.round(np.asarray(u, dtype=float), decimals)
    return r + 0.0  # −0.0 + 0.0 is 0.0


def tie_note(n_tied) -> str:
    """"tied with 118 others" / "tied with 1 other" / "" (no tie or undefined)."""
    if n_tied is None or (isinstance(n_tied, float) and math.isnan(n_tied)) or n_tied < 1:
        return ""
    n = int(n_tied)
    return f"tied with {n} other{'s' if n > 1 else ''}"


def certainty_ranks(s):
    """Per-method ranks of a frame of ``question_id, method, uncertainty`` plus ``_u`` (the
    :func:`rounded` uncertainty): ``certainty_rank`` (1 = least uncertain; ties in question-id
    order, NaN unscored), ``shared_rank`` (tied questions share their mean rank) and
    ``rank_percentile``; sorted by method and question, ``_u`` dropped."""
    s = s.sort_values(["method", "_u", "question_id"], na_position="last")
    s["certainty_rank"] = s.groupby("method").cumcount() + 1
    s.loc[s["uncertainty"].isna(), "certainty_rank"] = np.nan
    # what a reader is shown: tied questions share one (mid) rank, never an order by id
    s["shared_rank"] = s.groupby(["method", "_u"])["certainty_rank"].transform("mean")
    s = s.drop(columns="_u")
    n_scored = s.groupby("method")["uncertainty"].transform("count")
    s["rank_percentile"] = s["certainty_rank"] / n_scored * 100.0
    return s.sort_values(["method", "question_id"]).reset_index(drop=True)


def rankdata(values, method: str = "average") -> np.ndarray:
    """Ranks 1..n of a 1-D array as ``scipy.stats.rankdata`` gives them (``"average"``: tied
    values share the mean of their positions; ``"ordinal"``: ties in order of appearance),
    without importing scipy.stats (a second on the dashboard's first page)."""
    v = np.asarray(values)
    order = np.argsort(v, kind="stable")
    if method == "ordinal":
        out = np.empty(len(v), dtype=np.int64)
        out[order] = np.arange(1, len(v) + 1)
        return out
    if method != "average":
        raise ValueError("method must be 'average' or 'ordinal'")
    s = v[order]
    new = np.r_[True, s[1:] != s[:-1]] if len(s) else np.zeros(0, dtype=bool)
    group = np.cumsum(new) - 1  # tie group of each sorted position
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], len(s)]  # one past each group's last position
    out = np.empty(len(v), dtype=float)
    out[order] = ((starts + 1 + ends) / 2.0)[group]
    return out
