"""The build's stages that are not about models: reading the data, choosing rules and methods,
scoring (through :func:`uqlens.core.views.question_view`), judging and projecting.

The model-backed stages (embedding, entailment pairs, clustering) live in
:mod:`uqlens.build.pipeline`; :func:`uqlens.build.pipeline.build` runs them all in order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from uqlens.build.config import BuildConfig, BuildError
from uqlens.core.views import PROVIDED_RULE, MissingPair, RuleSpec, score_view


@dataclass
class Ingested:
    """The build's input: questions, ordered generations with text ids, unique texts."""

    dataset: object
    questions: pd.DataFrame
    gens: pd.DataFrame
    texts: pd.DataFrame
    qtext: dict[str, str]


def ingest(inputs: Sequence[Path], stats) -> Ingested:
    """Load the input file(s); order each question's generations (judged answer first) and
    number its unique texts."""
    from uqlens.data.loaders import load, load_many

    dataset = load(inputs[0]) if len(inputs) == 1 else load_many(inputs)
    questions = dataset.questions.reset_index(drop=True)
    gens, texts = _texts_table(_order_generations(dataset.generations))
    qtext = dict(zip(questions["question_id"].tolist(), questions["question"].tolist(),
                     strict=True))
    stats.counts.update(questions=len(questions), samples=len(gens), unique_texts=len(texts))
    return Ingested(dataset, questions, gens, texts, qtext)


def _order_generations(gens: pd.DataFrame) -> pd.DataFrame:
    """Judged answer first, then samples in input order: the representative of a cluster is
    its first member, so the judged answer represents its own cluster."""
    gens = gens.copy()
    gens["_pos"] = np.arange(len(gens))
    gens["_greedy_first"] = ~gens["is_greedy"].astype(bool)
    gens = gens.sort_values(["question_id", "_greedy_first", "_pos"], kind="stable")
    return gens.drop(columns=["_pos", "_greedy_first"]).reset_index(drop=True)


