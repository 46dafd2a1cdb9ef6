"""uqlens.core.projection.reproject over a hand-made run with an ``embeddings`` table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from uqlens.core.projection import reproject


class FakeRun:
    def __init__(self, embeddings: pd.DataFrame):
        self._emb = embeddings

    def table(self, name):
        assert name == "embeddings"
        return self._emb


def embeddings(n: int, dim: int = 8, seed: int = 0) -> pd.DataFrame:
    """Two well separated blobs: answers s0..s(n/2-1) near +e0, the rest near -e0."""
    rng = np.random.default_rng(seed)
    centre = np.zeros(dim)
    centre[0] = 5.0
    vecs = [(centre if i < n // 2 else -centre) + rng.normal(0, 0.1, dim) for i in range(n)]
    return pd.DataFrame({"question_id": "q1", "sample_id": [f"s{i}" for i in range(n)],
                         "embedding": [v.tolist() for v in vecs]})


def test_few_points_fall_back_to_pca_with_a_note():
    run = FakeRun(embeddings(6))
    res = reproject(run, ["q1|s0", "q1|s1", ("q1", "s4"), "q1|nope"])
    assert res.method == "pca" and res.n_neighbors is None
    assert "PCA" in res.note and "without an embedding" in res.note
    assert res.coords[["question_id", "sample_id"]].values.tolist() == [
        ["q1", "s0"], ["q1", "s1"], ["q1", "s4"]]
    # s0, s1 share a blob, s4 is in the other: PCA's first axis separates them
    x = res.coords["x"].to_numpy()
    assert abs(x[0] - x[1]) < abs(x[0] - x[2]) / 10


def test_nothing_to_project():
    assert reproject(FakeRun(pd.DataFrame()), ["q1|s0"]).method == "none"
    res = reproject(FakeRun(embeddings(4)), ["q9|s0"])
    assert res.method == "none" and res.coords.empty
    with pytest.raises(ValueError):
        reproject(FakeRun(embeddings(4)), ["q1|s0"], n_neighbors=1)


def test_umap_keeps_the_blobs_apart():
    run = FakeRun(embeddings(30))
    ids = [f"q1|s{i}" for i in range(30)]
    res = reproject(run, ids, n_neighbors=40, min_dist=0.1, seed=0)
    assert res.method == "umap" and res.n_neighbors == 28 and "lowered" in res.note
    assert len(res.coords) == 30 and np.isfinite(res.coords[["x", "y"]].to_numpy()).all()
    xy = res.coords[["x", "y"]].to_numpy()
    a, b = xy[:15], xy[15:]
    gap = np.linalg.norm(a.mean(0) - b.mean(0))
    spread = max(np.linalg.norm(a - a.mean(0), axis=1).mean(),
                 np.linalg.norm(b - b.mean(0), axis=1).mean())
    assert gap > 2 * spread
    again = reproject(run, list(reversed(ids)), n_neighbors=40, min_dist=0.1, seed=0)
    assert again.method == "umap"


UNCACHED_UMAP_KERNELS = """
import sys
import numpy as np
from numba.core.caching import NullCache
from numba.core.dispatcher import Dispatcher
from uqlens.core.projection import project, use_numba_cache
use_numba_cache()
project(np.random.default_rng(0).normal(size=(30, 8)), n_neighbors=10)
for name, module in list(sys.modules.items()):
    if name.startswith("umap"):
        for key, value in vars(module).items():
            if (isinstance(value, Dispatcher) and value.signatures
                    and isinstance(value._cache, NullCache)):
                print(key)
"""


def test_umaps_parallel_kernels_are_compiled_into_the_cache():
    """umap-learn declares these kernels without cache=True, so every process compiled them
    (~20 s before the first map); a fresh process must find them in numba's cache."""
    import os
    import subprocess
    import sys

    # The session's numba cache (tests/conftest.py), so a warm cache keeps this quick.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for _ in range(2):  # the first process fills the cache, the second must only read it
        out = subprocess.run([sys.executable, "-c", UNCACHED_UMAP_KERNELS], env=env,
                             capture_output=True, text=True, check=True).stdout.split()
    slow = {"smooth_knn_dist", "compute_membership_strengths", "fast_knn_indices",
            "_nb_optimize_layout_euclidean_single_epoch", "euclidean"}
    assert not slow & set(out), out
    assert any(Path(os.environ["NUMBA_CACHE_DIR"]).rglob("*smooth_knn_dist*.nbi"))
