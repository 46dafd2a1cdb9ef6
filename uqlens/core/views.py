"""One way to assemble what a method reads about a question: :func:`question_view`.

A :class:`~uqlens.core.methods.QuestionView` is built from a :class:`ViewSource`: during a
build the source is the build's memory (clusters just formed, pair matrices just computed),
afterwards it is a built run's tables (:class:`uqlens.run.rescore.Replay`). The build, the
re-scoring, the sensitivity sweeps and the Question page all go through :func:`question_view`
and :func:`score_view`, so the same inputs give the same scores everywhere.

Also here: :class:`RuleSpec`, a clustering rule as a build records it in the manifest
(``manifest["rules"]``), :data:`PROVIDED_RULE` and the pair shortcut policy
(:func:`shortcut_entails`): which pairs a build never asks a model about, so that a replay
treats exactly those pairs as entailing and every pair the build used is recoverable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from uqlens.core import clustering

PROVIDED_RULE = "provided"
"""Rule key of the clusters a peer tool saved (``generations.provided_cluster``)."""

SAME_TEXT = "same_text"
"""Shortcut policy of current builds: pairs equal under :func:`uqlens.core.text.same_text`."""
SQUAD_NORMALISED = "squad-normalised"
"""Shortcut policy of builds before it was recorded: pairs equal after SQuAD normalisation."""
SHORTCUTS = (SAME_TEXT, SQUAD_NORMALISED)

SCORE_ERRORS = (ValueError, FloatingPointError, ZeroDivisionError, np.linalg.LinAlgError)
"""What a method may raise for a question it cannot score: the score becomes NaN. Anything
else (a ``TypeError`` from bad parameters, say) is a bug and propagates, in a build and in a
sweep alike."""


class MissingPair(LookupError):
    """An entailment pair the source does not hold (and cannot recompute)."""


class NotRecomputable(ValueError):
    """A provided method's scores or the ``provided`` rule's clusters: stored, but not the
    means to recompute them (another rule, threshold or sub-sample)."""


def shortcut_key(policy: str, text: str) -> str | None:
    """What two texts must share for a build under ``policy`` to skip the model; None: the
    text matches only itself."""
    if policy == SAME_TEXT:
        from uqlens.core.text import same_text_key

        return same_text_key(text)
    if policy == SQUAD_NORMALISED:
        from uqlens.core.text import normalize_answer

        return normalize_answer(text) or None
    raise ValueError(f"unknown pair shortcut policy {policy!r}; expected one of {SHORTCUTS}")


def shortcut_entails(policy: str, a: str, b: str) -> bool:
    """Whether a build under ``policy`` took ``a`` entails ``b`` as given (1, 0, 0) without
    asking a model. Identical strings always do."""
    if a == b:
        return True
    key = shortcut_key(policy, a)
    return key is not None and key == shortcut_key(policy, b)


@dataclass(frozen=True)
class RuleSpec:
    """A clustering rule as a build records it (one ``manifest["rules"]`` entry).

    ``key``: the rule key with its backend (``threshold:0.9@cosine``); ``rule_key``: the rule
    alone; ``backend``: the alias whose pairs form entailment clusters; ``affinity_backend``:
    the alias whose pairs feed the graph methods; ``shortcut``: the pair shortcut policy.
    """

    key: str
    rule_key: str
    backend: str | None
    affinity_backend: str
    shortcut: str = SAME_TEXT
    backend_id: str | None = None

    @property
    def is_provided(self) -> bool:
        return self.rule_key == PROVIDED_RULE

    @property
    def rule(self) -> clustering.Rule | None:
        return None if self.is_provided else clustering.parse_rule(self.rule_key)

    @classmethod
    def parse(cls, key: str, affinity_backend: str | None = None,
              shortcut: str = SAME_TEXT) -> RuleSpec:
        """``"threshold:0.8@cosine"`` → rule ``threshold:0.8`` on backend ``cosine``;
        ``"provided"`` → the source tool's clusters (read, never re-formed). The graph
        methods read ``affinity_backend``, else the rule's own backend, else ``cosine``.
        Raises ValueError for a key that is not a rule."""
        rule_key, _, backend = key.partition("@")
        if rule_key == PROVIDED_RULE:
            return cls(key, PROVIDED_RULE, None, affinity_backend or "cosine", shortcut)
        rule = clustering.parse_rule(rule_key)
        backend = backend or None
        if rule.needs == "entailment" and backend is None:
            raise ValueError(f"rule {key!r} needs an entailment backend: {rule_key}@BACKEND")
        aff = affinity_backend or (backend if rule.needs == "entailment" else "cosine")
        return cls(key, rule.key, backend, aff, shortcut)

    @classmethod
    def from_manifest(cls, entry: Mapping, unrecorded: str = SQUAD_NORMALISED) -> RuleSpec:
        """The spec of a manifest rules entry; an entry written before the shortcut was
        recorded gets ``unrecorded`` (see :func:`unrecorded_shortcut`)."""
        shortcut = entry.get("shortcut") or unrecorded
        key = entry["key"]
        if PROVIDED_RULE in (entry.get("rule"), entry.get("rule_key"), key):
            return cls(key, PROVIDED_RULE, None, entry.get("affinity_backend") or "cosine",
                       shortcut, entry.get("backend_id"))
        rule_key = entry.get("rule_key") or clustering.parse_rule(key.partition("@")[0]).key
        aff = entry.get("affinity_backend") or entry.get("backend") or "cosine"
        return cls(key, rule_key, entry.get("backend"), aff, shortcut, entry.get("backend_id"))

    def to_manifest(self) -> dict:
        """The manifest rules entry of this spec (the inverse of :meth:`from_manifest`)."""
        entry = {"key": self.key, "rule": PROVIDED_RULE, "rule_key": self.rule_key,
                 "backend": self.backend, "affinity_backend": self.affinity_backend,
                 "backend_id": self.backend_id, "params": {}, "shortcut": self.shortcut}
        if self.is_provided:
            entry.update(source="generations.provided_cluster",
                         note="the source tool's clusters; an answer it did not cluster (the "
                              "judged answer) takes the cluster of an identical sampled text, "
                              "else a new cluster of its own")
        else:
            entry.update(rule=self.rule.name, params=dict(self.rule.params))
        return entry


def unrecorded_shortcut(manifest: Mapping) -> str:
    """The shortcut policy of a run whose rules do not record one: builds that wrote the
    manifest's ``stages`` already short-cut only :data:`SAME_TEXT` pairs (both came in one
    change); older builds short-cut SQuAD-equal answers."""
    return SAME_TEXT if "stages" in manifest else SQUAD_NORMALISED


class ViewSource(Protocol):
    """What :func:`question_view` reads about one question ``qid``.

    Texts are identified by their text id: the index among the question's unique texts.
    """

    def question(self, qid: str) -> str:
        """The question's text."""

    def texts(self, qid: str) -> Sequence[str]:
        """The question's unique answer texts, by text id."""

    def judged(self, qid: str) -> Mapping | None:
        """The judged answer's generation row (``sample_id``, ``text_id``, ``text`` and the
        optional ``logprob_sum``, ``num_tokens``, ``p_true``, ``verbalized_confidence``);
        None when the question has none."""

    def clusters(self, rule: RuleSpec, qid: str) -> Mapping:
        """Cluster ids under ``rule``: by text id, or by sample id under the provided rule."""

    def matrices(self, backend: str, qid: str,
                 text_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """``entail[i, j]``, ``contradict[i, j]`` over ``text_ids``; raises
        :class:`MissingPair` when a pair is unknown."""

    def vectors(self, qid: str, text_ids: Sequence[int]) -> np.ndarray | None:
        """One embedding per text id, or None when the source has none."""


def opt(row: Mapping | None, name: str):
    """``row[name]``, or None when the row, the field or its value is missing (None/NaN/NA)."""
    if row is None:
        return None
    value = row.get(name) if hasattr(row, "get") else None
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):  # an array-like value is never "missing"
        pass
    return value


