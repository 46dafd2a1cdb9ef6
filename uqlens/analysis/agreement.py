"""Method agreement: do two UQ methods flag the same questions? (the paper's Table 1)

For every pair of methods and every fraction k (default 10 %, 20 %, 30 %) this reports the
Jaccard overlap of their top-k most uncertain questions next to the chance level k/(2 − k)
(two independent random rankings), and Kendall's τ-b between the two full rankings.

Definitions (from :mod:`uqlens.analysis.evaluation`, not re-implemented here)
--------------------------------------------------------------------
- Only questions where *both* methods are defined (non-NaN) count; n is their number.
- The top-k set has m = max(1, ceil(k · n)) questions, ranked by uncertainty descending.
- Scores are compared after rounding to ``evaluation.RANK_DECIMALS`` places, so float noise
  is a tie, not an order.
- **Tie rule** (``jaccard``): ties in uncertainty are broken by question id (ascending
  string order), so the result is deterministic and the same for every method. Discrete
  scores (number of semantic sets, discrete semantic entropy) tie a lot, so their top-k set
  can depend on the tie rule; ``ties_at_cut_a``/``ties_at_cut_b`` say when the m-th and
  (m+1)-th questions of a method tie, i.e. when the tie rule decides membership. The id rule
  gives two such methods the same tie order, which can read as agreement: on the demo run
  discrete SE vs number of sets at k = 10 % is 1.00 with the id rule.
- **Random ties** (``jaccard_expected``): the same Jaccard averaged over random tie-breaking,
  each method ordering its own ties by an independent uniformly random permutation; exact
  (hypergeometric sums) or, for very large ties, Monte Carlo (``jaccard_expected_how`` says
  which, with its draw count and seed). The demo pair above gives 0.61.
- Kendall's τ-b handles ties in either ranking (scipy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from uqlens.analysis.evaluation import (
    expected_top_k_jaccard,
    kendall_tau,
    rounded,
    top_k_chance,
    top_k_jaccard,
)
from uqlens.core.frames import first_seen
from uqlens.core.ranking import rankdata

DEFAULT_KS = (0.1, 0.2, 0.3)
COLUMNS = ["method_a", "method_b", "k", "n", "m", "jaccard", "jaccard_expected",
           "jaccard_expected_how", "chance", "jaccard_over_chance", "kendall_tau",
           "ties_at_cut_a", "ties_at_cut_b"]


def _ties_at_cut(u: np.ndarray, k: float) -> bool:
    """Does the m-th most uncertain score equal the (m+1)-th (so the tie rule decides)?"""
    n = len(u)
    m = max(1, math.ceil(k * n - 1e-9))
    if m >= n:
        return False
    s = np.sort(rounded(u))[::-1]
    return bool(s[m - 1] == s[m])


def _jaccard(ua: np.ndarray, ub: np.ndarray, k: float, ids: np.ndarray, n: int,
             orders: dict[str, np.ndarray], a: str, b: str) -> float | None:
    """:func:`top_k_jaccard` of two methods; when neither has a NaN score, from each
    method's own order (most uncertain first, ties by question id), sorted once and kept in
    ``orders`` for its other pairs: the same sets, one sort per method instead of two per
    pair and k."""
    if n != len(ua):
        return top_k_jaccard(ua, ub, k, ids=ids)
    for name, u in ((a, ua), (b, ub)):
        if name not in orders:
            orders[name] = np.lexsort((ids, -rounded(u)))
    m = max(1, math.ceil(k * n - 1e-9))
    in_a = np.zeros(n, dtype=bool)
    in_a[orders[a][:m]] = True
    inter = int(in_a[orders[b][:m]].sum())
    return inter / (2 * m - inter)


def wide_scores(scores: pd.DataFrame, methods: Sequence[str] | None = None) -> pd.DataFrame:
    """``question_id × method`` uncertainty matrix from a long ``scores`` frame (columns
    ``question_id, method, uncertainty``), rows sorted by question id."""
    if scores.duplicated(["question_id", "method"]).any():
        raise ValueError("scores has more than one row per (question_id, method)")
    wide = scores.pivot(index="question_id", columns="method", values="uncertainty")
    wide = wide.sort_index().astype(float)
    if methods is not None:
        wide = wide[[m for m in methods if m in wide.columns]]
    return wide


def agreement_table(
    scores: pd.DataFrame,
    ks: Sequence[float] = DEFAULT_KS,
    methods: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per unordered method pair and k.

    Parameters
    ----------
    scores : long frame with ``question_id, method, uncertainty`` (one rule)
    ks : fractions of questions in (0, 1]
    methods : which methods, in this order (default: order of first appearance)

    Returns
    -------
    DataFrame with columns ``method_a, method_b, k, n`` (questions where both are defined),
    ``m`` (top-set size), ``jaccard`` (id tie rule), ``jaccard_expected`` (average over
    random tie-breaks) and ``jaccard_expected_how``, ``chance`` (k/(2 − k)),
    ``jaccard_over_chance``,
    ``kendall_tau`` (same for every k of a pair), ``ties_at_cut_a``, ``ties_at_cut_b``.
    Undefined values (no shared question) are NaN.
    """
    if methods is None:
        methods = first_seen(scores["method"])
    wide = wide_scores(scores, methods)
    # question id order as integers, ranked once (top_k_jaccard would rank the strings anew
    # for every pair and k)
    ids = rankdata(wide.index.to_numpy().astype(str), method="ordinal")
    orders: dict[str, np.ndarray] = {}
    rows = []
    for a, b in combinations([m for m in methods if m in wide.columns], 2):
        ua, ub = wide[a].to_numpy(), wide[b].to_numpy()
        keep = ~(np.isnan(ua) | np.isnan(ub))
        n = int(keep.sum())
        tau = kendall_tau(ua, ub)
        for k in ks:
            j = _jaccard(ua, ub, k, ids, n, orders, a, b) if n else None
            ej = expected_top_k_jaccard(ua, ub, k)
            chance = top_k_chance(k)
            rows.append({
                "method_a": a, "method_b": b, "k": float(k), "n": n,
                "m": max(1, math.ceil(k * n - 1e-9)) if n else 0,
                "jaccard": np.nan if j is None else j,
                "jaccard_expected": np.nan if ej.value is None else ej.value,
                "jaccard_expected_how": ej.how,
                "chance": chance,
                "jaccard_over_chance": np.nan if j is None else j / chance,
                "kendall_tau": np.nan if tau is None else tau,
                "ties_at_cut_a": _ties_at_cut(ua[keep], k) if n else False,
                "ties_at_cut_b": _ties_at_cut(ub[keep], k) if n else False,
            })
    return pd.DataFrame(rows, columns=COLUMNS)


