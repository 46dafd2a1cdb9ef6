"""Predictive entropy, Monte-Carlo estimate: −(1/N) Σ_i log p(s_i | x) over the sampled
answers, with log p the sum of token log-probabilities (Malinin & Gales 2021, "Uncertainty
Estimation in Autoregressive Structured Prediction", ICLR; Kuhn et al. 2023 baseline).
"""

from __future__ import annotations

import numpy as np

from uqlens.core.methods._common import NAN, enough_samples
from uqlens.core.methods.base import Method, QuestionView, register


def score(view: QuestionView) -> float:
    if not enough_samples(view) or view.logprob_sum is None:
        return NAN
    lp = np.asarray(view.logprob_sum, dtype=float)
    return float(-lp.mean()) if np.all(np.isfinite(lp)) else NAN


METHOD = register(
    Method(
        id="predictive_entropy",
        label="Predictive entropy",
        needs=frozenset({"samples", "logprobs"}),
        citation="Malinin & Gales (2021), ICLR",
        score=score,
        description="Mean negative log-likelihood of the sampled answers.",
    )
)
