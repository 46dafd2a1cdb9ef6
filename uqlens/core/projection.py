"""2-D projections of answer embeddings (UMAP, or PCA as the fast option).

umap is imported inside :func:`project`: its import and numba compilation cost seconds, and
the app only pays them when a user asks for a re-projection. numba's compiled code is cached
under the uqlens cache (``<cache>/numba``, see :func:`use_numba_cache`), so a new process
does not compile UMAP again.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

METHODS = ("umap", "pca")
ID_SEP = "|"
"""Between question id and sample id in a map point's id (:func:`point_id`)."""


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
    use_numba_cache()
    import umap

    cache_umap_kernels()
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


def use_numba_cache() -> Path | None:
    """Point numba's on-disk cache at ``<uqlens cache>/numba`` before numba is imported.

    numba caches next to the package sources by default, which a read-only or shared venv
    refuses, so every process compiled UMAP again (8-30 s). A ``NUMBA_CACHE_DIR`` the user
    set wins. Returns the folder in use, or None when numba was already imported (its
    configuration is read once, at import).
    """
    if "numba" in sys.modules and "NUMBA_CACHE_DIR" not in os.environ:
        return None
    if "NUMBA_CACHE_DIR" not in os.environ:
        from uqlens.backends.cache import default_cache_dir

        folder = default_cache_dir() / "numba"
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None  # unwritable cache: numba keeps its own default
        os.environ["NUMBA_CACHE_DIR"] = str(folder)
    return Path(os.environ["NUMBA_CACHE_DIR"])


_UMAP_MODULES = ("umap.umap_", "umap.utils", "umap.layouts", "umap.distances")


def cache_umap_kernels() -> int:
    """Give umap-learn's jitted kernels that lack ``cache=True`` an on-disk cache.

    umap-learn 0.5 declares its parallel kernels (``smooth_knn_dist``,
    ``compute_membership_strengths``, the layout epoch, ``fast_knn_indices``, ...) without a
    cache, so every new process compiled them again: ~20 s before the first map, even of 30
    points. Each such dispatcher is re-created from its Python function with the same options
    plus ``cache=True`` and put wherever umap refers to it (module globals and the distance
    tables), before anything calls it. Returns how many were replaced (0 on a second call).
    """
    import importlib

    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    modules = [importlib.import_module(name) for name in _UMAP_MODULES]
    replaced: dict[int, Any] = {}
    for module in modules:
        for value in list(vars(module).values()):
            if (isinstance(value, CPUDispatcher) and id(value) not in replaced
                    and isinstance(value._cache, NullCache) and not value.signatures):
                options = {k: v for k, v in value.targetoptions.items() if k != "nopython"}
                try:
                    fresh = type(value)(value.py_func, locals=value.locals,
                                        targetoptions={**options, "nopython": True})
                    fresh.enable_caching()
                except Exception:  # an unusual kernel keeps numba's own (uncached) dispatcher
                    continue
                replaced[id(value)] = fresh
    for module in modules:
        for holder in [vars(module)] + [v for v in vars(module).values() if isinstance(v, dict)]:
            for key, value in list(holder.items()):
                if id(value) in replaced:
                    holder[key] = replaced[id(value)]
    return len(replaced)


def _pca(vectors: np.ndarray) -> np.ndarray:
    centered = vectors - vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(centered, full_matrices=False)
    coords = centered @ vt[:2].T
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    return coords.astype(np.float64)


def point_id(question_id: str, sample_id: str) -> str:
    """The id carried by a map point: ``"question_id|sample_id"``."""
    return f"{question_id}{ID_SEP}{sample_id}"


