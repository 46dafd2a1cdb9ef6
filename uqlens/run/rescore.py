"""Re-score a built run from its own tables, with no model call.

A built run holds everything the methods read: the unique answer texts, the entailment pairs
the build asked for (``pairs``), the answer embeddings (``embeddings``), the samples with
their log-probabilities and the judged answers. :class:`Replay` is the run as a
:class:`~uqlens.core.views.ViewSource`: the build and the replay assemble a method's view with
the same :func:`uqlens.core.views.question_view`, so :func:`rescore` reproduces the stored
scores exactly, and a view can re-cluster at another rule or threshold, re-score with other
method parameters, or score a sub-sample of the answers.

Pair probabilities come only from the run:

- a pair the build never asked a model about (identical texts, and texts equal under the
  build's recorded shortcut policy, see :func:`uqlens.core.views.shortcut_entails`) entails;
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

import numpy as np
import pandas as pd

from uqlens.core import clustering, views
from uqlens.core.frames import first_seen, isin
from uqlens.core.threads import small_matrix_threads
from uqlens.core.views import (  # noqa: F401  (re-exported: the run's side of the views)
    PROVIDED_RULE,
    SAME_TEXT,
    MissingPair,
    NotRecomputable,
    RuleSpec,
    score_view,
    shortcut_entails,
)

PROVIDED_NOTE = "provided by the source tool: only its stored scores exist, nothing to recompute"
SUPERVISED_NOTE = ("supervised: fitted out of fold across the run's questions; re-scoring one "
                   "question or a sub-sample does not apply (see uqlens.analysis.probes.refit)")


def is_provided_rule(rule) -> bool:
    """Whether ``rule`` (a key, a :class:`RuleSpec` or a manifest rules entry) is the
    ``provided`` rule."""
    if isinstance(rule, RuleSpec):
        return rule.is_provided
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
    from uqlens.run.memo import memo

    return memo(run, "judged_rows", (), lambda: _judged_rows(run))


def _judged_rows(run) -> pd.DataFrame:
    gen = run.table("generations")
    greedy = gen[gen["is_greedy"].astype(bool)] if "is_greedy" in gen else gen.iloc[0:0]
    greedy = greedy.drop_duplicates("question_id", keep="first")
    rest = gen[~isin(gen["question_id"], greedy["question_id"])]
    first = rest.drop_duplicates("question_id", keep="first")
    return pd.concat([greedy, first], ignore_index=True)[["question_id", "sample_id"]]


def scored_temperature(run) -> float | None:
    """The sampling temperature whose samples the methods scored (None: all samples)."""
    value = ((getattr(run, "manifest", None) or {}).get("params") or {}).get("sample_temperature")
    return None if value is None else float(value)


def scored_sample_mask(generations: pd.DataFrame, temperature: float | None) -> pd.Series:
    """True for the generations the methods score: non-greedy, and drawn at ``temperature``
    when it is given (the same choice the build makes)."""
    mask = pd.Series(True, index=generations.index)
    if "is_greedy" in generations:
        mask &= ~generations["is_greedy"].astype(bool)
    if temperature is not None and "temperature" in generations:
        temps = pd.to_numeric(generations["temperature"], errors="coerce").to_numpy(float)
        mask &= np.isclose(temps, temperature)
    return mask


def judged_labels(run, judge: str, *, values: bool = False) -> pd.Series | pd.DataFrame:
    """``correct`` (bool) of each question's judged answer under ``judge``, indexed by
    ``question_id``; questions the judge did not label are left out.

    With ``values=True`` returns a frame with ``label, value, provenance``.
    """
    from uqlens.run.memo import memo

    # once per run object, judge and labels file: several pages ask for the same judge
    return memo(run, "judged_labels", (judge, values),
                lambda: _judged_labels(run, judge, values), keep=12)


def _judged_labels(run, judge: str, values: bool) -> pd.Series | pd.DataFrame:
    rows = judged_rows(run)
    corr = run.table("correctness")
    cols = ["question_id", "sample_id", "label", "value"]
    if "provenance" in corr:
        cols.append("provenance")
    if hasattr(run, "select"):  # one judge's rows, filtered once per run object
        corr = run.select("correctness", cols, ("judge", judge))
    else:
        corr = corr.loc[corr["judge"] == judge, cols]
    out = rows.merge(corr, on=["question_id", "sample_id"], how="inner")
    out = out.dropna(subset=["label"]).set_index("question_id").sort_index()
    out["label"] = out["label"].astype(bool)
    if values:
        return out.drop(columns="sample_id")
    return out["label"].rename("correct")


def run_scores(run, rule: str, methods: Sequence[str] | None = None) -> pd.DataFrame:
    """The run's ``scores`` under ``rule``: columns ``question_id, method, uncertainty``."""
    s = _rule_scores(run, rule).copy()
    if methods is not None:
        s = s[isin(s["method"], list(methods))]
    s["uncertainty"] = s["uncertainty"].astype(float)
    return s.reset_index(drop=True)


