"""Scoring every method under every rule, fast and exactly as one view at a time would.

:func:`score_table` gives the ``scores`` rows that scoring each question's
:func:`uqlens.core.views.question_view` with :func:`uqlens.core.views.score_view` gives, value
for value, with two savings:

- a method with a :attr:`~uqlens.core.methods.base.Method.batch` form (the cluster-count and
  cluster-likelihood methods) scores a rule's questions all at once from a
  :class:`~uqlens.core.methods.base.ClusterBatch`;
- a method that does not need clusters reads nothing a rule changes but the rule's affinity
  backend (the pairs its graph is built from): it is scored once per affinity backend and its
  scores are repeated under every rule that shares that backend.

Everything else (graph methods, lexical similarity, ...) is scored one view at a time: the
views are made here and scored through the build's engine in batches of
:data:`uqlens.build.engine.SCORE_CHUNK` (Ray tasks on the Ray engine).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from uqlens.core.views import RuleSpec, SampleRows, greedy_cluster, question_view


@dataclass
class FlatSamples:
    """The scored samples of every question, concatenated in question order."""

    question_ids: list[str]
    start: np.ndarray
    text_id: np.ndarray
    sample_id: np.ndarray
    logprob_sum: np.ndarray
    num_tokens: np.ndarray
    has_logprob: np.ndarray
    has_tokens: np.ndarray

    def rows(self, i: int) -> SampleRows:
        """Question ``i``'s samples as :func:`question_view` reads them."""
        a, b = self.start[i], self.start[i + 1]
        return SampleRows(self.sample_id[a:b], self.text_id[a:b].tolist(),
                          self.logprob_sum[a:b] if self.has_logprob[i] else None,
                          self.num_tokens[a:b] if self.has_tokens[i] else None)


def flatten(groups: Mapping[str, pd.DataFrame], samples: pd.DataFrame | None = None
            ) -> FlatSamples:
    """``groups`` (``{question_id: its scored sample rows}``) as flat arrays; ``has_*`` say
    whether every sample of a question has the value (as :func:`question_view` requires).
    ``samples``: the same rows as one frame, used as is when its questions' rows are
    contiguous and in ``groups`` order (gluing many small frames is slow)."""
    qids = list(groups)
    flat, sizes = _contiguous(samples, qids) if samples is not None else (None, None)
    if flat is None:
        frames = list(groups.values())
        sizes = np.array([len(g) for g in frames], dtype=np.int64)
        flat = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=["sample_id", "text_id"])
    seg = np.repeat(np.arange(len(qids)), sizes)

    def column(name):
        if name not in flat:
            return np.full(len(flat), np.nan), np.zeros(len(qids), dtype=bool)
        values = pd.to_numeric(flat[name], errors="coerce").to_numpy(dtype=float,
                                                                      na_value=np.nan)
        missing = np.bincount(seg, weights=np.isnan(values), minlength=len(qids))
        return values, missing == 0

    logprob, has_logprob = column("logprob_sum")
    tokens, has_tokens = column("num_tokens")
    return FlatSamples(qids, np.r_[0, np.cumsum(sizes)].astype(np.int64),
                       flat["text_id"].to_numpy(dtype=np.int64),
                       flat["sample_id"].to_numpy(dtype=object), logprob, tokens,
                       has_logprob, has_tokens & has_logprob)


def _contiguous(samples: pd.DataFrame, qids: list[str]):
    """``(samples, rows per question)`` when ``samples`` holds ``qids``' rows as consecutive
    blocks in that order, else ``(None, None)``."""
    q = samples["question_id"].to_numpy()
    first = np.flatnonzero(np.r_[True, q[1:] != q[:-1]]) if len(q) else np.zeros(0, dtype=int)
    if len(first) != len(qids) or q[first].tolist() != qids:
        return None, None
    return samples.reset_index(drop=True), np.diff(np.r_[first, len(q)]).astype(np.int64)


def cluster_batch(source, rule: RuleSpec, flat: FlatSamples):
    """The :class:`~uqlens.core.methods.base.ClusterBatch` of ``rule``: each sample's
    cluster and each judged answer's, read from ``source`` as :func:`question_view` reads
    them."""
    from uqlens.core.methods import ClusterBatch

    fast = _text_cluster_batch(source, rule, flat)
    if fast is not None:
        ids, greedy = fast
        return ClusterBatch(flat.start, ids, flat.logprob_sum, flat.num_tokens,
                            flat.has_logprob, flat.has_tokens, greedy)
    ids = np.empty(len(flat.text_id), dtype=np.int64)
    greedy = np.full(len(flat.question_ids), np.nan)
    for i, qid in enumerate(flat.question_ids):
        a, b = flat.start[i], flat.start[i + 1]
        stored = source.clusters(rule, qid)
        judged = source.judged(qid)
        keys = flat.sample_id[a:b] if rule.is_provided else flat.text_id[a:b].tolist()
        try:
            ids[a:b] = [stored[k] for k in keys]
        except KeyError as err:
            from uqlens.core.views import NotRecomputable

            raise NotRecomputable(f"{qid}: {err} has no stored cluster under "
                                  f"{rule.key!r}") from None
        judged_of = None if judged is None else stored.get(
            judged["sample_id"] if rule.is_provided else int(judged["text_id"]))
        g = greedy_cluster(judged, judged_of, ids[a:b])
        greedy[i] = np.nan if g is None else g
    # A question's num_tokens count only when its log-probabilities do (as _logprobs).
    return ClusterBatch(flat.start, ids, flat.logprob_sum, flat.num_tokens, flat.has_logprob,
                        flat.has_tokens, greedy)


