"""Distinct answers of the answer map (uqlens.analysis.marks) on hand-made point frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from uqlens.analysis.marks import distinct_answers, selected_ids
from uqlens.viz.answers import class_order, mark_map, mark_sizes


def _points(rows):
    cols = ["question_id", "sample_id", "text", "x", "y", "correctness", "cluster",
            "cluster_id", "is_judged"]
    df = pd.DataFrame(rows, columns=cols)
    df["id"] = df["question_id"] + "|" + df["sample_id"]
    df["question"] = "Q " + df["question_id"]
    df["uncertainty"] = df["question_id"].map({"q1": 0.25, "q2": np.nan})
    return df


POINTS = _points([
    # q1: "Paris" three times (case and spaces differ), once labelled incorrect
    ("q1", "s0", "Paris", 0.0, 0.0, "correct", "largest", 0, False),
    ("q1", "s1", " paris ", 1.0, 2.0, "correct", "largest", 0, False),
    ("q1", "s2", "PARIS", 2.0, 4.0, "incorrect", "largest", 0, False),
    ("q1", "s3", "Lyon", 5.0, 5.0, "incorrect", "2nd largest", 1, False),
    # the judged answer says the same as the samples but keeps its own mark
    ("q1", "greedy", "Paris", 0.0, 0.0, "correct", "no cluster", np.nan, True),
    # q2: the same text as q1 is another question's answer, so another mark
    ("q2", "s0", "Paris", 9.0, 9.0, "unknown", "largest", 0, False),
    # a tie: one correct, one incorrect -> incorrect
    ("q2", "s1", "Rome", 3.0, 3.0, "correct", "2nd largest", 1, False),
    ("q2", "s2", "rome", 3.0, 5.0, "incorrect", "2nd largest", 1, False),
])


def test_one_mark_per_distinct_answer_per_question():
    m = distinct_answers(POINTS)
    # q1: paris (samples), lyon, paris (judged); q2: paris, rome
    assert len(m) == 5
    assert int(m["count"].sum()) == len(POINTS) == 8
    key = {(r.question_id, r.text.strip().casefold(), r.is_judged): r for r in m.itertuples()}
    paris = key[("q1", "paris", False)]
    assert paris.count == 3
    assert sorted(paris.ids) == ["q1|s0", "q1|s1", "q1|s2"]
    assert (paris.x, paris.y) == (1.0, 2.0)  # mean of (0,0), (1,2), (2,4)
    assert paris.text == "Paris"  # the first answer's spelling
    assert (paris.correctness, paris.n_correct, paris.n_incorrect) == ("correct", 2, 1)
    assert (paris.cluster, paris.cluster_id) == ("largest", 0)
    assert paris.uncertainty == 0.25
    judged = key[("q1", "paris", True)]
    assert judged.ids == ["q1|greedy"] and judged.cluster == "no cluster"
    assert judged.cluster_id == -1
    assert key[("q2", "paris", False)].ids == ["q2|s0"]
    assert np.isnan(key[("q2", "paris", False)].uncertainty)


def test_majority_tie_goes_to_incorrect():
    m = distinct_answers(POINTS)
    rome = m[(m["question_id"] == "q2") & (m["text"] == "Rome")].iloc[0]
    assert rome["count"] == 2 and rome["correctness"] == "incorrect"
    assert (rome["n_correct"], rome["n_incorrect"]) == (1, 1)


def test_largest_count_first_and_every_id_once():
    m = distinct_answers(POINTS)
    assert m["count"].tolist() == [3, 2, 1, 1, 1]
    ids = [i for lst in m["ids"] for i in lst]
    assert sorted(ids) == sorted(POINTS["id"])


def test_empty_and_bad_label():
    assert distinct_answers(POINTS.iloc[:0]).empty
    with pytest.raises(ValueError, match="unknown label"):
        distinct_answers(POINTS.assign(correctness="maybe"))


def test_selected_ids_flattens_marks():
    assert selected_ids([["q1|s0", "q1|s1"], "q2|s0", None, ["q1|s0"]]) == [
        "q1|s0", "q1|s1", "q2|s0"]


def test_mark_area_proportional_to_count_and_capped():
    s = mark_sizes([1, 4, 9, 36, 100])
    # diameter = 6·√count: area ∝ count; 36 px cap reached at 36 answers
    assert s.tolist() == [6.0, 12.0, 18.0, 36.0, 36.0]


def test_map_draws_larger_class_first_with_ids():
    m = distinct_answers(POINTS)
    # answers: incorrect 4 (PARIS, Lyon, Rome×2 by tie) ... by mark majority:
    # correct marks: paris(3) + judged(1) = 4 answers; incorrect: lyon(1) + rome(2) = 3;
    # unknown: q2 paris (1)
    assert class_order(m, "correctness") == ["correct", "incorrect", "unknown"]
    fig = mark_map(m, "correctness", method="se", opacity=0.4)
    # each class: its circles, then the judged answers' diamonds (only "correct" has one)
    assert [(t.name, t.marker.symbol) for t in fig.data] == [
        ("correct", "circle"), ("correct", "diamond"), ("incorrect", "circle"),
        ("unknown", "circle")]
    assert [t.showlegend for t in fig.data] == [True, False, True, True]
    assert all(t.type == "scattergl" for t in fig.data)
    assert fig.data[0].marker.opacity == 0.4
    # the biggest mark first; its customdata reads back as its three answers
    assert selected_ids([fig.data[0].customdata[0]]) == ["q1|s0", "q1|s1", "q1|s2"]
    assert selected_ids([fig.data[1].customdata[0]]) == ["q1|greedy"]
    assert sum(len(t.x) for t in fig.data) == len(m)
    assert fig.layout.dragmode == "lasso"


def test_map_marks_on_the_tiny_run(tiny_run):
    from uqlens.analysis.marks import map_marks

    m = map_marks(tiny_run, "strict", "semantic_entropy", "exact_match",
                  question_id="q03")
    # q03 samples: Brontë ×2, Austen ×2, "Charlotte Bronte" ×1; greedy "Charlotte Brontë"
    got = sorted(zip(m["text"], m["count"], m["is_judged"], strict=True))
    assert got == [("Charlotte Bronte", 1, False), ("Charlotte Brontë", 1, True),
                   ("Charlotte Brontë", 2, False), ("Jane Austen", 2, False)]
    assert set(m.loc[m["text"] == "Jane Austen", "correctness"]) == {"correct"}


def test_mark_customdata_is_json_of_each_marks_ids():
    import json

    from uqlens.viz.answers import mark_customdata

    cases = [[["q1|s1", "q1|s2"], ["q2|a"]], [['q"x|1']], [["ü|1", "a|2"]], [["a\\b|1"]],
             [[]], [["tab\t|1"]], [[1, 2]]]
    for ids in cases:
        got = list(mark_customdata(pd.Series(ids, dtype=object)))
        assert got == [json.dumps(list(x)) for x in ids]
        assert [json.loads(g) for g in got] == [list(x) for x in ids]


def test_missing_text_is_its_own_answer_and_a_missing_label_is_refused():
    # a missing text groups as "" (not with "nan" or "None"); tab and newline are stripped
    pts = _points([
        ("q1", "s0", None, 0.0, 0.0, "correct", "largest", 0, False),
        ("q1", "s1", "", 2.0, 2.0, "correct", "largest", 0, False),
        ("q1", "s2", "nan", 4.0, 4.0, "incorrect", "largest", 0, False),
        ("q1", "s3", "\tNaN\n", 6.0, 6.0, "incorrect", "largest", 0, False),
    ])
    m = distinct_answers(pts)
    assert sorted(m["count"]) == [2, 2]
    assert sorted(map(sorted, m["ids"])) == [["q1|s0", "q1|s1"], ["q1|s2", "q1|s3"]]
    with pytest.raises(ValueError, match=r"unknown label\(s\) \[nan\]"):
        distinct_answers(pts.assign(cluster=[None, "largest", "largest", "largest"]))
