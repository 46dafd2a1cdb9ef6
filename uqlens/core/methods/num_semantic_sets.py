"""Number of semantic sets (Lin, Trivedi & Sun 2024, "Generating with Confidence:
Uncertainty Quantification for Black-box Large Language Models", TMLR; "NumSemSets").
The count of meaning clusters among the samples.
"""

from __future__ import annotations

import numpy as np

from uqlens.core.methods._common import NAN, enough_samples
from uqlens.core.methods.base import Method, QuestionView, register


def score(view: QuestionView) -> float:
    if not enough_samples(view) or view.cluster_ids is None:
        return NAN
    return float(len(np.unique(np.asarray(view.cluster_ids))))


METHOD = register(
    Method(
        id="num_semantic_sets",
        label="Number of semantic sets",
        needs=frozenset({"samples", "clusters"}),
        citation="Lin, Trivedi & Sun (2024), TMLR",
        score=score,
        description="How many meaning clusters the samples fall into.",
    )
)