def _text_cluster_batch(source, rule: RuleSpec, flat: FlatSamples):
    """``(cluster id per sample, judged answer's cluster per question)`` of a computed rule,
    read as whole arrays from a source that holds each question's cluster id per text id
    (:meth:`uqlens.build.stages.BuildSource.text_clusters`): what :func:`cluster_batch`'s
    question loop gives, without the loop. None when the source has no such arrays or a text
    id has no cluster (the loop then says which)."""
    arrays = getattr(source, "text_clusters", lambda _: None)(rule)
    n = len(flat.question_ids)
    if arrays is None or rule.is_provided:
        return None
    per_question = [arrays.get(q) for q in flat.question_ids]
    if any(a is None for a in per_question):
        return None
    sizes = np.array([len(a) for a in per_question], dtype=np.int64)
    every = np.concatenate(per_question) if n else np.zeros(0, dtype=np.int64)
    base = np.r_[0, np.cumsum(sizes)[:-1]].astype(np.int64) if n else sizes
    seg = np.repeat(np.arange(n), np.diff(flat.start))
    text_id = flat.text_id
    if len(text_id) and ((text_id < 0) | (text_id >= sizes[seg])).any():
        return None
    ids = every[base[seg] + text_id].astype(np.int64) if len(text_id) else np.zeros(
        0, dtype=np.int64)
    judged = [source.judged(q) for q in flat.question_ids]
    judged_text = np.array([-1 if j is None else int(j["text_id"]) for j in judged],
                           dtype=np.int64)
    has_judged = np.array([j is not None for j in judged], dtype=bool)
    known = has_judged & (judged_text >= 0) & (judged_text < sizes)
    judged_cluster = np.full(n, -1, dtype=np.int64)
    judged_cluster[known] = every[base[known] + judged_text[known]]
    # the judged answer's cluster counts when one of the question's samples shares it
    shared = np.bincount(seg, weights=(ids == judged_cluster[seg]) & known[seg],
                         minlength=n) > 0
    greedy = np.where(shared, judged_cluster, -1).astype(float)
    greedy[~has_judged] = np.nan
    return ids, greedy


