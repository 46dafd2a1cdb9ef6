"""The LLM correctness judge ``llm_reference@ALIAS``: an LLM reads the question, the correct
references and the known-incorrect references, and is asked whether a proposed answer is
correct; P(correct) = P(" Yes") / (P(" Yes") + P(" No")) for the next token, read from
logits (no sampling). ALIAS names an entailment backend of the build (``llm:MODEL.gguf`` or
``openai:MODEL@URL``), whose model answers.

Every answer of a question shares the prompt up to "Proposed answer:", so the batched
prefix-tree decode of :meth:`uqlens.backends.llm.LocalLLM.option_logits` decodes the
question and references once per question. Verdicts are cached by content in the model
cache's pair table: (judge id = model fingerprint + prompt hash, question, references,
answer), so a rebuild asks the model only about answers it has not judged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import pandas as pd

REFERENCE_PROMPT = (
    "Decide whether the proposed answer to the question is correct. It is correct if it "
    "agrees with one of the correct answers and not with the incorrect answers.\n"
    "Question: {question}\n"
    "Correct answers:\n{references}\n"
    "Incorrect answers:\n{incorrect}\n"
    "Proposed answer: {answer}\n"
    "Is the proposed answer correct? Reply Yes or No.\n"
    "Reply:"
)
OPTIONS = (" Yes", " No")


class ChoiceModel(Protocol):
    """What the judge needs from a model: P(first) / (P(first) + P(second)) for the next
    token after each prompt (LocalLLM, or the OpenAI-compatible client)."""

    def choice_probabilities(self, prompts: Sequence[str], first: str, second: str,
                             progress=None) -> np.ndarray: ...


def _bullets(items: Sequence[str]) -> str:
    return "\n".join(f"- {x.strip()}" for x in items) if items else "- (none given)"


def reference_prompt(question: str, references: Sequence[str],
                     incorrect: Sequence[str] | None, answer: str) -> str:
    return REFERENCE_PROMPT.format(question=question.strip(), references=_bullets(references),
                                   incorrect=_bullets(incorrect or ()), answer=answer.strip())


def prompt_hash() -> str:
    return hashlib.sha256(REFERENCE_PROMPT.encode()).hexdigest()[:8]


def llm_reference_id(model_identity: str) -> str:
    """Cache identity of the judge: the model (file fingerprint, or server model id) and the
    prompt it is asked."""
    return f"llm-reference:{model_identity}:prompt-{prompt_hash()}"


def _refs_key(references: Sequence[str], incorrect: Sequence[str] | None) -> str:
    return json.dumps({"references": list(references), "incorrect": list(incorrect or ())},
                      ensure_ascii=False, sort_keys=True)


def p_correct(
    items: Sequence[tuple[str, Sequence[str], Sequence[str] | None, str]],
    judge_id: str,
    load_model: Callable[[], ChoiceModel],
    cache=None,
    progress: bool = False,
) -> np.ndarray:
    """P(correct) for each (question, references, incorrect references, answer).

    Looks in ``cache`` (a :class:`uqlens.backends.cache.ModelCache`) first; ``load_model`` is
    called only if something is missing, and everything missing is asked in one batch
    (with a progress bar when ``progress``)."""
    out = np.full(len(items), np.nan)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, (question, refs, wrong, _answer) in enumerate(items):
        groups.setdefault((question, _refs_key(refs, wrong)), []).append(i)
    missing: list[int] = []
    for (question, key), rows in groups.items():
        wanted = [(key, items[i][3]) for i in rows]
        found = cache.get_pairs(judge_id, question, wanted) if cache is not None else {}
        for i, pair in zip(rows, wanted, strict=True):
            if pair in found:
                out[i] = found[pair][0]
            else:
                missing.append(i)
    if missing:
        from tqdm import tqdm

        prompts = [reference_prompt(*items[i]) for i in missing]
        with tqdm(total=len(prompts), desc="llm_reference", unit="answer",
                  disable=not progress) as bar:
            probs = load_model().choice_probabilities(prompts, *OPTIONS, progress=bar.update)
        out[missing] = probs
        if cache is not None:
            remember([items[i] for i in missing], probs, judge_id, cache)
    return out


def remember(items: Sequence[tuple[str, Sequence[str], Sequence[str] | None, str]],
             values: np.ndarray, judge_id: str, cache) -> None:
    """Store P(correct) of each (question, references, incorrect references, answer) item
    in ``cache`` under ``judge_id``, one write per question."""
    by_question: dict[str, list[int]] = {}
    for j, item in enumerate(items):
        by_question.setdefault(item[0], []).append(j)
    values = np.asarray(values, dtype=float)
    for question, js in by_question.items():
        pairs = [(_refs_key(items[j][1], items[j][2]), items[j][3]) for j in js]
        p = values[js]
        cache.put_pairs(judge_id, question, pairs,
                        np.stack([p, np.zeros_like(p), 1.0 - p], axis=1))


def judge_items(questions: pd.DataFrame, texts: pd.DataFrame) -> list[tuple]:
    """(question, references, incorrect references, answer) for each row of ``texts``
    (``question_id``, ``text``): what the judge is asked, and its cache key."""
    q = questions.set_index("question_id")
    has_wrong = "incorrect_references" in q.columns
    items = []
    for qid, text in zip(texts["question_id"], texts["text"], strict=True):
        wrong = q.at[qid, "incorrect_references"] if has_wrong else None
        wrong = [] if wrong is None or (np.ndim(wrong) == 0 and pd.isna(wrong)) else list(wrong)
        items.append((str(q.at[qid, "question"]), list(q.at[qid, "references"]), wrong,
                      str(text)))
    return items


def judge_texts(
    questions: pd.DataFrame,
    texts: pd.DataFrame,
    judge_id: str,
    load_model: Callable[[], ChoiceModel],
    threshold: float = 0.5,
    cache=None,
    progress: bool = False,
) -> pd.DataFrame:
    """Judge each row of ``texts`` (``question_id``, ``sample_id``, ``text``): returns
    ``question_id, sample_id, value, label`` with value = P(correct), label = value ≥ τ."""
    values = p_correct(judge_items(questions, texts), judge_id, load_model, cache=cache,
                       progress=progress)
    return pd.DataFrame({"question_id": texts["question_id"].to_numpy(),
                         "sample_id": texts["sample_id"].to_numpy(),
                         "value": values, "label": values >= threshold})


def model_identity(spec: str) -> str:
    """The model behind an entailment backend spec, without loading it: a local GGUF file's
    fingerprint (``llm:PATH``), or the server's own model id (``openai:MODEL@URL``)."""
    kind, _, arg = spec.partition(":")
    if kind == "llm":
        from uqlens.backends.llm import quick_fingerprint

        return quick_fingerprint(arg)
    if kind == "openai":
        from uqlens.backends.openai_compat import parse_spec, server_identity

        return server_identity(*parse_spec(arg))
    raise ValueError(f"{spec!r} is not an LLM backend (llm:PATH.gguf or openai:MODEL@URL)")
