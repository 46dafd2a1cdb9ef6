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
    return same_text_key(a) == same_text_key(b)


def same_text_key(text: str) -> str:
    """What :func:`same_text` compares: the string without surrounding whitespace, casefolded."""
    return text.strip().casefold()


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


# --------------------------------------------------------------------------- judge matching
# What a careful grader ignores before comparing an answer with a reference: number format
# ("1,000" = "1000"), spelled-out small numbers ("three" = "3"), unit spelling ("212°F" =
# "212 degrees Fahrenheit", "50%" = "50 percent") and plural endings ("blacksmiths" =
# "blacksmith"). Both sides go through the same mapping, so a crude singular is enough.

_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}
_NUMBER_WORDS.update({w: str(10 * i) for i, w in enumerate(
    "thirty forty fifty sixty seventy eighty ninety".split(), 3)})
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_UNIT_PATTERNS = (
    (re.compile(r"(\d)\s*(?:°|º|degrees?)\s*f(?:ahrenheit)?\b"), r"\1 degrees fahrenheit"),
    (re.compile(r"(\d)\s*(?:°|º|degrees?)\s*c(?:elsius|entigrade)?\b"), r"\1 degrees celsius"),
    (re.compile(r"(\d)\s*(?:°|º)"), r"\1 degrees"),
    (re.compile(r"(\d)\s*(?:%|per\s*cent\b)"), r"\1 percent"),
    (re.compile(r"\$\s*(\d[\d.]*)"), r"\1 dollars"),
)
_UNIT_WORDS = {
    "km": "kilometer", "kms": "kilometer", "kg": "kilogram", "kgs": "kilogram",
    "cm": "centimeter", "mm": "millimeter", "ft": "foot", "lb": "pound", "lbs": "pound",
    "mi": "mile", "hr": "hour", "hrs": "hour", "min": "minute", "mins": "minute",
    "sec": "second", "secs": "second", "yr": "year", "yrs": "year", "mph": "miles per hour",
    "usd": "dollars", "metre": "meter", "metres": "meter", "kilometre": "kilometer",
    "kilometres": "kilometer", "centimetre": "centimeter", "centimetres": "centimeter",
}
_IRREGULAR_PLURALS = {
    "men": "man", "women": "woman", "children": "child", "people": "person", "feet": "foot",
    "teeth": "tooth", "mice": "mouse", "geese": "goose", "oxen": "ox", "lives": "life",
    "wives": "wife", "knives": "knife", "leaves": "leaf", "wolves": "wolf", "halves": "half",
}
_NOT_PLURAL_ENDINGS = ("ss", "us", "is", "ous")


def singular(word: str) -> str:
    """A crude English singular: irregulars, ``-ies`` → ``-y``, ``-ches/-shes/-xes/-zes/-sses``
    → drop ``es``, else a final ``s`` (not after ``ss``/``us``/``is``, not in words of three
    letters or fewer, so *bus*, *this*, *has*, *was* stay)."""
    if word in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[word]
    if len(word) <= 3 or not word.endswith("s") or word.endswith(_NOT_PLURAL_ENDINGS):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "zes", "sses")):
        return word[:-2]
    return word[:-1]


def _number_word(token: str) -> str:
    if token in _NUMBER_WORDS:
        return _NUMBER_WORDS[token]
    tens, _, unit = token.partition("-")  # "twenty-one"
    if unit and tens in _NUMBER_WORDS and unit in _NUMBER_WORDS and int(_NUMBER_WORDS[unit]) < 10:
        return str(int(_NUMBER_WORDS[tens]) + int(_NUMBER_WORDS[unit]))
    return token


@lru_cache(maxsize=1 << 16)
def normalize_for_match(text: str) -> str:
    """Canonical form for judging: lower case, thousands separators dropped, number words
    0–99 as digits, units spelled one way, then SQuAD normalisation, then each word's
    :func:`singular`. ``"212°F"`` and ``"212 degrees Fahrenheit"`` both give
    ``"212 degree fahrenheit"``."""
    text = _THOUSANDS.sub("", text.lower())
    for pattern, repl in _UNIT_PATTERNS:
        text = pattern.sub(repl, text)
    words = [_number_word(w) for w in text.split()]
    words = [_UNIT_WORDS.get(w.strip(string.punctuation), w) for w in words]
    # SQuAD drops punctuation inside numbers ("3.5" → "35"), so protect decimals first.
    text = re.sub(r"(?<=\d)\.(?=\d)", " point ", " ".join(words))
    return " ".join(singular(w) for w in normalize_answer(text).split())


# --------------------------------------------------------------------------- polarity

_YES = frozenset({"yes", "yeah", "yep", "true", "correct", "indeed"})
_NO = frozenset({"no", "nope", "false", "incorrect"})
_NEGATION = frozenset({
    "not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "nowhere", "cannot",
    "myth", "misconception", "untrue",
})
_WORD = re.compile(r"[a-z]+(?:['’][a-z]+)?")


def _negation_cues(text: str) -> Counter:
    words = _WORD.findall(text.lower())
    return Counter(w for w in words if w in _NEGATION or w.endswith(("n't", "n’t")))


@lru_cache(maxsize=1 << 16)  # a reference is read once per answer and judge
def polarity(text: str, question: str = "") -> int:
    """+1 affirmative, −1 negative: what a yes/no reading of the sentence says.

    A leading *yes*/*no* decides. Otherwise the sentence is negative when it carries a
    negation cue (*not*, *n't*, *no*, *never*, *nothing*, *myth*, ...) that the question does
    not already contain: "Why shouldn't you ...?" answered "You shouldn't ... because ..."
    echoes the question's *shouldn't*, which says nothing about the answer's stance.
    """
    words = _WORD.findall(text.lower())
    if words and words[0] in _YES:
        return 1
    if words and words[0] in _NO:
        return -1
    return -1 if _negation_cues(text) - _negation_cues(question) else 1


@lru_cache(maxsize=1 << 16)
def bare_polarity(text: str) -> int:
    """+1 / −1 when the whole answer is a yes or a no ("Yes.", "no"), else 0."""
    words = normalize_answer(text).split()
    if len(words) == 1 and words[0] in _YES | {"no", "nope"}:
        return 1 if words[0] in _YES else -1
    return 0


# --------------------------------------------------------------------------- numbers

_NUMBER = re.compile(r"(?<![\w.,])[-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?!\d)(?!,\d)")


def final_integer(text: str) -> int | None:
    """The integer value of the last number written in ``text`` ("The answer is 1,234." →
    1234, "-7" → −7, "42.0" → 42), or None when there is no number or the last one has a
    fractional part ("3.5")."""
    numbers = _NUMBER.findall(text)
    if not numbers:
        return None
    whole, _, fraction = numbers[-1].replace(",", "").replace("−", "-").partition(".")
    if fraction.strip("0"):
        return None
    return int(whole)


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
