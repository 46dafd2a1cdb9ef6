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


def _lcs_table(a, b):
    """The textbook O(|a|·|b|) dynamic programme: the definition the fast LCS must match."""
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            cur[j] = prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1])
        prev = cur
    return prev[-1]


def test_bit_parallel_lcs_equals_dynamic_programme():
    import random

    rng = random.Random(7)
    for _ in range(300):
        a = [rng.choice("abcd") for _ in range(rng.randint(0, 40))]
        b = [rng.choice("abcde") for _ in range(rng.randint(0, 70))]
        assert lcs_length(a, b) == _lcs_table(a, b)
    # hand-worked: "xyz" shares nothing; identical lists share everything
    assert lcs_length(["x", "y"], ["z"]) == 0
    assert lcs_length(list("abc"), list("abc")) == 3


def test_rouge_l_of_200kb_answers_is_the_capped_computation():
    from uqlens.core.methods import get
    from uqlens.core.methods.base import QuestionView
    from uqlens.core.text import MAX_ROUGE_TOKENS

    words = [f"w{i % 997}" for i in range(45_000)]
    long_a = " ".join(words)  # ~220 KB, 45,000 tokens
    long_b = " ".join(reversed(words))
    assert len(long_a) > 200_000
    head_a = " ".join(words[:MAX_ROUGE_TOKENS])
    head_b = " ".join(list(reversed(words))[:MAX_ROUGE_TOKENS])
    assert rouge_l(long_a, long_b) == rouge_l(head_a, head_b)
    # an answer against itself is still a perfect match after the cut
    assert rouge_l(long_a, long_a) == 1.0
    # lexical similarity = −mean pairwise ROUGE-L; 3 answers: pairs (a,b), (a,a'), (b,a')
    view = QuestionView("q", "q?", (long_a, long_b, long_a))
    ab = rouge_l(head_a, head_b)
    expected = -(ab + 1.0 + ab) / 3
    assert get("lexical_similarity").score(view) == pytest.approx(expected)
