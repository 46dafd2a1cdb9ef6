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

MAX_SEQUENCES = 256  # llama.cpp's LLAMA_MAX_SEQ


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


THREADS_ENV = "UQLENS_LLM_THREADS"


def default_threads() -> int:
    """Threads for llama.cpp when the caller names none: ``UQLENS_LLM_THREADS`` if set (a Ray
    model actor sets it to the CPUs it holds, so actors sharing a node do not oversubscribe
    it), else every CPU this process may run on."""
    if os.environ.get(THREADS_ENV, "").strip():
        try:
            return max(1, int(os.environ[THREADS_ENV]))
        except ValueError:
            raise ValueError(f"{THREADS_ENV} must be a whole number of threads, not "
                             f"{os.environ[THREADS_ENV]!r}") from None
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


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
    """A GGUF model in llama.cpp. Free it with :meth:`close` or use it as a context manager;
    nothing relies on garbage collection to release the model."""

    def __init__(
        self, model_path: str | Path, n_threads: int | None = None, n_ctx: int = 4096
    ) -> None:
        c = _llama_cpp()
        self.path = Path(model_path)
        if not self.path.is_file():
            raise FileNotFoundError(f"GGUF model not found: {self.path}")
        if n_ctx < 512:
            raise ValueError("n_ctx must be at least 512 (one physical batch)")
        self.fingerprint = quick_fingerprint(self.path)
        self._c = c
        self._model = self._ctx = self._batch = None
        self._embedder: _EmbeddingContext | None = None  # made on first hidden_states()
        self.n_threads = n_threads or default_threads()
        self._model = c.llama_model_load_from_file(
            str(self.path).encode(), c.llama_model_default_params()
        )
        if not self._model:
            raise RuntimeError(f"llama.cpp could not load {self.path}")
        params = c.llama_context_default_params()
        # One decode may hold a whole context's worth of tokens (n_batch = n_ctx), split by
        # llama.cpp into physical batches of n_ubatch; up to MAX_SEQUENCES prompts share it.
        params.n_ctx = params.n_batch = n_ctx
        params.n_ubatch, params.n_seq_max = 512, MAX_SEQUENCES
        params.n_threads = params.n_threads_batch = self.n_threads
        if hasattr(params, "kv_unified"):
            params.kv_unified = True  # every sequence shares the prompt's cache cells
        self._ctx = c.llama_init_from_model(self._model, params)
        if not self._ctx:
            self.close()
            raise RuntimeError("llama.cpp could not create a context")
        self.n_ctx = n_ctx
        self._vocab = c.llama_model_get_vocab(self._model)
        self._n_vocab = c.llama_vocab_n_tokens(self._vocab)
        self._eos = {c.llama_vocab_eos(self._vocab), c.llama_vocab_eot(self._vocab)}
        self._mem = c.llama_get_memory(self._ctx)
        self._batch = c.llama_batch_init(n_ctx, 0, MAX_SEQUENCES)
        self._cached: list[int] = []  # tokens held by sequence 0

    def close(self) -> None:
        """Free the contexts and the model (idempotent)."""
        c = self._c
        if self._embedder is not None:
            self._embedder.close()
            self._embedder = None
        if self._batch is not None:
            c.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx:
            c.llama_free(self._ctx)
            self._ctx = None
        if self._model:
            c.llama_model_free(self._model)
            self._model = None

    def __enter__(self) -> LocalLLM:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

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

    # -- many prompts at once -------------------------------------------------------------
    def option_logits(
        self, prompts: Sequence[str], options: Sequence[str], progress=None
    ) -> np.ndarray:
        """Raw next-token logits of each option's first token after each prompt, shape
        (len(prompts), len(options)), with every prompt's shared prefix decoded only once.

        The prompts are tokenized whole (so each reads exactly as it would alone), sorted,
        and laid out as a prefix tree: a token shared by several prompts is decoded once and
        belongs to all their sequences (llama.cpp lets one batch entry carry many sequence
        ids, the in-batch form of copying a decoded prefix to other sequences). Up to
        MAX_SEQUENCES prompts and n_ctx tree tokens go into one decode; only the last token
        of each prompt asks for logits. ``progress(n)`` is called after each decode with the
        number of prompts it answered.
        """
        ids = [self.tokenize(o, add_bos=False)[0] for o in options]
        unique = list(dict.fromkeys(prompts))
        tokens = {p: self.tokenize(p) for p in unique}
        for p in unique:
            if len(tokens[p]) > self.n_ctx:
                raise ValueError(f"prompt of {len(tokens[p])} tokens exceeds n_ctx={self.n_ctx}"
                                 f": {p[:80]!r}…")
        ordered = sorted(unique, key=lambda p: tokens[p])
        found: dict[str, np.ndarray] = {}
        for chunk in _prefix_tree_chunks([tokens[p] for p in ordered], self.n_ctx,
                                         MAX_SEQUENCES):
            seqs = [tokens[ordered[k]] for k in chunk]
            for k, row in zip(chunk, self._decode_tree(seqs, ids), strict=True):
                found[ordered[k]] = row
            if progress is not None:
                progress(len(chunk))
        return np.array([found[p] for p in prompts], dtype=np.float64).reshape(
            len(prompts), len(options))

    def choice_probabilities(self, prompts: Sequence[str], first: str, second: str,
                             progress=None) -> np.ndarray:
        """P(first) / (P(first) + P(second)) after each prompt, batched (see option_logits)."""
        logits = self.option_logits(prompts, [first, second], progress=progress)
        return 1.0 / (1.0 + np.exp(logits[:, 1] - logits[:, 0]))

    def _decode_tree(self, seqs: list[list[int]], option_ids: list[int]) -> list[np.ndarray]:
        """Decode sorted, distinct token lists as one prefix tree in an empty cache; return
        the option logits after each list."""
        c = self._c
        c.llama_memory_clear(self._mem, True)
        self._cached = []
        paths = _fill_tree_batch(self._batch, seqs, output_all=False)
        if c.llama_decode(self._ctx, self._batch) != 0:
            raise RuntimeError("llama_decode failed on a batch of prompts (context full?)")
        out = []
        for path in paths:
            ptr = c.llama_get_logits_ith(self._ctx, path[-1])
            out.append(np.array([ptr[i] for i in option_ids], dtype=np.float64))
        c.llama_memory_clear(self._mem, True)
        return out

    # -- hidden states ----------------------------------------------------------------------
    def hidden_states(self, texts: Sequence[str], pooling: str = "last",
                      progress=None) -> np.ndarray:
        """The final-layer hidden state (after the model's output norm, the vector the
        output head reads) of each text, shape (len(texts), n_embd), float32.

        ``pooling``: ``last`` (the last token's state) or ``mean`` (the mean over every
        token of the text, BOS included). Computed in a second context over the same loaded
        model in llama.cpp's embedding mode; texts sharing a prefix (one prompt, many
        answers) decode it once, as in :meth:`option_logits`.
        """
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, not {pooling!r}")
        if self._embedder is None:
            self._embedder = _EmbeddingContext(self)
        unique = list(dict.fromkeys(texts))
        tokens = {t: self.tokenize(t) for t in unique}
        ordered = sorted(unique, key=lambda t: tokens[t])
        found: dict[str, np.ndarray] = {}
        for chunk in _prefix_tree_chunks([tokens[t] for t in ordered], self.n_ctx,
                                         MAX_SEQUENCES):
            vectors = self._embedder.decode([tokens[ordered[k]] for k in chunk], pooling)
            found.update((ordered[k], v) for k, v in zip(chunk, vectors, strict=True))
            if progress is not None:
                progress(len(chunk))
        n_embd = self._c.llama_model_n_embd(self._model)
        return np.array([found[t] for t in texts], dtype=np.float32).reshape(len(texts), n_embd)


