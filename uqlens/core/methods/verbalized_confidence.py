"""Verbalised confidence (Tian et al. 2023, "Just Ask for Calibration", EMNLP): the confidence in
[0, 1] the model states for its answer; uncertainty = 1 − confidence (``flipped``).
"""

from __future__ import annotations

import math

from uqlens.core.methods._common import NAN
from uqlens.core.methods.base import Method, QuestionView, register


def score(view: QuestionView) -> float:
    c = view.verbalized_confidence
    if c is None or not math.isfinite(float(c)):
        return NAN
    return 1.0 - float(c)


METHOD = register(
    Method(
        id="verbalized_confidence",
        label="Verbalised confidence",
        needs=frozenset({"verbalized_confidence"}),
        citation="Tian et al. (2023), EMNLP",
        score=score,
        flipped=True,
        description="One minus the confidence the model states.",
    )
)
