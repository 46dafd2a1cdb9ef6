"""The graph methods (EigV, Deg, Ecc, kernel language entropy) over a stack of questions with
the same number of samples at once: ``entail`` and ``contradict`` of shape ``(k, m, m)``.

Each function applies the floating-point operations its method's ``score`` applies to one
question, in the same order, so a stacked score equals the one-question score bit for bit:
element-wise steps run over the whole stack; a reduction over a matrix row runs over the
stack's last axis (the same pairwise sum of the same contiguous row); numpy's stacked
``eigh``/``eigvalsh`` call the same LAPACK routine on each matrix; and the steps whose
reduction would change shape (Ecc's selected eigenvectors, the entropy's positive
eigenvalues) run question by question on the stacked decomposition. Only the non-model
``jaccard`` affinity has no stacked form (it needs the texts). See ``Method.stack``.
"""

from __future__ import annotations

import numpy as np

from uqlens.core.methods._common import tempered_probs


def _swap(a: np.ndarray) -> np.ndarray:
    return a.swapaxes(-1, -2)


def _set_diagonal(w: np.ndarray, value: float) -> np.ndarray:
    m = w.shape[-1]
    w[..., np.arange(m), np.arange(m)] = value
    return w


def affinity_stack(entail, contradict, kind: str, temperature: float) -> np.ndarray:
    """:func:`uqlens.core.methods._common.affinity_matrix` of a stack (``entail`` or
    ``contra``)."""
    if kind not in ("entail", "contra"):
        raise ValueError(f"no stacked form of affinity {kind!r}")
    e, c = tempered_probs(entail, contradict, temperature)
    w = (e + _swap(e)) / 2.0 if kind == "entail" else 1.0 - (c + _swap(c)) / 2.0
    return _set_diagonal(w.copy(), 1.0)


def normalized_laplacian(w: np.ndarray) -> np.ndarray:
    """:func:`uqlens.core.methods._common.normalized_laplacian` of a stack."""
    d = w.sum(axis=-1)
    inv = 1.0 / np.sqrt(d)
    lap = np.eye(w.shape[-1]) - inv[..., :, None] * w * inv[..., None, :]
    return (lap + _swap(lap)) / 2.0


def eigv(entail, contradict, affinity: str = "contra", temperature: float = 3.0):
    lam = np.linalg.eigvalsh(normalized_laplacian(
        affinity_stack(entail, contradict, affinity, temperature)))
    return np.clip(1.0 - lam, 0.0, None).sum(axis=-1)


def deg(entail, contradict, affinity: str = "contra", temperature: float = 3.0):
    w = affinity_stack(entail, contradict, affinity, temperature)
    k, m = w.shape[0], w.shape[-1]
    return (m * m - w.reshape(k, m * m).sum(axis=-1)) / (m * m)


def ecc(entail, contradict, affinity: str = "contra", temperature: float = 3.0,
        eigv_threshold: float = 0.9):
    lam, vec = np.linalg.eigh(normalized_laplacian(
        affinity_stack(entail, contradict, affinity, temperature)))
    out = np.zeros(len(lam))
    for i, (lam_i, vec_i) in enumerate(zip(lam, vec, strict=True)):
        u = vec_i[:, lam_i < eigv_threshold]
        if u.shape[1]:
            out[i] = np.linalg.norm(u - u.mean(axis=0, keepdims=True))
    return out


def kernel_language_entropy(entail, contradict, t: float = 0.3, affinity: str = "nli",
                            scale: bool = False):
    from scipy.linalg import expm

    if affinity == "nli":
        e, c = tempered_probs(entail, contradict, 1.0)
        n = np.clip(1.0 - e - c, 0.0, 1.0)
        s = e + 0.5 * n
        w = s + _swap(s)
    else:
        w = affinity_stack(entail, contradict, affinity, 1.0)
    w = _set_diagonal(np.array(w, dtype=float), 0.0)
    m = w.shape[-1]
    degree = np.zeros_like(w)
    degree[..., np.arange(m), np.arange(m)] = w.sum(axis=-1)
    k = expm(-float(t) * (degree - w))  # scipy runs one matrix at a time, as for one question
    d = np.sqrt(np.diagonal(k, axis1=-2, axis2=-1))
    k = k / (d[..., :, None] * d[..., None, :]) / m
    lam = np.clip(np.linalg.eigvalsh((k + _swap(k)) / 2.0), 0.0, None)
    out = np.empty(len(lam))
    for i, lam_i in enumerate(lam):
        lam_i = lam_i[lam_i > 1e-12]
        out[i] = -np.sum(lam_i * np.log(lam_i))
    return out / np.log(m) if scale else out
