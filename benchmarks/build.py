"""Benchmark `uqlens build`: wall time per stage, pairs computed against the naive all-pairs
count, peak memory, and the rebuild time after a threshold change.

    python benchmarks/build.py                       # demo input + 10,000 × 10 synthetic
    python benchmarks/build.py --questions 1000      # a smaller synthetic scale-up
    python benchmarks/build.py --skip-demo --projection pca
    python benchmarks/build.py --skip-demo --embedded --answers 1000000 --keep /tmp/big

``--embedded``: every synthetic answer carries its own 16-number ``embedding`` and the build
uses them (``--embedder provided``) with the cosine rules and a PCA map, so no model runs at
any size. ``--answers N`` sets the size in answers (questions = N / (samples + 1)).

The rebuild reads what did not change from the build's stage memo in the cache
(:mod:`uqlens.build.memo`); the report says which pieces it read back.

Prints numbers; asserts nothing. Each build runs in a fresh subprocess so that its peak
memory (ru_maxrss) and CPU seconds are its own (CPU seconds are steadier than wall time on a
shared machine).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_INPUTS = sorted((ROOT / "data" / "demo-source").glob("generations-*.jsonl"))

WORDS = ("Paris London Rome Berlin Madrid Vienna Prague Lisbon Dublin Oslo Athens Warsaw "
         "Helsinki Bern Brussels Amsterdam Budapest Sofia Zagreb Riga").split()


EMBED_DIM = 16


def synthetic(path: Path, n_questions: int, n_samples: int, seed: int = 0,
              embedded: bool = False) -> None:
    """Short answers drawn from a few candidates per question, with log-probs, so clusters,
    methods and judges all have work to do. ``embedded``: each answer also carries a vector,
    its word's direction plus noise of the question (a word's answers agree within a
    question, cosine about 0.9 across questions; two words about 0)."""
    rng = random.Random(seed)
    direction = {w: _unit([rng.gauss(0, 1) for _ in range(EMBED_DIM)]) for w in WORDS}
    with path.open("w", encoding="utf-8") as handle:
        for q in range(n_questions):
            candidates = rng.sample(WORDS, 4)
            weights = [rng.random() ** 2 for _ in candidates]
            answers = rng.choices(candidates, weights=weights, k=n_samples + 1)
            vector = {w: _unit([d + 0.35 * rng.gauss(0, 1) for d in direction[w]])
                      for w in candidates} if embedded else {}
            extra = (lambda a, v=vector: {"embedding": v[a]}) if embedded else (lambda a: {})
            record = {
                "question_id": f"q{q:07d}",
                "question": f"Synthetic question {q}: which city is meant?",
                "references": [candidates[0]],
                "greedy": {"text": answers[0], "logprob_sum": -rng.random(), "num_tokens": 1,
                           "p_true": rng.random(), **extra(answers[0])},
                "samples": [
                    {"text": a, "logprob_sum": -3 * rng.random(), "num_tokens": 1,
                     "temperature": 1.0, **extra(a)}
                    for a in answers[1:]
                ],
            }
            handle.write(json.dumps(record) + "\n")


def _unit(v: list[float]) -> list[float]:
    norm = sum(x * x for x in v) ** 0.5
    return [round(x / norm, 4) for x in v]


RUNNER = """
import json, resource, sys, time
from uqlens.build.pipeline import BuildConfig, build
args = json.loads(sys.argv[1])
config = BuildConfig(**args["config"])
t = time.perf_counter()
manifest = build(args["input"], args["out"], config, cache_dir=args["cache"], progress=False,
                 log=lambda _: None)
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"manifest": manifest, "wall": time.perf_counter() - t,
                  "cpu": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024}))
"""


def run_build(inputs: list[Path], out: Path, cache: Path, config: dict) -> dict:
    payload = json.dumps({"input": [str(p) for p in inputs], "out": str(out), "cache": str(cache),
                          "config": config})
    done = subprocess.run([sys.executable, "-c", RUNNER, payload], capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def naive_pairs(inputs: list[Path]) -> int:
    """Ordered pairs of all samples per question: what an all-pairs NLI pass would cost."""
    total = 0
    lines = [line for p in inputs for line in p.read_text(encoding="utf-8").splitlines()]
    for line in lines:
        n = len(json.loads(line).get("samples", [])) + 1
        total += n * (n - 1)
    return total


def report(label: str, result: dict, naive: int) -> None:
    m = result["manifest"]
    counts = m["counts"]
    computed = {k: v for k, v in counts.items() if k.startswith("pairs")}
    print(f"\n== {label}")
    print(f"questions {counts['questions']:,}  samples {counts['samples']:,}  "
          f"unique texts {counts['unique_texts']:,}")
    print(f"wall {result['wall']:.1f} s   CPU {result['cpu']:.1f} s (the whole process, imports "
          f"included)   peak memory {result['peak_mb']:.0f} MB")
    print("stages: " + "  ".join(f"{k} {v:.2f}s" for k, v in m["timings"].items()))
    print(f"pairs: {computed}   naive all-pairs (ordered, per question): {naive:,}")
    hits = {k[len("stage_memo_hits["):-1]: v for k, v in counts.items()
            if k.startswith("stage_memo_hits[")}
    if hits:
        print("stage memo: read back " + ", ".join(f"{k} {v}" for k, v in hits.items()))


def bench(label: str, inputs: list[Path], projection: str, keep: Path | None = None,
          embedded: bool = False) -> None:
    naive = naive_pairs(inputs)
    extra = {"embedder": "provided"} if embedded else {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        first = run_build(inputs, tmp / "run", tmp / "cache", {"projection": projection,
                                                               **extra})
        report(f"{label}: cold build", first, naive)
        again = run_build(
            inputs, tmp / "run2", tmp / "cache",
            {"projection": projection, **extra,
             "rules": ["exact", "embedding:0.85:average", "threshold:0.85@cosine"]},
        )
        report(f"{label}: rebuild after a threshold change (warm cache)", again, naive)
        n_q = again["manifest"]["counts"]["questions"]
        print(f"rebuild: {again['wall']:.1f} s = {1000 * again['wall'] / n_q:.2f} s per 1,000 "
              "questions")
        if keep is not None:  # e.g. for benchmarks/pages.py
            import shutil

            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(tmp / "run", keep)
            print(f"kept the cold-build run at {keep}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=10_000)
    parser.add_argument("--answers", type=int, default=None,
                        help="size in answers instead (questions = ANSWERS / (samples + 1))")
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--embedded", action="store_true",
                        help="answers carry their own vectors: no model runs (default map: pca)")
    parser.add_argument("--projection", choices=("umap", "pca"), default=None,
                        help="default: umap, or pca with --embedded")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--keep", type=Path, default=None,
                        help="copy the synthetic run here (for benchmarks/pages.py)")
    args = parser.parse_args()
    projection = args.projection or ("pca" if args.embedded else "umap")
    n_questions = args.questions if args.answers is None else max(
        1, args.answers // (args.samples + 1))
    start = time.perf_counter()
    if not args.skip_demo and DEMO_INPUTS:
        bench("demo input", DEMO_INPUTS, projection)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "synthetic.jsonl"
        synthetic(path, n_questions, args.samples, embedded=args.embedded)
        what = "with own embeddings, " if args.embedded else ""
        bench(f"synthetic {n_questions:,} × ({args.samples} + 1) answers ({what}{projection})",
              [path], projection, keep=args.keep, embedded=args.embedded)
    print(f"\ntotal benchmark time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
