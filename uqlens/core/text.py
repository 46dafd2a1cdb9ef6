"""Text normalisation and lexical overlap scores, implemented here (no external scorer).

- :func:`normalize_answer` is the SQuAD normalisation (Rajpurkar et al. 2016, official
  evaluation script): lower-case, drop ASCII punctuation, drop the articles *a*, *an*, *the*,
  collapse whitespace.
- :func:`token_f1` is the SQuAD token-overlap F1 on normalised, whitespace-split tokens
  (bag-of-tokens with multiplicity). Following the SQuAD v2 script, when either side has no
  tokens the score is 1.0 if both are empty and 0.0 otherwise.
- :func:`rouge_l` is ROUGE-L F1 (Lin 2004) from the longest common subsequence of tokens.
  Tokenisation mirrors the ``rouge_score`` package's default (lower-case, every run of
  non-``[a-z0-9]`` characters is a separator, no stemming). Empty on either side gives 0.0.

Long answers stay bounded. Normalisation, token F1, exact match and Jaccard are linear in
the text length. ROUGE-L's LCS is quadratic by definition, so :func:`rouge_l` (a) computes
it bit-parallel (:func:`lcs_length`, O(|a|·|b|/w) word operations instead of |a|·|b| Python
steps) and (b) reads at most :data:`MAX_ROUGE_TOKENS` tokens of each side: on longer answers
it is ROUGE-L of their first ``MAX_ROUGE_TOKENS`` tokens (a documented truncation; short
answers, the usual case, are unaffected).
- :func:`word_jaccard` is the Jaccard similarity of lower-cased whitespace word sets, as used
  for the "jaccard" affinity by Lin, Trivedi & Sun (2024).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from functools import lru_cache

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = frozenset(string.punctuation)
_ROUGE_SPLIT = re.compile(r"[^a-z0-9]+")


def same_text(a: str, b: str) -> bool:
    """The only sameness that may skip an entailment model: the same string up to case and
    surrounding whitespace. Anything looser ("-5"/"5", "The Who"/"Who" under SQuAD
    normalisation) changes meaning often enough that it must be the model's call."""
    return a.strip().casefold() == b.strip().casefold()


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower, remove punctuation, remove articles, fix whitespace."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def squad_tokens(text: str) -> list[str]:
    return normalize_answer(text).split()


def exact_match(prediction: str, reference: str) -> bool:
    """SQuAD exact match: equality after :func:`normalize_answer`."""
    return normalize_answer(prediction) == normalize_answer(reference)


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token F1 between a prediction and one reference."""
    pred, ref = squad_tokens(prediction), squad_tokens(reference)
    if not pred or not ref:
        return float(pred == ref)
    common = Counter(pred) & Counter(ref)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred)
    recall = same / len(ref)
    return 2 * precision * recall / (precision + recall)


def rouge_tokens(text: str) -> list[str]:
    """``rouge_score``-style default tokens: lower-case alphanumeric runs."""
    return [t for t in _ROUGE_SPLIT.split(text.lower()) if t]


MAX_ROUGE_TOKENS = 10_000
"""Tokens of each side that :func:`rouge_l` reads: a 200 KB answer (~35,000 tokens) is
scored on its first 10,000, which bounds one pair at about 20 ms."""


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence of two token lists.

    Bit-parallel (Allison & Dix 1986; Hyyrö 2004): bit j of ``v`` is 1 while row ``b[j]``
    adds nothing to the LCS; each token of ``a`` updates all of ``b`` at once with integer
    arithmetic, so the work is len(a) big-integer operations on len(b)-bit numbers rather
    than len(a)·len(b) Python steps. Same value as the textbook dynamic programme.
    """
    if not a or not b:
        return 0
    match: dict[str, int] = {}
    for j, y in enumerate(b):
        match[y] = match.get(y, 0) | (1 << j)
    full = (1 << len(b)) - 1
    v = full
    for x in a:
        m = match.get(x)
        if m is None:
            continue
        u = v & m
        v = ((v + u) | (v - u)) & full
    return len(b) - v.bit_count()


@lru_cache(maxsize=1 << 16)
def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1: P = LCS/|prediction|, R = LCS/|reference|, F = 2PR/(P+R).

    Memoised (a pure function of two strings): lexical similarity scores the same answer
    pairs again at every swept value and sub-sample draw. Each side is cut to its first
    :data:`MAX_ROUGE_TOKENS` tokens (see the module docstring)."""
    pred = rouge_tokens(prediction)[:MAX_ROUGE_TOKENS]
    ref = rouge_tokens(reference)[:MAX_ROUGE_TOKENS]
    lcs = lcs_length(pred, ref)
    if lcs == 0:
        return 0.0
    precision = lcs / len(pred)
    recall = lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def word_jaccard(a: str, b: str) -> float:
    """|A ∩ B| / max(|A ∪ B|, 1) over lower-cased whitespace word sets."""
    sa, sb = set(a.lower().split()), set(b.lower().split())
    return len(sa & sb) / max(len(sa | sb), 1)
