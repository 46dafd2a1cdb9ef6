"""Re-score a built run from its own tables, with no model call.

A built run holds everything the methods read: the unique answer texts, the entailment pairs
the build asked for (``pairs``), the answer embeddings (``embeddings``), the samples with
their log-probabilities and the judged answers. :class:`Replay` rebuilds a method's
:class:`~uqlens.core.methods.QuestionView` from those tables, the way the build does
during a build (it mirrors ``pipeline._question_view``), so that a view can re-cluster at
another rule or threshold, re-score with other method parameters, or score a sub-sample of
the answers.

Pair probabilities come only from the run:

- a pair found in ``pairs`` is used as is;
- the ``cosine`` backend is embedding cosine read as entailment (see
  :class:`~uqlens.backends.similarity.CosineEntailment`): a missing pair is recomputed from
  the run's ``embeddings`` table as ``p_entail = clip(v_a · v_b, 0, 1)``,
  ``p_contradict = 1 − p_entail``;
- any other missing pair raises :class:`MissingPair`, which callers count and report.
  Nothing here ever calls an NLI model or an embedder.

Also here, shared by the pathology views: :func:`judged_labels` (is each question's judged
answer correct under a judge) and :func:`run_scores` (one method's scores under one rule).

What came with the data cannot be recomputed: a *provided* method (``<tool>:<method>``, manifest
``method_info[id]["provided"]``; not in :data:`uqlens.core.methods.REGISTRY`) has only its stored
scores, and the ``provided`` rule's clusters are the source tool's, per answer, not a function
of the texts. :func:`split_recomputable` separates such methods; :meth:`Replay.view` reads the
``provided`` rule's stored clusters, and re-clustering under it raises :class:`NotRecomputable`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from uqlens.core import clustering


class MissingPair(LookupError):
    """An entailment pair the run's cache does not hold (and that cannot be recomputed)."""


class NotRecomputable(ValueError):
    """A provided method's scores or the ``provided`` rule's clusters: the run holds them, but
    not the means to recompute them (another rule, threshold or sub-sample)."""


PROVIDED_RULE = "provided"
"""The clustering rule of the source tool's own clusters (``uqlens.build.pipeline.PROVIDED_RULE``;
not imported from there, which pulls in the build's dependencies)."""

PROVIDED_NOTE = "provided by the source tool: only its stored scores exist, nothing to recompute"
SUPERVISED_NOTE = ("supervised: fitted out of fold across the run's questions; re-scoring one "
                   "question or a sub-sample does not apply (see uqlens.analysis.probes.refit)")


def is_provided_rule(rule) -> bool:
    """Whether ``rule`` (a key, a :class:`RuleSpec` or a manifest rules entry) is the
    ``provided`` rule."""
    if isinstance(rule, RuleSpec):
        return rule.rule_key == PROVIDED_RULE
    if isinstance(rule, Mapping):
        return PROVIDED_RULE in (rule.get("rule"), rule.get("rule_key"), rule.get("key"))
    return str(rule).partition("@")[0] == PROVIDED_RULE


def is_provided_method(run, method: str) -> bool:
    """A method whose scores came with the data (manifest ``provided``), or any method the
    registry does not know: neither can be re-scored from the run."""
    info = run.manifest.get("method_info", {}).get(method) or {}
    if info.get("provided"):
        return True
    from uqlens.core.methods import REGISTRY

    return method not in REGISTRY


