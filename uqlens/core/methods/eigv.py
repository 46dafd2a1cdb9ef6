"""EigV: sum of eigenvalues of the graph Laplacian (Lin, Trivedi & Sun 2024, "Generating with
Confidence: Uncertainty Quantification for Black-box Large Language Models", TMLR).

W is the affinity matrix (see :func:`uqlens.core.methods._common.affinity_matrix`),
L = I − D^{-1/2} W D^{-1/2} the normalised Laplacian, and EigV = Σ_k max(0, 1 − λ_k), a
continuous analogue of the number of semantic sets.

Defaults follow the authors' code (github.com/zlin7/UQ-NLG, ``pipeline/uq_bb.py``:
default affinity ``disagreement_w`` = our ``contra``; ``default_params`` temperature 3;
the clipped variant ``spectral_eigv_clip``). LM-Polygraph instead defaults to ``entail`` with
untempered probabilities; pass ``affinity="entail", temperature=1`` to reproduce it.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from uqlens.core.methods import _graph_stack
from uqlens.core.methods._common import NAN, affinity_matrix, enough_samples, normalized_laplacian
from uqlens.core.methods.base import Method, QuestionView, register

DEFAULTS = MappingProxyType({"affinity": "contra", "temperature": 3.0})


def spectrum(view: QuestionView, affinity: str = "contra",
             temperature: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """The affinity W that :func:`score` uses and the ascending eigenvalues of its normalised
    Laplacian (shown beside the score, so the picture and the number cannot disagree)."""
    w = affinity_matrix(view, affinity, temperature)
    return w, np.linalg.eigvalsh(normalized_laplacian(w))


def from_eigenvalues(lam: np.ndarray) -> float:
    """EigV = Σ_k max(0, 1 − λ_k)."""
    return float(np.sum(np.clip(1.0 - np.asarray(lam, dtype=float), 0.0, None)))


def score(view: QuestionView, affinity: str = "contra", temperature: float = 3.0) -> float:
    if not enough_samples(view):
        return NAN
    if affinity != "jaccard" and view.entail is None:
        return NAN
    return from_eigenvalues(spectrum(view, affinity, temperature)[1])


METHOD = register(
    Method(
        id="eigv",
        label="EigV (Laplacian eigenvalues)",
        needs=frozenset({"samples", "entailment"}),
        citation="Lin, Trivedi & Sun (2024), TMLR",
        score=score,
        stack=_graph_stack.eigv,
        defaults=DEFAULTS,
        description="Continuous number of meaning clusters from the similarity graph's spectrum.",
    )
)
