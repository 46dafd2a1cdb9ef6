"""Long answers and UMAP start-up: prints seconds, asserts nothing.

    python benchmarks/long_text.py            # ROUGE-L / lexical similarity on 200 KB answers
    python benchmarks/long_text.py --umap     # also: UMAP first fit in two fresh processes

The second fresh process should find numba's compiled code in <uqlens cache>/numba.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time


def long_answers() -> None:
    from uqlens.core.methods import get
    from uqlens.core.methods.base import QuestionView
    from uqlens.core.text import MAX_ROUGE_TOKENS, lcs_length, rouge_l, rouge_tokens

    words = [f"w{i % 1999}" for i in range(45_000)]
    a, b = " ".join(words), " ".join(words[::-1])
    print(f"answer size: {len(a) / 1000:.0f} KB, {len(words)} tokens; cap {MAX_ROUGE_TOKENS}")
    t = time.perf_counter()
    rouge_l(a, b)
    print(f"rouge_l on one 200 KB pair (capped):       {time.perf_counter() - t:.3f} s")
    ta, tb = rouge_tokens(a), rouge_tokens(b)
    t = time.perf_counter()
    lcs_length(ta, tb)
    print(f"exact LCS of the full token lists (no cap): {time.perf_counter() - t:.3f} s")
    rouge_l.cache_clear()
    view = QuestionView("q", "q?", tuple([a] + [f"short answer {i}" for i in range(9)]))
    t = time.perf_counter()
    get("lexical_similarity").score(view)
    print(f"lexical similarity, 1 long + 9 short:      {time.perf_counter() - t:.3f} s")


def umap_twice() -> None:
    code = ("import time, numpy as np; from uqlens.core.projection import project; "
            "x = np.random.default_rng(0).normal(size=(300, 16)).astype('float32'); "
            "t = time.perf_counter(); project(x, 'umap'); print(f'{time.perf_counter() - t:.1f}')")
    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
        env["UQLENS_CACHE"] = cache
        for label in ("first process (empty cache)", "second process (warm cache)"):
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                 text=True, check=True).stdout.strip()
            print(f"UMAP fit of 300 points, {label}: {out} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--umap", action="store_true")
    args = parser.parse_args()
    long_answers()
    if args.umap:
        umap_twice()
