"""Write the demo question set (data/demo-source/questions.jsonl) from BIG-bench task files.

Run once when (re)making the demo; nothing reads the BIG-bench folder at run time.

    python scripts/make_demo_questions.py /path/to/bigbench --n-wikidata 300
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "data" / "demo-source"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bigbench", type=Path, help="folder with qa_wikidata/ and truthful_qa/")
    parser.add_argument("--n-wikidata", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    wikidata = json.loads((args.bigbench / "qa_wikidata" / "task.json").read_text())
    truthful = json.loads((args.bigbench / "truthful_qa" / "questions.json").read_text())
    rows = []
    picked = random.Random(args.seed).sample(range(len(wikidata["examples"])), args.n_wikidata)
    for index in sorted(picked):
        example = wikidata["examples"][index]
        target = example["target"]
        rows.append({
            "question_id": f"wd-{index:05d}",
            "question": example["input"].strip(),
            "references": [target] if isinstance(target, str) else list(target),
            "dataset": "bigbench/qa_wikidata",
        })
    for index, example in enumerate(truthful["examples"]):
        rows.append({
            "question_id": f"tqa-{index:03d}",
            "question": example["Question"].strip(),
            "references": list(example["True answers"]),
            "incorrect_references": list(example["False answers"]),
            "dataset": "bigbench/truthful_qa",
            "meta": json.dumps({"category": example["Category"],
                                "best_answer": example["Best answer"]}),
        })
    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / "questions.jsonl").open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    (OUT / "CANARY.txt").write_text(
        wikidata["canary"] + "\n" + truthful["canary"] + "\n", encoding="utf-8"
    )
    print(f"wrote {len(rows)} questions to {OUT / 'questions.jsonl'}")


if __name__ == "__main__":
    main()
