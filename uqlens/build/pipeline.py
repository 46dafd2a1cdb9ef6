"""``uqlens build``: cached generations in, a built run (see :mod:`uqlens.run.folder`) out.

ingest → unique texts per question → embed → entailment pairs (only those the clustering
asks for, plus all pairs among the scored samples for the graph methods) → clusters per
rule → every applicable method's scores → every judge's correctness → supervised probes on
the generations' hidden states, when present (:mod:`uqlens.build.probes`) → 2-D projection →
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
)
from uqlens.build.engine import make_engine
from uqlens.build.errors import BuildError  # noqa: F401  (re-exported)
from uqlens.build.manifest import make_manifest
from uqlens.build.pairs import (
    CachedEmbedder,
    PairStore,
    cluster_all,
    embedding_reasons,
    graph_matrices,
)
from uqlens.build.stages import (  # noqa: F401  (re-exported)
    BuildSource,
    QuestionRows,
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
from uqlens.core.threads import small_matrix_threads
from uqlens.core.views import PROVIDED_RULE, SAME_TEXT
from uqlens.run.summaries import write_summaries

PAIR_SHORTCUT = SAME_TEXT
"""The pairs :meth:`PairStore.get_many` answers without a model (same text up to case and
surrounding whitespace); recorded in every rule of the manifest, so that a replay of the run
treats exactly those pairs as entailing."""


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
    ``out_dir``; returns the manifest. ``config`` was checked when it was made."""
    from tqdm import tqdm

    inputs = [Path(input_path)] if isinstance(input_path, str | Path) else [
        Path(p) for p in input_path]
    out_dir = Path(out_dir)
    prepare_out_dir(out_dir)  # refuse a non-run folder before any work; clear dead leftovers
    started = time.perf_counter()
    bar = lambda it, desc, total=None: tqdm(  # noqa: E731
        it, desc=desc, total=total, disable=not progress, leave=False, unit="q"
    )
    engine = make_engine(config, bar)  # Ray missing or unreachable: fail before any work
    try:
        return _build(inputs, out_dir, config, engine, cache_dir, bar, log, started)
    finally:
        engine.close()  # frees the Ray actors (and stops the Ray instance it started)


def _build(inputs, out_dir, config, engine, cache_dir, bar, log, started) -> dict:
    """The stages of :func:`build`, their model calls and scoring run by ``engine``."""
    from uqlens.build.manifest import input_hash
    from uqlens.build.memo import BuildMemo

    stats = Stats()
    cache = ModelCache(cache_dir)
    with stats.stage("ingest", log):
        input_hashes = [input_hash(p) for p in inputs]
        memo = BuildMemo(cache.stages(log), input_hashes)
        data = memo.ingest(inputs, stats)
        questions, gens, texts, qtext = data.questions, data.gens, data.texts, data.qtext
    scored = scored_samples(gens, config.sample_temperature)

    embedder = _embedder(config, data, cache, stats, engine)
    stage_notes: dict[str, str] = {}  # which stages ran and why, for the manifest
    text_vectors, vector_of = _embed_stage(config, data, embedder, stats, log, stage_notes)
    stores = _pair_stores(config, embedder, cache, stats, engine)
    memo.context(config, embedder.id, {a: s.id for a, s in stores.items()}, bool(vector_of))
    rules = rule_entries(config, {a: s.id for a, s in stores.items()}, gens, PAIR_SHORTCUT)
    chosen, provided, params_of, skipped = choose_methods(config, gens, scored, questions, log)
    scored_groups = QuestionRows(scored)
    with stats.stage("cluster", log):
        clusters, text_cluster, sample_cluster = _cluster_stage(rules, data, stores, vector_of,
                                                                stats, bar, memo)
    matrices = _graph_stage(config, chosen, rules, stores, scored_groups, qtext, stats, log,
                            bar, stage_notes)

    with stats.stage("score", log), small_matrix_threads():  # many tiny matrices
        source = BuildSource(data, scored_groups, text_cluster, sample_cluster, matrices,
                             vector_of)
        scores = score_all(rules, scored_groups, source, chosen, params_of, provided,
                           questions["question_id"], bar, engine, samples=scored, memo=memo)

    with stats.stage("judge", log):
        judge_info: dict = {}
        skipped_judges: dict[str, str] = {}
        judge_specs: dict[str, str] = {}
        correct = judge_run(questions, gens, texts, config.judges, embedder, stores,
                            cache=cache, info=judge_info, skipped=skipped_judges, memo=memo,
                            labels=judge_specs)
        for judge_label, reason in skipped_judges.items():
            log(f"skipped judge {judge_label}: {reason}")

    with stats.stage("supervised", log):
        hidden, probes = _supervised_stage(config, data, correct, scores, rules, log, cache,
                                           stats, stage_notes)
        scores = pd.concat([scores, probes.scores], ignore_index=True)

    with stats.stage("project", log):
        projection = project_stage(config, data, text_vectors, embedder, cache, stats)

    _count_pairs(stats, stores)
    stats.counts.update(memo.memo.counts())
    stage_notes.update(memo.notes())
    manifest = make_manifest(
        config=config, out_dir=out_dir, inputs=inputs, dataset=data.dataset,
        questions=questions, rules=rules, chosen=chosen, provided=provided,
        params_of=params_of, skipped=skipped, correct=correct, judge_info=judge_info,
        skipped_judges=skipped_judges,
        stores=stores, embedder_id=embedder.id, stats=stats, stage_notes=stage_notes,
        probes=probes, hidden=hidden, engine=engine.describe(), input_hashes=input_hashes)
    manifest["timings"]["total"] = round(time.perf_counter() - started, 3)
    tables = _tables(data, _pairs_table(stores, texts, qtext), clusters, scores, correct,
                     projection, text_vectors)
    if hidden is not None:
        tables["hidden_states"] = hidden
    summary_keys = memo.summary_keys(rules, judge_specs, scores)
    write_run(out_dir, tables, manifest, finish=lambda folder, m: write_summaries(
        folder, m, memo=memo.memo, keys=summary_keys))
    memo.memo.trim()
    cache.close()
    return manifest


