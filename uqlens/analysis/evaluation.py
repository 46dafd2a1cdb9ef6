"""How well an uncertainty score separates wrong answers from right ones, and how much two
scores agree.

Conventions
-----------
- ``u`` is an uncertainty (higher = more uncertain); the *positive* class is **incorrect**.
  Functions named with ``incorrect`` take a boolean array that is True for wrong answers;
  :func:`rejection_curve` and :func:`ece` take ``correct``.
- Entries whose score is NaN are dropped before computing (a method undefined for a question
  does not count as a prediction).
- Undefined results (empty input, a single class, a constant denominator) are returned as
  ``None``, never as a NaN that looks like a number.
- Ties in ``u`` are handled without an arbitrary order: AUROC counts ties as ½ (Mann-Whitney),
  AUPRC groups tied scores into one threshold (as scikit-learn does), and the rejection curve
  uses the *expected* accuracy under a random order within tied scores.
- **Precision**: every score (and confidence) is rounded to :data:`RANK_DECIMALS` decimal
  places before it is ranked, thresholded, binned or cut at top-k, so floating-point noise
  (eccentricity of two cliques as 0.9999999999999998 and 1.0000000000000002; discrete semantic
  entropy summed in another cluster order) makes a tie, not an order.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from uqlens.core.ranking import (  # noqa: F401  (re-exported: every ranking rounds alike)
    RANK_DECIMALS,
    rankdata,
    rounded,
    tie_note,
)

Array = Sequence[float] | np.ndarray


def _clean(u: Array, y: Array) -> tuple[np.ndarray, np.ndarray]:
    u = rounded(u)
    y = np.asarray(y, dtype=bool)
    if u.shape != y.shape or u.ndim != 1:
        raise ValueError("scores and labels must be 1-D arrays of equal length")
    keep = ~np.isnan(u)
    return u[keep], y[keep]


# --- ranks with ties ----------------------------------------------------------------------
def mid_ranks(u: Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shared ranks of tied scores: ``(rank, percentile, n_tied)`` per entry.

    ``rank`` is the mid-rank (the average of the positions a tie group occupies, 1 = least
    uncertain), ``percentile`` = 100 · (rank − 1)/(n − 1) (0 = least, 100 = most uncertain;
    50 when n = 1), ``n_tied`` = how many *other* scores equal this one. Scores are compared
    after :func:`rounded`; NaN scores get NaN rank and percentile and are not counted in n.
    """
    r = rounded(u)
    rank = np.full(r.shape, np.nan)
    pct = np.full(r.shape, np.nan)
    tied = np.full(r.shape, np.nan)
    ok = ~np.isnan(r)
    v = r[ok]
    if v.size:
        rank[ok] = rankdata(v, method="average")
        pct[ok] = 50.0 if v.size == 1 else 100.0 * (rank[ok] - 1.0) / (v.size - 1.0)
        _, inv, counts = np.unique(v, return_inverse=True, return_counts=True)
        tied[ok] = counts[inv] - 1
    return rank, pct, tied


def order_with_ties(frame: pd.DataFrame, score: str = "uncertainty",
                    then: Sequence[tuple[str, bool]] = (), ascending: bool = True
                    ) -> pd.DataFrame:
    """``frame`` sorted by ``score`` (after :func:`rounded`), ties ordered by the stated
    secondary keys ``then`` (``(column, ascending)`` pairs, e.g. dominant share descending,
    then another method's uncertainty), NaN scores last. Only ties all these keys leave get
    the row order of ``frame`` (a stable sort), never an id by default."""
    keys = ["_score", *(c for c, _ in then)]
    order = [ascending, *(a for _, a in then)]
    out = frame.assign(_score=rounded(frame[score].to_numpy(dtype=float)))
    for col, _ in then:
        if pd.api.types.is_float_dtype(out[col]):
            out[col] = rounded(out[col].to_numpy(dtype=float))
    out = out.sort_values(keys, ascending=order, kind="stable", na_position="last")
    return out.drop(columns="_score")


def _two_classes(y: np.ndarray) -> bool:
    return y.size > 0 and 0 < int(y.sum()) < y.size


