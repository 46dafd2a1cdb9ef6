"""Discrete semantic entropy (Farquhar et al. 2024, Nature, "discrete" variant for black-box
models): entropy (nats) of the cluster frequencies, −Σ_c (n_c/n) log(n_c/n).
"""

from __future__ import annotations

import numpy as np

from uqlens.core.methods._common import NAN, enough_samples
from uqlens.core.methods._grouped import cluster_segments, segment_sums, select
from uqlens.core.methods.base import ClusterBatch, Method, QuestionView, register


def score(view: QuestionView) -> float:
    if not enough_samples(view) or view.cluster_ids is None:
        return NAN
    _, counts = np.unique(np.asarray(view.cluster_ids), return_counts=True)
    p = counts / counts.sum()
    return float(-np.sum(p * np.log(p))) + 0.0  # + 0.0 turns -0.0 into 0.0


def batch_score(batch: ClusterBatch) -> np.ndarray:
    """:func:`score` of every question of ``batch``, bit for bit."""
    out = np.full(batch.n_questions, np.nan)
    keep = batch.sizes >= 2
    if not keep.any():
        return out
    sub = select(batch, keep)
    _, cluster_start, question_of, per_question = cluster_segments(sub)
    counts = np.diff(cluster_start)
    p = counts / sub.sizes[question_of]
    out[keep] = -segment_sums(p * np.log(p), per_question) + 0.0
    return out


METHOD = register(
    Method(
        id="discrete_semantic_entropy",
        label="Discrete semantic entropy",
        needs=frozenset({"samples", "clusters"}),
        citation="Farquhar, Kossen, Kuhn & Gal (2024), Nature 630:625-630",
        score=score,
        batch=batch_score,
        description="Entropy of how often each meaning cluster was sampled.",
    )
)