def split_recomputable(run, methods: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """``(methods the registry can re-score, {provided method: why it is left out})``."""
    kept, skipped = [], {}
    for m in methods:
        info = run.manifest.get("method_info", {}).get(m) or {}
        if info.get("supervised"):
            skipped[m] = SUPERVISED_NOTE
        elif is_provided_method(run, m):
            skipped[m] = PROVIDED_NOTE if info.get("provided") else \
                "not a uqlens method: only its stored scores exist, nothing to recompute"
        else:
            kept.append(m)
    return kept, skipped


# --------------------------------------------------------------------------- labels, scores


def judged_rows(run) -> pd.DataFrame:
    """The judged answer of every question: its ``is_greedy`` generation, or when it has none
    its first generation in table order (the convention of :mod:`uqlens.analysis.overview`).

    Columns ``question_id, sample_id``, one row per question.
    """
    gen = run.table("generations")
    greedy = gen[gen["is_greedy"].astype(bool)] if "is_greedy" in gen else gen.iloc[0:0]
    greedy = greedy.drop_duplicates("question_id", keep="first")
    rest = gen[~gen["question_id"].isin(greedy["question_id"])]
    first = rest.drop_duplicates("question_id", keep="first")
    return pd.concat([greedy, first], ignore_index=True)[["question_id", "sample_id"]]


def judged_labels(run, judge: str, *, values: bool = False) -> pd.Series | pd.DataFrame:
    """``correct`` (bool) of each question's judged answer under ``judge``, indexed by
    ``question_id``; questions the judge did not label are left out.

    With ``values=True`` returns a frame with ``label, value, provenance``.
    """
    rows = judged_rows(run)
    corr = run.table("correctness")
    corr = corr[corr["judge"] == judge]
    cols = ["question_id", "sample_id", "label", "value"]
    if "provenance" in corr:
        cols.append("provenance")
    out = rows.merge(corr[cols], on=["question_id", "sample_id"], how="inner")
    out = out.dropna(subset=["label"]).set_index("question_id").sort_index()
    out["label"] = out["label"].astype(bool)
    if values:
        return out.drop(columns="sample_id")
    return out["label"].rename("correct")


def run_scores(run, rule: str, methods: Sequence[str] | None = None) -> pd.DataFrame:
    """The run's ``scores`` under ``rule``: columns ``question_id, method, uncertainty``."""
    s = run.table("scores")
    s = s[s["rule"] == rule][["question_id", "method", "uncertainty"]].copy()
    if methods is not None:
        s = s[s["method"].isin(list(methods))]
    s["uncertainty"] = s["uncertainty"].astype(float)
    return s.reset_index(drop=True)


def score_methods(run, rule: str | None = None) -> list[str]:
    """Methods with scores in the run, manifest order first."""
    s = run.table("scores")
    if rule is not None:
        s = s[s["rule"] == rule]
    found = list(dict.fromkeys(s["method"]))
    listed = [m for m in run.manifest.get("methods", []) if m in found]
    return listed + [m for m in found if m not in listed]


def method_params(run, method: str) -> dict:
    """The parameters the run scored ``method`` with (manifest, else the scores table)."""
    info = run.manifest.get("method_info", {}).get(method)
    if info and "params" in info:
        return dict(info["params"])
    s = run.table("scores")
    p = s.loc[s["method"] == method, "params"] if "params" in s else pd.Series(dtype=object)
    if len(p) and isinstance(p.iloc[0], str) and p.iloc[0]:
        return json.loads(p.iloc[0])
    return {}


# --------------------------------------------------------------------------- replay


@dataclass(frozen=True)
class RuleSpec:
    """A clustering rule as the pipeline records it: the rule key, the backend its pairs come
    from (entailment rules) and the backend of the graph methods' affinity."""

    key: str
    rule_key: str
    backend: str | None
    affinity_backend: str

    @classmethod
    def parse(cls, key: str, affinity_backend: str | None = None) -> RuleSpec:
        """``"threshold:0.8@cosine"`` → rule ``threshold:0.8`` on backend ``cosine``;
        ``"provided"`` → the source tool's clusters (read, never re-formed)."""
        rule_key, _, backend = key.partition("@")
        if rule_key == PROVIDED_RULE:
            return cls(key=key, rule_key=PROVIDED_RULE, backend=None,
                       affinity_backend=affinity_backend or "cosine")
        rule = clustering.parse_rule(rule_key)
        backend = backend or None
        if rule.needs == "entailment" and backend is None:
            raise ValueError(f"rule {key!r} needs a backend: {rule_key}@BACKEND")
        aff = affinity_backend or (backend if rule.needs == "entailment" else "cosine")
        return cls(key=key, rule_key=rule.key, backend=backend, affinity_backend=aff)


class Replay:
    """Question views of a built run, rebuilt from its tables (no model is ever loaded).

    Parameters
    ----------
    run : a :class:`uqlens.run.folder.Run` (or anything with ``table(name)`` and ``manifest``)
    sample_temperature : which samples the methods score; default: the build's
        ``params.sample_temperature`` (None = every non-greedy sample)
    """

    def __init__(self, run, sample_temperature: float | None | str = "build"):
        self.run = run
        m = run.manifest
        if sample_temperature == "build":
            sample_temperature = (m.get("params") or {}).get("sample_temperature")
        self.sample_temperature = sample_temperature
        gens = run.table("generations").copy()
        gens["is_greedy"] = gens["is_greedy"].astype(bool)
        self.generations = gens
        q = run.table("questions")
        self.question = dict(zip(q["question_id"], q["question"], strict=True))
        texts = run.table("texts").sort_values(["question_id", "text_id"])
        self.texts: dict[str, list[str]] = {
            qid: g["text"].tolist() for qid, g in texts.groupby("question_id", sort=False)
        }
        self.rules: dict[str, RuleSpec] = {}
        for r in m.get("rules", []):
            if is_provided_rule(r):
                self.rules[r["key"]] = RuleSpec(r["key"], PROVIDED_RULE, None,
                                                r.get("affinity_backend") or "cosine")
                continue
            rule_key = r.get("rule_key") or clustering.parse_rule(r["key"].partition("@")[0]).key
            aff = r.get("affinity_backend") or r.get("backend") or "cosine"
            self.rules[r["key"]] = RuleSpec(r["key"], rule_key, r.get("backend"), aff)
        self._pairs: dict[str, dict[tuple[str, int, int], tuple[float, float, float]]] = {}
        pairs = run.table("pairs")
        if len(pairs):
            for backend, g in pairs.groupby("backend", sort=False):
                self._pairs[str(backend)] = {
                    (q_, int(a), int(b)): (float(e), float(n), float(c))
                    for q_, a, b, e, n, c in zip(
                        g["question_id"], g["text_a"], g["text_b"], g["p_entail"],
                        g["p_neutral"], g["p_contradict"], strict=True)
                }
        self._vectors: dict[tuple[str, int], np.ndarray] = {}
        emb = run.table("embeddings")
        if len(emb) and "embedding" in emb:
            e = emb.merge(gens[["question_id", "sample_id", "text_id"]],
                          on=["question_id", "sample_id"])
            for qid, tid, vec in zip(e["question_id"], e["text_id"], e["embedding"], strict=True):
                self._vectors.setdefault((qid, int(tid)), np.asarray(vec, dtype=float))
        self.missing_pairs: dict[str, set[tuple[str, int, int]]] = {}
        self._stored: dict[tuple[str, str], dict[str, int]] | None = None
        self._greedy: dict[str, pd.Series] | None = None

    def resolve(self, rule: RuleSpec | str) -> RuleSpec:
        """A rule key of this run (its recorded spec) or a new key such as
        ``threshold:0.7@cosine``."""
        if isinstance(rule, RuleSpec):
            return rule
        return self.rules.get(rule) or RuleSpec.parse(rule)

    # ---- samples --------------------------------------------------------------------------
    @property
    def question_ids(self) -> list[str]:
        return list(dict.fromkeys(self.generations["question_id"]))

    def scored(self, temperature: float | None | str = "default") -> pd.DataFrame:
        """The samples the methods score: non-greedy, at ``temperature`` when set."""
        t = self.sample_temperature if temperature == "default" else temperature
        g = self.generations
        mask = ~g["is_greedy"]
        if t is not None and "temperature" in g:
            mask &= np.isclose(g["temperature"].astype(float), float(t))
        return g[mask]

    def temperatures(self) -> list[float]:
        """Distinct sampling temperatures of the non-greedy generations."""
        g = self.generations
        if "temperature" not in g:
            return []
        t = g.loc[~g["is_greedy"], "temperature"].dropna().astype(float)
        return sorted(set(np.round(t, 6).tolist()))

    def greedy(self, qid: str) -> pd.Series | None:
        """The question's first greedy generation (None without one); looked up once."""
        if self._greedy is None:
            g = self.generations[self.generations["is_greedy"]]
            g = g.drop_duplicates("question_id", keep="first")
            self._greedy = {q: row for q, (_, row) in zip(g["question_id"], g.iterrows(),
                                                           strict=True)}
        return self._greedy.get(qid)

    # ---- pairs and vectors ----------------------------------------------------------------
    def has_vectors(self) -> bool:
        return bool(self._vectors)

    def vector(self, qid: str, text_id: int) -> np.ndarray | None:
        return self._vectors.get((qid, int(text_id)))

    def pair(self, backend: str, qid: str, a: int, b: int) -> tuple[float, float, float]:
        """P(entail, neutral, contradict) for text ``a`` entails text ``b`` of question ``qid``.

        From the cached pairs; cosine pairs not cached come from the run's embeddings; any
        other missing pair raises :class:`MissingPair` (and is remembered in
        :attr:`missing_pairs`)."""
        a, b = int(a), int(b)
        if a == b:
            return (1.0, 0.0, 0.0)
        cached = self._pairs.get(backend, {})
        hit = cached.get((qid, a, b))
        if hit is not None:
            return hit
        if backend == "cosine":
            va, vb = self.vector(qid, a), self.vector(qid, b)
            if va is not None and vb is not None:
                p = float(np.clip(va @ vb, 0.0, 1.0))
                return (p, 0.0, 1.0 - p)
        self.missing_pairs.setdefault(backend, set()).add((qid, a, b))
        raise MissingPair(f"{backend}: no cached pair ({qid}, {a}, {b})")

    def n_missing(self) -> int:
        return sum(len(v) for v in self.missing_pairs.values())

    # ---- clustering -----------------------------------------------------------------------
    def cluster_text_ids(self, rule: RuleSpec, qid: str, text_ids: Sequence[int]) -> dict[int, int]:
        """Cluster the given unique texts of ``qid`` (in the given order) under ``rule``;
        returns ``{text_id: cluster_id}``. Raises :class:`MissingPair`, and
        :class:`NotRecomputable` under the ``provided`` rule (its clusters are the source
        tool's; see :meth:`stored_clusters`)."""
        if is_provided_rule(rule):
            raise NotRecomputable(
                f"rule {rule.key!r} holds the source tool's own clusters; they cannot be "
                "re-formed from the run (another rule, threshold or sub-sample of answers)")
        text_ids = [int(t) for t in dict.fromkeys(int(t) for t in text_ids)]
        utexts = [self.texts[qid][t] for t in text_ids]
        r = clustering.parse_rule(rule.rule_key)
        pair = None
        if r.needs == "entailment":
            backend = rule.backend

            def pair(i, j, q=qid, ids=text_ids, be=backend):
                return self.pair(be, q, ids[i], ids[j])

        emb = None
        if r.needs == "embeddings":
            vecs = [self.vector(qid, t) for t in text_ids]
            if any(v is None for v in vecs):
                raise MissingPair(f"{qid}: the run has no embeddings for rule {rule.key!r}")
            emb = np.stack(vecs)
        ids = clustering.cluster(r, utexts, pair=pair, embeddings=emb)
        return dict(zip(text_ids, (int(i) for i in ids), strict=True))

    def stored_clusters(self, rule: RuleSpec | str, qid: str) -> dict[str, int]:
        """``{sample_id: cluster_id}`` of ``qid`` as the run stored it under ``rule``."""
        key = self.resolve(rule).key
        if self._stored is None:
            self._stored = {}
            for (r, q), g in self.run.table("clusters").groupby(["rule", "question_id"],
                                                                sort=False):
                self._stored[(r, q)] = dict(zip(g["sample_id"], g["cluster_id"].astype(int),
                                                strict=True))
        return self._stored.get((key, qid), {})

    def matrices(self, backend: str, qid: str, text_ids: Sequence[int]):
        """entail[i, j], contradict[i, j] over the unique ``text_ids`` (ordered)."""
        n = len(text_ids)
        e, c = np.zeros((n, n)), np.zeros((n, n))
        for i, a in enumerate(text_ids):
            for j, b in enumerate(text_ids):
                pe, _, pc = self.pair(backend, qid, a, b)
                e[i, j], c[i, j] = pe, pc
        return e, c

    # ---- views ----------------------------------------------------------------------------
    def view(
        self,
        qid: str,
        rule: RuleSpec | str,
        samples: pd.DataFrame,
        *,
        cluster_of: Mapping[int, int] | None = None,
        graph: bool = True,
    ):
        """The :class:`~uqlens.core.methods.QuestionView` a build would score for ``qid``.

        ``samples``: the scored sample rows of this question (a sub-sample is fine), in
        order. ``cluster_of``: a ``{text_id: cluster_id}`` over the judged answer's and the
        samples' texts; when None, every unique text of the question is clustered under
        ``rule`` in text-id order (the judged answer first), exactly as the build does; under
        the ``provided`` rule the run's stored clusters of these samples are used (a sample
        without one raises :class:`NotRecomputable`).
        ``graph=False`` leaves the entailment matrices out. A missing pair for the clusters raises
        :class:`MissingPair`; a missing pair for the graph leaves ``entail`` None (the graph
        methods then return NaN).
        """
        from uqlens.core.methods import QuestionView

        rule = self.resolve(rule)
        g = self.greedy(qid)
        sample_tids = samples["text_id"].astype(int).tolist()
        if cluster_of is None and is_provided_rule(rule):
            stored = self.stored_clusters(rule, qid)
            try:
                cluster_ids = np.array([stored[s] for s in samples["sample_id"]], dtype=np.int64)
            except KeyError as err:
                raise NotRecomputable(f"{qid}: sample {err} has no stored cluster under "
                                      f"{rule.key!r}") from None
            greedy_of = None if g is None else stored.get(g["sample_id"])
        else:
            if cluster_of is None:
                cluster_of = self.cluster_text_ids(rule, qid, range(len(self.texts[qid])))
            cluster_ids = np.array([cluster_of[t] for t in sample_tids], dtype=np.int64)
            greedy_of = None if g is None else cluster_of.get(int(g["text_id"]))
        greedy_cluster = _greedy_cluster(g is not None, greedy_of, cluster_ids)
        entail = contradict = None
        if graph and len(sample_tids):
            u = list(dict.fromkeys(sample_tids))
            try:
                e, c = self.matrices(rule.affinity_backend, qid, u)
                index = np.array([u.index(t) for t in sample_tids])
                entail, contradict = e[np.ix_(index, index)], c[np.ix_(index, index)]
            except MissingPair:
                pass
        logprob = num = None
        if "logprob_sum" in samples and samples["logprob_sum"].notna().all():
            logprob = samples["logprob_sum"].to_numpy(dtype=float)
            if "num_tokens" in samples and samples["num_tokens"].notna().all():
                num = samples["num_tokens"].to_numpy(dtype=float)
        vecs = [self.vector(qid, t) for t in sample_tids]
        embeddings = np.stack(vecs) if vecs and all(v is not None for v in vecs) else None
        return QuestionView(
            question_id=qid,
            question=self.question.get(qid, ""),
            texts=tuple(self.texts[qid][t] for t in sample_tids),
            cluster_ids=cluster_ids,
            logprob_sum=logprob,
            num_tokens=num,
            entail=entail,
            contradict=contradict,
            embeddings=embeddings,
            greedy_text=None if g is None else g["text"],
            greedy_cluster=greedy_cluster,
            greedy_logprob_sum=None if g is None else _opt(g, "logprob_sum"),
            greedy_num_tokens=None if g is None else _opt(g, "num_tokens"),
            p_true=None if g is None else _opt(g, "p_true"),
            verbalized_confidence=None if g is None else _opt(g, "verbalized_confidence"),
        )

    def with_clusters(self, view, qid: str, sample_tids: Sequence[int],
                      cluster_of: Mapping[int, int]):
        """``view`` (of these samples' ``sample_tids``) with other clusters: what :meth:`view`
        returns for the same samples and this ``cluster_of``, without rebuilding the rest."""
        import dataclasses

        g = self.greedy(qid)
        cluster_ids = np.array([cluster_of[int(t)] for t in sample_tids], dtype=np.int64)
        greedy_of = None if g is None else cluster_of.get(int(g["text_id"]))
        return dataclasses.replace(view, cluster_ids=cluster_ids,
                                   greedy_cluster=_greedy_cluster(g is not None, greedy_of,
                                                                  cluster_ids))

    def subview(self, full, qid: str, rule: RuleSpec | str, samples: pd.DataFrame,
                pick: np.ndarray, cluster_of: Mapping[int, int], *, graph: bool = True):
        """:meth:`view` of ``samples.iloc[pick]`` given ``full``, the view of all of
        ``samples`` (same ``graph``): the sub-sample's rows are sliced from ``full`` instead
        of being read again (the pairs of two answers do not depend on the others)."""
        import dataclasses

        rule = self.resolve(rule)
        pick = np.asarray(pick, dtype=np.int64)
        tids = samples["text_id"].to_numpy(dtype=np.int64)[pick].tolist()
        entail = contradict = None
        if graph and len(tids):
            if full.entail is not None:
                entail = full.entail[np.ix_(pick, pick)]
                contradict = full.contradict[np.ix_(pick, pick)]
            else:  # the full graph missed a pair; this sub-sample may not need it
                u = list(dict.fromkeys(tids))
                try:
                    e, c = self.matrices(rule.affinity_backend, qid, u)
                    index = np.array([u.index(t) for t in tids])
                    entail, contradict = e[np.ix_(index, index)], c[np.ix_(index, index)]
                except MissingPair:
                    pass
        logprob = num = None
        if "logprob_sum" in samples:
            lp = samples["logprob_sum"].to_numpy(dtype=float)[pick]
            if not np.isnan(lp).any():
                logprob = lp
                if "num_tokens" in samples:
                    nt = samples["num_tokens"].to_numpy(dtype=float)[pick]
                    num = None if np.isnan(nt).any() else nt
        vecs = [self.vector(qid, t) for t in tids]
        embeddings = np.stack(vecs) if vecs and all(v is not None for v in vecs) else None
        view = dataclasses.replace(
            full, texts=tuple(self.texts[qid][t] for t in tids), logprob_sum=logprob,
            num_tokens=num, entail=entail, contradict=contradict, embeddings=embeddings)
        return self.with_clusters(view, qid, tids, cluster_of)


def _greedy_cluster(has_greedy: bool, greedy_of, cluster_ids: np.ndarray) -> int | None:
    """The judged answer's cluster when a sample shares it, else -1 (None without one)."""
    if not has_greedy:
        return None
    return greedy_of if greedy_of is not None and greedy_of in set(cluster_ids.tolist()) else -1


def _opt(row, name):
    value = row.get(name) if hasattr(row, "get") else None
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def score_view(view, methods: Iterable[str], params: Mapping[str, Mapping]) -> dict[str, float]:
    """Every method's uncertainty for one view; a method that fails gives NaN. A method the
    registry does not know (a provided method) raises :class:`NotRecomputable`."""
    from uqlens.core import methods as registry

    out = {}
    for m in methods:
        if m not in registry.REGISTRY:
            raise NotRecomputable(f"method {m!r} is not a uqlens method (provided by the "
                                  "source tool?); its scores cannot be recomputed")
        try:
            out[m] = float(registry.get(m).score(view, **dict(params.get(m, {}))))
        except (ValueError, FloatingPointError, np.linalg.LinAlgError, TypeError):
            out[m] = float("nan")
    return out
