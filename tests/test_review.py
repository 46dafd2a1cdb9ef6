"""Review queue and hallucination-list flags (uqlens.analysis.review) on the tiny fixture run,
whose contents are hand-made (tests/fixtures/make_tiny_run.py):

- q01 "What is the capital of Australia?": every answer is Sydney (one cluster, wrong) and
  semantic entropy is lowest there: a confident hallucination a 20 % gate accepts
  (ceil(0.2 · 8) = 2 questions: q01, q02).
- q08 "42": cluster 0 holds "42" (correct) and "forty-two" (wrong under exact match): mixed.
- exact_match and contains agree on every judged answer.
"""

from __future__ import annotations

import shutil

import pytest

from uqlens.analysis import review as R
from uqlens.run import labels as L
from uqlens.run.folder import load_run

RULE, METHOD, JUDGE = "strict", "semantic_entropy", "exact_match"


@pytest.fixture()
def run_copy(tiny_run_path, tmp_path):
    dest = tmp_path / "run"
    shutil.copytree(tiny_run_path, dest)
    return dest


def test_queue_orders_by_reason(run_copy):
    run = load_run(run_copy)
    q = R.review_queue(run, RULE, METHOD, JUDGE)
    assert q["question_id"].tolist() == ["q01", "q08"]
    first, second = q.iloc[0], q.iloc[1]
    assert first["reasons"] == "confident hallucination, not reviewed"
    assert first["priority"] == 2 + 1  # accepted by the gate
    assert second["reasons"] == "mixed cluster" and second["priority"] == 2
    assert not q["reviewed"].any()


def test_reviewing_and_doubting_a_reference_reorder_the_queue(run_copy):
    run = load_run(run_copy)
    L.append(run_copy, [L.answer_label("q01", "Sydney", "incorrect"),
                        L.reference_label("q03", "disputed", "Jane Austen", note="check")])
    q = R.review_queue(run, RULE, METHOD, JUDGE)
    # q01 is reviewed now and has no other reason: gone; q03 comes first (weight 3)
    assert q["question_id"].tolist() == ["q03", "q08"]
    assert q.iloc[0]["reasons"] == "reference doubtful"
    flags = R.hallucination_flags(run, RULE, JUDGE)
    assert flags.loc["q03", "flags"] == "reference disputed"
    assert flags.loc["q08", "flags"] == "mixed cluster"
    assert flags.loc["q01", "flags"] == ""


def test_judges_disagree_with_a_human_judge(run_copy):
    run = load_run(run_copy)
    human = "human+exact_match"
    assert not R.judges_disagree(run).any()
    L.append(run_copy, [L.answer_label("q02", "Paris", "incorrect")])
    d = R.judges_disagree(run, [JUDGE, human])
    assert d[d].index.tolist() == ["q02"]
    q = R.review_queue(run, RULE, METHOD, JUDGE, judges=[JUDGE, human])
    row = q.set_index("question_id").loc["q02"]
    assert row["judges_disagree"] and row["reviewed"]
    assert q["question_id"].iloc[-1] == "q02"  # reviewed questions come last


def test_a_human_verdict_can_resolve_a_mixed_cluster(run_copy):
    run = load_run(run_copy)
    assert R.mixed_clusters(run, RULE, JUDGE).loc["q08", "mixed_clusters"] == 1
    L.append(run_copy, [L.answer_label("q08", "forty-two", "correct")])
    assert R.mixed_clusters(run, RULE, "human+exact_match").loc["q08", "mixed_clusters"] == 0
    assert R.mixed_clusters(run, RULE, JUDGE).loc["q08", "mixed_clusters"] == 1


def test_queue_position_wraps():
    import pandas as pd

    q = pd.DataFrame({"question_id": ["a", "b", "c"]})
    assert R.queue_position(q, "b") == "c"
    assert R.queue_position(q, "c") == "a"
    assert R.queue_position(q, "zz") == "a"
    assert R.queue_position(q, "a", step=-1) == "c"
    assert R.queue_position(q.iloc[0:0], "a") is None