def parse_point_ids(ids: Iterable[Any]) -> list[tuple[str, str]]:
    """``"q|s"`` strings (or ``(q, s)`` pairs) to ``(question_id, sample_id)`` pairs.

    Unparseable entries are dropped; order is kept and duplicates removed.
    """
    out: dict[tuple[str, str], None] = {}
    for item in ids:
        if isinstance(item, (list, tuple)) and len(item) == 2:
            key = (str(item[0]), str(item[1]))
        elif isinstance(item, str) and ID_SEP in item:
            q, s = item.split(ID_SEP, 1)
            key = (q, s)
        else:
            continue
        out[key] = None
    return list(out)


MIN_UMAP_POINTS = 5


@dataclass(frozen=True)
class Reprojection:
    """The result of :func:`reproject`: ``coords`` has columns ``question_id, sample_id, x,
    y``; ``method`` is what actually ran ("umap", "pca" or "none"); ``note`` explains any
    fallback or clamped parameter (None when the request ran as asked)."""

    coords: pd.DataFrame
    method: str
    n_neighbors: int | None = None
    note: str | None = None


def reproject(
    run,
    ids,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    seed: int = 0,
) -> Reprojection:
    """Re-project a subset of a run's answers from its ``embeddings`` table with UMAP.

    Parameters
    ----------
    run
        A :class:`uqlens.run.folder.Run` (anything with ``table(name)``).
    ids
        ``"question_id|sample_id"`` strings or ``(question_id, sample_id)`` pairs; ids
        without an embedding are left out.
    n_neighbors, min_dist, seed
        UMAP parameters. ``n_neighbors`` is clamped below the number of points.

    Fewer than :data:`MIN_UMAP_POINTS` points fall back to PCA (UMAP's neighbour graph is
    meaningless that small), and the result says so in ``note``.
    """
    empty = pd.DataFrame({"question_id": pd.Series(dtype=str), "sample_id": pd.Series(dtype=str),
                          "x": pd.Series(dtype=float), "y": pd.Series(dtype=float)})
    if n_neighbors < 2:
        raise ValueError(f"n_neighbors must be at least 2, got {n_neighbors}")
    if not 0.0 <= min_dist <= 1.0:
        raise ValueError(f"min_dist must be within [0, 1], got {min_dist}")
    emb = run.table("embeddings")
    if emb is None or emb.empty or "embedding" not in emb:
        return Reprojection(empty, "none", note="This run has no embeddings table to "
                            "re-project (rebuild it with `uqlens build`).")
    wanted = pd.DataFrame(parse_point_ids(ids), columns=["question_id", "sample_id"])
    rows = wanted.merge(emb[["question_id", "sample_id", "embedding"]],
                        on=["question_id", "sample_id"], how="inner")
    rows = rows[rows["embedding"].map(lambda v: v is not None and len(v) > 0)]
    missing = len(wanted) - len(rows)
    n = len(rows)
    if n == 0:
        return Reprojection(empty, "none", note="None of these answers has an embedding.")
    lengths = rows["embedding"].map(len)
    if lengths.nunique() > 1:
        raise ValueError(f"embeddings of different lengths: {sorted(lengths.unique())}")
    vectors = np.stack([np.asarray(v, dtype=np.float32) for v in rows["embedding"]])
    notes = []
    if missing:
        notes.append(f"{missing} answer(s) without an embedding were left out.")
    if n < MIN_UMAP_POINTS:
        method, k = "pca", None
        notes.append(f"Only {n} answer(s): UMAP needs at least {MIN_UMAP_POINTS}, so this "
                     "is a PCA of their embeddings.")
        coords = project(vectors, "pca")
    else:
        method, k = "umap", min(n_neighbors, n - 2)
        if k < n_neighbors:
            notes.append(f"n_neighbors lowered from {n_neighbors} to {k} for {n} answers.")
        coords = project(vectors, "umap", n_neighbors=k, min_dist=min_dist, seed=seed)
    out = rows[["question_id", "sample_id"]].reset_index(drop=True)
    out["x"], out["y"] = coords[:, 0], coords[:, 1]
    return Reprojection(out, method, k, " ".join(notes) or None)