def _rule_scores(run, rule: str) -> pd.DataFrame:
    """``question_id, method, uncertainty`` of the run's scores under ``rule`` (index reset),
    read once per run object when it can (:meth:`uqlens.run.folder.Run.select`)."""
    cols = ["question_id", "method", "uncertainty"]
    if hasattr(run, "select"):
        return run.select("scores", cols, ("rule", rule))
    s = run.table("scores")
    return s.loc[s["rule"] == rule, cols].reset_index(drop=True)


def score_methods(run, rule: str | None = None) -> list[str]:
    """Methods with scores in the run, manifest order first."""
    found = first_seen(_rule_scores(run, rule)["method"] if rule is not None
                       else run.table("scores")["method"])
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


class Replay:
    """A built run as a :class:`~uqlens.core.views.ViewSource`: question views rebuilt from
    its tables (no model is ever loaded), through :func:`uqlens.core.views.question_view`.

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
        self._question = dict(zip(q["question_id"], q["question"], strict=True))
        texts = run.table("texts").sort_values(["question_id", "text_id"])
        all_texts = texts["text"].to_numpy(dtype=object)
        self._texts: dict[str, list[str]] = {
            key[0]: all_texts[rows].tolist() for key, rows in groups(texts, ["question_id"])}
        unrecorded = views.unrecorded_shortcut(m)
        self.rules: dict[str, RuleSpec] = {
            r["key"]: RuleSpec.from_manifest(r, unrecorded) for r in m.get("rules", [])}
        # The build's pair shortcut (one policy for all its backends): see shortcut_entails.
        self.shortcut = next((r.shortcut for r in self.rules.values()), unrecorded)
        self._pairs = _pairs_by_question(run.table("pairs"))
        self._vectors = _vectors_by_text(run.table("embeddings"), gens)
        self.missing_pairs: dict[str, set[tuple[str, int, int]]] = {}
        self._stored: dict[tuple[str, str], dict[str, int]] | None = None
        self._greedy: dict[str, pd.Series] | None = None
        self._text_id: dict[str, dict[str, int]] | None = None
        self._probs: dict[tuple[str, str], np.ndarray] = {}

    def resolve(self, rule: RuleSpec | str) -> RuleSpec:
        """A rule key of this run (its recorded spec) or a new key such as
        ``threshold:0.7@cosine``."""
        if isinstance(rule, RuleSpec):
            return rule
        return self.rules.get(rule) or RuleSpec.parse(rule)

    # ---- ViewSource ------------------------------------------------------------------------
    def question(self, qid: str) -> str:
        return self._question.get(qid, "")

    def texts(self, qid: str) -> list[str]:
        return self._texts[qid]

    def judged(self, qid: str) -> pd.Series | None:
        """The question's first greedy generation (None without one); looked up once."""
        if self._greedy is None:
            g = self.generations[self.generations["is_greedy"]]
            g = g.drop_duplicates("question_id", keep="first")
            self._greedy = {q: row for q, (_, row) in zip(g["question_id"], g.iterrows(),
                                                           strict=True)}
        return self._greedy.get(qid)

    greedy = judged

    def clusters(self, rule: RuleSpec, qid: str) -> dict:
        """The run's own clusters under one of its rules (by sample id under the provided
        rule, else by text id); any other rule is formed over every text of the question
        in text-id order, exactly as a build forms it."""
        rule = self.resolve(rule)
        if rule.is_provided:
            return self.stored_clusters(rule, qid)
        if self.rules.get(rule.key) == rule:
            stored = self.stored_clusters(rule, qid)
            if stored:
                tid = self._text_id_of_sample(qid)
                return {tid[s]: c for s, c in stored.items()}
        return self.cluster_text_ids(rule, qid, range(len(self._texts[qid])))

    def matrices(self, backend: str, qid: str, text_ids: Sequence[int]):
        """entail[i, j], contradict[i, j] over the unique ``text_ids`` (ordered); raises
        :class:`MissingPair` (remembering the first missing pair) when one is unknown."""
        ids = np.asarray(text_ids, dtype=np.int64)
        probs = self.probabilities(backend, qid)[np.ix_(ids, ids)]
        gaps = np.argwhere(np.isnan(probs[:, :, 0]))
        if len(gaps):
            i, j = gaps[0]
            self._missing(backend, qid, int(ids[i]), int(ids[j]))
        return probs[:, :, 0], probs[:, :, 2]

    def vectors(self, qid: str, text_ids: Sequence[int]) -> np.ndarray | None:
        vecs = [self._vectors.get((qid, int(t))) for t in text_ids]
        return np.stack(vecs) if vecs and all(v is not None for v in vecs) else None

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

    def _text_id_of_sample(self, qid: str) -> dict[str, int]:
        if self._text_id is None:
            self._text_id = {}
            g = self.generations
            for q, s, t in zip(g["question_id"], g["sample_id"], g["text_id"].astype(int),
                               strict=True):
                self._text_id.setdefault(q, {})[s] = t
        return self._text_id.get(qid, {})

    # ---- pairs and vectors ----------------------------------------------------------------
    def has_vectors(self) -> bool:
        return bool(self._vectors)

    def vector(self, qid: str, text_id: int) -> np.ndarray | None:
        return self._vectors.get((qid, int(text_id)))

    def pair(self, backend: str, qid: str, a: int, b: int) -> tuple[float, float, float]:
        """P(entail, neutral, contradict) for text ``a`` entails text ``b`` of question ``qid``
        (see :meth:`probabilities`); an unknown pair raises :class:`MissingPair` and is
        remembered in :attr:`missing_pairs`."""
        p = self.probabilities(backend, qid)[int(a), int(b)]
        if np.isnan(p[0]):
            self._missing(backend, qid, int(a), int(b))
        return (float(p[0]), float(p[1]), float(p[2]))

    def probabilities(self, backend: str, qid: str) -> np.ndarray:
        """``P[a, b] = (p_entail, p_neutral, p_contradict)`` over the question's text ids, NaN
        where unknown. Pairs the build short-cut (see
        :func:`uqlens.core.views.shortcut_entails`) entail; the others come from the stored
        pairs; cosine pairs not stored come from the run's embeddings. Built once per
        question and backend."""
        key = (backend, qid)
        if key not in self._probs:
            texts = self._texts[qid]
            n = len(texts)
            probs = np.full((n, n, 3), np.nan)
            stored = self._pairs.get(key)
            if stored is not None:
                a, b, values = stored
                probs[a, b] = values
            if backend == "cosine":  # the cosine backend's definition, from the vectors
                for i, j in np.argwhere(np.isnan(probs[:, :, 0])):
                    va, vb = self.vector(qid, i), self.vector(qid, j)
                    if va is not None and vb is not None:
                        p = float(np.clip(va @ vb, 0.0, 1.0))
                        probs[i, j] = (p, 0.0, 1.0 - p)
            keys = [views.shortcut_key(self.shortcut, t) for t in texts]
            for i in range(n):
                for j in range(n):
                    if i == j or (keys[i] is not None and keys[i] == keys[j]):
                        probs[i, j] = (1.0, 0.0, 0.0)
            self._probs[key] = probs
        return self._probs[key]

    def _missing(self, backend: str, qid: str, a: int, b: int):
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
        utexts = [self._texts[qid][t] for t in text_ids]
        r = clustering.parse_rule(rule.rule_key)
        pair = None
        if r.needs == "entailment":
            def pair(i, j, q=qid, ids=text_ids, be=rule.backend):
                return self.pair(be, q, ids[i], ids[j])

        emb = None
        if r.needs == "embeddings":
            emb = self.vectors(qid, text_ids)
            if emb is None:
                raise MissingPair(f"{qid}: the run has no embeddings for rule {rule.key!r}")
        ids = clustering.cluster(r, utexts, pair=pair, embeddings=emb)
        return dict(zip(text_ids, (int(i) for i in ids), strict=True))

    def stored_clusters(self, rule: RuleSpec | str, qid: str) -> dict[str, int]:
        """``{sample_id: cluster_id}`` of ``qid`` as the run stored it under ``rule``."""
        key = self.resolve(rule).key
        if self._stored is None:
            cl = self.run.table("clusters")
            sample = cl["sample_id"].to_numpy(dtype=object)
            cluster = cl["cluster_id"].to_numpy(dtype=np.int64)
            self._stored = {key: dict(zip(sample[rows].tolist(), cluster[rows].tolist(),
                                          strict=True))
                            for key, rows in groups(cl, ["rule", "question_id"])}
        return self._stored.get((key, qid), {})

    # ---- views ----------------------------------------------------------------------------
    def view(self, qid: str, rule: RuleSpec | str, samples: pd.DataFrame, *,
             cluster_of: Mapping[int, int] | None = None, graph: bool = True):
        """:func:`uqlens.core.views.question_view` of ``samples`` (scored rows of ``qid``)."""
        return views.question_view(self, qid, self.resolve(rule), samples,
                                   cluster_of=cluster_of, graph=graph)

    def with_clusters(self, view, qid: str, sample_tids: Sequence[int],
                      cluster_of: Mapping[int, int]):
        """See :func:`uqlens.core.views.with_clusters`."""
        return views.with_clusters(view, self, qid, sample_tids, cluster_of)

    def subview(self, full, qid: str, rule: RuleSpec | str, samples: pd.DataFrame,
                pick: np.ndarray, cluster_of: Mapping[int, int], *, graph: bool = True):
        """See :func:`uqlens.core.views.sub_view`."""
        return views.sub_view(full, self, qid, self.resolve(rule), samples, pick, cluster_of,
                              graph=graph)


