"""P(True) (Kadavath et al. 2022, "Language Models (Mostly) Know What They Know"): the model's
probability that its own answer is true; uncertainty = 1 − P(True) (``flipped``).
"""

from __future__ import annotations

import math

from uqlens.core.methods._common import NAN
from uqlens.core.methods.base import Method, QuestionView, register


def score(view: QuestionView) -> float:
    p = view.p_true
    if p is None or not math.isfinite(float(p)):
        return NAN
    return 1.0 - float(p)


METHOD = register(
    Method(
        id="p_true",
        label="P(True)",
        needs=frozenset({"p_true"}),
        citation="Kadavath et al. (2022), arXiv:2207.05221",
        score=score,
        flipped=True,
        description="One minus the model's own probability that its answer is true.",
    )
)
