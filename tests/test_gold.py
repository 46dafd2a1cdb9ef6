"""uqlens.analysis.gold: agreement metrics on hand-made examples, values worked by hand."""

import pandas as pd
import pytest

from uqlens.analysis.gold import (
    cohen_kappa,
    judge_agreement,
    pair_counts,
    pairwise_precision_recall,
    read_labels,
    rule_agreement,
    same_partition,
    verdict_counts,
)


def test_cohen_kappa_hand():
    # p_o = 3/5; both raters say T 3×, F 2× → p_e = (9 + 4)/25 = 0.52; κ = 0.08/0.48 = 1/6
    a = [True, True, True, False, False]
    b = [True, True, False, False, True]
    assert cohen_kappa(a, b) == pytest.approx(1 / 6)
    assert cohen_kappa(a, a) == 1.0
    # constant identical raters: p_e = 1, κ undefined
    assert cohen_kappa([True, True], [True, True]) is None
    # agreement no better than chance: hand [T, F], judge [T, T] → p_o = p_e = 1/2 → 0
    assert cohen_kappa([True, False], [True, True]) == 0.0


def test_pairwise_precision_recall_hand():
    # rule {0,1}{2,3}; hand {0,1,2}{3}: rule pairs 2, hand pairs 3, shared (0,1) only
    assert pair_counts([0, 0, 1, 1], [0, 0, 0, 1]) == (1, 2, 3)
    p, r = pairwise_precision_recall([([0, 0, 1, 1], [0, 0, 0, 1])])
    assert (p, r) == (pytest.approx(1 / 2), pytest.approx(1 / 3))
    # micro-average: a second question adds 1 rule pair and no hand pair → 1/3, 1/3
    p, r = pairwise_precision_recall([([0, 0, 1, 1], [0, 0, 0, 1]), ([5, 5], ["x", "y"])])
    assert (p, r) == (pytest.approx(1 / 3), pytest.approx(1 / 3))
    assert same_partition([1, 1, 2], ["a", "a", "b"])
    assert not same_partition([1, 1, 1], ["a", "a", "b"])


def test_judge_agreement_counts_unclear_and_mismatches():
    labels = pd.DataFrame({
        "part": "sample", "dataset": "d",
        "question_id": ["q1", "q2", "q3", "q4"],
        "greedy": ["A", "B", "C", "X"],
        "label": ["correct", "incorrect", "unclear", "correct"],
    })
    greedy = pd.DataFrame({"question_id": ["q1", "q2", "q3", "q4"],
                           "text": ["A", "B", "C", "Y"], "label": [True, True, False, True]})
    row = judge_agreement(labels, greedy).iloc[0]
    # q3 unclear, q4's answer is not the labelled one; q1 agrees, q2 does not
    assert (row["n"], row["unclear"], row["unmatched"]) == (2, 1, 1)
    assert row["accuracy"] == 0.5 and row["kappa"] == 0.0


def test_rule_agreement_hand():
    labels = pd.DataFrame({
        "part": "clusters", "dataset": "d", "question_id": ["q1", "q2"], "label": "gold",
        "gold": [[["a", "b"], ["c"]], [["x"], ["y"]]],
    })
    samples = pd.DataFrame({
        "question_id": ["q1"] * 4 + ["q2"] * 3,
        "text": ["a", "a", "b", "c", "x", "y", "z"],
        "cluster_id": [0, 0, 0, 1, 0, 0, 0],
    })
    row = rule_agreement(labels, samples).iloc[0]
    # q1 matches the hand groups exactly (3 shared pairs); q2: "z" is in no hand group,
    # x and y are merged by the rule (1 pair) but apart by hand → P = 3/4, R = 3/3
    assert (row["questions"], row["samples"], row["unmatched"], row["identical"]) == (2, 6, 1, 1)
    assert row["precision"] == pytest.approx(3 / 4) and row["recall"] == 1.0
    # distinct texts: q1 [a, b, c] → 1 pair in both; q2 [x, y] → 1 rule pair only
    assert row["text_precision"] == pytest.approx(1 / 2) and row["text_recall"] == 1.0


def test_verdict_counts():
    labels = pd.DataFrame({"question_id": ["q1", "q2"], "greedy": ["Paris", "Rome"],
                           "label": ["real_hallucination", "judge_error"]})
    listed = pd.DataFrame({"question_id": ["q1", "q2", "q3"],
                           "text": ["Paris", "Milan", "Oslo"]})
    assert verdict_counts(labels, listed) == {"real_hallucination": 1, "not labelled": 2}


def test_read_labels_names_the_bad_line(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text('{"part": "sample", "question_id": "q1", "dataset": "d", "label": "correct"}\n'
                    '{"part": "clusters", "question_id": "q2", "dataset": "d", '
                    '"label": "gold_partition", "gold": ["a"]}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"labels.jsonl:2: field 'gold'"):
        read_labels(path)
    path.write_text('{"part": "sample", "question_id": "q1", "dataset": "d"}\n',
                    encoding="utf-8")
    with pytest.raises(ValueError, match=r"labels.jsonl:1: field 'label'"):
        read_labels(path)
