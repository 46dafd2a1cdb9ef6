"""Correctness judges: is an answer right, given the question's references?

Every judge has an ``id``, a ``provenance`` (``"heuristic"``, ``"embedding"``, ``"nli"`` or
``"provided"``), a ``threshold`` and ``judge(answer, references, ...) -> (value, label)``:
``value`` is the graded score the label was cut from, ``label`` is True for correct.

=====================  ==========  ==========================================================
id                     provenance  value / label
=====================  ==========  ==========================================================
exact_match            heuristic   1 if the SQuAD-normalised answer equals a reference, else 0
squad_f1               heuristic   max SQuAD token F1 over references; correct if ≥ τ (0.5)
rouge_l                heuristic   max ROUGE-L F1 over references; correct if ≥ τ (0.3)
embedding_similarity   embedding   max cosine(answer vector, reference vectors) ≥ τ (0.8);
                                   takes vectors, computes no embedding itself
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

Known-false references (TruthfulQA). When ``incorrect_references`` are given, the heuristic
judges compare the best score against the correct references (``best_correct``) with the best
score against the incorrect ones (``best_incorrect``): the answer is correct iff
``best_correct ≥ τ`` **and** ``best_correct > best_incorrect``. ``value`` stays
``best_correct``. (For ``exact_match`` τ = 1.)

Cluster correctness: a meaning cluster is correct when its representative (first member) is;
:func:`cluster_correctness` also returns the share of correct members.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from uqlens.core.clustering import representatives
from uqlens.core.text import exact_match as _em
from uqlens.core.text import rouge_l as _rouge_l
from uqlens.core.text import token_f1

PROVENANCES = ("heuristic", "embedding", "nli", "llm", "provided")
TextPair = Callable[[str, str], Sequence[float]]


def _best(score: Callable[[str, str], float], answer: str, refs: Sequence[str] | None) -> float:
    return max((score(answer, r) for r in refs or ()), default=0.0)


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
    ) -> tuple[float, bool]:
        """Judge one answer. ``answer``/``references`` are texts, except for
        ``embedding_similarity`` where they are a vector and a 2-D array of vectors.
        ``pair(premise, hypothesis) -> (p_entail, p_neutral, p_contradict)`` is needed by
        ``nli_reference``; ``provided`` by ``provided``."""
        if self.provenance == "heuristic":
            return self._heuristic(answer, references, incorrect_references)
        if self.provenance == "embedding":
            return _embedding(answer, references, float(self.threshold))
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

    def _heuristic(self, answer: str, refs, wrong) -> tuple[float, bool]:
        assert self._score is not None
        tau = float(self.threshold)
        best_c = _best(self._score, answer, refs)
        label = best_c >= tau
        if wrong:
            label = label and best_c > _best(self._score, answer, wrong)
        return float(best_c), bool(label)


def _embedding(answer, references, tau: float) -> tuple[float, bool]:
    a = np.asarray(answer, dtype=float).ravel()
    r = np.atleast_2d(np.asarray(references, dtype=float))
    if r.size == 0:
        return 0.0, False
    an = np.linalg.norm(a)
    rn = np.linalg.norm(r, axis=1)
    cos = (r @ a) / np.where(rn * an == 0, np.inf, rn * an)
    best = float(cos.max())
    return best, best >= tau


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
    return float(_em(a, r))


JUDGES: dict[str, Judge] = {
    j.id: j
    for j in (
        Judge("exact_match", "heuristic", 1.0, "SQuAD-normalised exact match", _em_score),
        Judge("squad_f1", "heuristic", 0.5, "SQuAD token F1 ≥ τ", token_f1),
        Judge("rouge_l", "heuristic", 0.3, "ROUGE-L F1 ≥ τ", _rouge_l),
        Judge("embedding_similarity", "embedding", 0.8, "cosine to a reference ≥ τ"),
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
    q = questions.set_index("question_id")
    has_wrong = "incorrect_references" in q.columns
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
            refs = list(q.at[qid, "references"])
            wrong = q.at[qid, "incorrect_references"] if has_wrong else None
            wrong = list(wrong) if wrong is not None and not _isna(wrong) else None
            value, label = j.judge(g.text, refs, incorrect_references=wrong, pair=pair)
        rows.append((qid, g.sample_id, j.id, value, label, j.provenance))
    return pd.DataFrame(rows, columns=["question_id", "sample_id", "judge", "value", "label",
                                       "provenance"])


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
