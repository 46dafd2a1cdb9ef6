"""Self-consistency (Wang et al. 2023, "Self-Consistency Improves Chain of Thought Reasoning in
Language Models", ICLR), as an uncertainty: 1 − the share of sampled answers that fall in the
judged (greedy) answer's meaning cluster. A judged answer that matches no sample
(``greedy_cluster == -1``) gets 1.
"""

from __future__ import annotations

import numpy as np

from uqlens.core.methods._common import NAN, enough_samples
from uqlens.core.methods.base import ClusterBatch, Method, QuestionView, register


def score(view: QuestionView) -> float:
    if not enough_samples(view) or view.cluster_ids is None or view.greedy_cluster is None:
        return NAN
    share = float(np.mean(np.asarray(view.cluster_ids) == int(view.greedy_cluster)))
    return 1.0 - share


def batch_score(batch: ClusterBatch) -> np.ndarray:
    """:func:`score` of every question of ``batch``, bit for bit."""
    sizes = batch.sizes
    greedy = np.repeat(batch.greedy_cluster, sizes)
    seg = np.repeat(np.arange(batch.n_questions), sizes)
    same = np.bincount(seg, weights=np.asarray(batch.cluster_ids) == greedy,
                       minlength=batch.n_questions)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = same / sizes
    ok = (sizes >= 2) & ~np.isnan(batch.greedy_cluster)
    return np.where(ok, 1.0 - share, np.nan)


METHOD = register(
    Method(
        id="self_consistency",
        label="Self-consistency",
        needs=frozenset({"samples", "clusters", "greedy"}),
        citation="Wang et al. (2023), ICLR",
        score=score,
        batch=batch_score,
        description="Share of samples that disagree with the judged answer's meaning.",
    )
)
