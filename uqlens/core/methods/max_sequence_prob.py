"""Maximum sequence probability: −log p(y* | x) of the judged (greedy) answer, i.e. its negative
summed token log-probability (the "MSP" baseline, e.g. Fadeeva et al. 2023 LM-Polygraph;
Malinin & Gales 2021).
"""

from __future__ import annotations

import math

from uqlens.core.methods._common import NAN
from uqlens.core.methods.base import Method, QuestionView, register


def score(view: QuestionView) -> float:
    lp = view.greedy_logprob_sum
    if lp is None or not math.isfinite(float(lp)):
        return NAN
    return float(-lp)


METHOD = register(
    Method(
        id="max_sequence_prob",
        label="Maximum sequence probability",
        needs=frozenset({"greedy", "logprobs"}),
        citation="Fadeeva et al. (2023), EMNLP demo (LM-Polygraph); Malinin & Gales (2021)",
        score=score,
        description="Negative log-probability of the judged answer.",
    )
)
