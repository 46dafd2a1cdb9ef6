"""Re-scoring built runs from their own tables: seconds, and how exactly the stored scores
come back (prints, asserts nothing; loads no model).

    python benchmarks/rescore.py [RUN_DIR ...]      (default: data/demo data/demo-llm-judge)
"""

from __future__ import annotations

import sys
import time

import numpy as np


def main() -> None:
    from uqlens.run.folder import load_run
    from uqlens.run.rescore import rescore

    for path in sys.argv[1:] or ["data/demo", "data/demo-llm-judge"]:
        run = load_run(path)
        stored = run.table("scores")
        t = time.perf_counter()
        got = rescore(run)
        seconds = time.perf_counter() - t
        both = stored.merge(got, on=["question_id", "rule", "method"], suffixes=("", "_re"))
        a = both["uncertainty"].to_numpy(float)
        b = both["uncertainty_re"].to_numpy(float)
        ok = ~np.isnan(a) & ~np.isnan(b)
        nan_mismatch = int((np.isnan(a) != np.isnan(b)).sum())
        print(f"{path}: {seconds:.1f} s; {len(both)} of {len(stored)} stored scores compared "
              f"({len(run.rules)} rules), NaN mismatches {nan_mismatch}, "
              f"max abs diff {np.max(np.abs(a[ok] - b[ok]), initial=0.0):g}")


if __name__ == "__main__":
    main()
