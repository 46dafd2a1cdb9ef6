"""Supervised probes: seconds to cross-fit on synthetic hidden states (prints, asserts nothing).

    python benchmarks/probes.py [--sizes 600x896,600x1536,5000x896]

Each fit is the full procedure of uqlens.core.methods.supervised.cross_fit: 5 outer folds,
3 inner folds, 5 values of C, so 5 × (3 × 5 + 1) = 80 logistic regressions.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    from uqlens.analysis.evaluation import auroc
    from uqlens.core.methods.supervised import cross_fit

    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="600x896,600x1536,5000x896")
    args = parser.parse_args()
    for size in args.sizes.split(","):
        n, d = (int(v) for v in size.split("x"))
        rng = np.random.default_rng(0)
        x = rng.normal(size=(n, d)).astype(np.float16).astype(np.float64)
        y = (rng.random(n) < 1 / (1 + np.exp(-x[:, :5].sum(axis=1)))).astype(float)
        ids = [f"q{i}" for i in range(n)]
        t = time.perf_counter()
        fit = cross_fit(x, y, ids)
        took = time.perf_counter() - t
        print(f"{n} questions × {d} dims: {took:.1f} s, out-of-fold AUROC "
              f"{auroc(fit.probability, y.astype(bool)):.3f}, C per fold {fit.chosen_c}")


if __name__ == "__main__":
    main()
