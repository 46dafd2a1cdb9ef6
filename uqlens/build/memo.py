"""The build's stage memo: results that are pure functions of (input content, settings,
code), read back by a rebuild instead of computed again.

A rebuild after a change of rule, threshold, method set or judge re-reads nothing it can
reuse: the ingested tables (no parsing or validation of the input), each rule's clusters (and
the entailment pairs the rule asked, so the ``pairs`` table is the same), each (rule, method)
score column and each rule-free method's scores per affinity backend, each judge's
correctness and the summaries of unchanged rules and judges. What changed is computed as in a
cold build, so a rebuild writes the tables a cold build with a fresh cache writes.

Every key is a digest of the inputs' sha256, the :func:`~uqlens.backends.cache.code_fingerprint`
(the uqlens sources and the numeric libraries' versions), the build settings that can change
the piece (all of them but the rules, methods, judges, projection and naming, which enter only
the keys of the pieces they change) and the piece's own settings. Storage:
:class:`uqlens.backends.cache.StageMemo`.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd

from uqlens.backends.cache import StageMemo, code_fingerprint, digest_of

SEPARATE = ("rules", "methods", "method_params", "judges", "probe_judge", "projection",
            "n_neighbors", "min_dist", "projection_text", "seed", "name", "engine",
            "ray_address")
"""Build settings that enter only the keys of the pieces they change (or none)."""


class _Meta:
    """What the build reads of a :class:`uqlens.data.schema.Dataset` after ingesting it."""

    def __init__(self, skipped: list[str], score_orientation: dict):
        self.skipped, self.score_orientation = skipped, score_orientation


class BuildMemo:
    """The stage memo of one build; ``context(...)`` must be set before the pieces after
    ingest are asked for."""

    def __init__(self, memo: StageMemo, input_hashes: list[str]):
        self.memo = memo
        self.base = digest_of("inputs", input_hashes, code_fingerprint())
        self.ctx = ""
        self.reused: dict[str, list[str]] = {}

    def context(self, config, embedder_id: str, store_ids: dict, has_vectors: bool) -> None:
        settings = {k: v for k, v in asdict(config).items() if k not in SEPARATE}
        self.ctx = digest_of(self.base, settings, embedder_id, store_ids, has_vectors)

    def _note(self, stage: str, what: str) -> None:
        self.reused.setdefault(stage, []).append(what)

    # ingest ------------------------------------------------------------------------------
    def ingest(self, inputs, stats):
        """:func:`uqlens.build.stages.ingest` of ``inputs``, read back when the same bytes
        were ingested by the same code before."""
        from uqlens.build.stages import Ingested, ingest

        parts = [self.memo.get(f"ingest-{t}", self.base) for t in ("questions", "gens", "texts")]
        if all(p is not None for p in parts):
            (questions, meta), (gens, _), (texts, _) = parts
            if len(gens) == meta.get("gens") and len(texts) == meta.get("texts"):
                stats.counts.update(questions=len(questions), samples=len(gens),
                                    unique_texts=len(texts))
                qtext = dict(zip(questions["question_id"].tolist(),
                                 questions["question"].tolist(), strict=True))
                self._note("ingest", "all")
                return Ingested(_Meta(meta["skipped"], meta["score_orientation"]), questions,
                                gens, texts, qtext)
        data = ingest(inputs, stats)
        meta = {"skipped": [str(e) for e in data.dataset.skipped],
                "score_orientation": data.dataset.score_orientation,
                "gens": len(data.gens), "texts": len(data.texts)}
        self.memo.put("ingest-gens", self.base, data.gens)
        self.memo.put("ingest-texts", self.base, data.texts)
        self.memo.put("ingest-questions", self.base, data.questions, meta)  # last: the marker
        return data

    # clusters ----------------------------------------------------------------------------
    def cluster_key(self, entry: dict) -> str:
        return digest_of(self.ctx, "clusters", entry)

    def clusters(self, entry: dict, texts: pd.DataFrame, stores: dict):
        """``{qid: cluster id per text id}`` of a computed rule, or None; its pairs go back
        into its backend's store."""
        got = self.memo.get("clusters", self.cluster_key(entry))
        if got is None or len(got[0]) != len(texts):
            return None
        if got[1].get("pairs"):
            pairs = self.memo.get("cluster-pairs", self.cluster_key(entry))
            if pairs is None:
                return None
            frame = pairs[0]
            stores[entry["backend"]].replay(
                list(zip(frame["q"].tolist(), frame["a"].tolist(), frame["b"].tolist(),
                         strict=True)),
                frame[["pe", "pn", "pc"]].to_numpy(dtype=float))
        self._note("cluster", entry["key"])
        return split_by_question(texts["question_id"].to_numpy(),
                                 got[0]["cluster_id"].to_numpy(dtype=np.int64))

    def put_clusters(self, entry: dict, texts: pd.DataFrame, ids: dict, asked, store) -> None:
        qids = texts["question_id"].to_numpy()
        flat = np.concatenate([ids[q] for q in dict.fromkeys(qids.tolist())]) if len(
            qids) else np.zeros(0, dtype=np.int64)
        key = self.cluster_key(entry)
        if asked:
            keys = list(dict.fromkeys(asked))
            values = np.array([store._memo[k] for k in keys], dtype=float).reshape(-1, 3)
            self.memo.put("cluster-pairs", key, pd.DataFrame({
                "q": [k[0] for k in keys], "a": [k[1] for k in keys],
                "b": [k[2] for k in keys], "pe": values[:, 0], "pn": values[:, 1],
                "pc": values[:, 2]}))
        self.memo.put("clusters", key, pd.DataFrame({"cluster_id": flat.astype(np.int64)}),
                      {"pairs": bool(asked)})

    # scores ------------------------------------------------------------------------------
    def score_key(self, entry: dict, method, params: dict) -> str:
        """Rule-free methods are keyed by the rule's affinity backend and shortcut only."""
        rule = entry if "clusters" in method.needs else {
            k: entry.get(k) for k in ("affinity_backend", "shortcut")}
        return digest_of(self.ctx, "score", rule, method.id, params)

    def score(self, entry: dict, method, params: dict, n: int) -> np.ndarray | None:
        got = self.memo.get("scores", self.score_key(entry, method, params))
        if got is None or len(got[0]) != n:
            return None
        self._note("score", f"{entry['key']}/{method.id}")
        return got[0]["uncertainty"].to_numpy(dtype=float)

    def put_score(self, entry: dict, method, params: dict, values: np.ndarray) -> None:
        self.memo.put("scores", self.score_key(entry, method, params),
                      pd.DataFrame({"uncertainty": np.asarray(values, dtype=float)}))

    # judges ------------------------------------------------------------------------------
    def judge_key(self, spec: str) -> str:
        return digest_of(self.ctx, "judge", spec)

    def judge(self, spec: str, compute):
        """``compute()`` of judge ``spec`` — ``(label, frame or None, reason it was skipped or
        None, manifest judge_info entry or None)`` — read back when judged before."""
        key = self.judge_key(spec)
        got = self.memo.get("judge", key)
        if got is not None:
            frame, meta = got
            self._note("judge", meta["label"])
            return meta["label"], (None if meta["reason"] else frame), meta["reason"], \
                meta["info"]
        label, frame, reason, info = compute()
        stored = frame if frame is not None else pd.DataFrame({"value": []})
        self.memo.put("judge", key, stored, {"label": label, "reason": reason, "info": info})
        return label, frame, reason, info

    # summaries ---------------------------------------------------------------------------
    def summary_keys(self, rules: list[dict], judges: dict, scores: pd.DataFrame) -> dict:
        """Keys of the summaries (:func:`uqlens.run.summaries.build_summaries`) by
        ``(kind, rule, judge)``: the clusters summary of a rule from its clusters' key, a
        judge's from its key, a rule's scores summary from the content of its scores."""
        out = {}
        by_rule = dict(tuple(scores.groupby("rule", sort=False))) if len(scores) else {}
        for entry in rules:
            rule = entry["key"]
            out[("clusters", rule, None)] = digest_of(self.cluster_key(entry), "summary")
            rows = by_rule.get(rule)
            content = "" if rows is None else frame_digest(rows, ["question_id", "method"],
                                                           ["uncertainty"])
            out[("scores", rule, None)] = digest_of(self.ctx, "summary-scores", content)
            for label, spec in judges.items():
                out[("labels", rule, label)] = digest_of(self.cluster_key(entry),
                                                         self.judge_key(spec), "summary")
        for label, spec in judges.items():
            out[("judge", None, label)] = digest_of(self.judge_key(spec), "summary")
        return out

    def notes(self) -> dict[str, str]:
        """Manifest stage notes: what this build read from the stage memo."""
        return {f"{stage}_memo": f"reused {len(items)}: {', '.join(items[:12])}"
                + (" …" if len(items) > 12 else "") for stage, items in self.reused.items()}


def split_by_question(qids: np.ndarray, values: np.ndarray) -> dict[str, np.ndarray]:
    """``{qid: its values}`` of rows whose questions' rows are consecutive blocks."""
    if not len(qids):
        return {}
    first = np.flatnonzero(np.r_[True, qids[1:] != qids[:-1]])
    bounds = np.r_[first, len(qids)].tolist()
    return {q: values[a:b] for q, a, b in zip(qids[first].tolist(), bounds[:-1], bounds[1:],
                                              strict=True)}


def frame_digest(frame: pd.DataFrame, strings: list[str], numbers: list[str]) -> str:
    """A digest of a frame's string and number columns, row order included."""
    import hashlib

    digest = hashlib.sha256()
    for name in strings:
        digest.update("\0".join(map(str, frame[name].tolist())).encode() + b"\1")
    for name in numbers:
        digest.update(np.ascontiguousarray(frame[name].to_numpy(dtype=float)).tobytes())
    return digest.hexdigest()