def score_table(rules: Sequence[dict], groups: Mapping[str, pd.DataFrame], source, chosen,
                params_of: Mapping[str, Mapping], bar, engine=None,
                samples: pd.DataFrame | None = None, memo=None) -> pd.DataFrame:
    """``question_id, rule, method, uncertainty`` of every chosen method under every rule:
    for each rule in order, each question in ``groups`` order, each method in ``chosen``
    order (the rows a loop over :func:`score_view` would give). ``memo`` (a
    :class:`uqlens.build.memo.BuildMemo`): score columns computed before on the same data
    and settings are read back, the others computed and stored."""
    from uqlens.build.engine import LocalEngine

    engine = engine or LocalEngine()
    flat = flatten(groups, samples)
    ids = [m.id for m in chosen]
    n = len(flat.question_ids)
    shared: dict[str, dict[str, np.ndarray]] = {}  # affinity backend -> rule-free scores
    frames = []
    for entry in rules:
        spec = RuleSpec.from_manifest(entry)
        values: dict[str, np.ndarray] = {}
        # rule-free scores of this affinity backend, from an earlier rule of this build
        reuse = shared.setdefault(spec.affinity_backend, {})
        fresh = [m for m in chosen if not ("clusters" not in m.needs and m.id in reuse)]
        if memo is not None:
            for m in fresh:
                got = memo.score(entry, m, dict(params_of.get(m.id) or {}), n)
                if got is not None:
                    values[m.id] = got
                    if "clusters" not in m.needs:
                        reuse[m.id] = got
        todo = [m for m in chosen if m.id not in values]
        if todo:
            computed = _rule_scores(spec, source, todo, params_of, flat, shared, bar, engine)
            if memo is not None:
                for m in todo:
                    if m in fresh:
                        memo.put_score(entry, m, dict(params_of.get(m.id) or {}),
                                       computed[m.id])
            values.update(computed)
        matrix = np.column_stack([values[m] for m in ids]) if ids else np.zeros((n, 0))
        frames.append(pd.DataFrame({
            "question_id": np.repeat(np.asarray(flat.question_ids, dtype=object), len(ids)),
            "rule": spec.key, "method": np.tile(np.asarray(ids, dtype=object), n),
            "uncertainty": matrix.ravel()}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["question_id", "rule", "method", "uncertainty"])


def _view_scores(spec: RuleSpec, source, flat: FlatSamples, methods: list[str], params_of,
                 bar, engine) -> dict[str, np.ndarray]:
    """``{method: score per question}`` of ``methods``, one view at a time: views made
    here, scored by ``engine`` in batches (:func:`uqlens.build.stages.score_views`)."""
    from uqlens.build.engine import SCORE_CHUNK
    from uqlens.build.stages import score_views
    from uqlens.core.methods import REGISTRY

    graph = any("entailment" in REGISTRY[m].needs for m in methods if m in REGISTRY)

    def batches():
        batch = []
        for i, qid in enumerate(bar(flat.question_ids, f"score {spec.key}")):
            batch.append((spec.key, question_view(source, qid, spec, flat.rows(i),
                                                  graph=graph)))
            if len(batch) == SCORE_CHUNK:
                yield batch
                batch = []
        if batch:
            yield batch

    n = len(flat.question_ids)
    got = {m: np.full(n, np.nan) for m in methods}
    at = {q: i for i, q in enumerate(flat.question_ids)}
    for part in engine.map_tasks(score_views, batches(), methods, params_of,
                                 desc=f"score tasks {spec.key}"):
        for qid, _, m, u in part:
            got[m][at[qid]] = u
    return got


def _rule_scores(spec: RuleSpec, source, chosen, params_of, flat: FlatSamples,
                 shared: dict, bar, engine) -> dict[str, np.ndarray]:
    """``{method: score per question}`` under one rule; rule-free methods already scored
    under another rule of the same affinity backend (``shared``) are copied."""
    kwargs = {m.id: {**dict(m.defaults), **dict(params_of.get(m.id) or {})} for m in chosen}
    batched = [m for m in chosen if m.batch is not None and "clusters" in m.needs]
    rule_free = [m for m in chosen if "clusters" not in m.needs]
    reuse = shared.setdefault(spec.affinity_backend, {})
    per_view = [m.id for m in chosen if m not in batched and m.id not in reuse]
    out: dict[str, np.ndarray] = {}
    if batched:
        cb = cluster_batch(source, spec, flat)
        out.update({m.id: np.asarray(m.batch(cb, **kwargs[m.id]), dtype=float)
                    for m in batched})
    stackable = [m for m in chosen if m.id in per_view and m.stack is not None
                 and kwargs[m.id].get("affinity") != "jaccard"]
    if stackable:
        out.update(_stacked_scores(spec, source, flat, stackable, kwargs))
        per_view = [m for m in per_view if m not in out]
    if per_view:
        out.update(_view_scores(spec, source, flat, per_view, params_of, bar, engine))
    for m in rule_free:
        if m.id in reuse:
            out[m.id] = reuse[m.id]
        else:
            reuse[m.id] = out[m.id]
    return out


def _stacked_scores(spec: RuleSpec, source, flat: FlatSamples, methods, kwargs
                    ) -> dict[str, np.ndarray]:
    """``{method: score per question}`` of the graph methods with a
    :attr:`~uqlens.core.methods.base.Method.stack` form: each question's entail/contradict
    matrices (as its view would hold them), stacked by sample count and scored a stack at a
    time. NaN where a view's score is NaN for want of data (fewer than two samples, a missing
    pair); a method whose stack raises is left out (scored one view at a time instead)."""
    from uqlens.core.views import SCORE_ERRORS, graph_matrices

    n = len(flat.question_ids)
    sizes = np.diff(flat.start).tolist()
    by_size: dict[int, list[int]] = {}
    pairs: list = [None] * n
    for i, qid in enumerate(flat.question_ids):
        if sizes[i] < 2:
            continue
        a, b = flat.start[i], flat.start[i + 1]
        e, c = graph_matrices(source, spec.affinity_backend, qid, flat.text_id[a:b].tolist())
        if e is not None:
            pairs[i] = (e, c)
            by_size.setdefault(sizes[i], []).append(i)
    out = {m.id: np.full(n, np.nan) for m in methods}
    for rows in by_size.values():
        entail = np.stack([pairs[i][0] for i in rows])
        contradict = np.stack([pairs[i][1] for i in rows])
        for m in [m for m in methods if m.id in out]:
            try:
                out[m.id][rows] = m.stack(entail, contradict, **kwargs[m.id])
            except SCORE_ERRORS:  # e.g. non-finite pairs: let the views say which question
                del out[m.id]
    return out
