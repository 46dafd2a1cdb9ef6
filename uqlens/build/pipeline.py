"""``uqlens build``: cached generations in, a built run (see :mod:`uqlens.run.folder`) out.

ingest → unique texts per question → embed → entailment pairs (only those the clustering
asks for, plus all pairs among the scored samples for the graph methods) → clusters per
rule → every applicable method's scores → every judge's correctness → 2-D projection →
Parquet tables + manifest, written to a temporary folder and renamed into place.

Imported data brings the source tool's results along: each ``questions.provided_scores``
method becomes a method ``<tool>:<method>`` of the run (scored under every rule, its
orientation in ``method_info``), and ``generations.provided_cluster`` becomes the clustering
rule ``provided`` (see :func:`provided_clusters`), scored like any other rule.

Model outputs go through :class:`uqlens.backends.cache.ModelCache`, so a rebuild with another rule,
threshold, method set or judge calls no model for what it already has.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from uqlens.backends.cache import ModelCache
from uqlens.build.config import (  # noqa: F401  (re-exported: the build's public names)
    DEFAULT_JUDGES,
    DEFAULT_RULES,
    BuildConfig,
    BuildError,
)
from uqlens.build.manifest import make_manifest
from uqlens.build.stages import (  # noqa: F401  (re-exported)
    BuildSource,
    choose_methods,
    ingest,
    judge_run,
    project_stage,
    provided_clusters,
    provided_scores,
    rule_entries,
    score_all,
    scored_samples,
)
from uqlens.build.write import _exchange, prepare_out_dir, write_run  # noqa: F401
from uqlens.core.views import PROVIDED_RULE, SQUAD_NORMALISED


class Stats:
    """Counts and timings that end up in the manifest."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    @contextmanager
    def stage(self, name: str, log: Callable[[str], None]):
        log(f"[{name}]")
        start = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - start, 3)


# -- backends ------------------------------------------------------------------------------


class CachedEmbedder:
    """Embeds through the content cache; loads the model only on the first miss."""

    def __init__(self, name: str, cache: ModelCache, stats: Stats):
        self.name, self.cache, self.stats = name, cache, stats
        self.id = f"st:{name}"
        self._model = None
        self._memo: dict[str, np.ndarray] = {}

    def embed(self, texts: list[str]) -> np.ndarray:
        wanted = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if wanted:
            self._memo.update(self.cache.get_embeddings(self.id, wanted))
            missing = [t for t in wanted if t not in self._memo]
            self.stats.add("embeddings_from_cache", len(wanted) - len(missing))
            if missing:
                if self._model is None:
                    from uqlens.backends.similarity import SentenceTransformerEmbedder

                    self._model = SentenceTransformerEmbedder(self.name)
                vectors = self._model.embed(missing)
                self.cache.put_embeddings(self.id, missing, vectors)
                self._memo.update(zip(missing, vectors, strict=True))
                self.stats.add("embeddings_computed", len(missing))
        return np.stack([self._memo[t] for t in texts]) if texts else np.zeros((0, 0))


def _make_backend(spec: str, embedder: CachedEmbedder, condition: bool):
    kind, _, arg = spec.partition(":")
    if kind == "cosine":
        from uqlens.backends.similarity import CosineEntailment

        return CosineEntailment(embedder, condition_on_question=condition)
    if kind == "llm":
        from uqlens.backends.similarity import LLMJudgeEntailment

        return LLMJudgeEntailment(arg)
    if kind == "nli":
        from uqlens.backends.similarity import HFNLIEntailment

        return HFNLIEntailment(arg, condition_on_question=condition)
    raise BuildError(f"unknown entailment backend {spec!r} (cosine, llm:PATH, nli:NAME)")


def _same_normalised(a: str, b: str) -> bool:
    from uqlens.core.text import normalize_answer

    na = normalize_answer(a)
    return bool(na) and na == normalize_answer(b)


