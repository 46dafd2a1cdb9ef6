"""A copy of the tiny fixture run with a verifiable slice: three integer-answer questions
judged by the real ``program`` judge, plus a STUB LLM judge (``llm_reference@stub``, labels
typed by hand, no model) for the Judge audit page.

Slice: q05 "Treaty of Kiel" (reference 1814, judged answer "1815": wrong), q07 "x + 1 = 2"
(references set to "1" here, judged answer "$x$ = 1": right), q08 "6 times 7" (42, judged
answer the first sample "42": right).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "tiny_run"
STUB_LLM = "llm_reference@stub"
# the stub LLM judge agrees with `contains` on every judged answer except q01 ("Sydney")
STUB_DIFFERS_ON = "q01"


def program_run(folder: Path) -> Path:
    from uqlens.core.correctness import judge_frame
    from uqlens.run.rescore import judged_rows

    run = folder / "program_run"
    shutil.copytree(FIXTURE, run)
    questions = pd.read_parquet(run / "questions.parquet")
    questions["references"] = [["1"] if q == "q07" else list(r) for q, r in
                               zip(questions["question_id"], questions["references"],
                                   strict=True)]
    questions.to_parquet(run / "questions.parquet")
    generations = pd.read_parquet(run / "generations.parquet")
    corr = pd.read_parquet(run / "correctness.parquet")
    # exact_match / contains are text judges; the fixture marks their provenance "fixture"
    corr["provenance"] = "heuristic"
    program = judge_frame("program", questions, generations)  # the real judge

    class _Judged:  # judged_rows reads only the generations table
        def table(self, name):
            return generations

    judged = judged_rows(_Judged())
    contains = corr[corr["judge"] == "contains"].merge(judged, on=["question_id", "sample_id"])
    stub = contains.assign(judge=STUB_LLM, provenance="llm")
    flip = stub["question_id"] == STUB_DIFFERS_ON
    stub.loc[flip, "label"] = ~stub.loc[flip, "label"].astype(bool)
    stub.loc[flip, "value"] = 1.0 - stub.loc[flip, "value"]
    pd.concat([corr, program, stub], ignore_index=True).to_parquet(run / "correctness.parquet")
    manifest = json.loads((run / "manifest.json").read_text())
    manifest.update(name="program slice", fixture=False,
                    judges=[*manifest["judges"], "program", STUB_LLM])
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run