def greedy_cluster(judged: Mapping | None, judged_of, cluster_ids: np.ndarray) -> int | None:
    """The judged answer's cluster when a sample shares it, else -1 (None without one)."""
    if judged is None:
        return None
    if judged_of is None or int(judged_of) not in set(cluster_ids.tolist()):
        return -1
    return int(judged_of)


@dataclass(frozen=True)
class SampleRows:
    """One question's scored samples as plain values, in order: what :func:`question_view`
    reads of its ``samples`` rows. ``logprob_sum`` / ``num_tokens`` are None unless every
    sample has one (``num_tokens`` only counts with ``logprob_sum``)."""

    sample_id: Sequence
    text_id: list[int]
    logprob_sum: np.ndarray | None = None
    num_tokens: np.ndarray | None = None

    @classmethod
    def of(cls, samples: pd.DataFrame) -> SampleRows:
        logprob, num = _logprobs(samples)
        sample_ids = samples["sample_id"].tolist() if "sample_id" in samples else []
        return cls(sample_ids, samples["text_id"].astype(int).tolist(), logprob, num)


def _sample_clusters(source: ViewSource, qid: str, rule: RuleSpec, samples: SampleRows,
                     judged: Mapping | None, cluster_of: Mapping | None):
    """``(cluster id per sample, the judged answer's cluster id or None)``."""
    if cluster_of is None and rule.is_provided:
        stored = source.clusters(rule, qid)
        try:
            ids = np.array([stored[s] for s in samples.sample_id], dtype=np.int64)
        except KeyError as err:
            raise NotRecomputable(f"{qid}: sample {err} has no stored cluster under "
                                  f"{rule.key!r}") from None
        return ids, None if judged is None else stored.get(judged["sample_id"])
    if cluster_of is None:
        cluster_of = source.clusters(rule, qid)
    ids = np.array([cluster_of[t] for t in samples.text_id], dtype=np.int64)
    return ids, None if judged is None else cluster_of.get(int(judged["text_id"]))


