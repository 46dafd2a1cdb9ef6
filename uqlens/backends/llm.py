"""A local GGUF model through llama.cpp (the optional ``generate`` extra).

One class serves generation, P(true) and the LLM entailment judge, on llama.cpp's low-level
API so that it can:

- sample all answers to one question in one batch: the prompt is decoded once and shared by
  every sequence, and each decode step advances all unfinished answers together (on a CPU
  this is about three times the throughput of one answer at a time);
- reuse the key/value cache of the longest common prompt prefix between calls (consecutive
  entailment-judge prompts share the question and the first answer);
- read the raw logits, so per-token log-probabilities are the model's own, before
  temperature or top-p.

Sampling (temperature, nucleus) is done in NumPy with one generator per answer, seeded by the
caller, so an answer does not depend on which other answers share its batch (up to the
floating-point differences of batched matrix products).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_SEQUENCES = 64


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


def log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max()
    return shifted - np.log(np.exp(shifted).sum())


def sample_token(
    logits: np.ndarray, temperature: float, top_p: float, rng: np.random.Generator
) -> tuple[int, float]:
    """Greedy at temperature 0, else nucleus sampling from softmax(logits / temperature).

    Returns the token and its log-probability under the untempered model."""
    logits = np.asarray(logits, dtype=np.float32)
    top_logit = float(logits.max())
    log_z = top_logit + float(np.log(np.exp(logits - top_logit).sum(dtype=np.float64)))
    if temperature <= 0:
        token = int(np.argmax(logits))
        return token, float(logits[token]) - log_z
    probs = np.exp((logits - top_logit) / np.float32(temperature))
    probs /= probs.sum(dtype=np.float64)
    # The nucleus almost always lies in the top 256 tokens (ordering does not depend on the
    # temperature); sort the whole vocabulary only when it does not.
    top = np.argpartition(logits, -256)[-256:] if len(logits) > 256 else np.arange(len(logits))
    order = top[np.argsort(probs[top])[::-1]]
    cumulative = np.cumsum(probs[order], dtype=np.float64)
    if cumulative[-1] < top_p:
        order = np.argsort(probs)[::-1]
        cumulative = np.cumsum(probs[order], dtype=np.float64)
    keep = order[: int(np.searchsorted(cumulative, top_p)) + 1]
    weights = probs[keep].astype(np.float64)
    token = int(rng.choice(keep, p=weights / weights.sum()))
    return token, float(logits[token]) - log_z


class LocalLLM:
    def __init__(
        self, model_path: str | Path, n_threads: int | None = None, n_ctx: int = 4096
    ) -> None:
        try:
            import llama_cpp
        except ImportError as exc:
            raise RuntimeError(
                "local GGUF models need llama-cpp-python: pip install 'uqlens[generate]'"
            ) from exc
        self.path = Path(model_path)
        if not self.path.is_file():
            raise FileNotFoundError(f"GGUF model not found: {self.path}")
        self.fingerprint = quick_fingerprint(self.path)
        self._c = c = llama_cpp
        c.llama_backend_init()
        c.llama_log_set(_silent_log, ctypes.c_void_p(0))
        self._model = c.llama_model_load_from_file(
            str(self.path).encode(), c.llama_model_default_params()
        )
        if not self._model:
            raise RuntimeError(f"llama.cpp could not load {self.path}")
        params = c.llama_context_default_params()
        threads = n_threads or min(2, os.cpu_count() or 1)
        params.n_ctx, params.n_batch, params.n_seq_max = n_ctx, 512, MAX_SEQUENCES
        params.n_threads = params.n_threads_batch = threads
        if hasattr(params, "kv_unified"):
            params.kv_unified = True  # every sequence shares the prompt's cache cells
        self._ctx = c.llama_init_from_model(self._model, params)
        if not self._ctx:
            raise RuntimeError("llama.cpp could not create a context")
        self._vocab = c.llama_model_get_vocab(self._model)
        self._n_vocab = c.llama_vocab_n_tokens(self._vocab)
        self._eos = {c.llama_vocab_eos(self._vocab), c.llama_vocab_eot(self._vocab)}
        self._mem = c.llama_get_memory(self._ctx)
        self._batch = c.llama_batch_init(512, 0, MAX_SEQUENCES)
        self._cached: list[int] = []  # tokens held by sequence 0

    def __del__(self):
        c = getattr(self, "_c", None)
        if c is None:
            return
        if getattr(self, "_batch", None) is not None:
            c.llama_batch_free(self._batch)
        if getattr(self, "_ctx", None):
            c.llama_free(self._ctx)
        if getattr(self, "_model", None):
            c.llama_model_free(self._model)

    # -- tokens -------------------------------------------------------------------------
    def tokenize(self, text: str, add_bos: bool = True) -> list[int]:
        data = text.encode("utf-8")
        buffer = (self._c.llama_token * (len(data) + 8))()
        n = self._c.llama_tokenize(self._vocab, data, len(data), buffer, len(buffer), add_bos,
                                   False)
        if n < 0:
            raise ValueError("prompt too long to tokenize")
        return list(buffer[:n])

    def _piece(self, token: int) -> bytes:
        buffer = ctypes.create_string_buffer(128)
        n = self._c.llama_token_to_piece(self._vocab, token, buffer, 128, 0, False)
        return buffer.raw[: max(n, 0)]

    # -- decoding -----------------------------------------------------------------------
    def _decode(self, entries: Sequence[tuple[int, int, Sequence[int], bool]]) -> None:
        """Decode (token, position, sequence ids, want logits) entries, 512 at a time."""
        for start in range(0, len(entries), 512):
            chunk = entries[start : start + 512]
            b = self._batch
            b.n_tokens = len(chunk)
            for i, (token, pos, seqs, logits) in enumerate(chunk):
                b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = token, pos, len(seqs), logits
                for j, s in enumerate(seqs):
                    b.seq_id[i][j] = s
            if self._c.llama_decode(self._ctx, b) != 0:
                raise RuntimeError("llama_decode failed (context full?)")

    def _logits(self, index: int) -> np.ndarray:
        ptr = self._c.llama_get_logits_ith(self._ctx, index)
        return np.ctypeslib.as_array(ptr, shape=(self._n_vocab,)).astype(np.float32)

    def _prefill(self, tokens: list[int]) -> np.ndarray:
        """Put ``tokens`` in sequence 0, reusing the longest cached prefix; return the logits
        after the last token."""
        common = 0
        for a, b in zip(self._cached, tokens, strict=False):
            if a != b:
                break
            common += 1
        common = min(common, len(tokens) - 1)  # decode at least one token to get logits
        self._c.llama_memory_seq_rm(self._mem, 0, common, -1)
        todo = tokens[common:]
        self._decode([(t, common + i, (0,), i == len(todo) - 1) for i, t in enumerate(todo)])
        self._cached = list(tokens)
        # The logits of the last decoded token sit at its index within the final chunk.
        return self._logits((len(todo) - 1) % 512)

    # -- public -------------------------------------------------------------------------
    def sample_many(
        self,
        prompt: str,
        specs: Sequence[tuple[float, int]],
        *,
        top_p: float = 0.95,
        max_tokens: int = 32,
        stop: tuple[str, ...] = ("\n",),
    ) -> list[Completion]:
        """One answer per (temperature, seed) in ``specs``, decoded together in one batch.

        An answer ends at end-of-sequence, at ``max_tokens``, or before the first ``stop``
        string (the token that carries it is not counted)."""
        if not 0 < len(specs) < MAX_SEQUENCES:
            raise ValueError(f"between 1 and {MAX_SEQUENCES - 1} answers per batch")
        prompt_tokens = self.tokenize(prompt)
        first = self._prefill(prompt_tokens)
        n = len(specs)
        seqs = list(range(1, n + 1))
        for s in seqs:
            self._c.llama_memory_seq_cp(self._mem, 0, s, 0, len(prompt_tokens))
        rngs = [np.random.default_rng(seed) for _, seed in specs]
        logits = {s: first for s in seqs}
        tokens: dict[int, list[int]] = {s: [] for s in seqs}
        logprobs: dict[int, list[float]] = {s: [] for s in seqs}
        texts = {s: "" for s in seqs}
        active = list(seqs)
        pos = len(prompt_tokens)
        try:
            while active:
                entries, still = [], []
                for s in active:
                    temperature = specs[s - 1][0]
                    token, logprob = sample_token(logits[s], temperature, top_p, rngs[s - 1])
                    if token in self._eos:
                        continue
                    tokens[s].append(token)
                    logprobs[s].append(logprob)
                    text = b"".join(self._piece(t) for t in tokens[s]).decode(
                        "utf-8", errors="replace")
                    cut = min((text.find(x) for x in stop if x in text), default=-1)
                    if cut >= 0:
                        texts[s] = text[:cut]
                        logprobs[s].pop()
                        continue
                    texts[s] = text
                    if len(tokens[s]) >= max_tokens:
                        continue
                    entries.append((token, pos, (s,), True))
                    still.append(s)
                if entries:
                    self._decode(entries)
                    for i, s in enumerate(still):
                        logits[s] = self._logits(i)
                active = still
                pos += 1
        finally:
            for s in seqs:
                self._c.llama_memory_seq_rm(self._mem, s, -1, -1)
        return [Completion(texts[s].strip(), tuple(logprobs[s])) for s in seqs]

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
        return self.sample_many(prompt, [(temperature, seed)], top_p=top_p,
                                max_tokens=max_tokens, stop=stop)[0]

    def next_token_logprobs(self, prompt: str) -> np.ndarray:
        """Log-softmax over the vocabulary for the token after ``prompt``."""
        return log_softmax(self._prefill(self.tokenize(prompt)))

    def choice_probability(self, prompt: str, first: str, second: str) -> float:
        """P(first) / (P(first) + P(second)) for the next token; each option is its first
        token (e.g. " Yes" against " No")."""
        logprobs = self.next_token_logprobs(prompt)
        a = logprobs[self.tokenize(first, add_bos=False)[0]]
        b = logprobs[self.tokenize(second, add_bos=False)[0]]
        return float(1.0 / (1.0 + np.exp(b - a)))

    def yes_probability(self, prompt: str) -> float:
        return self.choice_probability(prompt, " Yes", " No")


def _silent(level, text, user_data):  # llama.cpp logs every tensor on load; keep quiet
    return None


try:  # the callback type exists only when llama_cpp is installed
    import llama_cpp as _llama_cpp

    _silent_log = _llama_cpp.llama_log_callback(_silent)
except ImportError:  # pragma: no cover - the generate extra is optional
    _silent_log = None
