"""Lexical similarity (Fomicheva et al. 2020, "Unsupervised Quality Estimation for Neural
Machine Translation", TACL; used for LLM QA by Lin et al. 2024).

Mean ROUGE-L F1 over all unordered pairs of sampled answers (ROUGE-L F is symmetric, so this
equals the mean over ordered pairs i ≠ j); uncertainty = −mean. See :func:`uqlens.core.text.rouge_l`
for tokenisation.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from uqlens.core.methods._common import NAN, enough_samples
from uqlens.core.methods.base import Method, QuestionView, register
from uqlens.core.text import rouge_l


def score(view: QuestionView) -> float:
    if not enough_samples(view):
        return NAN
    sims = [rouge_l(a, b) for a, b in combinations(view.texts, 2)]
    return float(-np.mean(sims))


METHOD = register(
    Method(
        id="lexical_similarity",
        label="Lexical similarity (ROUGE-L)",
        needs=frozenset({"samples"}),
        citation="Fomicheva et al. (2020), TACL",
        score=score,
        description="Negative mean ROUGE-L between sampled answers.",
    )
)