# --- ranking metrics ----------------------------------------------------------------------
def auroc(u: Array, incorrect: Array) -> float | None:
    """Area under the ROC curve for detecting incorrect answers, ties counted ½.

    Equals ``sklearn.metrics.roc_auc_score(incorrect, u)``; computed as the Mann-Whitney
    statistic from average ranks.
    """
    u, y = _clean(u, incorrect)
    if not _two_classes(y):
        return None
    r = rankdata(u)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    return float((r[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auprc(u: Array, incorrect: Array) -> float | None:
    """Average precision for detecting incorrect answers: Σ_n (R_n − R_{n−1}) P_n over the
    distinct score thresholds from high to low (ties form one threshold, no interpolation),
    as ``sklearn.metrics.average_precision_score``.
    """
    u, y = _clean(u, incorrect)
    if not _two_classes(y):
        return None
    order = np.argsort(-u, kind="mergesort")
    u_s, y_s = u[order], y[order]
    tp = np.cumsum(y_s)
    last = np.r_[np.nonzero(np.diff(u_s))[0], len(u_s) - 1]  # end of each tie group
    tp = tp[last].astype(float)
    k = (last + 1).astype(float)
    precision = tp / k
    recall = tp / tp[-1]
    d_recall = np.diff(np.r_[0.0, recall])
    return float(np.sum(d_recall * precision))


def tpr_at_fpr(
    u: Array, incorrect: Array, max_fpr: float = 0.01
) -> tuple[float | None, str | None]:
    """Largest share of incorrect answers flagged (u ≥ threshold) while flagging at most
    ``max_fpr`` of the correct ones, over the distinct thresholds (no interpolation).

    Returns ``(value, warning)``. ``warning`` is set when there are fewer than 1/max_fpr
    correct answers (negatives): the FPR then moves in steps larger than ``max_fpr``, so
    the value is decided by a handful of answers. ``value`` is None with one class only.
    """
    u, y = _clean(u, incorrect)
    if not _two_classes(y):
        return None, "undefined: needs both correct and incorrect answers"
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    order = np.argsort(-u, kind="mergesort")
    u_s, y_s = u[order], y[order]
    last = np.r_[np.nonzero(np.diff(u_s))[0], len(u_s) - 1]
    tpr = np.r_[0.0, np.cumsum(y_s)[last] / n_pos]
    fpr = np.r_[0.0, np.cumsum(~y_s)[last] / n_neg]
    value = float(tpr[fpr <= max_fpr + 1e-12].max())
    warning = None
    if n_neg < 1.0 / max_fpr:
        warning = (f"only {n_neg} correct answers: FPR moves in steps of 1/{n_neg}, coarser "
                   f"than {max_fpr:g}; TPR@{max_fpr:g} rests on very few answers")
    return value, warning


# --- rejection curves and PRR -------------------------------------------------------------
def _expected_rejected_correct(u: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """E[# correct among the k most uncertain], k = 0..n, random order inside ties."""
    order = np.argsort(-u, kind="mergesort")
    u_s, c_s = u[order], correct[order].astype(float)
    bounds = np.r_[0, np.nonzero(np.diff(u_s))[0] + 1, len(u_s)]  # tie-group edges
    cum_at_bounds = np.r_[0.0, np.cumsum(c_s)][bounds]
    # piecewise-linear interpolation of cumulative correct count between group edges
    return np.interp(np.arange(len(u_s) + 1), bounds, cum_at_bounds)


def rejection_curve(u: Array, correct: Array) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy of the kept answers after rejecting the most uncertain ones.

    For k = 0, ..., n−1 rejected answers returns ``fraction = k/n`` and ``accuracy`` = expected
    share of correct answers among the n−k kept (random order within tied scores).
    Empty arrays for empty input.
    """
    u, c = _clean(u, correct)
    n = len(u)
    if n == 0:
        return np.zeros(0), np.zeros(0)
    rejected_correct = _expected_rejected_correct(u, c)[:n]
    k = np.arange(n)
    return k / n, (c.sum() - rejected_correct) / (n - k)


def area_under_rejection(u: Array, correct: Array) -> float | None:
    """Area under :func:`rejection_curve`: the mean kept-accuracy over k = 0..n−1 rejected
    (a Riemann sum with step 1/n over the fraction rejected ∈ [0, 1))."""
    frac, acc = rejection_curve(u, correct)
    return float(acc.mean()) if len(acc) else None


def prr(u: Array, incorrect: Array) -> float | None:
    """Prediction-rejection ratio with accuracy (0/1 correctness) as the quality.

    PRR = (A_unc − A_random) / (A_oracle − A_random), where A is
    :func:`area_under_rejection` of the accuracy-of-kept curve, rejecting by ``u`` (A_unc),
    in random order (A_random = the base accuracy, at every k), or incorrect-first (A_oracle).
    The same value as (AUC_random − AUC_unc)/(AUC_random − AUC_oracle) on the error-rate
    curve. Oracle ordering gives 1, random ordering ≈ 0 (a constant score gives exactly 0),
    the reversed oracle is negative. None when all answers are correct or all incorrect.
    """
    u, y = _clean(u, incorrect)
    if not _two_classes(y):
        return None
    c = ~y
    n = len(u)
    a_unc = area_under_rejection(u, c)
    a_rand = float(c.mean())
    n_wrong = int(y.sum())
    k = np.arange(n)
    oracle_acc = (c.sum() - np.maximum(0, k - n_wrong)) / (n - k)
    a_oracle = float(oracle_acc.mean())
    denom = a_oracle - a_rand
    if denom <= 0:
        return None
    return float((a_unc - a_rand) / denom)


# --- calibration --------------------------------------------------------------------------
def uncertainty_to_confidence(u: Array, how: str = "rank") -> np.ndarray:
    """Map an uncertainty to a [0, 1] "confidence" so that ECE can be computed.

    ``"flip"``: 1 − u, for uncertainties that are 1 − a probability (p_true, verbalised
    confidence). ``"rank"``: 1 − (average rank − 1)/(n − 1) over the non-NaN scores (most
    uncertain → 0, least → 1, ties share a value; n = 1 → 0.5). ``"minmax"``:
    (max − u)/(max − min) (constant → 0.5). Rank/min-max confidences are not probabilities,
    so ECE on them measures the *shape* of the score, not a calibrated probability.
    """
    u = rounded(u)
    out = np.full(u.shape, np.nan)
    ok = ~np.isnan(u)
    v = u[ok]
    if how == "flip":
        out[ok] = 1.0 - v
    elif how == "rank":
        if v.size == 1:
            out[ok] = 0.5
        elif v.size:
            out[ok] = 1.0 - (rankdata(v) - 1.0) / (v.size - 1.0)
    elif how == "minmax":
        if v.size:
            span = v.max() - v.min()
            out[ok] = 0.5 if span == 0 else (v.max() - v) / span
    else:
        raise ValueError("how must be 'flip', 'rank' or 'minmax'")
    return out


def ece(confidence: Array, correct: Array, n_bins: int = 10) -> float | None:
    """Expected calibration error with ``n_bins`` equal-width bins on confidence ∈ [0, 1]:
    bin b = [b/B, (b+1)/B) (the last bin includes 1);
    ECE = Σ_b (|bin b| / n) · |accuracy_b − mean confidence_b|. Confidences outside [0, 1]
    raise. Use :func:`uncertainty_to_confidence` for unbounded uncertainties.
    """
    conf, c = _clean(confidence, correct)
    if conf.size == 0:
        return None
    if conf.min() < 0 or conf.max() > 1:
        raise ValueError("confidence must lie in [0, 1]")
    b = ece_bins(conf, n_bins)
    total = 0.0
    for k in np.unique(b):
        m = b == k
        total += m.sum() / conf.size * abs(c[m].mean() - conf[m].mean())
    return float(total)


def ece_bins(confidence: Array, n_bins: int = 10) -> np.ndarray:
    """The bin index of each confidence: b with edge_b ≤ conf < edge_{b+1} (1 in the last
    bin), comparing :func:`rounded` values with rounded edges. ``int(conf · B)`` would put
    0.1 = 1 − 0.9 = 0.09999999999999998 in bin 0 and 5/7 in bin 4 of 7."""
    edges = rounded(np.linspace(0.0, 1.0, n_bins + 1))
    b = np.searchsorted(edges, rounded(confidence), side="right") - 1
    return np.clip(b, 0, n_bins - 1)


# --- bootstrap ----------------------------------------------------------------------------
@dataclass(frozen=True)
class BootstrapCI:
    """Percentile interval; ``n_dropped`` resamples lacked a class (or gave None) and were
    skipped; ``n_used`` were kept. ``low``/``high`` are None when none could be used."""

    low: float | None
    high: float | None
    n_used: int
    n_dropped: int


def _boot_counts(key: np.ndarray, y: np.ndarray, idx: np.ndarray, n_keys: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per resample (row of ``idx``) and distinct score (``key``, 0 = most uncertain): how
    many incorrect (``pos``) and correct (``neg``) answers the resample drew (one integer
    count over (resample, score, class) cells)."""
    b = idx.shape[0]
    cell = (key.astype(np.int64) * 2 + y)[idx]
    cell += (np.arange(b, dtype=np.int64) * (2 * n_keys))[:, None]
    counts = np.bincount(cell.ravel(), minlength=2 * b * n_keys).reshape(b, n_keys, 2)
    return counts[:, :, 1].astype(float), counts[:, :, 0].astype(float)


def _boot_metrics(u: np.ndarray, y: np.ndarray, idx: np.ndarray,
                  names: Sequence[str]) -> dict[str, np.ndarray]:
    """The built-in metrics on every resample of ``idx`` at once (NaN where undefined).

    Exactly the definitions of :func:`auroc`, :func:`auprc`, :func:`prr` and
    :func:`tpr_at_fpr` at 1 %, computed from per-resample counts of each distinct score
    (ties form one group, as there) instead of a loop over resamples; equal to the looped
    values up to floating-point rounding (tests/test_evaluation.py checks this)."""
    uniq, inv = np.unique(u, return_inverse=True)
    k = len(uniq)
    key = (k - 1 - inv).astype(np.int64)  # 0 = the highest score (most uncertain)
    pos, neg = _boot_counts(key, y, idx, k)
    n = idx.shape[1]
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    ok = (n_pos > 0) & (n_neg > 0)
    safe_pos, safe_neg = np.where(ok, n_pos, 1.0), np.where(ok, n_neg, 1.0)
    cum_pos, cum_neg = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    out: dict[str, np.ndarray] = {}
    nan = np.full(idx.shape[0], np.nan)
    if "auroc" in names:  # Mann-Whitney: positives above negatives, ties ½
        below_neg = n_neg[:, None] - cum_neg  # negatives with a lower score
        stat = (pos * below_neg).sum(axis=1) + 0.5 * (pos * neg).sum(axis=1)
        out["auroc"] = np.where(ok, stat / (safe_pos * safe_neg), nan)
    if "auprc" in names:
        seen = cum_pos + cum_neg
        prec = np.divide(cum_pos, seen, out=np.zeros_like(cum_pos), where=seen > 0)
        out["auprc"] = np.where(ok, (pos * prec).sum(axis=1) / safe_pos, nan)
    if "tpr_at_1fpr" in names:
        fpr = cum_neg / safe_neg[:, None]
        tpr = np.where(fpr <= 0.01 + 1e-12, cum_pos / safe_pos[:, None], 0.0)
        out["tpr_at_1fpr"] = np.where(ok, tpr.max(axis=1, initial=0.0), nan)
    if "prr" in names:
        # rc(k): expected correct among the k most uncertain, linear inside each tie group.
        # Σ_k rc(k)/(n−k) group by group: rc(k) = before + in_group·(k − start)/size on the
        # group's positions k ∈ [start, start + size), with W/KW the cumulative sums of
        # 1/(n−k) and k/(n−k) (the same for every resample of n answers).
        size = pos + neg
        start = np.cumsum(size, axis=1) - size  # first position of each group
        before = np.cumsum(neg, axis=1) - neg  # correct answers in earlier groups
        kk = np.arange(n)
        w_cum = np.r_[0.0, np.cumsum(1.0 / (n - kk))]
        kw_cum = np.r_[0.0, np.cumsum(kk / (n - kk))]
        s0, s1 = start.astype(np.int64), (start + size).astype(np.int64)
        slope = np.divide(neg, size, out=np.zeros_like(neg), where=size > 0)
        rc_w = ((before - slope * start) * (w_cum[s1] - w_cum[s0])
                + slope * (kw_cum[s1] - kw_cum[s0])).sum(axis=1)
        a_unc = (n_neg * w_cum[n] - rc_w) / n
        a_rand = n_neg / n
        # oracle: Σ_k (n_neg − max(0, k − n_pos))/(n − k), the max nonzero for k > n_pos
        p0 = n_pos.astype(np.int64)
        wrong_w = (kw_cum[n] - kw_cum[p0]) - n_pos * (w_cum[n] - w_cum[p0])
        denom = (n_neg * w_cum[n] - wrong_w) / n - a_rand
        good = ok & (denom > 0)
        out["prr"] = np.where(good, (a_unc - a_rand) / np.where(good, denom, 1.0), nan)
    return out


@functools.lru_cache(maxsize=1)
def _resamples(n: int, n_boot: int, seed: int) -> np.ndarray:
    """The ``n_boot × n`` resampling indices of ``seed`` (what
    ``default_rng(seed).integers(0, n, size=(n_boot, n))`` draws), kept for the next call
    with the same arguments: a page bootstraps many methods and thresholds over the same n
    questions. Read-only."""
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    idx.flags.writeable = False
    return idx


def bootstrap_ci(
    metric: Callable[[np.ndarray, np.ndarray], float | None],
    u: Array,
    incorrect: Array,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    vectorised: bool = True,
) -> BootstrapCI:
    """Percentile bootstrap over questions (resampling with replacement, ``seed`` fixed).

    Resamples containing only one class, or for which ``metric`` returns None, are dropped
    and counted in ``n_dropped``. NaN scores are removed before resampling.

    The built-in metrics (:func:`auroc`, :func:`auprc`, :func:`prr`, TPR@1%FPR) are computed
    on all resamples at once (same resamples, same values up to rounding);
    ``vectorised=False`` calls ``metric`` once per resample (any other metric always is).
    """
    u, y = _clean(u, incorrect)
    n = len(u)
    values: list[float] = []
    dropped = 0
    if n == 0:
        return BootstrapCI(None, None, 0, n_boot)
    idx = _resamples(n, n_boot, seed)
    name = next((k for k, fn in METRICS.items() if fn is metric), None)
    if vectorised and name is not None:
        return _percentile_ci(_boot_chunks(u, y, idx, (name,))[name], level)
    for row in idx:
        yb = y[row]
        if not _two_classes(yb):
            dropped += 1
            continue
        v = metric(u[row], yb)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            dropped += 1
            continue
        values.append(float(v))
    if not values:
        return BootstrapCI(None, None, 0, dropped)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(values, [alpha, 1.0 - alpha])
    return BootstrapCI(float(lo), float(hi), len(values), dropped)


def _boot_chunks(u: np.ndarray, y: np.ndarray, idx: np.ndarray,
                 names: Sequence[str], cells: int = 4_000_000) -> dict[str, np.ndarray]:
    """:func:`_boot_metrics` over blocks of resamples (bounded memory)."""
    step = max(1, cells // max(1, idx.shape[1], len(np.unique(u))))
    parts = [_boot_metrics(u, y, idx[i:i + step], names) for i in range(0, len(idx), step)]
    return {k: np.concatenate([p[k] for p in parts]) if parts else np.zeros(0) for k in names}


def _percentile_ci(values: np.ndarray, level: float) -> BootstrapCI:
    kept = values[~np.isnan(values)]
    dropped = int(len(values) - len(kept))
    if not len(kept):
        return BootstrapCI(None, None, 0, dropped)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(kept, [alpha, 1.0 - alpha])
    return BootstrapCI(float(lo), float(hi), int(len(kept)), dropped)


# --- agreement between methods ------------------------------------------------------------
def top_k_jaccard(u1: Array, u2: Array, k: float, ids: Sequence | None = None) -> float | None:
    """Jaccard overlap of the two scores' top-k most-uncertain question sets.

    ``k`` is a fraction of questions in (0, 1]; the set size is m = max(1, ceil(k·n)) over the
    n questions where both scores are defined. Ranking is by uncertainty (:func:`rounded`)
    descending; ties are broken by question id order (``ids``, or position when ``ids`` is
    None), so the result is deterministic, but it can be the id rule's doing: see
    :func:`expected_top_k_jaccard` for the average over random tie-breaks. Two independent
    random rankings give ≈ k/(2 − k) (:func:`top_k_chance`).
    """
    a, b = rounded(u1), rounded(u2)
    if a.shape != b.shape:
        raise ValueError("score arrays differ in length")
    if not 0 < k <= 1:
        raise ValueError("k must be a fraction in (0, 1]")
    keep = ~(np.isnan(a) | np.isnan(b))
    n = int(keep.sum())
    if n == 0:
        return None
    pos = np.arange(len(a))
    tie = np.asarray(ids)[keep] if ids is not None else pos[keep]
    tie_rank = rankdata(tie, method="ordinal")  # question id order
    m = max(1, math.ceil(k * n - 1e-9))
    top_a = set(np.lexsort((tie_rank, -a[keep]))[:m])
    top_b = set(np.lexsort((tie_rank, -b[keep]))[:m])
    return len(top_a & top_b) / len(top_a | top_b)


@dataclass(frozen=True)
class ExpectedJaccard:
    """:func:`expected_top_k_jaccard`'s answer: the value and how it was found (``"exact"`` or
    ``"monte carlo, N draws, seed S"``)."""

    value: float | None
    how: str


EXACT_TERMS = 50_000_000
"""Above this many terms (FFT length × shared-tie counts) the exact sum gives way to a
Monte Carlo estimate."""


def _top_split(u: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Masks of the questions surely in the top-m (above the cut score) and of those tied at
    the cut score, and how many of the tied ones the top-m takes."""
    cut = np.sort(u)[::-1][m - 1]
    forced, tied = u > cut, u == cut
    return forced, tied, m - int(forced.sum())


def _log_factorials(n: int) -> np.ndarray:
    from scipy.special import gammaln

    return gammaln(np.arange(n + 1, dtype=float) + 1.0)


TAIL = 40.0
"""Hoeffding's bound for drawing without replacement, P(|X − E X| ≥ t) ≤ 2·exp(−2t²/draws),
is below 2·e⁻⁸⁰ ≈ 4e-35 at t = √(TAIL · draws): counts that far from their mean are left
out of the exact sum (their total probability is below float precision)."""


def _near_mean(draws: int, share: float, low: int, high: int) -> np.ndarray:
    """The counts in [low, high] within Hoeffding's ``TAIL`` distance of ``draws · share``."""
    t = math.ceil(math.sqrt(TAIL * max(draws, 1)))
    mean = draws * share
    return np.arange(max(low, math.floor(mean) - t), min(high, math.ceil(mean) + t) + 1)


def _exact_expected(fa, ta, ra, fb, tb, rb, m) -> float | None:
    """E[J] when each method fills its top-m with an independent uniformly random subset of
    its tie at the cut (A takes ``ra`` of ``ta``, B ``rb`` of ``tb``).

    I = |F_a∩F_b| + i1 + y: i1 of A's picks fall in F_b and i2 in the shared tie T_a∩T_b
    (multivariate hypergeometric), and y, the B picks landing in A's top (in F_a or among
    A's i2 picks of the shared tie), is hypergeometric given i2: rb draws from |T_b| with
    |T_b∩F_a| + i2 successes. The law of i1 + y is a sum over i2 of convolutions (done by
    FFT); J = I / (2m − I). Counts beyond :data:`TAIL` are left out. None when the sum
    would take more than :data:`EXACT_TERMS` terms."""
    n_ta, n_tb = int(ta.sum()), int(tb.sum())
    n1a, both = int((ta & fb).sum()), int((ta & tb).sum())
    n1b = int((tb & fa).sum())
    i1 = _near_mean(ra, n1a / n_ta, max(0, ra - (n_ta - n1a)), min(n1a, ra))
    i2 = _near_mean(ra, both / n_ta, max(0, ra - (n_ta - both)), min(both, ra))
    k = n1b + i2  # B's successes for each i2
    lo = max(0, math.floor(rb * k.min() / n_tb) - math.ceil(math.sqrt(TAIL * rb)))
    hi = min(rb, math.ceil(rb * k.max() / n_tb) + math.ceil(math.sqrt(TAIL * rb)))
    y = np.arange(lo, hi + 1)
    length = len(i1) + len(y) - 1
    size = 1 << (length - 1).bit_length()  # FFT length
    if len(i2) * size > EXACT_TERMS:
        return None
    lf = _log_factorials(max(n_ta, n_tb))

    def log_comb(n, r):
        ok = (r >= 0) & (r <= n)
        r = np.clip(r, 0, n)
        return np.where(ok, lf[n] - lf[r] - lf[n - r], -np.inf)

    n3a = n_ta - n1a - both
    i3 = ra - i1[:, None] - i2[None, :]
    pa = np.exp(log_comb(n1a, i1)[:, None] + log_comb(both, i2)[None, :]
                + log_comb(n3a, i3) - log_comb(n_ta, ra))  # (i1, i2)
    hb = np.exp(log_comb(k[:, None], y[None, :]) + log_comb(n_tb - k[:, None], rb - y[None, :])
                - log_comb(n_tb, rb))  # (i2, y)
    spectrum = np.zeros(size // 2 + 1, dtype=complex)
    step = max(1, 2_000_000 // size)  # bounded memory
    for j in range(0, len(i2), step):
        spectrum += (np.fft.rfft(pa[:, j:j + step], size, axis=0)
                     * np.fft.rfft(hb[j:j + step], size, axis=1).T).sum(axis=1)
    law = np.fft.irfft(spectrum, size)[:length]
    inter = int((fa & fb).sum()) + i1[0] + y[0] + np.arange(length)
    ok = inter <= m
    return float(np.sum(law[ok] * inter[ok] / (2 * m - inter[ok])))


def expected_top_k_jaccard(u1: Array, u2: Array, k: float, n_draws: int = 2000,
                           seed: int = 0) -> ExpectedJaccard:
    """The top-k Jaccard of :func:`top_k_jaccard` averaged over random tie-breaking: each
    method orders its own tied scores by an independent uniformly random permutation.

    Exact (a sum over hypergeometric counts, see :func:`_exact_expected`) when that takes at
    most :data:`EXACT_TERMS` terms, else a Monte Carlo mean over ``n_draws`` pairs of random
    orders with ``seed`` (``how`` says which). Two tie-free scores give the id rule's value.
    """
    a, b = rounded(u1), rounded(u2)
    if a.shape != b.shape:
        raise ValueError("score arrays differ in length")
    if not 0 < k <= 1:
        raise ValueError("k must be a fraction in (0, 1]")
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    n = len(a)
    if n == 0:
        return ExpectedJaccard(None, "exact")
    m = max(1, math.ceil(k * n - 1e-9))
    fa, ta, ra = _top_split(a, m)
    fb, tb, rb = _top_split(b, m)
    exact = _exact_expected(fa, ta, ra, fb, tb, rb, m)
    if exact is not None:
        return ExpectedJaccard(exact, "exact")
    rng = np.random.default_rng(seed)
    ia, ib = np.flatnonzero(ta), np.flatnonzero(tb)
    c0 = int((fa & fb).sum())
    picked_a = np.zeros(n, dtype=bool)
    total = 0.0
    for _ in range(n_draws):
        pick_a, pick_b = rng.choice(ia, ra, replace=False), rng.choice(ib, rb, replace=False)
        # the picks lie in the ties, outside both forced sets: count the overlap by parts
        picked_a[pick_a] = True
        inter = (c0 + int(fb[pick_a].sum()) + int(fa[pick_b].sum())
                 + int(picked_a[pick_b].sum()))
        picked_a[pick_a] = False
        total += inter / (2 * m - inter)
    return ExpectedJaccard(total / n_draws, f"monte carlo, {n_draws} draws, seed {seed}")


def top_k_chance(k: float) -> float:
    """Expected top-k Jaccard of two random rankings (large n): k / (2 − k)."""
    return k / (2.0 - k)


def kendall_tau(u1: Array, u2: Array) -> float | None:
    """Kendall's tau-b between two scores over questions where both are defined."""
    a, b = rounded(u1), rounded(u2)
    keep = ~(np.isnan(a) | np.isnan(b))
    if keep.sum() < 2:
        return None
    from scipy.stats import kendalltau  # a second to import: only where it is used

    res = kendalltau(a[keep], b[keep])
    tau = float(res.statistic)
    return None if math.isnan(tau) else tau


# --- the Overview table -------------------------------------------------------------------
def _tpr1(u: np.ndarray, y: np.ndarray) -> float | None:
    return tpr_at_fpr(u, y, 0.01)[0]


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float | None]] = {
    "auroc": auroc,
    "auprc": auprc,
    "prr": prr,
    "tpr_at_1fpr": _tpr1,
}


def _bootstrap_all(u: np.ndarray, y: np.ndarray, n_boot: int, level: float,
                   seed: int) -> dict[str, BootstrapCI]:
    """:func:`bootstrap_ci` of every metric in :data:`METRICS`, on one shared set of
    resamples (the same resamples each separate call would draw with this ``seed``)."""
    u, y = _clean(u, y)
    if len(u) == 0 or n_boot == 0:  # n_boot 0: the point values alone
        return {name: BootstrapCI(None, None, 0, n_boot) for name in METRICS}
    idx = _resamples(len(u), n_boot, seed)
    values = _boot_chunks(u, y, idx, tuple(METRICS))
    return {name: _percentile_ci(values[name], level) for name in METRICS}


def method_table(
    scores: pd.DataFrame,
    incorrect: pd.Series,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per method: AUROC, AUPRC, PRR and TPR@1%FPR with percentile-bootstrap CIs.

    ``scores`` has columns ``question_id``, ``method``, ``uncertainty`` (one row per question
    and method); ``incorrect`` is a boolean Series indexed by ``question_id``. Questions
    without a label, or with a NaN score, are left out per method. Columns: ``method``,
    ``n``, ``n_incorrect``, then for each metric ``<m>``, ``<m>_lo``, ``<m>_hi`` (None when
    undefined), ``tpr_warning`` and ``boot_dropped`` (resamples lacking a class). In the
    frame an undefined metric is pandas' missing value (NaN in a float column).
    """
    need = {"question_id", "method", "uncertainty"}
    if not need <= set(scores.columns):
        raise ValueError(f"scores needs columns {sorted(need)}")
    # integer codes once for the whole frame (question ids in sorted order), instead of a
    # string sort and a string look-up per method: seconds at 1,000,000 score rows
    q_code, _ = pd.factorize(scores["question_id"], sort=True)
    m_code, _ = pd.factorize(scores["method"])
    key = m_code.astype(np.int64) * (int(q_code.max(initial=0)) + 2) + (q_code + 1)
    ordered = np.sort(key)  # a sort: numpy's hashing unique takes seconds here
    if (ordered[1:] == ordered[:-1]).any():
        raise ValueError("scores has more than one row per (question_id, method)")
    labels = incorrect.dropna().astype(bool)
    at = labels.index.get_indexer(scores["question_id"])
    if (at >= 0).any() and labels.index.has_duplicates:
        raise ValueError("incorrect has more than one label per question_id")
    y_all = labels.to_numpy(dtype=bool)
    u_all = scores["uncertainty"].to_numpy(dtype=float)
    rows = []
    for method, idx in scores.groupby("method", sort=False).indices.items():
        idx = idx[at[idx] >= 0]
        idx = idx[np.argsort(q_code[idx], kind="stable")]  # by question id
        u, y = _clean(u_all[idx], y_all[at[idx]])
        row: dict[str, object] = {"method": method, "n": int(len(u)),
                                  "n_incorrect": int(y.sum())}
        dropped = 0
        cis = _bootstrap_all(u, y, n_boot=n_boot, level=level, seed=seed)
        for name, fn in METRICS.items():
            row[name] = fn(u, y) if _two_classes(y) else None
            ci = cis[name]
            row[f"{name}_lo"], row[f"{name}_hi"] = ci.low, ci.high
            dropped = max(dropped, ci.n_dropped)
        row["tpr_warning"] = tpr_at_fpr(u, y, 0.01)[1]
        row["boot_dropped"] = dropped
        rows.append(row)
    cols = ["method", "n", "n_incorrect"]
    for name in METRICS:
        cols += [name, f"{name}_lo", f"{name}_hi"]
    cols += ["tpr_warning", "boot_dropped"]
    return pd.DataFrame(rows, columns=cols)
