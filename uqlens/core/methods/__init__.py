"""The UQ method registry. Importing this package imports every method module, so
:data:`uqlens.core.methods.base.REGISTRY` is full.
"""

from __future__ import annotations

from collections.abc import Iterable

from uqlens.core.methods import (  # noqa: F401  (imported for registration)
    deg,
    discrete_semantic_entropy,
    ecc,
    eigv,
    kernel_language_entropy,
    lexical_similarity,
    ln_predictive_entropy,
    max_sequence_prob,
    num_semantic_sets,
    p_true,
    predictive_entropy,
    self_consistency,
    semantic_entropy,
    verbalized_confidence,
)
from uqlens.core.methods.base import (
    NEEDS,
    REGISTRY,
    ClusterBatch,
    Method,
    QuestionView,
    register,
)

__all__ = ["NEEDS", "REGISTRY", "ClusterBatch", "Method", "QuestionView", "register", "get",
           "all_methods", "applicable", "ORDER"]


def get(method_id: str) -> Method:
    try:
        return REGISTRY[method_id]
    except KeyError:
        raise KeyError(f"unknown method {method_id!r}; known: {sorted(REGISTRY)}") from None


# Display order: cluster-based, graph-based, lexical, likelihood-based, self-reported.
ORDER = (
    "semantic_entropy",
    "discrete_semantic_entropy",
    "num_semantic_sets",
    "self_consistency",
    "eigv",
    "deg",
    "ecc",
    "kernel_language_entropy",
    "lexical_similarity",
    "predictive_entropy",
    "ln_predictive_entropy",
    "max_sequence_prob",
    "p_true",
    "verbalized_confidence",
)


def all_methods() -> list[Method]:
    """Every registered method: the built-ins in :data:`ORDER`, then any others."""
    rank = {m: i for i, m in enumerate(ORDER)}
    return sorted(REGISTRY.values(), key=lambda m: (rank.get(m.id, len(ORDER)), m.id))


def applicable(available_needs: Iterable[str]) -> tuple[list[Method], dict[str, str]]:
    """Methods the data can feed, and for the others why not (``"needs logprobs, greedy"``)."""
    available = set(available_needs)
    ok: list[Method] = []
    skipped: dict[str, str] = {}
    for m in all_methods():
        missing = m.missing(available)
        if missing:
            skipped[m.id] = "needs " + ", ".join(missing)
        else:
            ok.append(m)
    return ok, skipped