POOLINGS = ("last", "mean")


class _EmbeddingContext:
    """A second llama.cpp context over an already loaded model, in embedding mode with
    per-token outputs (pooling NONE): the pooling over each text's tokens is done here, so
    texts can share decoded prefix tokens."""

    def __init__(self, llm: LocalLLM):
        c = self._c = llm._c
        params = c.llama_context_default_params()
        params.n_ctx = params.n_batch = llm.n_ctx
        params.n_ubatch, params.n_seq_max = 512, MAX_SEQUENCES
        params.n_threads = params.n_threads_batch = llm.n_threads
        params.embeddings = True
        params.pooling_type = c.LLAMA_POOLING_TYPE_NONE
        if hasattr(params, "kv_unified"):
            params.kv_unified = True
        self._ctx = c.llama_init_from_model(llm._model, params)
        if not self._ctx:
            raise RuntimeError("llama.cpp could not create an embedding context")
        self._n_embd = c.llama_model_n_embd(llm._model)
        self._mem = c.llama_get_memory(self._ctx)
        self._batch = c.llama_batch_init(llm.n_ctx, 0, MAX_SEQUENCES)

    def decode(self, seqs: list[list[int]], pooling: str) -> list[np.ndarray]:
        c = self._c
        c.llama_memory_clear(self._mem, True)
        paths = _fill_tree_batch(self._batch, seqs, output_all=pooling == "mean")
        if c.llama_decode(self._ctx, self._batch) != 0:
            raise RuntimeError("llama_decode failed in embedding mode (context full?)")

        def state(index: int) -> np.ndarray:
            ptr = c.llama_get_embeddings_ith(self._ctx, index)
            return np.ctypeslib.as_array(ptr, shape=(self._n_embd,)).astype(np.float64)

        out = []
        for path in paths:
            if pooling == "last":
                out.append(state(path[-1]).astype(np.float32))
            else:
                out.append((sum(state(i) for i in path) / len(path)).astype(np.float32))
        c.llama_memory_clear(self._mem, True)
        return out

    def close(self) -> None:
        if self._batch is not None:
            self._c.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx:
            self._c.llama_free(self._ctx)
            self._ctx = None


