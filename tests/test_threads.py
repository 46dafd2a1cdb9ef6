"""uqlens.core.threads: loops over tiny matrices run BLAS on one thread, and only inside."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import numpy as np
from threadpoolctl import threadpool_info
from uqlens.core.threads import small_matrix_threads

def blas():
    return sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})

before = blas()
with small_matrix_threads():
    inside = blas()
print(before, inside, blas())
"""


def test_blas_runs_on_one_thread_inside_the_block_only():
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    env["OPENBLAS_NUM_THREADS"] = "2"  # what an unset environment gives on this 2-core machine
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "[2] [1] [2]"
