"""Hand labels against a run: how often judges and meaning rules agree with a careful reader.

Label file (JSON lines, one object per line, field ``part`` says which kind):

- ``sample``: ``question_id, dataset, greedy, label`` with label ``correct`` / ``incorrect`` /
  ``unclear``: the greedy answer's correctness. Measured by :func:`judge_agreement`.
- ``top30*``: ``question_id, dataset, greedy, label``: a hand verdict on an entry of a
  confident-hallucination list (``real_hallucination``, ``judge_error``, ...).
- ``clusters``: ``question_id, dataset, gold``: ``gold`` is a list of groups, each a list of
  answer texts that mean the same (identical texts are one group). Measured by
  :func:`rule_agreement`.

Metrics (definitions, so the numbers can be checked by hand):

- *Cohen's κ* = (p_o − p_e) / (1 − p_e), p_o the observed agreement, p_e the agreement
  expected from the two raters' label frequencies (:func:`judge_audit.cohen_kappa`); NaN
  when undefined (no items, or both raters constant and equal).
- *Pairwise precision / recall of "same meaning"*: over every unordered pair of samples of a
  question (samples, not distinct texts, so a frequent answer weighs as often as it was
  drawn), precision = |pairs together in both| / |pairs together in the rule|, recall =
  |pairs together in both| / |pairs together in the hand groups|. Summed over questions
  before dividing (micro-average); NaN when a denominator is 0.
- The same over distinct answer texts (``text_precision``, ``text_recall``): every pair of
  different texts once, however often each was drawn, so identical answers, which every
  rule puts together, do not inflate the figures.
- *Identical partition*: the rule groups a question's samples exactly as the hand groups do.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from uqlens.analysis.judge_audit import cohen_kappa

LABEL_FIELDS = ("part", "question_id", "dataset", "label")
UNCLEAR = "unclear"


def read_labels(path: str | Path) -> pd.DataFrame:
    """The label file as a table; a malformed line raises naming the file, line and field."""
    path = Path(path)
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{number}: not JSON ({err.msg})") from None
        for name in LABEL_FIELDS:
            if not isinstance(row.get(name), str):
                raise ValueError(f"{path}:{number}: field {name!r} missing or not a string")
        if row["part"] == "clusters" and not _is_groups(row.get("gold")):
            raise ValueError(f"{path}:{number}: field 'gold' must be a list of lists of texts")
        rows.append(row)
    return pd.DataFrame(rows)


def _is_groups(gold) -> bool:
    return isinstance(gold, list) and all(
        isinstance(g, list) and all(isinstance(t, str) for t in g) for g in gold)


# --------------------------------------------------------------------------- metrics


def pair_counts(predicted: Sequence[Hashable], gold: Sequence[Hashable]) -> tuple[int, int, int]:
    """For one question's samples (group ids by the rule and by hand, same order): pairs
    together in both, pairs together in the rule, pairs together in the hand groups."""
    if len(predicted) != len(gold):
        raise ValueError("predicted and gold group ids differ in length")
    pred, hand = np.asarray(predicted, dtype=object), np.asarray(gold, dtype=object)
    upper = np.triu(np.ones((len(pred), len(pred)), dtype=bool), k=1)
    same_pred = (pred[:, None] == pred[None, :]) & upper
    same_gold = (hand[:, None] == hand[None, :]) & upper
    return int((same_pred & same_gold).sum()), int(same_pred.sum()), int(same_gold.sum())


def pairwise_precision_recall(
    questions: Sequence[tuple[Sequence[Hashable], Sequence[Hashable]]],
) -> tuple[float, float]:
    """Micro-averaged pairwise precision and recall over ``(predicted, gold)`` per question."""
    both = pred = gold = 0
    for p, g in questions:
        b, np_, ng = pair_counts(p, g)
        both, pred, gold = both + b, pred + np_, gold + ng
    return (both / pred if pred else float("nan"), both / gold if gold else float("nan"))


def same_partition(predicted: Sequence[Hashable], gold: Sequence[Hashable]) -> bool:
    """True when both group the items identically (group names may differ)."""
    b, np_, ng = pair_counts(predicted, gold)
    return b == np_ == ng


# --------------------------------------------------------------------------- against a run


def judge_agreement(labels: pd.DataFrame, greedy: pd.DataFrame) -> pd.DataFrame:
    """Per dataset: a judge's labels of the greedy answers against the hand labels.

    ``labels``: rows of part ``sample``; ``greedy``: ``question_id, text, label`` (the run's
    greedy answer and the judge's bool label). A hand label counts only when its ``greedy``
    text is the run's greedy answer (otherwise the label is about another answer) and it is
    not ``unclear``. Columns: ``dataset, n`` (items compared), ``unclear``, ``unmatched``
    (answer text differs or the judge gave no label), ``accuracy, kappa``.
    """
    run_side = greedy.set_index("question_id")
    rows = []
    for dataset, part in labels.groupby("dataset", sort=True):
        hand, judged, unclear, unmatched = [], [], 0, 0
        for row in part.itertuples(index=False):
            if row.label == UNCLEAR:
                unclear += 1
                continue
            if row.question_id not in run_side.index:
                unmatched += 1
                continue
            mine = run_side.loc[row.question_id]
            if str(mine["text"]).strip() != str(row.greedy).strip() or pd.isna(mine["label"]):
                unmatched += 1
                continue
            hand.append(row.label == "correct")
            judged.append(bool(mine["label"]))
        agree = [h == j for h, j in zip(hand, judged, strict=True)]
        rows.append({"dataset": dataset, "n": len(hand), "unclear": unclear,
                     "unmatched": unmatched,
                     "accuracy": float(np.mean(agree)) if agree else float("nan"),
                     "kappa": _nan_if_none(cohen_kappa(hand, judged))})
    return pd.DataFrame(rows, columns=["dataset", "n", "unclear", "unmatched", "accuracy",
                                       "kappa"])


def _nan_if_none(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def gold_group_ids(texts: Sequence[str], gold: list[list[str]]) -> list[int | None]:
    """The hand group of each answer text (None when no group lists it)."""
    where = {t.strip(): i for i, group in enumerate(gold) for t in group}
    return [where.get(str(t).strip()) for t in texts]


def rule_agreement(labels: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """Per dataset: a rule's clusters of the scored samples against the hand groups.

    ``labels``: rows of part ``clusters``; ``samples``: ``question_id, text, cluster_id`` for
    the samples the methods score under one rule. Samples whose text no hand group lists are
    left out and counted. Columns: ``dataset, questions, samples, unmatched, precision,
    recall, text_precision, text_recall, identical`` (questions whose partition equals the
    hand one).
    """
    by_question = dict(iter(samples.groupby("question_id", sort=False)))
    rows = []
    for dataset, part in labels.groupby("dataset", sort=True):
        pairs, text_pairs, identical, n_samples, unmatched, n_q = [], [], 0, 0, 0, 0
        for row in part.itertuples(index=False):
            mine = by_question.get(row.question_id)
            if mine is None:
                continue
            hand = gold_group_ids(mine["text"].tolist(), row.gold)
            keep = [i for i, g in enumerate(hand) if g is not None]
            unmatched += len(hand) - len(keep)
            if not keep:
                continue
            pred = mine["cluster_id"].to_numpy()[keep].tolist()
            gold = [hand[i] for i in keep]
            pairs.append((pred, gold))
            first = pd.Index(mine["text"].astype(str).str.strip().to_numpy()[keep]).duplicated()
            text_pairs.append(([p for p, d in zip(pred, first, strict=True) if not d],
                               [g for g, d in zip(gold, first, strict=True) if not d]))
            identical += same_partition(pred, gold)
            n_samples += len(keep)
            n_q += 1
        precision, recall = pairwise_precision_recall(pairs)
        text_precision, text_recall = pairwise_precision_recall(text_pairs)
        rows.append({"dataset": dataset, "questions": n_q, "samples": n_samples,
                     "unmatched": unmatched, "precision": precision, "recall": recall,
                     "text_precision": text_precision, "text_recall": text_recall,
                     "identical": identical})
    return pd.DataFrame(rows, columns=["dataset", "questions", "samples", "unmatched",
                                       "precision", "recall", "text_precision",
                                       "text_recall", "identical"])


def verdict_counts(labels: pd.DataFrame, listed: pd.DataFrame) -> dict[str, int]:
    """How many entries of a current list (``question_id, text`` of the listed answer) carry
    each hand verdict; ``not labelled`` when no verdict has that question and answer text."""
    hand = {(r.question_id, str(r.greedy).strip()): r.label for r in labels.itertuples()}
    counts: Counter = Counter()
    for q, text in zip(listed["question_id"], listed["text"], strict=True):
        counts[hand.get((q, str(text).strip()), "not labelled")] += 1
    return dict(counts)


class RelabelledRun:
    """A run whose ``correctness`` table is replaced (e.g. by judges recomputed live), so
    the overview functions rank and count under the new labels without a rebuild."""

    def __init__(self, run, correctness: pd.DataFrame):
        self._run, self._correctness = run, correctness
        self.manifest = run.manifest

    def table(self, name: str) -> pd.DataFrame:
        return self._correctness if name == "correctness" else self._run.table(name)


LIVE_PROVENANCES = ("heuristic", "embedding", "program")


def live_correctness(run, judge_spec: str, embed=None) -> pd.DataFrame | None:
    """Judge every answer of ``run`` again with the library's current judge ``judge_spec``
    (``id`` or ``id:tau``), from the run's texts and references: each unique text once.

    ``embed(list_of_texts) -> 2-D array`` is needed for ``embedding_similarity``. Returns
    the run's correctness columns, or None for judges that need a model or data the run does
    not carry (NLI, LLM, provided): their stored labels are all there is.
    """
    from uqlens.core import correctness

    name, _, tau = judge_spec.partition("@")[0].partition(":")
    if name not in correctness.JUDGES:
        return None
    judge = correctness.get_judge(name, float(tau) if tau else None)
    if judge.provenance not in LIVE_PROVENANCES or (judge.provenance == "embedding"
                                                     and embed is None):
        return None
    questions, texts = run.table("questions"), run.table("texts")
    if judge.provenance == "embedding":
        refs = {q: (correctness.reference_list(questions, q),
                    correctness.reference_list(questions, q, "incorrect_references"))
                for q in texts["question_id"].unique()}
        # One batch for every string: embedding models are far faster batched.
        strings = list(dict.fromkeys([*texts["text"].astype(str)]
                                     + [t for r, w in refs.values() for t in (*r, *w)]))
        vec = dict(zip(strings, embed(strings), strict=True))
        rows = []
        for q, t_id, text in zip(texts["question_id"], texts["text_id"], texts["text"],
                                 strict=True):
            right, wrong = refs[q]
            value, ok = judge.judge(vec[str(text)], [vec[r] for r in right],
                                    incorrect_references=[vec[w] for w in wrong] or None)
            rows.append((q, t_id, value, ok))
        per_text = pd.DataFrame(rows, columns=["question_id", "text_id", "value", "label"])
    else:
        frame = correctness.judge_frame(judge, questions,
                                        texts.rename(columns={"text_id": "sample_id"}))
        per_text = frame.rename(columns={"sample_id": "text_id"})[
            ["question_id", "text_id", "value", "label"]]
    gens = run.table("generations")[["question_id", "sample_id", "text_id"]]
    out = gens.merge(per_text, on=["question_id", "text_id"], how="inner")
    out["judge"], out["provenance"] = judge_spec, judge.provenance
    return out[["question_id", "sample_id", "judge", "value", "label", "provenance"]]
