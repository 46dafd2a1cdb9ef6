"""Shared helpers for method modules: NaN conventions and the similarity graph of
Lin, Trivedi & Sun (2024), used by ``eigv``, ``deg``, ``ecc`` and (with its own weights)
``kernel_language_entropy``.
"""

from __future__ import annotations

import numpy as np

from uqlens.core.methods.base import QuestionView
from uqlens.core.text import word_jaccard

NAN = float("nan")
AFFINITIES = ("entail", "contra", "jaccard")


def enough_samples(view: QuestionView, minimum: int = 2) -> bool:
    return view.n >= minimum


def tempered(view: QuestionView, temperature: float) -> tuple[np.ndarray, np.ndarray]:
    """Entail/contradict matrices re-tempered as p ∝ p^(1/T) over (entail, neutral, contra).

    Lin et al. apply ``softmax(logits / T)`` to the NLI logits; with probabilities p this is
    exactly ``p^(1/T) / Σ p^(1/T)``. T = 1 returns the probabilities unchanged. The neutral
    probability is 1 − p_entail − p_contradict (clipped at 0).
    """
    if view.entail is None or view.contradict is None:
        raise ValueError("this affinity needs entailment and contradiction probabilities")
    return tempered_probs(view.entail, view.contradict, temperature)


def tempered_probs(entail, contradict, temperature: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`tempered` of arrays of any shape (one question's matrices or a stack)."""
    e = np.clip(np.asarray(entail, dtype=float), 0.0, 1.0)
    c = np.clip(np.asarray(contradict, dtype=float), 0.0, 1.0)
    if temperature <= 0:
        raise ValueError("temperature must be > 0")
    if temperature == 1.0:
        return e, c
    n = np.clip(1.0 - e - c, 0.0, 1.0)
    power = 1.0 / float(temperature)
    pe, pn, pc = e**power, n**power, c**power
    total = pe + pn + pc
    total = np.where(total == 0, 1.0, total)
    return pe / total, pc / total


def affinity_matrix(view: QuestionView, affinity: str, temperature: float = 1.0) -> np.ndarray:
    """Symmetric affinity W with unit diagonal (Lin, Trivedi & Sun 2024, Sec. 3).

    ``entail``: w_ij = (e_ij + e_ji)/2; ``contra``: w_ij = 1 − (c_ij + c_ji)/2;
    ``jaccard``: Jaccard similarity of word sets (no model needed, temperature ignored).
    """
    if affinity == "jaccard":
        m = view.n
        w = np.eye(m)
        for i in range(m):
            for j in range(i + 1, m):
                w[i, j] = w[j, i] = word_jaccard(view.texts[i], view.texts[j])
        return w
    if affinity not in AFFINITIES:
        raise ValueError(f"affinity must be one of {AFFINITIES}")
    e, c = tempered(view, temperature)
    if affinity == "entail":
        w = (e + e.T) / 2.0
    else:
        w = 1.0 - (c + c.T) / 2.0
    w = w.copy()
    np.fill_diagonal(w, 1.0)
    return w


def normalized_laplacian(w: np.ndarray) -> np.ndarray:
    """L = I − D^{-1/2} W D^{-1/2} with D = diag(row sums of W)."""
    d = w.sum(axis=1)
    inv = 1.0 / np.sqrt(d)
    lap = np.eye(len(w)) - inv[:, None] * w * inv[None, :]
    return (lap + lap.T) / 2.0
