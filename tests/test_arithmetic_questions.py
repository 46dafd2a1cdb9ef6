"""scripts/make_arithmetic_questions.py: the program-checkable slice's questions and answers."""

import importlib.util
import json
import re
from pathlib import Path

from uqlens.core.correctness import get_judge

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "make_arithmetic_questions.py"
spec = importlib.util.spec_from_file_location("make_arithmetic_questions", SCRIPT)
arith = importlib.util.module_from_spec(spec)
spec.loader.exec_module(arith)


def test_generated_questions_are_exact_and_seeded():
    rows = arith.generated_questions(14, seed=3)
    assert rows == arith.generated_questions(14, seed=3)
    assert [r["question_id"] for r in rows[:2]] == ["ar-00000", "ar-00001"]
    for row in rows:
        asked = re.fullmatch(r"What is (\d+) (plus|minus|times) (\d+)\?", row["question"])
        a, op, b = asked.groups()
        want = {"plus": int(a) + int(b), "minus": int(a) - int(b), "times": int(a) * int(b)}[op]
        assert row["references"] == [str(want)] and row["dataset"] == "arithmetic"
        assert get_judge("program").judge(f"The answer is {want:,}.", row["references"])[1]
    # the seven strata in turn: the 7th question is a 3-digit × 3-digit product
    a, b = map(int, re.findall(r"\d+", rows[6]["question"]))
    assert "times" in rows[6]["question"] and 100 <= a <= 999 and 100 <= b <= 999


def test_bigbench_task_files(tmp_path):
    task = tmp_path / "arithmetic" / "2_digit_addition"
    task.mkdir(parents=True)
    (task / "task.json").write_text(json.dumps({
        "canary": "CANARY-X",
        "examples": [
            {"input": "What is 12 plus 30?", "target_scores": {"42": 1, "41": 0}},
            {"input": "What is 1 plus 1?", "target": "2"},
            {"input": "Name a colour", "target": "red"},  # not an integer: skipped
        ],
    }), encoding="utf-8")
    rows, canaries = arith.bigbench_questions(tmp_path / "arithmetic", 2, seed=0)
    assert canaries == ["CANARY-X"]
    assert sorted((r["question"], r["references"][0]) for r in rows) == [
        ("What is 1 plus 1?", "2"), ("What is 12 plus 30?", "42")]
    assert json.loads(rows[0]["meta"])["source"] == "bigbench/arithmetic/2_digit_addition"
