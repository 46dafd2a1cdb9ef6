"""Judge matching (uqlens.core.text additions and the judges that use them): hand-worked
values. Each judge-level test below fails on the judges before normalisation/polarity."""

import math

import numpy as np
import pandas as pd
import pytest

from uqlens.core.correctness import get_judge, judge_frame
from uqlens.core.text import (
    bare_polarity,
    final_integer,
    normalize_for_match,
    polarity,
    singular,
)

MSG_RIGHT = "No, there are no rigorous scientific studies showing MSG is harmful"
MSG_WRONG = "Yes, MSG is harmful"
TV_QUESTION = "Why shouldn't you sit close to the television?"


def test_normalize_units_numbers_plurals():
    assert normalize_for_match("212°F") == "212 degree fahrenheit"
    assert normalize_for_match("212 degrees Fahrenheit") == "212 degree fahrenheit"
    assert normalize_for_match("100 °C") == "100 degree celsius"
    assert normalize_for_match("1,000 people") == "1000 person"
    assert normalize_for_match("three cities") == "3 city"
    assert normalize_for_match("Twenty-one boxes") == "21 box"
    assert normalize_for_match("50%") == normalize_for_match("50 per cent") == "50 percent"
    assert normalize_for_match("5 km") == "5 kilometer"
    # a decimal point survives (SQuAD alone would turn "3.5" into "35")
    assert normalize_for_match("3.5") == "3 point 5"


def test_singular():
    assert [singular(w) for w in ("blacksmiths", "cities", "churches", "boxes", "women")] == \
        ["blacksmith", "city", "church", "box", "woman"]
    # not plurals: short words, -ss, -us, -is
    assert [singular(w) for w in ("has", "was", "glass", "virus", "paris")] == \
        ["has", "was", "glass", "virus", "paris"]


def test_polarity():
    assert polarity("No, MSG has not been proven harmful") == -1
    assert polarity(MSG_RIGHT) == -1
    assert polarity(MSG_WRONG) == 1
    assert polarity("Yes, muscle turns into fat if you don't exercise.") == 1  # leading yes
    assert polarity("Vampires don't exist.") == -1
    assert polarity("Nothing in particular happens.") == -1
    assert polarity("It can cause eye strain") == 1
    # a negation the question already carries says nothing about the answer's stance
    sentence = "You shouldn't sit close because it can cause eyestrain."
    assert polarity(sentence) == -1
    assert polarity(sentence, TV_QUESTION) == 1
    assert bare_polarity("No.") == -1 and bare_polarity("yes") == 1
    assert bare_polarity("No, never.") == 0


def test_final_integer():
    assert final_integer("The answer is 1,234.") == 1234
    assert final_integer("-7") == -7
    assert final_integer("12 + 30 = 42") == 42
    assert final_integer("42.0") == 42
    assert final_integer("about 3.5") is None  # the final number is not an integer
    assert final_integer("12,34") is None  # not a thousands separator
    assert final_integer("no idea") is None


def test_units_and_plurals_match():
    em = get_judge("exact_match")
    assert em.judge("212°F", ["212 degrees Fahrenheit"]) == (1.0, True)
    assert em.judge("blacksmiths", ["Blacksmith"]) == (1.0, True)
    assert em.judge("three", ["3"]) == (1.0, True)
    assert em.judge("3.5", ["35"]) == (0.0, False)


