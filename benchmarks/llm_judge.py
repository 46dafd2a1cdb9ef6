"""Benchmark the local LLM entailment judge: pairs per second, one pair at a time (the
algorithm on main before batching) against the batched prefix-tree judge, on the same
real answer pairs of the demo.

    python benchmarks/llm_judge.py                          # 200 pairs, the 1.5B demo model
    python benchmarks/llm_judge.py --pairs 100 --model path/to/model.gguf --threads 2

Pairs: questions of data/demo-source taken alternately from qa_wikidata and truthful_qa, in
file order; per question the unordered pairs among its first five distinct answers (greedy
first, then samples; texts equal up to case and surrounding whitespace count once), at most
10 pairs per question, until the requested number. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data" / "demo-source"


def demo_pairs(n_pairs: int, per_question: int = 5) -> list[tuple[str, list[tuple[str, str]]]]:
    from uqlens.core.text import same_text

    files = [DEMO / "generations-qa_wikidata.jsonl", DEMO / "generations-truthful_qa.jsonl"]
    streams = [
        [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines() if line]
        for f in files
    ]
    requests, total = [], 0
    for record in itertools.chain.from_iterable(zip(*streams, strict=False)):
        texts: list[str] = []
        for text in [record["greedy"]["text"]] + [s["text"] for s in record["samples"]]:
            if text.strip() and not any(same_text(text, t) for t in texts):
                texts.append(text)
        pairs = list(itertools.combinations(texts[:per_question], 2))[: n_pairs - total]
        if pairs:
            requests.append((record["question"], pairs))
            total += len(pairs)
        if total >= n_pairs:
            break
    return requests


def decoded_tokens(token_lists: list[list[int]]) -> tuple[int, int]:
    """Tokens the model must decode for these prompts: (one at a time, each reusing the
    previous prompt's prefix; as one prefix tree, each distinct prefix once)."""
    sequential, previous = 0, []
    for tokens in token_lists:
        common = 0
        for a, b in zip(previous, tokens, strict=False):
            if a != b:
                break
            common += 1
        sequential += len(tokens) - min(common, len(tokens) - 1)
        previous = tokens
    tree = len({tuple(tokens[:i]) for tokens in token_lists for i in range(1, len(tokens) + 1)})
    return sequential, tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="/work/models/qwen1.5b.gguf")
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from uqlens.backends.similarity import LLMJudgeEntailment, _same_meaning_prompt

    requests = demo_pairs(args.pairs)
    n = sum(len(p) for _, p in requests)
    print(f"{n} pairs from {len(requests)} demo questions; model {Path(args.model).name}, "
          f"{args.threads} threads")
    def timed(run):
        wall, cpu = time.perf_counter(), time.process_time()
        p_yes = run()
        return p_yes, time.perf_counter() - wall, time.process_time() - cpu

    with LLMJudgeEntailment(args.model, n_threads=args.threads) as judge:
        tokens = [judge.llm.tokenize(_same_meaning_prompt(q, a, b))
                  for q, pairs in requests for a, b in pairs]
        sequential, tree = decoded_tokens(tokens)
        # Main's LLMJudgeEntailment.predict: one prompt per decode, reusing the cached
        # prefix of the previous prompt.
        before = timed(lambda: np.array([
            judge.llm.yes_probability(_same_meaning_prompt(q, a, b))
            for q, pairs in requests for a, b in pairs]))
        per_question = timed(lambda: np.concatenate([judge.predict(q, p)[:, 0]
                                                     for q, p in requests]))
        together = timed(lambda: judge.predict_many(
            [(q, a, b) for q, pairs in requests for a, b in pairs])[:, 0])

    # CPU seconds (all threads) are printed too: on a shared machine wall time also
    # measures the neighbours.
    rows = (("before: one pair per decode (main)", before),
            ("after:  batched, one call per question", per_question),
            ("after:  batched, all questions at once", together))
    for name, (p, wall, cpu) in rows:
        line = (f"{name:40s} wall {wall:7.1f} s {n / wall:6.2f} pairs/s ({before[1] / wall:4.1f}x)"
                f"  cpu {cpu:7.1f} s {n / cpu:6.2f} pairs/cpu-s ({before[2] / cpu:4.1f}x)")
        if p is not before[0]:
            line += (f"  max |dP(yes)| {np.abs(p - before[0]).max():.3f}, same decision at 0.5"
                     f" {np.mean((p > 0.5) == (before[0] > 0.5)):.3f}")
        print(line, flush=True)
    # The judge reads one position per pair, so its cost is the tokens it must decode: a
    # floor no batching removes (the tree decodes each shared prefix once; chunks of 256
    # prompts each decode the instruction again, so the count is a slight underestimate).
    print(f"tokens decoded: one at a time {sequential} ({sequential / n:.1f} per pair, "
          f"{sequential / before[1]:.0f} tokens/s); as one prefix tree {tree} "
          f"({tree / n:.1f} per pair, {tree / together[1]:.0f} tokens/s)")


if __name__ == "__main__":
    main()