def _embedder(config, data, cache, stats, engine):
    """The model behind the build's embeddings, or the input's own vectors."""
    from uqlens.build.provided_embeddings import PROVIDED, ProvidedEmbedder, answer_vectors

    if config.embedder != PROVIDED:
        return CachedEmbedder(config.embedder, cache, stats, engine)
    vectors = answer_vectors(data.gens, data.texts)
    return ProvidedEmbedder(data.texts, vectors, data.qtext, config.condition_on_question)


def _embed_stage(config, data, embedder, stats, log, stage_notes):
    """``(question-conditioned vector per unique text, {(qid, text): vector})``, or
    ``(None, {})`` when nothing needs them (the stage is skipped, and says why)."""
    gens, texts, qtext = data.gens, data.texts, data.qtext
    prefix = (lambda q: f"{q} ") if config.condition_on_question else (lambda q: "")
    embed_reasons = embedding_reasons(
        config, bool("provided_cluster" in gens and gens["provided_cluster"].notna().any()))
    if getattr(embedder, "provided", False):  # free, and the map reads them
        embed_reasons = embed_reasons or ["the input's own vectors (--embedder provided)"]
    text_vectors, vector_of = None, {}
    stage_notes["embed"] = ("ran: " + "; ".join(embed_reasons)) if embed_reasons else (
        "skipped: nothing needs question-conditioned embeddings (no embedding rule, no cosine "
        "pairs, map of answers only)")
    if embed_reasons:
        with stats.stage("embed", log):
            qids, strs = texts["question_id"].tolist(), texts["text"].tolist()
            keys = [prefix(qtext[q]) + t for q, t in zip(qids, strs, strict=True)]
            # one call: the engine embeds the cache misses in chunks (in parallel on Ray)
            text_vectors = embedder.embed(keys) if keys else np.zeros((0, 384), dtype=np.float32)
            vector_of = dict(zip(zip(qids, strs, strict=True), text_vectors, strict=True))
    return text_vectors, vector_of


def _pair_stores(config, embedder, cache, stats, engine) -> dict[str, PairStore]:
    """One pair store per entailment backend alias, ``cosine`` always among them."""
    stores: dict[str, PairStore] = {}
    for alias, spec in config.aliases.items():
        stores[alias] = PairStore(alias, spec, embedder, cache, stats,
                                  config.condition_on_question, config.batch_size,
                                  config.nli_dtype, engine)
    return stores


def _cluster_stage(rules, data, stores, vector_of, stats, bar, memo=None):
    """``(clusters table, {(rule key, qid): cluster id per text id}, {qid: {sample_id:
    cluster id}} of the provided rule)``."""
    from uqlens.core import clustering

    gens = data.gens
    text_lists = {qid: texts.tolist() for qid, texts in QuestionRows(
        data.texts[["question_id", "text"]]).column("text").items()}
    cluster_rows = []
    text_cluster = cluster_all([r for r in rules if r["rule"] != PROVIDED_RULE], text_lists,
                               data.qtext, stores, vector_of, bar, memo, data.texts)
    sample_cluster: dict[str, dict[str, int]] = {}
    for spec in rules:
        if spec["rule"] == PROVIDED_RULE:
            for qid, group in QuestionRows(gens).items():
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
        cluster_rows.append(_rule_cluster_rows(spec["key"], gens, text_cluster))
    clusters = pd.concat(cluster_rows, ignore_index=True) if cluster_rows else pd.DataFrame()
    return clusters, text_cluster, sample_cluster