def groups(frame: pd.DataFrame, keys: list[str]) -> list[tuple[tuple, np.ndarray]]:
    """``(key values, row positions)`` of every group of ``keys`` in ``frame``: groups in
    order of first appearance, rows in table order, as ``groupby(keys, sort=False)`` gives
    them (rows with a missing key are left out), from one sort instead of a frame per group."""
    if not len(frame):
        return []
    code = frame.groupby(keys, sort=False).ngroup().to_numpy()
    order = np.argsort(code, kind="stable")
    order = order[code[order] >= 0]
    cut = np.flatnonzero(np.diff(code[order])) + 1
    parts = np.split(order, cut)
    firsts = [int(p[0]) for p in parts]
    values = [frame[k].to_numpy(dtype=object)[firsts] for k in keys]
    return [(tuple(v[i] for v in values), part) for i, part in enumerate(parts)]


def _pairs_by_question(pairs: pd.DataFrame) -> dict[tuple[str, str], tuple]:
    """``{(backend, question_id): (text_a ids, text_b ids, (n, 3) probabilities)}``."""
    if not len(pairs):
        return {}
    a, b = pairs["text_a"].to_numpy(np.int64), pairs["text_b"].to_numpy(np.int64)
    probs = pairs[["p_entail", "p_neutral", "p_contradict"]].to_numpy(float)
    return {(str(backend), qid): (a[rows], b[rows], probs[rows])
            for (backend, qid), rows in groups(pairs, ["backend", "question_id"])}