def graph_matrices(source: ViewSource, backend: str, qid: str, tids: list[int]):
    """Entail and contradict matrices over the samples' text ids; (None, None) when a pair is
    missing (the graph methods then give NaN)."""
    if not tids:
        return None, None
    unique = list(dict.fromkeys(tids))
    try:
        e, c = source.matrices(backend, qid, unique)
    except MissingPair:
        return None, None
    pos = {t: i for i, t in enumerate(unique)}
    index = np.array([pos[t] for t in tids])
    return e[np.ix_(index, index)], c[np.ix_(index, index)]


def _logprobs(samples: pd.DataFrame):
    """``(logprob_sum, num_tokens)`` of the samples, each None unless every sample has it."""
    logprob = num = None
    if "logprob_sum" in samples and samples["logprob_sum"].notna().all():
        logprob = samples["logprob_sum"].to_numpy(dtype=float)
        if "num_tokens" in samples and samples["num_tokens"].notna().all():
            num = samples["num_tokens"].to_numpy(dtype=float)
    return logprob, num


def question_view(source: ViewSource, qid: str, rule: RuleSpec,
                  samples: pd.DataFrame | SampleRows, *,
                  cluster_of: Mapping[int, int] | None = None, graph: bool = True):
    """The :class:`~uqlens.core.methods.QuestionView` of ``samples`` (the scored sample rows
    of ``qid``, in order: ``sample_id``, ``text_id``, optional ``logprob_sum``,
    ``num_tokens``; or the same as :class:`SampleRows`) under ``rule``.

    ``cluster_of`` (``{text_id: cluster_id}`` over the samples' and the judged answer's
    texts) replaces the source's clusters, for re-clustering at another rule or sub-sample.
    ``graph=False`` leaves the entailment matrices out. Raises :class:`MissingPair` when the
    clusters need a pair the source lacks; a missing graph pair leaves ``entail`` None.
    """
    from uqlens.core.methods import QuestionView

    if not isinstance(samples, SampleRows):
        samples = SampleRows.of(samples)
    judged = source.judged(qid)
    cluster_ids, judged_of = _sample_clusters(source, qid, rule, samples, judged, cluster_of)
    tids = samples.text_id
    entail, contradict = graph_matrices(source, rule.affinity_backend, qid, tids) if graph else (
        None, None)
    logprob, num = samples.logprob_sum, samples.num_tokens
    texts = source.texts(qid)
    return QuestionView(
        question_id=qid,
        question=source.question(qid),
        texts=tuple(texts[t] for t in tids),
        cluster_ids=cluster_ids,
        logprob_sum=logprob,
        num_tokens=num,
        entail=entail,
        contradict=contradict,
        embeddings=source.vectors(qid, tids) if tids else None,
        greedy_text=None if judged is None else judged["text"],
        greedy_cluster=greedy_cluster(judged, judged_of, cluster_ids),
        greedy_logprob_sum=opt(judged, "logprob_sum"),
        greedy_num_tokens=opt(judged, "num_tokens"),
        p_true=opt(judged, "p_true"),
        verbalized_confidence=opt(judged, "verbalized_confidence"),
    )


