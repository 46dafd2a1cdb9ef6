"""A local GGUF model through llama.cpp (the optional ``generate`` extra).

One class serves generation (sampled and greedy answers with per-token log-probabilities),
P(true) and the LLM entailment judge. Consecutive prompts that share a prefix reuse the
key/value cache, so all samples of one question pay for the prompt once.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def file_sha256(path: str | Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def quick_fingerprint(path: str | Path) -> str:
    """Name, size and a hash of the first and last MiB: cheap to compute on every load, and
    distinct for distinct model files in practice (the full sha256 goes into manifests)."""
    path = Path(path)
    size = path.stat().st_size
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        digest.update(handle.read(1 << 20))
        handle.seek(max(0, size - (1 << 20)))
        digest.update(handle.read(1 << 20))
    return f"{path.name}:{size}:{digest.hexdigest()[:16]}"


@dataclass(frozen=True)
class Completion:
    text: str
    token_logprobs: tuple[float, ...]  # log p(token | prefix) under the untempered model

    @property
    def logprob_sum(self) -> float:
        return float(sum(self.token_logprobs))

    @property
    def num_tokens(self) -> int:
        return len(self.token_logprobs)


def _token_logprob(logits: np.ndarray, token: int) -> float:
    top = float(logits.max())
    return float(logits[token]) - top - float(np.log(np.exp(logits - top).sum(dtype=np.float64)))


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max()
    return shifted - np.log(np.exp(shifted).sum())


class LocalLLM:
    def __init__(
        self, model_path: str | Path, n_threads: int | None = None, n_ctx: int = 2048
    ) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise RuntimeError(
                "local GGUF models need llama-cpp-python: pip install 'uqlens[generate]'"
            ) from exc
        self.path = Path(model_path)
        if not self.path.is_file():
            raise FileNotFoundError(f"GGUF model not found: {self.path}")
        self.fingerprint = quick_fingerprint(self.path)
        self._llm = Llama(
            model_path=str(self.path),
            n_ctx=n_ctx,
            n_threads=n_threads or min(2, os.cpu_count() or 1),
            logits_all=False,
            verbose=False,
        )

    def tokenize(self, text: str) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)

    def complete(
        self,
        prompt: str,
        *,
        temperature: float,
        seed: int,
        top_p: float = 0.95,
        max_tokens: int = 32,
        stop: tuple[str, ...] = ("\n",),
    ) -> Completion:
        """Sample one answer (greedy when ``temperature == 0``), stopping before any ``stop``
        string. Log-probabilities are read from the raw logits, before temperature or top-p,
        so they are the model's own sequence likelihood."""
        step_logits: list[np.ndarray] = []

        def record(_input_ids, logits):
            step_logits.append(np.array(logits, dtype=np.float32))  # raw, before temperature
            return logits

        self._llm.set_seed(seed & 0x7FFFFFFF)
        tokens: list[int] = []
        logprobs: list[float] = []
        text = ""
        eos = self._llm.token_eos()
        for token in self._llm.generate(
            self.tokenize(prompt),
            temp=temperature,
            top_p=top_p,
            top_k=0,
            min_p=0.0,
            repeat_penalty=1.0,
            logits_processor=[record],
        ):
            if token == eos:
                break
            tokens.append(token)
            logprobs.append(_token_logprob(step_logits[-1], token))
            text = self._llm.detokenize(tokens).decode("utf-8", errors="replace")
            cut = min((text.find(s) for s in stop if s in text), default=-1)
            if cut >= 0:
                text = text[:cut]
                logprobs.pop()  # the token that carried the stop string ends the answer
                break
            if len(tokens) >= max_tokens:
                break
        return Completion(text=text.strip(), token_logprobs=tuple(logprobs))

    def next_token_logprobs(self, prompt: str) -> np.ndarray:
        """Log-softmax over the vocabulary for the token after ``prompt``."""
        captured: list[np.ndarray] = []

        def record(_input_ids, logits):
            captured.append(np.array(logits, dtype=np.float64))
            return logits

        for _ in self._llm.generate(
            self.tokenize(prompt), temp=0.0, logits_processor=[record]
        ):
            break
        return _log_softmax(captured[0])

    def choice_probability(self, prompt: str, first: str, second: str) -> float:
        """P(first) / (P(first) + P(second)) for the next token; each option is its first
        token (e.g. " Yes" against " No")."""
        logprobs = self.next_token_logprobs(prompt)
        a = logprobs[self._llm.tokenize(first.encode(), add_bos=False, special=False)[0]]
        b = logprobs[self._llm.tokenize(second.encode(), add_bos=False, special=False)[0]]
        return float(1.0 / (1.0 + np.exp(b - a)))

    def yes_probability(self, prompt: str) -> float:
        return self.choice_probability(prompt, " Yes", " No")
