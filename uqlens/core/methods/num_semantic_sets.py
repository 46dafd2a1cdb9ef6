"""Number of semantic sets (Lin, Trivedi & Sun 2024, "Generating with Confidence:
Uncertainty Quantification for Black-box Large Language Models", TMLR; "NumSemSets").
The count of meaning clusters among the samples.
"""

from __future__ import annotations

import numpy as np

from uqlens.core.methods._common import NAN, enough_samples
from uqlens.core.methods._grouped import cluster_segments
from uqlens.core.methods.base import ClusterBatch, Method, QuestionView, register


def score(view: QuestionView) -> float:
    if not enough_samples(view) or view.cluster_ids is None:
        return NAN
    return float(len(np.unique(np.asarray(view.cluster_ids))))


def batch_score(batch: ClusterBatch) -> np.ndarray:
    """:func:`score` of every question of ``batch``."""
    _, _, _, per_question = cluster_segments(batch)
    n = np.diff(per_question).astype(float)
    return np.where(batch.sizes >= 2, n, np.nan)


METHOD = register(
    Method(
        id="num_semantic_sets",
        label="Number of semantic sets",
        needs=frozenset({"samples", "clusters"}),
        citation="Lin, Trivedi & Sun (2024), TMLR",
        score=score,
        batch=batch_score,
        description="How many meaning clusters the samples fall into.",
    )
)
