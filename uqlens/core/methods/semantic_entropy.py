"""Semantic entropy (Farquhar, Kossen, Kuhn & Gal 2024, "Detecting hallucinations in large
language models using semantic entropy", Nature 630; building on Kuhn, Gal & Farquhar 2023).

Per sample the length-normalised log-likelihood ll_i = logprob_sum_i / num_tokens_i; the
log-mass of a meaning cluster is logsumexp of its members' ll; cluster log-masses are
normalised over clusters (subtract logsumexp of all ll), and
SE = −Σ_c p_c log p_c in nats (the "Rao" estimator of the reference code, which sums over
clusters rather than taking a Monte-Carlo mean over samples).
``length_normalized=False`` uses the raw logprob_sum instead.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
from scipy.special import logsumexp

from uqlens.core.methods._common import NAN, enough_samples
from uqlens.core.methods._grouped import (
    all_finite,
    cluster_segments,
    segment_logsumexp,
    segment_sums,
    select,
)
from uqlens.core.methods.base import ClusterBatch, Method, QuestionView, register


def score(view: QuestionView, length_normalized: bool = True) -> float:
    if not enough_samples(view) or view.cluster_ids is None or view.logprob_sum is None:
        return NAN
    ll = np.asarray(view.logprob_sum, dtype=float)
    if length_normalized:
        if view.num_tokens is None:
            return NAN
        ll = ll / np.maximum(np.asarray(view.num_tokens, dtype=float), 1.0)
    if not np.all(np.isfinite(ll)):
        return NAN
    ids = np.asarray(view.cluster_ids)
    log_mass = np.array([logsumexp(ll[ids == c]) for c in np.unique(ids)])
    log_p = log_mass - logsumexp(ll)
    # One cluster gives -0.0; clip rounding noise so an entropy is never negative.
    return max(0.0, float(-np.sum(np.exp(log_p) * log_p)))


def batch_score(batch: ClusterBatch, length_normalized: bool = True) -> np.ndarray:
    """:func:`score` of every question of ``batch``, bit for bit (see
    :func:`uqlens.core.methods._grouped.segment_logsumexp`)."""
    out = np.full(batch.n_questions, np.nan)
    keep = (batch.sizes >= 2) & batch.has_logprob
    if length_normalized:
        keep &= batch.has_tokens
    ll = np.asarray(batch.logprob_sum, dtype=float)
    if length_normalized:
        with np.errstate(invalid="ignore"):
            ll = ll / np.maximum(np.asarray(batch.num_tokens, dtype=float), 1.0)
    keep &= all_finite(ll, batch.start)
    if not keep.any():
        return out
    sub = select(batch, keep)
    ll = ll[np.repeat(keep, batch.sizes)]
    order, cluster_start, question_of, per_question = cluster_segments(sub)
    log_p = segment_logsumexp(ll[order], cluster_start) - segment_logsumexp(
        ll, sub.start)[question_of]
    entropy = -segment_sums(np.exp(log_p) * log_p, per_question)
    out[keep] = np.where(entropy > 0.0, entropy, 0.0)  # max(0.0, ·) as score() clips
    return out


METHOD = register(
    Method(
        id="semantic_entropy",
        label="Semantic entropy",
        needs=frozenset({"samples", "clusters", "logprobs"}),
        citation="Farquhar, Kossen, Kuhn & Gal (2024), Nature 630:625-630",
        score=score,
        batch=batch_score,
        defaults=MappingProxyType({"length_normalized": True}),
        description="Entropy of the likelihood mass of meaning clusters.",
    )
)