def _texts_table(gens: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``gens`` with ``text_id`` (a text's index among its question's distinct texts, in
    order of first appearance) and the ``texts`` table (one row per distinct text)."""
    gens = gens.copy()
    # groups are numbered in order of first appearance; ranked within each question
    first_seen = gens.groupby(["question_id", "text"], sort=False).ngroup()
    text_ids = first_seen.groupby(gens["question_id"].to_numpy()).rank(method="dense") - 1
    gens["text_id"] = text_ids.to_numpy(dtype=np.int64)
    texts = gens.drop_duplicates(["question_id", "text_id"])[
        ["question_id", "text_id", "text"]].reset_index(drop=True)
    counts = gens.groupby(["question_id", "text_id"]).size().rename("n_samples").reset_index()
    texts = texts.merge(counts, on=["question_id", "text_id"], how="left")
    return gens, texts


class QuestionRows(Mapping):
    """``{question id: its rows of frame}``, in order of first appearance, sliced on demand.

    A build's tables hold each question's rows as one consecutive block; ``groupby`` would
    materialise a frame per question up front (seconds at 10,000 questions) where most
    readers need one column as arrays (:meth:`column`). A frame whose questions' rows are
    not consecutive is grouped as before."""

    def __init__(self, frame: pd.DataFrame):
        q = frame["question_id"].to_numpy()
        first = np.flatnonzero(np.r_[True, q[1:] != q[:-1]]) if len(q) else np.zeros(0, int)
        self.frame, self.qids = frame, q[first].tolist()
        self._groups = None
        if len(set(self.qids)) != len(self.qids):  # blocks not consecutive
            self._groups = {k: g for k, g in frame.groupby("question_id", sort=False)}
            self.qids = list(self._groups)
        bounds = np.r_[first, len(q)].tolist()
        self._at = {k: (a, b) for k, a, b in zip(self.qids, bounds[:-1], bounds[1:],
                                                  strict=False)}

    def __getitem__(self, qid):
        if self._groups is not None:
            return self._groups[qid]
        a, b = self._at[qid]
        return self.frame.iloc[a:b]

    def __iter__(self):
        return iter(self.qids)

    def __len__(self):
        return len(self.qids)

    def column(self, name: str) -> dict:
        """``{question id: its rows' values of column name}`` (numpy arrays, no frames)."""
        if self._groups is not None:
            return {k: g[name].to_numpy() for k, g in self._groups.items()}
        values = self.frame[name].to_numpy()
        return {k: values[a:b] for k, (a, b) in self._at.items()}


def scored_samples(gens: pd.DataFrame, temperature: float | None) -> pd.DataFrame:
    """The samples the methods score: every non-greedy one, at ``temperature`` when set."""
    mask = ~gens["is_greedy"].astype(bool)
    if temperature is not None:
        if "temperature" not in gens or not (
            np.isclose(gens["temperature"], temperature) & mask
        ).any():
            raise BuildError(f"no samples at temperature {temperature}")
        mask &= np.isclose(gens["temperature"].astype(float), temperature)
    return gens[mask]


def rule_entries(config: BuildConfig, backend_ids: Mapping[str, str], gens: pd.DataFrame,
                 shortcut: str) -> list[dict]:
    """The manifest ``rules``: one :meth:`RuleSpec.to_manifest` entry per configured rule
    (already checked by :class:`BuildConfig`), then ``provided`` when the data has the source
    tool's clusters. ``backend_ids``: ``{alias: backend id}``; ``shortcut``: the policy
    under which the pair stores answer pairs without a model."""
    has_provided = bool("provided_cluster" in gens and gens["provided_cluster"].notna().any())
    if PROVIDED_RULE in config.rules and not has_provided:
        raise BuildError(f"rule {PROVIDED_RULE!r} needs generations.provided_cluster (an import "
                         "of a tool that saves its clusters); this data has none")
    keys = [k for k in config.rules if k != PROVIDED_RULE]
    specs = [RuleSpec.parse(k, config.graph_backend, shortcut) for k in keys]
    if has_provided:  # after the computed rules: the default rule stays a computed one
        specs.append(RuleSpec.parse(PROVIDED_RULE, shortcut=shortcut))
    return [{**spec.to_manifest(), "backend_id": backend_ids[spec.affinity_backend]}
            for spec in specs]


def choose_methods(config: BuildConfig, gens: pd.DataFrame, scored: pd.DataFrame,
                   questions: pd.DataFrame, log: Callable[[str], None]):
    """``(registry methods to score, {provided method: {qid: score}}, {method: params},
    {skipped method: why})``: what the data can feed (:mod:`uqlens.core.needs`), narrowed
    to ``config.methods``."""
    from uqlens.core import methods
    from uqlens.core.methods import supervised
    from uqlens.core.needs import available_needs

    chosen, skipped = methods.applicable(available_needs(gens, scored))
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
    params_of = {m.id: {**dict(m.defaults), **config.method_params.get(m.id, {})}
                 for m in chosen}
    params_of.update({m: {} for m in provided})
    return chosen, provided, params_of, skipped


class BuildSource:
    """The build's memory as a :class:`uqlens.core.views.ViewSource`.

    ``text_cluster``: ``{(rule key, qid): cluster id per text id}``; ``sample_cluster``:
    ``{qid: {sample_id: cluster id}}`` of the provided rule; ``matrices``: ``{(alias, qid):
    (entail, contradict)}`` over the question's unique scored texts in order of first
    appearance; ``vector_of``: ``{(qid, text): vector}``.
    """

    def __init__(self, data: Ingested, scored_groups: Mapping[str, pd.DataFrame],
                 text_cluster, sample_cluster, matrices, vector_of):
        self._data, self._text_cluster, self._sample_cluster = data, text_cluster, sample_cluster
        self._matrices, self._vector_of = matrices, vector_of
        self._texts: dict[str, list[str]] = {}
        for q, text in zip(data.texts["question_id"].tolist(), data.texts["text"].tolist(),
                           strict=True):
            self._texts.setdefault(q, []).append(text)
        greedy = data.gens[data.gens["is_greedy"].astype(bool)].drop_duplicates("question_id")
        # each judged answer's row as a mapping (one conversion, not a group per question)
        self._judged = dict(zip(greedy["question_id"], greedy.to_dict("records"), strict=True))
        # text id -> row/column of the graph matrices (unique scored texts, first seen first)
        text_ids = scored_groups.column("text_id") if isinstance(
            scored_groups, QuestionRows) else {q: g["text_id"].to_numpy()
                                               for q, g in scored_groups.items()}
        self._graph_pos = {q: {t: i for i, t in enumerate(dict.fromkeys(ids.tolist()))}
                           for q, ids in text_ids.items()}

    def question(self, qid):
        return self._data.qtext[qid]

    def texts(self, qid):
        return self._texts[qid]

    def judged(self, qid):
        return self._judged.get(qid)

    def text_clusters(self, rule: RuleSpec) -> dict[str, np.ndarray] | None:
        """``{qid: cluster id per text id}`` of a computed rule (None for ``provided``)."""
        if rule.is_provided:
            return None
        return {q: ids for (key, q), ids in self._text_cluster.items() if key == rule.key}

    def clusters(self, rule: RuleSpec, qid):
        if rule.is_provided:
            return self._sample_cluster.get(qid, {})
        return dict(enumerate(self._text_cluster[(rule.key, qid)].tolist()))

    def matrices(self, backend, qid, text_ids):
        if (backend, qid) not in self._matrices:
            raise MissingPair(f"{backend}: no graph pairs for {qid}")
        e, c = self._matrices[(backend, qid)]
        index = np.array([self._graph_pos[qid][int(t)] for t in text_ids])
        return e[np.ix_(index, index)], c[np.ix_(index, index)]

    def vectors(self, qid, text_ids):
        if not self._vector_of:  # the embed stage did not run
            return None
        texts = self._texts[qid]
        return np.stack([self._vector_of[(qid, texts[int(t)])] for t in text_ids])


def score_all(rules: list[dict], scored_groups: Mapping[str, pd.DataFrame], source,
              chosen, params_of: dict, provided: dict, question_ids, bar,
              engine=None, samples: pd.DataFrame | None = None, memo=None) -> pd.DataFrame:
    """The ``scores`` table: every chosen method under every rule, plus the tool's own
    scores (one value per question repeated under every rule; NaN where it left a question
    unscored). Methods with a batch form score a rule's questions at once; the others score
    views, made here, in batches of :data:`uqlens.build.engine.SCORE_CHUNK` through
    ``engine`` (Ray tasks on the Ray engine); see :mod:`uqlens.build.scoring`. ``samples``:
    the rows of ``scored_groups`` as one frame, when the caller has it; ``memo``: see
    :func:`uqlens.build.scoring.score_table`."""
    from uqlens.build.scoring import score_table

    rows = []
    for method_id, values in provided.items():
        for entry in rules:
            rows.extend((qid, entry["key"], method_id, values.get(qid, float("nan")))
                        for qid in question_ids)
    scores = pd.concat([score_table(rules, scored_groups, source, chosen, params_of, bar,
                                    engine, samples, memo),
                        pd.DataFrame(rows, columns=["question_id", "rule", "method",
                                                    "uncertainty"])], ignore_index=True)
    params = {m: json.dumps(p, sort_keys=True) for m, p in params_of.items()}
    scores["params"] = scores["method"].map(params)
    return scores


def score_views(batch: list[tuple[str, object]], ids: list[str], params_of: dict) -> list:
    """``(question id, rule key, method, uncertainty)`` rows of ``(rule key, view)`` items."""
    return [(view.question_id, key, m, u) for key, view in batch
            for m, u in score_view(view, ids, params_of).items()]


def project_stage(config: BuildConfig, data: Ingested, text_vectors: np.ndarray,
                  embedder, cache=None, stats=None) -> pd.DataFrame:
    """2-D coordinates of every sample (its text's); read from ``cache`` when the same
    vectors were projected with the same parameters before."""
    from uqlens.core.projection import project

    texts = data.texts
    # The map places answers by their own meaning, so that "Spanish" sits near "Spanish"
    # across questions; question-conditioned vectors would give one island per question.
    # The input's own vectors (--embedder provided) are never conditioned.
    own = getattr(embedder, "provided", False)
    vectors = text_vectors if own or config.projection_text == "question+answer" else (
        embedder.embed(texts["text"].tolist()) if len(texts)
        else np.zeros((0, 384), dtype=np.float32))
    params = {"method": config.projection, "n_neighbors": config.n_neighbors,
              "min_dist": config.min_dist, "seed": config.seed}
    key = cache.projection_key(np.asarray(vectors), params) if cache is not None else None
    coords = cache.get_projection(key) if key else None
    if coords is None:
        coords = project(vectors, **params)
        if key:
            cache.put_projection(key, coords)
    elif stats is not None:
        stats.counts["projection_from_cache"] = 1
    xy = texts[["question_id", "text_id"]].assign(x=coords[:, 0], y=coords[:, 1])
    return data.gens[["question_id", "sample_id", "text_id"]].merge(
        xy, on=["question_id", "text_id"], how="left").drop(columns="text_id")


def _judge_label(judge_id: str, spec_threshold: str) -> str:
    """``squad_f1`` at its default threshold, ``squad_f1:0.7`` otherwise."""
    from uqlens.core.correctness import JUDGES

    if not spec_threshold or float(spec_threshold) == JUDGES[judge_id].threshold:
        return judge_id
    return f"{judge_id}:{float(spec_threshold):g}"


def _prefetch_reference_pairs(store, questions, per_text) -> None:
    """Ask every (answer, reference) pair of the NLI judge, both directions, in one batch; the
    judge's pair-at-a-time calls then read the store's memo."""
    refs = questions.set_index("question_id")["references"]
    keys = [("", x, y) for q, t in zip(per_text["question_id"], per_text["text"], strict=True)
            for r in refs[q] for x, y in ((t, r), (r, t))]
    store.get_many(keys)


def judge_run(questions, gens, texts, judge_specs, embedder, stores, cache=None,
              info=None, skipped: dict[str, str] | None = None, memo=None,
              labels: dict[str, str] | None = None) -> pd.DataFrame:
    """Judge every unique answer text once per judge, then give each sample its text's label.

    Judge specs: ``id`` or ``id:tau`` (``squad_f1:0.5``); ``nli_reference@ALIAS`` and
    ``llm_reference@ALIAS`` use an entailment backend of the build. ``info`` collects what
    model-backed judges must record in the manifest (prompt, model fingerprint). Reference
    judges judge only the questions that have references; a judge with nothing to judge is
    left out and ``skipped[label]`` says why. ``memo`` (a :class:`uqlens.build.memo.BuildMemo`):
    a judge judged before on the same data and settings is read back; ``labels`` collects
    ``{label: spec}`` of the judges that judged.
    """
    from uqlens.data.schema import missing_references

    skipped = {} if skipped is None else skipped
    info = {} if info is None else info
    unreferenced = set(missing_references(questions))
    referenced = questions[~questions["question_id"].isin(unreferenced)]
    per_text = texts.rename(columns={"text_id": "sample_id"})
    per_text = per_text[~per_text["question_id"].isin(unreferenced)]
    frames = []
    for spec in judge_specs:
        def compute(spec=spec):
            return _judge_one(spec, questions, referenced, gens, per_text, embedder, stores,
                              cache)
        label, frame, reason, entry = (memo.judge(spec, compute) if memo is not None
                                       else compute())
        if entry is not None:
            info[label] = entry
        if reason is not None:
            skipped[label] = reason
            continue
        if labels is not None:
            labels[label] = spec
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["question_id", "sample_id", "judge", "value", "label", "provenance"])


def _judge_one(full_spec, all_questions, questions, gens, per_text, embedder, stores, cache):
    """``(label, frame or None, reason it was skipped or None, judge_info entry or None)`` of
    one judge spec (see :func:`judge_run`)."""
    from uqlens.core import correctness

    spec, _, alias = full_spec.partition("@")
    name, _, tau = spec.partition(":")
    judge = correctness.get_judge(name, float(tau) if tau else None)
    label = _judge_label(name, tau)
    info: dict = {}
    if judge.provenance == "provided":
        if "provided_correct" not in gens or gens["provided_correct"].isna().all():
            return label, None, ("no correctness labels came with the data "
                                 "(generations.provided_correct)"), None
        frame = correctness.judge_frame(judge, all_questions, gens)
    elif questions.empty:
        return label, None, ("needs reference answers and no question has any (add them "
                             "with `uqlens import --questions FILE`)"), None
    elif judge.provenance == "embedding" and getattr(embedder, "provided", False):
        return label, None, ("needs an embedding model for the references; the input's own "
                             "vectors (--embedder provided) cover the answers only"), None
    else:
        if judge.provenance == "embedding":
            frame = _embedding_frame(judge, questions, per_text, embedder)
        elif judge.provenance == "llm":
            frame = _llm_reference_frame(judge, label, alias, questions, per_text, stores,
                                         cache, info)
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
    return label, frame[["question_id", "sample_id", "judge", "value", "label",
                         "provenance"]], None, info.get(label)


def _embedding_frame(judge, questions, per_text, embedder) -> pd.DataFrame:
    """``embedding_similarity``: every unique text against its question's references (and
    known wrong answers), by the embedder's cosine; ``sample_id`` holds the text id."""
    from uqlens.core import correctness

    refs = questions.set_index("question_id")["references"]
    wrong = dict(zip(questions["question_id"], correctness.reference_lists(
        questions, "incorrect_references"), strict=True))
    # one batch for every answer and reference; the loop below reads the memo
    embedder.embed(per_text["text"].tolist() + [
        r for q in per_text["question_id"].unique() for r in refs[q]])
    rows = []
    # Answer against reference, without the question: a shared question prefix would make
    # every answer look close to every reference.
    for q, t_id, text in zip(per_text["question_id"], per_text["sample_id"], per_text["text"],
                             strict=True):
        vec = embedder.embed([text])[0]
        value, ok = judge.judge(vec, embedder.embed(list(refs[q])),
                                incorrect_references=embedder.embed(wrong[q]))
        rows.append((q, t_id, judge.id, value, ok, judge.provenance))
    return pd.DataFrame(rows, columns=["question_id", "sample_id", "judge", "value", "label",
                                       "provenance"])


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
