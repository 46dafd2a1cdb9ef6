import pytest

from uqlens.core.text import (
    exact_match,
    lcs_length,
    normalize_answer,
    rouge_l,
    rouge_tokens,
    token_f1,
    word_jaccard,
)


def test_normalize_answer():
    assert normalize_answer("  The Eiffel-Tower,  in PARIS! ") == "eiffeltower in paris"
    assert normalize_answer("An apple a day") == "apple day"
    assert exact_match("the Paris.", "paris")


def test_token_f1_hand():
    # pred tokens [barack, obama], ref [obama] -> common 1, P = 1/2, R = 1 -> F = 2/3
    assert token_f1("Barack Obama", "Obama") == pytest.approx(2 / 3)
    # multiplicity: pred [a?] "paris paris" vs "paris": common 1, P=1/2, R=1 -> 2/3
    assert token_f1("paris paris", "paris") == pytest.approx(2 / 3)
    assert token_f1("London", "Paris") == 0.0
    assert token_f1("the", "a") == 1.0  # both empty after normalisation
    assert token_f1("the", "Paris") == 0.0


def test_rouge_l_hand():
    # [the, cat, sat, on, the, mat] vs [the, cat, is, on, the, mat]: LCS = 5
    # P = R = 5/6 -> F = 5/6
    assert rouge_l("The cat sat on the mat.", "the cat is on the mat") == pytest.approx(5 / 6)
    # [a, b, c] vs [c, b]: LCS 1, P = 1/3, R = 1/2 -> F = 2*(1/6)/(5/6) = 0.4
    assert rouge_l("a b c", "c b") == pytest.approx(0.4)
    assert rouge_l("", "x") == 0.0
    assert rouge_tokens("Hello, World-2!") == ["hello", "world", "2"]
    assert lcs_length(list("ABCBDAB"), list("BDCABA")) == 4


def test_word_jaccard():
    assert word_jaccard("a b", "a c") == pytest.approx(1 / 3)
    assert word_jaccard("", "") == 0.0
