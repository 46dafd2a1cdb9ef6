import math

import numpy as np
import pandas as pd
import pytest

from uqlens.core.correctness import JUDGES, cluster_correctness, get_judge, judge_frame


def test_registry_and_defaults():
    assert set(JUDGES) == {"exact_match", "squad_f1", "rouge_l", "embedding_similarity",
                           "nli_reference", "llm_reference", "program", "provided"}
    assert get_judge("squad_f1").threshold == 0.5
    assert get_judge("rouge_l").threshold == 0.3
    assert get_judge("embedding_similarity").threshold == 0.8
    assert get_judge("squad_f1", 0.8).threshold == 0.8
    assert {j.provenance for j in JUDGES.values()} == {"heuristic", "embedding", "nli",
                                                       "llm", "program", "provided"}


def test_exact_match():
    em = get_judge("exact_match")
    assert em.judge("The Paris!", ["London", "paris"]) == (1.0, True)
    assert em.judge("Lyon", ["Paris"]) == (0.0, False)


def test_squad_f1_threshold():
    f1 = get_judge("squad_f1")
    # "Barack Obama" vs "Obama": F1 = 2/3 >= .5 ; vs "Michelle Obama" also 1/2 -> max 2/3
    value, label = f1.judge("Barack Obama", ["Michelle Obama", "Obama"])
    assert value == pytest.approx(2 / 3) and label
    assert f1.with_threshold(0.7).judge("Barack Obama", ["Obama"])[1] is False


def test_rouge_l_judge():
    # "x b c" vs "c b": LCS 1, P = 1/3, R = 1/2, F = 0.4 >= .3
    assert get_judge("rouge_l").judge("x b c", ["c b"]) == (pytest.approx(0.4), True)


def test_incorrect_references_rule():
    f1 = get_judge("squad_f1")
    # correct ref "cold weather" F1 with answer "cold weather causes colds": P=2/4, R=1 -> 2/3
    # incorrect ref "cold weather causes colds": F1 = 1 > 2/3 -> judged incorrect
    value, label = f1.judge("cold weather causes colds", ["cold weather"],
                            incorrect_references=["cold weather causes colds"])
    assert value == pytest.approx(2 / 3) and label is False
    # without the incorrect reference it would pass
    assert f1.judge("cold weather causes colds", ["cold weather"])[1] is True
    # a tie (best_correct == best_incorrect) is not correct
    em = get_judge("exact_match")
    assert em.judge("x", ["x"], incorrect_references=["X."]) == (1.0, False)


def test_embedding_similarity():
    emb = get_judge("embedding_similarity")
    # cos((1,0),(0.6,0.8)) = 0.6 ; cos((1,0),(1,1)) = 0.7071 -> max .7071 < .8
    value, label = emb.judge(np.array([1.0, 0.0]), np.array([[0.6, 0.8], [1.0, 1.0]]))
    assert value == pytest.approx(math.sqrt(0.5)) and not label
    assert emb.with_threshold(0.7).judge([1, 0], [[1, 1]])[1] is True


def test_nli_reference():
    table = {("Paris", "paris, France"): (0.9, 0.05, 0.05),
             ("paris, France", "Paris"): (0.6, 0.3, 0.1),
             ("Paris", "Lyon"): (0.1, 0.1, 0.8), ("Lyon", "Paris"): (0.1, 0.2, 0.7)}
    calls = []

    def pair(a, b):
        calls.append((a, b))
        return table[(a, b)]

    value, label = get_judge("nli_reference").judge("Paris", ["Lyon", "paris, France"], pair=pair)
    assert value == pytest.approx(0.6) and label  # min(.9, .6); argmax entail both ways
    assert set(calls) == {("Paris", "Lyon"), ("Lyon", "Paris"), ("Paris", "paris, France"),
                          ("paris, France", "Paris")}
    assert get_judge("nli_reference", 0.7).judge("Paris", ["paris, France"], pair=pair)[1] is False
    with pytest.raises(ValueError):
        get_judge("nli_reference").judge("Paris", ["x"])


def test_provided():
    assert get_judge("provided").judge("whatever", [], provided=True) == (1.0, True)
    with pytest.raises(ValueError):
        get_judge("provided").judge("x", [])


def test_judge_frame():
    questions = pd.DataFrame({"question_id": ["q1", "q2"], "question": ["?", "?"],
                              "references": [["Paris"], ["cold weather"]],
                              "incorrect_references": [None, ["cold weather causes colds"]]})
    gens = pd.DataFrame({"question_id": ["q1", "q1", "q2"], "sample_id": ["s0", "s1", "s0"],
                         "text": ["paris.", "Lyon", "cold weather causes colds"],
                         "provided_correct": [True, None, False]})
    f = judge_frame("squad_f1", questions, gens)
    assert f["label"].tolist() == [True, False, False]
    assert f["value"].tolist() == pytest.approx([1.0, 0.0, 2 / 3])
    p = judge_frame("provided", questions, gens)
    assert p[["sample_id", "label"]].values.tolist() == [["s0", True], ["s0", False]]
    assert set(p["provenance"]) == {"provided"}


def test_cluster_correctness():
    # clusters: 0 = {s0 (T), s2 (F), s4 (F)}, 1 = {s1 (F), s3 (T)}
    rep, share = cluster_correctness([0, 1, 0, 1, 0], [True, False, False, True, False])
    assert rep.tolist() == [True, False]
    assert share.tolist() == pytest.approx([1 / 3, 1 / 2])
