"""The verifiable slice (program / exact-gold labels) on a hand-made fake run."""

from __future__ import annotations

import pandas as pd
import pytest

from uqlens.analysis.ground_truth import (
    non_llm_ground_truth,
    non_llm_labels,
    verifiable_metrics,
)


class FakeRun:
    """Only what the functions read: a manifest and named tables."""

    def __init__(self, tables, judges):
        self.manifest = {"judges": judges}
        self._tables = tables

    def table(self, name):
        return self._tables[name]


def fake_run():
    qids = ["q1", "q2", "q3", "q4"]
    gens = pd.DataFrame({"question_id": qids + ["q4"], "sample_id": ["g"] * 4 + ["s1"],
                         "is_greedy": [True] * 4 + [False]})
    corr = pd.DataFrame([
        # program labels for the judged answers of q1..q3; q2 is wrong
        ("q1", "g", "program", True, "program"),
        ("q2", "g", "program", False, "program"),
        ("q3", "g", "program", True, "program"),
        # q4: only its non-judged sample has a program label -> not verifiable
        ("q4", "s1", "program", True, "program"),
        *[(q, "g", "squad_f1", True, "heuristic") for q in qids],
    ], columns=["question_id", "sample_id", "judge", "label", "provenance"])
    scores = pd.DataFrame({
        "question_id": qids * 2, "rule": "r", "method": ["good"] * 4 + ["bad"] * 4,
        "uncertainty": [0.1, 0.9, 0.5, 0.95, 0.9, 0.1, 0.5, 0.0]})
    return FakeRun({"questions": pd.DataFrame({"question_id": qids}), "generations": gens,
                    "correctness": corr, "scores": scores}, ["squad_f1", "program"])


def test_non_llm_ground_truth_is_the_program_judged_questions():
    run = fake_run()
    assert non_llm_ground_truth(run) == ["q1", "q2", "q3"]
    assert non_llm_ground_truth(run, judge="squad_f1") == []
    assert non_llm_labels(run).to_dict() == {"q1": True, "q2": False, "q3": True}


def test_a_run_without_provenance_has_no_verifiable_slice():
    run = fake_run()
    run._tables["correctness"] = run._tables["correctness"].drop(columns="provenance")
    assert non_llm_ground_truth(run) == []
    assert verifiable_metrics(run, "r", n_boot=10).empty


def test_verifiable_metrics_by_hand():
    table = verifiable_metrics(fake_run(), "r", n_boot=50).set_index("method")
    # slice q1..q3: incorrect = {q2}. "good" ranks q2 highest (0.9 > 0.5 > 0.1): AUROC 1, and
    # flagging u >= 0.9 catches q2 with no correct answer flagged: TPR 1 at FPR 0.
    good = table.loc["good"]
    assert (good["n"], good["n_incorrect"]) == (3, 1)
    assert good["auroc"] == 1.0 and good["tpr_at_1fpr"] == 1.0 and good["tpr_at_01fpr"] == 1.0
    # "bad" ranks q2 lowest: AUROC 0; catching q2 needs flagging both correct ones (FPR 1)
    bad = table.loc["bad"]
    assert bad["auroc"] == 0.0 and bad["tpr_at_1fpr"] == 0.0 and bad["tpr_at_01fpr"] == 0.0
    # q4 (0.95 under "good") is outside the slice and never counted
    assert "only 2 correct answers" in good["warning"]
    assert "only 1 incorrect answers" in good["warning"]
    assert good["auroc_lo"] <= good["auroc"] <= good["auroc_hi"]


@pytest.mark.parametrize("judge", ["program", None])
def test_slice_metrics_can_name_the_judge(judge):
    assert len(verifiable_metrics(fake_run(), "r", judge=judge, n_boot=10)) == 2
