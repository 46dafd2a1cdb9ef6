"""Discrete semantic entropy (Farquhar et al. 2024, Nature, "discrete" variant for black-box
models): entropy (nats) of the cluster frequencies, −Σ_c (n_c/n) log(n_c/n).
"""

from __future__ import annotations

import numpy as np

from uqlens.core.methods._common import NAN, enough_samples
from uqlens.core.methods.base import Method, QuestionView, register


def score(view: QuestionView) -> float:
    if not enough_samples(view) or view.cluster_ids is None:
        return NAN
    _, counts = np.unique(np.asarray(view.cluster_ids), return_counts=True)
    p = counts / counts.sum()
    return float(-np.sum(p * np.log(p))) + 0.0  # + 0.0 turns -0.0 into 0.0


METHOD = register(
    Method(
        id="discrete_semantic_entropy",
        label="Discrete semantic entropy",
        needs=frozenset({"samples", "clusters"}),
        citation="Farquhar, Kossen, Kuhn & Gal (2024), Nature 630:625-630",
        score=score,
        description="Entropy of how often each meaning cluster was sampled.",
    )
)
