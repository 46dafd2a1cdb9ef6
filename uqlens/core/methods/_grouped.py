"""Grouped array operations for :attr:`uqlens.core.methods.base.Method.batch`: the same
floating-point operations a method applies to one question's arrays, applied to many
questions' concatenated arrays, so that the results are identical bit for bit.

Element-wise steps run over the whole concatenation. Sums run segment by segment through
``np.sum`` on each segment, or as rows of a matrix of equal-length segments (the same
pairwise summation of a single question's array; a grouped ``reduceat`` would add in
another order and can differ in the last bit).
"""

from __future__ import annotations

import numpy as np


def segment_sums(values: np.ndarray, start: np.ndarray) -> np.ndarray:
    """``np.sum(values[start[i]:start[i + 1]])`` for every segment ``i`` (0.0 when empty)."""
    values = np.ascontiguousarray(values, dtype=float)
    start = np.asarray(start, dtype=np.int64)
    sizes = np.diff(start)
    out = np.zeros(len(sizes), dtype=float)
    # Segments of one length are summed as the rows of one matrix: a row sum over the last
    # axis is the same pairwise sum np.sum gives that row on its own.
    for size in np.unique(sizes[sizes > 0]).tolist():
        rows = np.flatnonzero(sizes == size)
        out[rows] = values[start[rows][:, None] + np.arange(size)].sum(axis=1)
    return out


def segment_logsumexp(values: np.ndarray, start: np.ndarray) -> np.ndarray:
    """``scipy.special.logsumexp(values[start[i]:start[i + 1]])`` for every non-empty segment
    of finite values, computed as scipy 1.15+ does: the maxima are taken out of the sum
    (``log1p(Σ exp(a − max) / m) + log(m) + max``, ``m`` = how many entries equal the max)."""
    values = np.asarray(values, dtype=float)
    sizes = np.diff(start)
    seg = np.repeat(np.arange(len(sizes)), sizes)
    top = np.maximum.reduceat(values, start[:-1]) if len(values) else np.zeros(0)
    at_max = values == top[seg]
    m = np.bincount(seg, weights=at_max, minlength=len(sizes)).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = segment_sums(np.exp(np.where(at_max, -np.inf, values) - top[seg]), start)
        s = np.where(s == 0, s, s / m)
        return np.log1p(s) + np.log(m) + top


def cluster_segments(batch) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The clusters of every question in ascending id order (as ``np.unique`` lists them):
    ``(order, cluster_start, question_of_cluster, cluster_question_start)``. ``order``
    sorts the samples by (question, cluster id), keeping sample order within a cluster;
    cluster ``k`` owns ``order[cluster_start[k]:cluster_start[k + 1]]``; the clusters of
    question ``i`` are ``[cluster_question_start[i], cluster_question_start[i + 1])``."""
    q = np.repeat(np.arange(batch.n_questions), batch.sizes)
    order = np.lexsort((np.asarray(batch.cluster_ids), q))
    qs, cs = q[order], np.asarray(batch.cluster_ids)[order]
    new = np.r_[True, (qs[1:] != qs[:-1]) | (cs[1:] != cs[:-1])] if len(qs) else np.zeros(
        0, dtype=bool)
    first = np.flatnonzero(new)
    cluster_start = np.r_[first, len(qs)]
    question_of = qs[first]
    per_q = np.bincount(question_of, minlength=batch.n_questions)
    return order, cluster_start, question_of, np.r_[0, np.cumsum(per_q)]


def select(batch, keep: np.ndarray):
    """The :class:`~uqlens.core.methods.base.ClusterBatch` of the questions where ``keep``."""
    from uqlens.core.methods.base import ClusterBatch

    sizes = batch.sizes
    rows = np.repeat(keep, sizes)
    return ClusterBatch(
        start=np.r_[0, np.cumsum(sizes[keep])].astype(np.int64),
        cluster_ids=np.asarray(batch.cluster_ids)[rows],
        logprob_sum=np.asarray(batch.logprob_sum)[rows],
        num_tokens=np.asarray(batch.num_tokens)[rows],
        has_logprob=batch.has_logprob[keep], has_tokens=batch.has_tokens[keep],
        greedy_cluster=batch.greedy_cluster[keep])


def all_finite(values: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Per segment: are all its values finite?"""
    bad = ~np.isfinite(values)
    seg = np.repeat(np.arange(len(start) - 1), np.diff(start))
    return np.bincount(seg, weights=bad, minlength=len(start) - 1) == 0