def jaccard_matrix(table: pd.DataFrame, k: float, value: str = "jaccard") -> pd.DataFrame:
    """Square, symmetric ``method × method`` matrix of ``value`` at fraction ``k`` from
    :func:`agreement_table` (diagonal 1 for Jaccard and τ), for a heatmap."""
    t = table[np.isclose(table["k"], k)]
    methods = list(dict.fromkeys([*t["method_a"], *t["method_b"]]))
    if not methods:
        methods = list(dict.fromkeys([*table["method_a"], *table["method_b"]]))
    mat = pd.DataFrame(np.nan, index=methods, columns=methods)
    for a, b, v in zip(t["method_a"], t["method_b"], t[value], strict=True):
        mat.loc[a, b] = mat.loc[b, a] = v
    for m in methods:
        mat.loc[m, m] = 1.0
    return mat


def run_agreement(
    run, rule: str, ks: Sequence[float] = DEFAULT_KS, methods: Sequence[str] | None = None
) -> pd.DataFrame:
    """:func:`agreement_table` over a built run's scores under ``rule``. Methods that are
    constant or undefined on every question are kept (their Jaccard is then decided by the
    tie rule alone, which ``ties_at_cut_*`` shows)."""
    from uqlens.run.rescore import run_scores, score_methods

    methods = list(methods) if methods is not None else score_methods(run, rule)
    return agreement_table(run_scores(run, rule, methods), ks=ks, methods=methods)


def paper_table(table: pd.DataFrame) -> pd.DataFrame:
    """The paper's layout: one row per method pair, one Jaccard column per k (``top10`` ...,
    id tie rule), then ``top10_random_ties`` ... (average over random tie-breaks),
    ``chance10`` ... and ``kendall_tau``."""
    if table.empty:
        return pd.DataFrame(columns=["method_a", "method_b", "kendall_tau"])
    rows: dict[tuple[str, str], dict] = {}
    for r in table.itertuples(index=False):
        c = f"{round(r.k * 100):d}"
        row = rows.setdefault((r.method_a, r.method_b),
                              {"method_a": r.method_a, "method_b": r.method_b})
        row[f"top{c}"] = r.jaccard
        if hasattr(r, "jaccard_expected"):
            row[f"top{c}_random_ties"] = r.jaccard_expected
        row[f"chance{c}"] = r.chance
        row["kendall_tau"] = r.kendall_tau
    out = pd.DataFrame(list(rows.values()))
    tops = sorted(c for c in out if c.startswith("top") and not c.endswith("_random_ties"))
    cols = ["method_a", "method_b", *tops, *sorted(c for c in out if c.endswith("_random_ties")),
            *sorted(c for c in out if c.startswith("chance")), "kendall_tau"]
    return out[cols]
