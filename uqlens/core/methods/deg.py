"""Deg: degree-matrix uncertainty (Lin, Trivedi & Sun 2024, TMLR).

U_Deg = trace(m·I − D) / m² with D the degree matrix of the affinity W (unit diagonal), i.e.
one minus the mean affinity. The paper's formula divides by m²; the authors' code returns the
mean of (m − d_i), i.e. divides by m only — the ranking for a fixed m is identical.
Defaults as for :mod:`uqlens.core.methods.eigv` (affinity ``contra``, temperature 3).
"""

from __future__ import annotations

from uqlens.core.methods import _graph_stack
from uqlens.core.methods._common import NAN, affinity_matrix, enough_samples
from uqlens.core.methods.base import Method, QuestionView, register
from uqlens.core.methods.eigv import DEFAULTS


def score(view: QuestionView, affinity: str = "contra", temperature: float = 3.0) -> float:
    if not enough_samples(view):
        return NAN
    if affinity != "jaccard" and view.entail is None:
        return NAN
    w = affinity_matrix(view, affinity, temperature)
    m = len(w)
    return float((m * m - w.sum()) / (m * m))


METHOD = register(
    Method(
        id="deg",
        label="Deg (degree matrix)",
        needs=frozenset({"samples", "entailment"}),
        citation="Lin, Trivedi & Sun (2024), TMLR",
        score=score,
        stack=_graph_stack.deg,
        defaults=DEFAULTS,
        description="One minus the average similarity between sampled answers.",
    )
)