class PairStore:
    """P(entail, neutral, contradict) for ordered answer pairs of one backend.

    Looks in memory, then the content cache, then asks the model; the backend is built on
    the first real miss, so a fully cached rebuild never loads it. Answers equal after SQuAD
    normalisation ("Paris." / "paris") entail each other without a model call: any NLI model
    would say so, and sampled short answers repeat with such variations all the time.
    """

    def __init__(self, alias: str, spec: str, embedder, cache, stats, condition: bool):
        self.alias, self.spec, self.cache, self.stats = alias, spec, cache, stats
        self._embedder, self._condition = embedder, condition
        self._backend = None
        self._memo: dict[tuple[str, str, str], tuple[float, float, float]] = {}
        # The cache key must not need the model loaded: it is the spec and the conditioning.
        self.id = f"{spec}:q{int(condition)}"
        if spec.startswith("llm:"):
            from uqlens.backends.llm import quick_fingerprint
            from uqlens.backends.similarity import llm_judge_id

            self.id = llm_judge_id(quick_fingerprint(spec[4:]))
        self.persist = not spec.startswith("cosine")  # cosine is recomputed from embeddings

    @property
    def backend(self):
        if self._backend is None:
            self._backend = _make_backend(self.spec, self._embedder, self._condition)
        return self._backend

    @property
    def symmetric(self) -> bool:
        return not self.spec.startswith("nli:")

    def get(self, question: str, pairs: list[tuple[str, str]]) -> np.ndarray:
        """Probabilities for every pair, computing only what no cache holds."""
        out = np.zeros((len(pairs), 3))
        todo: dict[tuple[str, str], list[int]] = {}
        for i, (a, b) in enumerate(pairs):
            if a == b or _same_normalised(a, b):
                out[i] = (1.0, 0.0, 0.0)
                continue
            key = (question, a, b)
            if key not in self._memo and self.symmetric and (question, b, a) in self._memo:
                key = (question, b, a)
            if key in self._memo:
                out[i] = self._memo[key]
            else:
                pair_key = (a, b) if not self.symmetric else tuple(sorted((a, b)))
                todo.setdefault(pair_key, []).append(i)
        if todo:
            wanted = list(todo)
            found = self.cache.get_pairs(self.id, question, wanted) if self.persist else {}
            self.stats.add(f"pairs_from_cache[{self.alias}]", len(found))
            missing = [p for p in wanted if p not in found]
            if missing:
                probs = self.backend.predict(question, missing)
                if self.persist:
                    self.cache.put_pairs(self.id, question, missing, probs)
                # Cosine pairs come from cached embeddings: no model call, so not "computed".
                kind = "pairs_computed" if self.persist else "pairs_from_embeddings"
                self.stats.add(f"{kind}[{self.alias}]", len(missing))
                found.update({p: tuple(map(float, v)) for p, v in zip(missing, probs, strict=True)})
            for pair, rows in todo.items():
                value = found[pair]
                self._memo[(question, *pair)] = value
                out[rows] = value
        return out

    def matrix(self, question: str, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """entail[i, j], contradict[i, j] over all ordered pairs of ``texts``."""
        n = len(texts)
        pairs = [(texts[i], texts[j]) for i in range(n) for j in range(n)]
        probs = self.get(question, pairs).reshape(n, n, 3)
        return probs[:, :, 0], probs[:, :, 2]


# -- stages --------------------------------------------------------------------------------


def build(
    input_path: str | Path | Sequence[str | Path],
    out_dir: str | Path,
    config: BuildConfig = BuildConfig(),  # noqa: B008  (frozen, safe as a default)
    *,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Build a run from ``input_path`` (one file, or several whose question ids differ) into
    ``out_dir``; returns the manifest."""
    from tqdm import tqdm

    from uqlens.core import clustering

    inputs = [Path(input_path)] if isinstance(input_path, str | Path) else [
        Path(p) for p in input_path]
    out_dir = Path(out_dir)
    prepare_out_dir(out_dir)  # refuse a non-run folder before any work; clear dead leftovers
    stats = Stats()
    started = time.perf_counter()
    cache = ModelCache(cache_dir)
    bar = lambda it, desc, total=None: tqdm(  # noqa: E731
        it, desc=desc, total=total, disable=not progress, leave=False, unit="q"
    )

    with stats.stage("ingest", log):
        data = ingest(inputs, stats)
        questions, gens, texts, qtext = data.questions, data.gens, data.texts, data.qtext
    scored = scored_samples(gens, config.sample_temperature)

    embedder = CachedEmbedder(config.embedder, cache, stats)
    prefix = (lambda q: f"{q} ") if config.condition_on_question else (lambda q: "")

    with stats.stage("embed", log):
        keys = [prefix(qtext[q]) + t
                for q, t in zip(texts["question_id"], texts["text"], strict=True)]
        text_vectors = np.concatenate(
            [embedder.embed(keys[i : i + 512]) for i in bar(range(0, len(keys), 512), "embed")]
        ) if keys else np.zeros((0, 384), dtype=np.float32)
        vector_of = {
            (q, t): v
            for q, t, v in zip(texts["question_id"], texts["text"], text_vectors, strict=True)
        }

    stores: dict[str, PairStore] = {}
    for spec in config.entailment:
        alias = spec.partition(":")[0]
        stores[alias] = PairStore(alias, spec, embedder, cache, stats, config.condition_on_question)
    if "cosine" not in stores:
        stores["cosine"] = PairStore("cosine", "cosine", embedder, cache, stats,
                                     config.condition_on_question)

    # The pairs the stores answer without a model, recorded so a replay answers them alike.
    shortcut = getattr(PairStore, "shortcut", SQUAD_NORMALISED)
    rules = rule_entries(config, {a: s.id for a, s in stores.items()}, gens, shortcut)
    chosen, provided, params_of, skipped = choose_methods(config, gens, scored, questions, log)

    grouped = {qid: g for qid, g in gens.groupby("question_id", sort=False)}
    scored_groups = {qid: g for qid, g in scored.groupby("question_id", sort=False)}
    text_lists = {qid: g["text"].tolist() for qid, g in texts.groupby("question_id", sort=False)}

    with stats.stage("cluster", log):
        cluster_rows = []
        text_cluster: dict[tuple[str, str], np.ndarray] = {}
        sample_cluster: dict[str, dict[str, int]] = {}  # provided rule: qid -> sample -> id
        for spec in rules:
            if spec["rule"] == PROVIDED_RULE:
                for qid, group in grouped.items():
                    ids = provided_clusters(group)
                    sample_cluster[qid] = dict(zip(group["sample_id"], ids.tolist(), strict=True))
                    cluster_rows.append(pd.DataFrame({
                        "question_id": qid, "sample_id": group["sample_id"].to_numpy(),
                        "rule": spec["key"], "cluster_id": ids,
                        "is_representative": clustering.representatives(ids),
                    }))
                stats.counts["samples_with_provided_cluster"] = int(
                    gens["provided_cluster"].notna().sum())
                continue
            rule = clustering.parse_rule(spec["rule_key"])
            store = stores.get(spec["backend"]) if spec["backend"] else None
            for qid in bar(text_lists, f"cluster {spec['key']}"):
                utexts = text_lists[qid]
                pair = None
                if store is not None:
                    q = qtext[qid]
                    pair = lambda i, j, q=q, u=utexts, s=store: tuple(  # noqa: E731
                        s.get(q, [(u[i], u[j])])[0]
                    )
                emb = np.stack([vector_of[(qid, t)] for t in utexts])
                text_cluster[(spec["key"], qid)] = clustering.cluster(
                    rule, utexts, pair=pair, embeddings=emb
                )
            for qid, group in grouped.items():
                ids = text_cluster[(spec["key"], qid)][group["text_id"].to_numpy()]
                rep = clustering.representatives(ids)
                cluster_rows.append(pd.DataFrame({
                    "question_id": qid, "sample_id": group["sample_id"].to_numpy(),
                    "rule": spec["key"], "cluster_id": ids, "is_representative": rep,
                }))
        clusters = pd.concat(cluster_rows, ignore_index=True) if cluster_rows else pd.DataFrame()

    with stats.stage("entailment", log):
        matrices: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        if config.graph_pairs and any("entailment" in m.needs for m in chosen):
            for alias in sorted({r["affinity_backend"] for r in rules}):
                for qid, group in bar(scored_groups.items(), f"graph pairs {alias}"):
                    u = list(dict.fromkeys(group["text"]))
                    matrices[(alias, qid)] = stores[alias].matrix(qtext[qid], u)

    with stats.stage("score", log):
        source = BuildSource(data, scored_groups, text_cluster, sample_cluster, matrices,
                             vector_of)
        scores = score_all(rules, scored_groups, source, chosen, params_of, provided,
                           questions["question_id"], bar)

    with stats.stage("judge", log):
        correct = judge_run(questions, gens, texts, config.judges, embedder, stores)

    with stats.stage("project", log):
        projection = project_stage(config, data, text_vectors, embedder)

    tables = {
        "questions": questions,
        "generations": gens.drop(columns=[c for c in ("embedding", "hidden_state") if c in gens]),
        "texts": texts, "pairs": _pairs_table(stores, texts, qtext), "clusters": clusters,
        "scores": scores, "correctness": correct, "projection": projection,
        # One vector per unique text, in float16: a tenth of one float32 vector per sample,
        # plenty for re-projection and cosine re-clustering; Run.table("embeddings") expands it.
        "text_embeddings": texts[["question_id", "text_id"]].assign(
            embedding=[np.asarray(v, dtype=np.float16) for v in text_vectors]),
    }
    _count_pairs(stats, stores)
    manifest = make_manifest(
        config=config, out_dir=out_dir, inputs=inputs, dataset=data.dataset,
        questions=questions, rules=rules, chosen=chosen, provided=provided,
        params_of=params_of, skipped=skipped, correct=correct, stores=stores,
        embedder_id=embedder.id, stats=stats)
    manifest["timings"]["total"] = round(time.perf_counter() - started, 3)
    write_run(out_dir, tables, manifest)
    cache.close()
    return manifest


def _count_pairs(stats: Stats, stores: dict) -> None:
    """Zero counts for persisted backends that computed nothing, and the total computed."""
    for alias, store in stores.items():
        if store.persist:
            stats.counts.setdefault(f"pairs_computed[{alias}]", 0)
            stats.counts.setdefault(f"pairs_from_cache[{alias}]", 0)
    stats.counts["pairs_computed"] = sum(
        v for k, v in stats.counts.items() if k.startswith("pairs_computed[")
    )


def _pairs_table(stores: dict[str, PairStore], texts: pd.DataFrame, qtext: dict) -> pd.DataFrame:
    """Every pair any backend answered during this build, as text ids."""
    text_id = {(q, t): i for q, i, t in zip(texts["question_id"], texts["text_id"], texts["text"],
                                            strict=True)}
    question_ids: dict[str, list[str]] = {}
    for qid, q in qtext.items():
        question_ids.setdefault(q, []).append(qid)
    rows = []
    for alias, store in stores.items():
        for (q, a, b), (pe, pn, pc) in store._memo.items():
            for qid in question_ids.get(q, []):
                ia, ib = text_id.get((qid, a)), text_id.get((qid, b))
                if ia is None or ib is None:
                    continue
                rows.append((qid, alias, ia, ib, pe, pn, pc))
                if store.symmetric:
                    rows.append((qid, alias, ib, ia, pe, pn, pc))
    return pd.DataFrame(
        rows, columns=["question_id", "backend", "text_a", "text_b", "p_entail", "p_neutral",
                       "p_contradict"]
    ).drop_duplicates(["question_id", "backend", "text_a", "text_b"])


