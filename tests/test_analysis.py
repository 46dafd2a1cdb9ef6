"""uqlens.analysis.overview on the tiny fixture run: values checked by hand against
tests/fixtures/make_tiny_run.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from uqlens.analysis import overview as a

RULE, METHOD, JUDGE = "strict", "semantic_entropy", "exact_match"


def test_judged_answer_is_greedy_or_first_sample(tiny_run):
    judged = a.judged_answers(tiny_run, JUDGE).set_index("question_id")
    assert judged.loc["q01", "sample_id"] == "greedy"
    assert judged.loc["q01", "text"] == "Sydney"
    assert not judged.loc["q01", "correct"]
    assert judged.loc["q08", "sample_id"] == "s0"  # no greedy answer: first sample
    assert judged.loc["q08", "correct"]
    assert len(judged) == 8


def test_cluster_summary_counts_samples_only(tiny_run):
    c = a.cluster_summary(tiny_run, RULE, JUDGE, "q03")
    assert c["size"].tolist() == [3, 2]
    assert c["mass"].tolist() == pytest.approx([0.6, 0.4])
    top, second = c.iloc[0], c.iloc[1]
    assert top["representative"] == "Charlotte Brontë"
    assert not top["correct"] and top["holds_judged"] and top["share_correct"] == 0
    assert second["correct"] and second["members"] == ["Jane Austen", "Jane Austen"]
    assert c["mass"].sum() == pytest.approx(1.0)


def test_exact_rule_splits_variants(tiny_run):
    c = a.cluster_summary(tiny_run, "exact", JUDGE, "q01")
    # normalised text: "Sydney", "Sydney.", "Sydney", "sydney" -> "sydney"; "It's Sydney" apart
    assert c["size"].tolist() == [4, 1]
    assert c["members"].iloc[1] == ["It's Sydney"]
    strict = a.cluster_summary(tiny_run, RULE, JUDGE, "q01")
    assert strict["size"].tolist() == [5]


def test_confident_hallucination_sydney(tiny_run):
    ch = a.confident_hallucinations(tiny_run, RULE, METHOD, JUDGE, dominance=0.7,
                                    operating_point=0.2)
    assert ch["question_id"].tolist() == ["q01"]
    row = ch.iloc[0]
    assert row["dominant_share"] == 1.0
    assert row["dominant_representative"] == "Sydney"
    assert row["uncertainty"] == 0.0 and row["certainty_rank"] == 1
    assert row["accepted"]  # a 20 % gate keeps ceil(1.6) = 2 questions: q01, q02


def test_lower_dominance_finds_more_ranked_by_certainty(tiny_run):
    ch = a.confident_hallucinations(tiny_run, RULE, METHOD, JUDGE, dominance=0.6)
    assert ch["question_id"].tolist() == ["q01", "q03", "q04"]
    assert ch["uncertainty"].is_monotonic_increasing


def test_correct_but_outvoted(tiny_run):
    out = a.correct_but_outvoted(tiny_run, RULE, JUDGE)
    assert out["question_id"].tolist() == ["q03"]
    assert out.iloc[0]["correct_answers"] == ["Jane Austen"]


def test_hallucination_counts_per_method(tiny_run):
    counts = a.hallucination_counts(tiny_run, RULE, JUDGE, 0.7, 0.2).set_index("method")
    assert list(counts.index) == ["semantic_entropy", "num_sets", "lexical_similarity"]
    assert counts.loc["semantic_entropy", "accepted"] == 2
    assert counts.loc["semantic_entropy", "confident_hallucinations"] == 1
    assert counts.loc["semantic_entropy", "share"] == 0.5
    # lexical similarity ranks Paris (0.0) before Sydney (0.2); at 1/8 only Paris passes
    low = a.hallucination_counts(tiny_run, RULE, JUDGE, 0.7, 0.125).set_index("method")
    assert low.loc["lexical_similarity", "confident_hallucinations"] == 0


def test_accepted_questions_breaks_ties_by_id():
    s = pd.Series({"b": 0.0, "a": 0.0, "c": 1.0, "d": np.nan})
    assert a.accepted_questions(s, 0.34) == {"a", "b"}
    assert a.accepted_questions(s, 0.3) == {"a"}
    assert a.accepted_questions(s, 1.0) == {"a", "b", "c"}


def test_question_scores_percentiles(tiny_run):
    s = a.question_scores(tiny_run, RULE, METHOD).set_index("question_id")
    assert s.loc["q05", "percentile"] == 100.0  # the most uncertain question
    assert s.loc["q01", "certainty_rank"] == 1 and s.loc["q02", "certainty_rank"] == 2
    assert s.loc["q01", "rank_percentile"] == pytest.approx(12.5)


def test_tied_scores_share_one_shown_rank(tiny_run):
    # the gate orders ties by id (certainty_rank); the rank a reader sees is their mean
    s = a.question_scores(tiny_run, RULE, METHOD).set_index("question_id")
    for _, group in s.dropna(subset=["uncertainty"]).groupby("uncertainty"):
        ranks = group["certainty_rank"]
        assert (group["shared_rank"] == ranks.mean()).all()
        assert group["shared_rank"].nunique() == 1
    # by hand: q01/q02 tie at 0 (ranks 1, 2), q07/q08 at 0.5004 (3, 4), q04/q06 at 0.9503 (6, 7)
    assert s.loc[["q01", "q02", "q07", "q08", "q03", "q04", "q06", "q05"],
                 "shared_rank"].tolist() == [1.5, 1.5, 3.5, 3.5, 5.0, 6.5, 6.5, 8.0]


def test_selection_summary_maps_ids(tiny_run):
    answers, clusters = a.selection_summary(
        tiny_run, RULE, METHOD, JUDGE, ["q03|s1", "q03|s0", "q03|s2", "q01|s0", "junk", "q09|s0"]
    )
    assert list(zip(answers["question_id"], answers["sample_id"], strict=True)) == [
        ("q03", "s1"), ("q03", "s0"), ("q03", "s2"), ("q01", "s0")]
    c = clusters.set_index(["question_id", "cluster_id"])
    assert c.loc[("q03", 0), "selected"] == 2 and c.loc[("q03", 0), "size"] == 3
    assert c.loc[("q03", 0), "accuracy"] == 0.0
    assert c.loc[("q03", 1), "accuracy"] == 1.0
    # each cluster's representative text (the fixture: 3 × Brontë, 2 × Austen)
    assert "Brontë" in c.loc[("q03", 0), "representative"]
    assert "Austen" in c.loc[("q03", 1), "representative"]
    empty_answers, empty_clusters = a.selection_summary(tiny_run, RULE, METHOD, JUDGE, [])
    assert empty_answers.empty and empty_clusters.empty


def test_map_points_one_per_answer(tiny_run):
    pts = a.map_points(tiny_run, RULE, METHOD, JUDGE)
    assert len(pts) == len(tiny_run.generations) == 47
    assert pts["id"].is_unique
    assert set(pts["correctness"]) <= {"correct", "incorrect", "unknown"}
    capped, was_capped = a.cap_points(pts, 10, seed=0)
    again, _ = a.cap_points(pts, 10, seed=0)
    assert was_capped and len(capped) == 10 and capped["id"].tolist() == again["id"].tolist()
    assert a.cap_points(pts, 1000)[1] is False


def test_run_summary(tiny_run):
    s = a.run_summary(tiny_run, JUDGE)
    assert (s["questions"], s["samples"], s["judged_answers"]) == (8, 40, 8)
    assert s["accuracy"] == 0.5


def test_method_metrics_uses_evaluation(tiny_run):
    table = a.method_metrics(tiny_run, RULE, JUDGE, n_boot=20)
    assert set(table["method"]) == {"semantic_entropy", "num_sets", "lexical_similarity"}
    assert (table["n"] == 8).all() and (table["n_incorrect"] == 4).all()


def test_parse_point_ids():
    assert a.parse_point_ids(["a|b", ("c", "d"), "a|b", 3, "x|y|z"]) == [
        ("a", "b"), ("c", "d"), ("x", "y|z")]
