"""Thread limits for loops over many tiny matrices.

Per-question scoring works on matrices of a dozen rows (affinities, Laplacians, their
exponentials). A multi-threaded BLAS hands each of those to its thread pool and waits for it:
with two threads on this 2-core machine ``scipy.linalg.expm`` of an 11 × 11 matrix took
0.33 ms instead of 0.03 ms, and several ms on a busy machine. Such loops run with BLAS on the
calling thread only; large products elsewhere (PCA, embeddings) keep their threads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def small_matrix_threads() -> Iterator[None]:
    """BLAS and LAPACK on one thread inside the block, as before it after."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield
