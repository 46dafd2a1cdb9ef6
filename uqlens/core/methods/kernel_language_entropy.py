"""Kernel language entropy (Nikitin, Kossen, Gal & Marttinen 2024, "Kernel Language Entropy:
Fine-grained Uncertainty Quantification for LLMs from Semantic Similarities", NeurIPS).

1. Semantic graph over the sampled answers. Default ``affinity="nli"`` follows the paper:
   w_ij = Σ over both directions of w·NLI(i→j) with w = (1, 0.5, 0) for
   (entail, neutral, contradict); we use the NLI *probabilities* (the expected weight), so
   w_ij = (e_ij + ½ n_ij) + (e_ji + ½ n_ji) ∈ [0, 2], n = 1 − e − c. ``"entail"``,
   ``"contra"`` and ``"jaccard"`` use the Lin et al. affinities instead.
2. Unnormalised graph Laplacian L = D − W (self-loops do not enter), as the paper's heat
   kernel and the authors' code default (``kle/kernels.py``: ``norm_lapl=False``).
3. Heat kernel K = expm(−t L); default t = 0.3 (LM-Polygraph's default, "taken from the
   paper"; the authors sweep t ∈ {0.1, ..., 0.7}).
4. K normalised to unit trace as in the authors' code: K_ij / sqrt(K_ii K_jj) / m.
5. KLE = von Neumann entropy −Σ λ log λ over the eigenvalues of the normalised K (nats);
   ``scale=True`` divides by log m (the code's optional scaling).
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from uqlens.core.methods import _graph_stack
from uqlens.core.methods._common import NAN, affinity_matrix, enough_samples, tempered
from uqlens.core.methods.base import Method, QuestionView, register


def semantic_graph(view: QuestionView, affinity: str = "nli") -> np.ndarray:
    if affinity == "nli":
        e, c = tempered(view, 1.0)
        n = np.clip(1.0 - e - c, 0.0, 1.0)
        s = e + 0.5 * n
        w = s + s.T
    else:
        w = affinity_matrix(view, affinity, 1.0)
    w = np.array(w, dtype=float)
    np.fill_diagonal(w, 0.0)
    return w


def von_neumann_entropy(k: np.ndarray) -> float:
    lam = np.clip(np.linalg.eigvalsh((k + k.T) / 2.0), 0.0, None)
    lam = lam[lam > 1e-12]
    return float(-np.sum(lam * np.log(lam)))


def score(view: QuestionView, t: float = 0.3, affinity: str = "nli", scale: bool = False) -> float:
    if not enough_samples(view):
        return NAN
    if affinity != "jaccard" and view.entail is None:
        return NAN
    w = semantic_graph(view, affinity)
    lap = np.diag(w.sum(axis=1)) - w
    from scipy.linalg import expm  # a third of a second to import: only when scoring

    k = expm(-float(t) * lap)
    d = np.sqrt(np.diag(k))
    k = k / np.outer(d, d) / len(k)
    h = von_neumann_entropy(k)
    return h / np.log(len(k)) if scale else h


METHOD = register(
    Method(
        id="kernel_language_entropy",
        label="Kernel language entropy",
        needs=frozenset({"samples", "entailment"}),
        citation="Nikitin, Kossen, Gal & Marttinen (2024), NeurIPS",
        score=score,
        stack=_graph_stack.kernel_language_entropy,
        defaults=MappingProxyType({"t": 0.3, "affinity": "nli", "scale": False}),
        description="Von Neumann entropy of a heat kernel over the answers' semantic graph.",
    )
)