def _vectors_by_text(emb: pd.DataFrame, gens: pd.DataFrame) -> dict[tuple[str, int], np.ndarray]:
    """``{(question_id, text_id): vector}`` from the run's per-sample embeddings."""
    out: dict[tuple[str, int], np.ndarray] = {}
    if not len(emb) or "embedding" not in emb:
        return out
    e = emb.merge(gens[["question_id", "sample_id", "text_id"]], on=["question_id", "sample_id"])
    e = e.drop_duplicates(["question_id", "text_id"])  # a text's first vector, converted once
    for qid, tid, vec in zip(e["question_id"], e["text_id"], e["embedding"], strict=True):
        out.setdefault((qid, int(tid)), np.asarray(vec, dtype=float))
    return out


def rescore(run, rules: Sequence[str] | None = None,
            methods: Sequence[str] | None = None) -> pd.DataFrame:
    """Every recomputable method's score under each of the run's ``rules``, rebuilt from the
    run's tables: columns ``question_id, rule, method, uncertainty`` (the ``scores`` table's,
    which a faithful replay reproduces exactly)."""
    rp = Replay(run)
    methods, _ = split_recomputable(run, methods or score_methods(run))
    params = {m: method_params(run, m) for m in methods}
    samples_of = {q: g for q, g in rp.scored().groupby("question_id", sort=False)}
    rows = []
    with small_matrix_threads():
        for key in rules or run.rules:
            spec = rp.resolve(key)
            for qid, group in samples_of.items():
                for m, u in views.score_view(rp.view(qid, spec, group), methods,
                                             params).items():
                    rows.append((qid, key, m, u))
    return pd.DataFrame(rows, columns=["question_id", "rule", "method", "uncertainty"])