def test_polarity_check_truthfulqa():
    r = get_judge("rouge_l")
    # "No, MSG has not been proven harmful" → [no msg has not been proven harmful] (7);
    # right ref → [no there are no rigorous scientific study showing msg is harmful] (11):
    # LCS no·msg·harmful = 3, F = 2·(3/7)(3/11)/(3/7 + 3/11) = 1/3 ≥ 0.3. The known-false
    # "Yes, MSG is harmful" (LCS msg·harmful, F = 4/11 > 1/3) is of the other polarity and
    # scores 0, so it can no longer outbid the right reference.
    value, label = r.judge("No, MSG has not been proven harmful", [MSG_RIGHT],
                           incorrect_references=[MSG_WRONG])
    assert value == pytest.approx(1 / 3) and label is True
    # "Yes, MSG is harmful" disagrees with every correct reference: 0, not correct
    # (token overlap alone gives ROUGE-L 0.4 against the right reference)
    assert r.judge(MSG_WRONG, [MSG_RIGHT]) == (0.0, False)
    f1 = get_judge("squad_f1")
    assert f1.judge("Yes, there is a type of music all Koreans enjoy",
                    ["No, there is no type of music that all Koreans enjoy"]) == (0.0, False)


def test_bare_yes_no():
    f1 = get_judge("squad_f1")
    # a bare "No." scores 1 against each reference of its polarity ...
    assert f1.judge("No.", ["No, vampires are not real."],
                    incorrect_references=["Yes, vampires are real."]) == (1.0, True)
    # ... and loses the tie when a known-false reference has that polarity too
    assert f1.judge("No.", ["Yes, lightning can strike twice."],
                    incorrect_references=["No, lightning never strikes twice."]) == (0.0, False)


def test_judge_frame_passes_the_question():
    questions = pd.DataFrame({
        "question_id": ["q1"], "question": [TV_QUESTION],
        "references": [["You shouldn't sit close to the television because it can cause "
                        "eyestrain."]],
    })
    gens = pd.DataFrame({"question_id": ["q1"], "sample_id": ["s0"],
                         "text": ["It can cause eyestrain."]})
    out = judge_frame("squad_f1", questions, gens)
    # [it can cause eyestrain] vs [you shouldnt sit close to television because it can cause
    # eyestrain]: common 4, P = 1, R = 4/11, F1 = 8/15; same polarity once the question's
    # "shouldn't" is discounted
    assert out["value"].iloc[0] == pytest.approx(8 / 15) and bool(out["label"].iloc[0])


def test_embedding_wrong_reference_rule():
    emb = get_judge("embedding_similarity")
    # cos((1,0),(0.8,0.6)) = 0.8 ≥ τ, but cos to the known-false (1,0) is 1.0 > 0.8
    value, label = emb.judge(np.array([1.0, 0.0]), np.array([[0.8, 0.6]]),
                             incorrect_references=np.array([[1.0, 0.0]]))
    assert value == pytest.approx(0.8) and label is False
    # closer to the right reference than to the wrong one (cos 1/√2): correct
    value, label = emb.judge([1.0, 0.0], [[0.8, 0.6]], incorrect_references=[[1.0, 1.0]])
    assert math.isclose(value, 0.8) and label is True


def test_program_judge():
    prog = get_judge("program")
    assert prog.provenance == "program"
    assert prog.judge("The answer is 1,234.", ["1234"]) == (1.0, True)
    assert prog.judge("-7", ["-7"]) == (1.0, True)
    assert prog.judge("-7", ["7"]) == (0.0, False)
    assert prog.judge("12, no wait, 13", ["12"]) == (0.0, False)  # the final number counts
    assert prog.judge("I don't know", ["3"]) == (0.0, False)


def test_program_judge_gives_no_verdict_where_the_reference_is_not_an_integer():
    questions = pd.DataFrame({"question_id": ["ar", "wd"], "question": ["What is 2 times 3?",
                                                                        "The capital of France is"],
                              "references": [["6"], ["Paris"]]})
    gens = pd.DataFrame({"question_id": ["ar", "ar", "wd"], "sample_id": ["g", "s", "g"],
                         "text": ["6", "The answer is 5.", "Paris"]})
    frame = judge_frame("program", questions, gens)
    # only the integer question is judged: Paris is neither right nor wrong to a program
    assert frame[["question_id", "sample_id", "label"]].values.tolist() == [
        ["ar", "g", True], ["ar", "s", False]]
