"""2-D projections of answer embeddings (UMAP, or PCA as the fast option).

umap is imported inside :func:`project`: its import and numba compilation cost seconds, and
the app only pays them when a user asks for a re-projection.
"""

from __future__ import annotations

import numpy as np

METHODS = ("umap", "pca")


def project(
    vectors: np.ndarray,
    method: str = "umap",
    *,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    seed: int = 0,
) -> np.ndarray:
    """Coordinates of shape (n, 2). Degenerate inputs (fewer than 3 distinct points) get PCA
    or zeros rather than an error, because UMAP cannot embed them."""
    vectors = np.asarray(vectors, dtype=np.float32)
    n = len(vectors)
    if method not in METHODS:
        raise ValueError(f"unknown projection {method!r}; expected one of {METHODS}")
    if n == 0:
        return np.zeros((0, 2))
    if n < 3:
        return np.zeros((n, 2))
    if method == "pca" or n <= n_neighbors + 1:
        return _pca(vectors)
    import umap

    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=min(n_neighbors, n - 1),
        min_dist=min_dist,
        metric="cosine",
        random_state=seed,
        # A fixed random_state makes UMAP single-threaded anyway; saying so avoids its warning.
        n_jobs=1,
    )
    return np.asarray(reducer.fit_transform(vectors), dtype=np.float64)


def _pca(vectors: np.ndarray) -> np.ndarray:
    centered = vectors - vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(centered, full_matrices=False)
    coords = centered @ vt[:2].T
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    return coords.astype(np.float64)
