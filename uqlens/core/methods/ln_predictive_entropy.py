"""Length-normalised predictive entropy: −(1/N) Σ_i logprob_sum_i / num_tokens_i
(Malinin & Gales 2021, "Uncertainty Estimation in Autoregressive Structured Prediction",
ICLR; "LN-PE" in Kuhn et al. 2023).
"""

from __future__ import annotations

import numpy as np

from uqlens.core.methods._common import NAN, enough_samples
from uqlens.core.methods.base import Method, QuestionView, register


def score(view: QuestionView) -> float:
    if not enough_samples(view) or view.logprob_sum is None or view.num_tokens is None:
        return NAN
    lp = np.asarray(view.logprob_sum, dtype=float)
    nt = np.maximum(np.asarray(view.num_tokens, dtype=float), 1.0)
    out = -(lp / nt).mean()
    return float(out) if np.isfinite(out) else NAN


METHOD = register(
    Method(
        id="ln_predictive_entropy",
        label="Length-normalised predictive entropy",
        needs=frozenset({"samples", "logprobs"}),
        citation="Malinin & Gales (2021), ICLR",
        score=score,
        description="Mean per-token negative log-likelihood of the sampled answers.",
    )
)