def with_clusters(view, source: ViewSource, qid: str, sample_tids: Sequence[int],
                  cluster_of: Mapping[int, int]):
    """``view`` (of samples with text ids ``sample_tids``) with other clusters: what
    :func:`question_view` gives for the same samples and ``cluster_of``, nothing else rebuilt."""
    judged = source.judged(qid)
    ids = np.array([cluster_of[int(t)] for t in sample_tids], dtype=np.int64)
    judged_of = None if judged is None else cluster_of.get(int(judged["text_id"]))
    return dataclasses.replace(view, cluster_ids=ids,
                               greedy_cluster=greedy_cluster(judged, judged_of, ids))


def sub_view(full, source: ViewSource, qid: str, rule: RuleSpec, samples: pd.DataFrame,
             pick: np.ndarray, cluster_of: Mapping[int, int], *, graph: bool = True):
    """:func:`question_view` of ``samples.iloc[pick]`` given ``full``, the view of all of
    ``samples`` (same ``graph``): rows are sliced from ``full`` (the pairs of two answers do
    not depend on the others) instead of being read again."""
    pick = np.asarray(pick, dtype=np.int64)
    sub = samples.iloc[pick]
    tids = sub["text_id"].astype(int).tolist()
    entail = contradict = None
    if graph and tids:
        if full.entail is not None:
            rows = np.ix_(pick, pick)
            entail, contradict = full.entail[rows], full.contradict[rows]
        else:  # the full graph missed a pair; this sub-sample may not need it
            entail, contradict = graph_matrices(source, rule.affinity_backend, qid, tids)
    logprob, num = _logprobs(sub)
    texts = source.texts(qid)
    view = dataclasses.replace(
        full, texts=tuple(texts[t] for t in tids), logprob_sum=logprob, num_tokens=num,
        entail=entail, contradict=contradict,
        embeddings=source.vectors(qid, tids) if tids else None)
    return with_clusters(view, source, qid, tids, cluster_of)


def score_view(view, methods: Iterable[str], params: Mapping[str, Mapping]) -> dict[str, float]:
    """Every method's uncertainty for one view, with ``params[method]`` (missing: the
    method's defaults). A method raising one of :data:`SCORE_ERRORS` gives NaN; a method the
    registry does not know (a provided method) raises :class:`NotRecomputable`."""
    from uqlens.core import methods as registry

    out = {}
    for m in methods:
        if m not in registry.REGISTRY:
            raise NotRecomputable(f"method {m!r} is not a uqlens method (provided by the "
                                  "source tool?); its scores cannot be recomputed")
        method = registry.REGISTRY[m]
        kwargs = {**dict(method.defaults), **dict(params.get(m) or {})}
        try:
            out[m] = float(method.score(view, **kwargs))
        except SCORE_ERRORS:
            out[m] = float("nan")
    return out
