"""Ecc: eccentricity (Lin, Trivedi & Sun 2024, TMLR).

Take the eigenvectors of the normalised Laplacian L = I − D^{-1/2} W D^{-1/2} whose eigenvalue
is below ``eigv_threshold`` (default 0.9, the authors' ``default_params``); row j of that
matrix U is answer j's spectral embedding v_j. Centre the embeddings, v_j' = v_j − mean_k v_k,
and return ‖[v_1', ..., v_m']‖ (Frobenius norm), as the authors' code does. The result does not
depend on the basis chosen inside a repeated eigenvalue's eigenspace
(‖PU‖_F² = tr(P U Uᵀ) with P the centring projector). Defaults otherwise as for
:mod:`uqlens.core.methods.eigv` (affinity ``contra``, temperature 3).
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from uqlens.core.methods import _graph_stack
from uqlens.core.methods._common import NAN, affinity_matrix, enough_samples, normalized_laplacian
from uqlens.core.methods.base import Method, QuestionView, register


def score(
    view: QuestionView,
    affinity: str = "contra",
    temperature: float = 3.0,
    eigv_threshold: float = 0.9,
) -> float:
    if not enough_samples(view):
        return NAN
    if affinity != "jaccard" and view.entail is None:
        return NAN
    lam, vec = np.linalg.eigh(normalized_laplacian(affinity_matrix(view, affinity, temperature)))
    u = vec[:, lam < eigv_threshold]
    if u.shape[1] == 0:
        return 0.0
    centred = u - u.mean(axis=0, keepdims=True)
    return float(np.linalg.norm(centred))


METHOD = register(
    Method(
        id="ecc",
        label="Ecc (eccentricity)",
        needs=frozenset({"samples", "entailment"}),
        citation="Lin, Trivedi & Sun (2024), TMLR",
        score=score,
        stack=_graph_stack.ecc,
        defaults=MappingProxyType({"affinity": "contra", "temperature": 3.0,
                                   "eigv_threshold": 0.9}),
        description="Spread of the answers' spectral embeddings of the similarity graph.",
    )
)
