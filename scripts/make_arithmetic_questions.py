"""Write the demo's program-checked slice (data/demo-source/questions-arithmetic.jsonl).

The questions come unchanged from BIG-bench's `arithmetic` task files (Apache License 2.0),
which ship in the `bigbench` 1.0.0 source distribution on PyPI
(`pip download --no-deps --no-binary :all: bigbench==1.0.0`, then unpack
`bigbench/benchmark_tasks/arithmetic/`). Their answers are exact integers, so a program
checks correctness: no reference text, no judge model.

    python scripts/make_arithmetic_questions.py PATH/TO/benchmark_tasks/arithmetic --per-task 100
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "data" / "demo-source"
# Multi-digit tasks: hard enough for a 1.5B model to be wrong sometimes, with one exact answer.
TASKS = ("2_digit_multiplication", "3_digit_addition", "3_digit_multiplication")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("arithmetic", type=Path, help="BIG-bench benchmark_tasks/arithmetic")
    parser.add_argument("--per-task", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    per_task, canaries = [], set()
    for task in TASKS:
        rows = []
        spec = json.loads((args.arithmetic / task / "task.json").read_text())
        canaries.add(spec["canary"])
        examples = spec["examples"]
        picked = random.Random(f"{args.seed}:{task}").sample(range(len(examples)), args.per_task)
        for index in sorted(picked):
            example = examples[index]
            rows.append({
                "question_id": f"ar-{task.split('_')[0]}{task.split('_')[2][:4]}-{index:04d}",
                "question": example["input"].strip(),
                "references": [str(example["target"]).strip()],
                "dataset": "bigbench/arithmetic",
                "meta": json.dumps({"task": task}),
            })
        per_task.append(rows)
    # Interleaved, so that any prefix of the file (a generation cut short) covers every task.
    rows = [row for group in zip(*per_task, strict=True) for row in group]
    with (OUT / "questions-arithmetic.jsonl").open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    canary_file = OUT / "CANARY.txt"
    known = set(canary_file.read_text(encoding="utf-8").splitlines())
    if not canaries <= known:
        with canary_file.open("a", encoding="utf-8") as handle:
            handle.writelines(c + "\n" for c in sorted(canaries - known))
    print(f"wrote {len(rows)} questions to {OUT / 'questions-arithmetic.jsonl'}")


if __name__ == "__main__":
    main()