def _fill_tree_batch(batch, seqs: list[list[int]], output_all: bool) -> list[list[int]]:
    """Write the prefix tree of sorted, distinct token lists into a llama_batch. Only each
    list's last token asks for output, or every token if ``output_all``. Returns, per list,
    the batch indices of its tokens in order (the path from the root to its last token)."""
    paths: list[list[int]] = [[] for _ in seqs]
    n = 0
    for k, pos, members, is_last in _prefix_tree_entries(seqs):
        batch.token[n], batch.pos[n], batch.n_seq_id[n] = seqs[k][pos], pos, len(members)
        batch.logits[n] = is_last or output_all
        row = batch.seq_id[n]
        for j, s in enumerate(members):
            row[j] = s
            paths[s].append(n)
        n += 1
    batch.n_tokens = n
    return paths


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _prefix_tree_chunks(seqs: list[list[int]], max_tokens: int, max_seqs: int):
    """Split sorted token lists into consecutive runs whose prefix tree has at most
    ``max_tokens`` nodes and ``max_seqs`` leaves; yields lists of indices."""
    chunk: list[int] = []
    size = 0
    for k, seq in enumerate(seqs):
        new = len(seq) - (_common_prefix(seqs[k - 1], seq) if chunk else 0)
        if chunk and (size + new > max_tokens or len(chunk) >= max_seqs):
            yield chunk
            chunk, size, new = [], 0, len(seq)
        chunk.append(k)
        size += new
    if chunk:
        yield chunk


def _prefix_tree_entries(seqs: list[list[int]]):
    """Batch entries of the prefix tree of sorted, distinct token lists, in depth-first
    order: (list index k, position, sequence ids sharing that token, is k's last token).

    Sequence k is the k-th list; a token introduced by list k at position p is shared by
    lists k..j, where every list between shares more than p tokens with its predecessor."""
    n = len(seqs)
    lcp = [0] + [_common_prefix(seqs[k - 1], seqs[k]) for k in range(1, n)]
    for k in range(n):
        # run_min[j - k] = min(lcp[k+1..j]): how long lists k..j all share a prefix.
        run_min, low = [], None
        for j in range(k + 1, n):
            low = lcp[j] if low is None else min(low, lcp[j])
            if low <= lcp[k]:
                break
            run_min.append(low)
        end = len(run_min)  # lists k+1..k+end share more than lcp[k] tokens with k
        for pos in range(lcp[k], len(seqs[k])):
            while end and run_min[end - 1] <= pos:
                end -= 1
            yield k, pos, range(k, k + end + 1), pos == len(seqs[k]) - 1


def _silent(level, text, user_data):  # llama.cpp logs every tensor on load; keep quiet
    return None


_RUNTIME: dict = {}


def _llama_cpp():
    """The llama_cpp module, initialised and silenced once per process (imported lazily:
    the runtime is an optional extra and slow to import)."""
    if "module" not in _RUNTIME:
        try:
            import llama_cpp
        except ImportError as exc:
            raise RuntimeError(
                "local GGUF models need llama-cpp-python: pip install 'uqlens[generate]'"
            ) from exc
        llama_cpp.llama_backend_init()
        # Keep a reference to the callback: llama.cpp holds only a raw pointer to it.
        _RUNTIME["log"] = llama_cpp.llama_log_callback(_silent)
        llama_cpp.llama_log_set(_RUNTIME["log"], ctypes.c_void_p(0))
        _RUNTIME["module"] = llama_cpp
    return _RUNTIME["module"]
