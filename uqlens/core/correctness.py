"""Correctness judges: is an answer right, given the question's references?

Every judge has an ``id``, a ``provenance`` (``"heuristic"``, ``"embedding"``, ``"nli"``,
``"llm"``, ``"program"`` or ``"provided"``), a ``threshold`` and
``judge(answer, references, ...) -> (value, label)``: ``value`` is the graded score the
label was cut from, ``label`` is True for correct.

=====================  ==========  ==========================================================
id                     provenance  value / label
=====================  ==========  ==========================================================
exact_match            heuristic   1 if the matching-normalised answer equals a reference, else 0
squad_f1               heuristic   max SQuAD token F1 over references; correct if ≥ τ (0.5)
rouge_l                heuristic   max ROUGE-L F1 over references; correct if ≥ τ (0.3)
embedding_similarity   embedding   max cosine(answer vector, reference vectors) ≥ τ (0.8);
                                   takes vectors, computes no embedding itself
program                program     1 if the answer's last number is an integer equal to a
                                   reference's (``"The answer is 1,234."`` = ``"1234"``)
nli_reference          nli         max over references of min(P(a⊨r), P(r⊨a)); correct if the
                                   NLI argmax is entailment in both directions for some
                                   reference (or, if a threshold is set, value ≥ τ)
llm_reference          llm         P(correct) from an LLM shown the question, the correct and
                                   the incorrect references; correct if ≥ τ (0.5). Judged in
                                   batches by uqlens.backends.llm_reference (build stage)
provided               provided    the label that came with the data; its value is the
                                   source's graded score (``provided_correct_value``, e.g.
                                   luq's soft accuracy) when it has one, else 0/1
=====================  ==========  ==========================================================

Heuristic judges (``exact_match``, ``squad_f1``, ``rouge_l``) compare texts after
:func:`uqlens.core.text.normalize_for_match` (number formats, number words, units, plurals:
"212°F" = "212 degrees Fahrenheit", "blacksmiths" = "blacksmith", "1,000" = "1000"), and only
against references of the answer's *polarity* (:func:`uqlens.core.text.polarity`: a leading
yes/no, else a negation cue not already in the question): a reference whose yes/no or negation
disagrees with the answer scores 0 against it. So "No, MSG has not been proven harmful" is
matched to "No, there are no rigorous studies showing MSG is harmful", never to the known-false
"Yes, MSG has been proven harmful", however many words they share. A bare "Yes."/"No." scores
1 against every reference of its polarity (the tie rule below then rejects it when known-false
references share that polarity).

Known-false references (TruthfulQA). When ``incorrect_references`` are given, the heuristic
judges compare the best score against the correct references (``best_correct``) with the best
score against the incorrect ones (``best_incorrect``): the answer is correct iff
``best_correct ≥ τ`` **and** ``best_correct > best_incorrect``. ``value`` stays
``best_correct``. (For ``exact_match`` τ = 1.) ``embedding_similarity`` applies the same rule to
cosines when it is given the known-false references' vectors.

Cluster correctness: a meaning cluster is correct when its representative (first member) is;
:func:`cluster_correctness` also returns the share of correct members.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from uqlens.core.clustering import representatives
from uqlens.core.text import (
    bare_polarity,
    final_integer,
    normalize_for_match,
    polarity,
    rouge_l,
    token_f1,
)

PROVENANCES = ("heuristic", "embedding", "nli", "llm", "program", "provided")
TextPair = Callable[[str, str], Sequence[float]]


def _best_same_polarity(score: Callable[[str, str], float], answer: str,
                        refs: Sequence[str] | None, question: str) -> float:
    """Best score of ``answer`` over the references whose polarity it shares (0 if none)."""
    sign, bare = polarity(answer, question), bare_polarity(answer)
    best = 0.0
    for ref in refs or ():
        if polarity(ref, question) != sign:
            continue
        best = max(best, 1.0 if bare else score(answer, ref))
    return best


@dataclass(frozen=True)
class Judge:
    """A named correctness judge (see the module docstring for each one's rule)."""

    id: str
    provenance: str
    threshold: float | None
    description: str = ""
    _score: Callable[[str, str], float] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.provenance not in PROVENANCES:
            raise ValueError(f"provenance must be one of {PROVENANCES}")

    def with_threshold(self, threshold: float | None) -> Judge:
        return replace(self, threshold=threshold)

    def judge(
        self,
        answer,
        references,
        *,
        incorrect_references=None,
        pair: TextPair | None = None,
        provided: bool | None = None,
        question: str = "",
    ) -> tuple[float, bool]:
        """Judge one answer. ``answer``/``references`` are texts, except for
        ``embedding_similarity`` where they (and ``incorrect_references``) are a vector and
        2-D arrays of vectors. ``pair(premise, hypothesis) -> (p_entail, p_neutral,
        p_contradict)`` is needed by ``nli_reference``; ``provided`` by ``provided``.
        ``question`` lets the polarity check ignore negations the question itself carries."""
        if self.provenance == "heuristic":
            return self._heuristic(answer, references, incorrect_references, question)
        if self.provenance == "embedding":
            return _embedding(answer, references, float(self.threshold), incorrect_references)
        if self.provenance == "program":
            return _program(answer, references)
        if self.provenance == "nli":
            if pair is None:
                raise ValueError("nli_reference needs a pair(premise, hypothesis) function")
            return _nli(answer, references, pair, self.threshold)
        if self.provenance == "llm":
            raise ValueError("llm_reference judges in batches: use "
                             "uqlens.backends.llm_reference.judge_texts")
        if provided is None:
            raise ValueError("the provided judge needs the data's own label (provided=...)")
        return float(bool(provided)), bool(provided)

    def _heuristic(self, answer: str, refs, wrong, question: str) -> tuple[float, bool]:
        assert self._score is not None
        tau = float(self.threshold)
        best_c = _best_same_polarity(self._score, answer, refs, question)
        label = best_c >= tau
        if wrong:
            label = label and best_c > _best_same_polarity(self._score, answer, wrong, question)
        return float(best_c), bool(label)


def _max_cosine(a: np.ndarray, references) -> float | None:
    r = np.atleast_2d(np.asarray(references, dtype=float))
    if r.size == 0:
        return None
    an = np.linalg.norm(a)
    rn = np.linalg.norm(r, axis=1)
    return float(((r @ a) / np.where(rn * an == 0, np.inf, rn * an)).max())


def _embedding(answer, references, tau: float, wrong=None) -> tuple[float, bool]:
    a = np.asarray(answer, dtype=float).ravel()
    best = _max_cosine(a, references)
    if best is None:
        return 0.0, False
    label = best >= tau
    best_wrong = None if wrong is None else _max_cosine(a, wrong)
    if best_wrong is not None:
        # An answer that copies a known-false reference is closer to it than to any true one.
        label = label and best > best_wrong
    return best, bool(label)


def is_integer_question(references) -> bool:
    """Whether a program can check answers to a question: every reference is an integer
    written alone ("4611", "-7", "1,234")."""
    refs = [str(r) for r in references or ()]
    return bool(refs) and all(_INTEGER_ONLY.fullmatch(r) for r in refs)


_INTEGER_ONLY = re.compile(r"\s*[-+\u2212]?\d{1,3}(?:,\d{3})*\s*|\s*[-+\u2212]?\d+\s*")


def _program(answer: str, references) -> tuple[float, bool]:
    got = final_integer(str(answer))
    targets = {final_integer(str(r)) for r in references or ()} - {None}
    ok = got is not None and got in targets
    return float(ok), ok


def _nli(answer: str, references: Sequence[str], pair: TextPair, tau: float | None):
    best, label = 0.0, False
    for ref in references or ():
        fwd, bwd = np.asarray(pair(answer, ref), float), np.asarray(pair(ref, answer), float)
        best = max(best, float(min(fwd[0], bwd[0])))
        label = label or (int(np.argmax(fwd)) == 0 and int(np.argmax(bwd)) == 0)
    if tau is not None:
        label = best >= tau
    return best, bool(label)


def _em_score(a: str, r: str) -> float:
    return float(normalize_for_match(a) == normalize_for_match(r))


def _f1_score(a: str, r: str) -> float:
    return token_f1(normalize_for_match(a), normalize_for_match(r))


def _rouge_score(a: str, r: str) -> float:
    return rouge_l(normalize_for_match(a), normalize_for_match(r))


JUDGES: dict[str, Judge] = {
    j.id: j
    for j in (
        Judge("exact_match", "heuristic", 1.0, "normalised exact match, same polarity",
              _em_score),
        Judge("squad_f1", "heuristic", 0.5, "SQuAD token F1 ≥ τ, same polarity", _f1_score),
        Judge("rouge_l", "heuristic", 0.3, "ROUGE-L F1 ≥ τ, same polarity", _rouge_score),
        Judge("embedding_similarity", "embedding", 0.8,
              "cosine to a reference ≥ τ, and closer to it than to any known-false one"),
        Judge("program", "program", None, "the answer's final integer equals the reference"),
        Judge("nli_reference", "nli", None, "answer and a reference entail each other"),
        Judge("llm_reference", "llm", 0.5,
              "an LLM given the question and correct/incorrect references: P(correct) ≥ τ"),
        Judge("provided", "provided", None, "label that came with the data"),
    )
}


def get_judge(judge_id: str, threshold: float | None = None) -> Judge:
    """A judge by id; ``threshold`` overrides its default when given."""
    try:
        j = JUDGES[judge_id]
    except KeyError:
        raise KeyError(f"unknown judge {judge_id!r}; known: {sorted(JUDGES)}") from None
    return j if threshold is None else j.with_threshold(threshold)


def judge_frame(
    judge: Judge | str,
    questions: pd.DataFrame,
    generations: pd.DataFrame,
    *,
    pair: TextPair | None = None,
) -> pd.DataFrame:
    """Judge every generation with a text-based judge (heuristic, nli) or ``provided``.

    Returns ``question_id, sample_id, judge, value, label, provenance``. For ``provided``,
    rows without a ``provided_correct`` value are left out. Embedding judges need vectors and
    are called per answer by the pipeline.
    """
    j = get_judge(judge) if isinstance(judge, str) else judge
    if j.provenance == "embedding":
        raise ValueError("embedding_similarity needs vectors; call Judge.judge per answer")
    # one dictionary look-up per answer (a frame look-up per answer dominated large runs)
    ids = questions["question_id"].tolist()
    refs_of = dict(zip(ids, questions["references"], strict=True)) \
        if "references" in questions else {}
    wrong_of = dict(zip(ids, questions["incorrect_references"], strict=True)) \
        if "incorrect_references" in questions else None
    asked_of = dict(zip(ids, questions["question"], strict=True)) \
        if "question" in questions else None
    rows = []
    for g in generations.itertuples(index=False):
        qid = g.question_id
        if j.provenance == "provided":
            prov = getattr(g, "provided_correct", None)
            if prov is None or pd.isna(prov):
                continue
            value, label = j.judge(g.text, (), provided=bool(prov))
            soft = getattr(g, "provided_correct_value", None)
            if soft is not None and not pd.isna(soft):
                value = float(soft)  # the score the label was cut from (threshold: importer)
        else:
            refs = list(refs_of[qid])
            if j.provenance == "program" and not is_integer_question(refs):
                continue  # a program checks integers only; elsewhere it has no verdict
            wrong = wrong_of[qid] if wrong_of is not None else None
            wrong = list(wrong) if wrong is not None and not _isna(wrong) else None
            asked = str(asked_of[qid]) if asked_of is not None else ""
            value, label = j.judge(g.text, refs, incorrect_references=wrong, pair=pair,
                                   question=asked)
        rows.append((qid, g.sample_id, j.id, value, label, j.provenance))
    return pd.DataFrame(rows, columns=["question_id", "sample_id", "judge", "value", "label",
                                       "provenance"])


def reference_list(questions: pd.DataFrame, question_id: str,
                   column: str = "references") -> list[str]:
    """One question's ``references`` (or ``incorrect_references``) as a list; [] when the
    column or the value is missing."""
    if column not in questions:
        return []
    found = questions.loc[questions["question_id"] == question_id, column]
    if found.empty:
        raise KeyError(f"question {question_id!r} is not in the questions table")
    value = found.iloc[0]
    if value is None or _isna(value):
        return []
    return [str(x) for x in value]


def reference_lists(questions: pd.DataFrame, column: str = "references") -> list[list[str]]:
    """:func:`reference_list` of every question, in table order, in one pass."""
    if column not in questions:
        return [[] for _ in range(len(questions))]
    return [[] if value is None or _isna(value) else [str(x) for x in value]
            for value in questions[column]]


def _isna(x) -> bool:
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def cluster_correctness(
    cluster_ids: Sequence[int] | np.ndarray, labels: Sequence[bool] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per cluster (indexed by cluster id 0..K−1): whether its representative (first member)
    is correct, and the share of its members that are correct."""
    ids = np.asarray(cluster_ids, dtype=np.int64)
    lab = np.asarray(labels, dtype=bool)
    if ids.shape != lab.shape:
        raise ValueError("cluster_ids and labels differ in length")
    if ids.size == 0:
        return np.zeros(0, dtype=bool), np.zeros(0)
    k = int(ids.max()) + 1
    rep_correct = np.zeros(k, dtype=bool)
    rep = representatives(ids)
    rep_correct[ids[rep]] = lab[rep]
    counts = np.bincount(ids, minlength=k)
    share = np.bincount(ids, weights=lab.astype(float), minlength=k) / np.maximum(counts, 1)
    return rep_correct, share
