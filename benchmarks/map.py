"""Benchmark the answer map's aggregation: one mark per distinct answer per question.

    python benchmarks/map.py                       # 10,000 questions × 11 answers = 110,000
    python benchmarks/map.py --questions 90910     # ≈ 1,000,000 answers

A synthetic map-points frame (the shape :func:`uqlens.analysis.overview.map_points` returns):
each question's answers are drawn from a few variants with a skewed distribution (the first
is the most common), spelled in random case, so identical answers repeat as in real runs.
Times :func:`uqlens.analysis.marks.distinct_answers`, the Plotly figure and its JSON (what
Streamlit sends to the browser). Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def synthetic_points(n_questions: int, n_answers: int, seed: int = 0) -> pd.DataFrame:
    """Map points of ``n_questions`` × ``n_answers`` answers (the last one judged)."""
    rng = np.random.default_rng(seed)
    n = n_questions * n_answers
    q = np.repeat(np.arange(n_questions), n_answers)
    variant = np.minimum(rng.geometric(0.5, n) - 1, 5)  # 0 most often, at most 6 variants
    upper = rng.random(n) < 0.2
    text = np.char.add(np.where(upper, "ANSWER ", "answer "), variant.astype(str))
    centre = rng.normal(0, 10, (n_questions, 2))
    xy = centre[q] + rng.normal(0, 0.3, (n, 2)) + variant[:, None] * 0.5
    qid = np.char.add("q", q.astype(str))
    sid = np.tile(np.array([f"s{i}" for i in range(n_answers - 1)] + ["greedy"]), n_questions)
    correct = variant == (q % 3)
    rank = np.minimum(variant + 1, 3)
    return pd.DataFrame({
        "id": np.char.add(np.char.add(qid, "|"), sid),
        "question_id": qid, "sample_id": sid, "x": xy[:, 0], "y": xy[:, 1],
        "question": np.char.add("Question ", q.astype(str)), "text": text,
        "correctness": np.where(correct, "correct", "incorrect"),
        "cluster": np.array(["largest", "2nd largest", "3rd or smaller"])[rank - 1],
        "cluster_id": variant, "uncertainty": rng.random(n_questions)[q],
        "is_judged": sid == "greedy",
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=10_000)
    parser.add_argument("--answers", type=int, default=11, help="answers per question")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from uqlens.analysis.marks import distinct_answers
    from uqlens.viz.answers import mark_map

    points = synthetic_points(args.questions, args.answers)
    print(f"{len(points):,} answers, {args.questions:,} questions")
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        marks = distinct_answers(points)
        times.append(time.perf_counter() - start)
    print(f"distinct_answers: {len(marks):,} marks ({len(points) / len(marks):.1f} answers "
          f"per mark), best {min(times):.3f} s of {args.repeat}")
    for color_by in ("correctness", "uncertainty"):
        start = time.perf_counter()
        fig = mark_map(marks, color_by=color_by, method="se")
        built = time.perf_counter() - start
        start = time.perf_counter()
        size = len(fig.to_json())
        print(f"figure ({color_by}): build {built:.3f} s, JSON {time.perf_counter() - start:.3f}"
              f" s, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