def _rule_cluster_rows(key: str, gens: pd.DataFrame, text_cluster: dict) -> pd.DataFrame:
    """The ``clusters`` rows of one computed rule, every generation in table order (its
    questions' rows are contiguous): its text's cluster, and whether it is the cluster's
    first member (:func:`uqlens.core.clustering.representatives`)."""
    qid = gens["question_id"].to_numpy()
    first = np.flatnonzero(np.r_[True, qid[1:] != qid[:-1]]) if len(qid) else np.zeros(
        0, dtype=np.int64)
    bounds = np.r_[first, len(qid)].tolist()
    text_ids = gens["text_id"].to_numpy(dtype=np.int64)
    ids = np.concatenate([text_cluster[(key, qid[a])][text_ids[a:b]]
                          for a, b in zip(bounds[:-1], bounds[1:], strict=True)]) if len(
        qid) else np.zeros(0, dtype=np.int64)
    rep = ~pd.DataFrame({"q": qid, "c": ids}).duplicated().to_numpy()
    return pd.DataFrame({"question_id": gens["question_id"].to_numpy(),
                         "sample_id": gens["sample_id"].to_numpy(), "rule": key,
                         "cluster_id": ids.astype(np.int64), "is_representative": rep})


def _graph_stage(config, chosen, rules, stores, scored_groups, qtext, stats, log, bar,
                 stage_notes) -> dict:
    """``{(alias, qid): (entail, contradict)}`` over each question's unique scored texts,
    for every rule's affinity backend; empty when no chosen method reads them."""
    matrices: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    graph_methods = [m.id for m in chosen if "entailment" in m.needs]
    stage_notes["entailment"] = (
        f"ran: graph pairs for {', '.join(graph_methods)}" if config.graph_pairs and graph_methods
        else "skipped: " + ("graph_pairs is off" if not config.graph_pairs
                            else "no chosen method needs entailment pairs"))
    if config.graph_pairs and graph_methods:
        with stats.stage("entailment", log):
            matrices = graph_matrices(
                stores, sorted({r["affinity_backend"] for r in rules}),
                {q: list(dict.fromkeys(texts.tolist()))
                 for q, texts in scored_groups.column("text").items()}, qtext, bar)
    return matrices


def _supervised_stage(config, data, correct, scores, rules, log, cache, stats, stage_notes):
    """``(hidden-state table or None, probes)``: the supervised probes' scores, method info
    and skipped methods (see :mod:`uqlens.build.probes`); fits whose inputs are unchanged
    are read from ``cache`` (counted in the manifest, said in its stage notes)."""
    from uqlens.build.probes import hidden_state_table, supervised_stage

    hidden = hidden_state_table(data.gens)
    fits: dict[str, int] = {}
    probes = supervised_stage(
        data.gens, hidden, correct, scores, data.questions["question_id"],
        [r["key"] for r in rules],
        judge=config.probe_judge or (correct["judge"].iloc[0] if len(correct) else None),
        wanted=config.methods, params=config.method_params,
        memo=cache.memo("probe_fit"), stats=fits)
    stats.counts.update(fits)
    if fits:
        stage_notes["supervised"] = (
            f"ran: {fits.get('probe_fits_computed', 0)} probe fits computed, "
            f"{fits.get('probe_fits_from_cache', 0)} read from the cache (same hidden states, "
            "labels and settings)")
    for method_id, reason in probes.skipped.items():
        log(f"skipped method {method_id}: {reason}")
    return hidden, probes


def _tables(data, pairs, clusters, scores, correct, projection, text_vectors) -> dict:
    """The run's tables; ``text_embeddings`` only when the embed stage ran."""
    gens = data.gens
    tables = {
        "questions": data.questions,
        "generations": gens.drop(columns=[c for c in ("embedding", "hidden_state") if c in gens]),
        "texts": data.texts, "pairs": pairs, "clusters": clusters, "scores": scores,
        "correctness": correct, "projection": projection,
    }
    if text_vectors is not None:
        # One vector per unique text, in float16: a tenth of one float32 vector per sample,
        # plenty for re-projection and cosine re-clustering; Run.table("embeddings") expands it.
        tables["text_embeddings"] = data.texts[["question_id", "text_id"]].assign(
            embedding=[np.asarray(v, dtype=np.float16) for v in text_vectors])
    return tables


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
    text_id = {(q, t): i for q, i, t in zip(texts["question_id"].tolist(),
                                            texts["text_id"].tolist(), texts["text"].tolist(),
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
