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


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence (O(len(a)·len(b)) time, O(len(b)) memory)."""
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            cur[j] = prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1])
        prev = cur
    return prev[-1]


@lru_cache(maxsize=1 << 16)
def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1: P = LCS/|prediction|, R = LCS/|reference|, F = 2PR/(P+R).

    Memoised (a pure function of two strings): lexical similarity scores the same answer
    pairs again at every swept value and sub-sample draw."""
    pred, ref = rouge_tokens(prediction), rouge_tokens(reference)
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


# Characters kept as they are by :func:`visible_controls`: line breaks and tabs lay text out,
# and the zero-width (non-)joiners are part of correct spelling in several scripts and emoji.
_KEEP_INVISIBLE = frozenset("\n\t\r\u200c\u200d")


def _shown(ch: str) -> str:
    import unicodedata

    if ch in _KEEP_INVISIBLE or unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp", "Co"):
        return ch
    return f"⟨U+{ord(ch):04X}⟩"


def visible_controls(text: str) -> str:
    """``text`` with control and format characters shown as ``⟨U+XXXX⟩``.

    For display only. Model text can carry bidirectional overrides (U+202E makes
    ``"abc\\u202eevil"`` render as "abclive"), zero-width spaces or terminal escapes; shown
    raw they change what a reader sees without a trace.
    """
    if text.isprintable() or not any(ord(ch) < 32 or ord(ch) > 126 for ch in text):
        return text  # fast path: plain ASCII or nothing unprintable
    return "".join(_shown(ch) for ch in text)
