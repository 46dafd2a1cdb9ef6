"""Split conformal prediction over each question's meaning clusters.

Candidate set
-------------
The candidate answers of question i are its clusters under the chosen rule, formed over the
*scored samples* (non-greedy answers); cluster c has mass p_ic = (its samples) / (the
question's samples). A cluster is correct when its representative (first member, see
:mod:`uqlens.core.correctness`) is labelled correct by the judge.

Nonconformity
-------------
The method's per-question uncertainty u_i is first mapped to a confidence
c_i = 1 − (rank(u_i) − 1)/(n − 1) ∈ [0, 1] over all n questions with a defined score
(average ranks for ties; :func:`~uqlens.analysis.evaluation.uncertainty_to_confidence`
``"rank"``). The
map uses the scores only, never labels, symmetrically over calibration and test questions,
so calibration and test nonconformities stay exchangeable. The nonconformity of cluster c is

    s_ic = c_i · (1 − p_ic)

so within a question a bigger cluster is more conforming, and a question the method calls
uncertain (c_i → 0) makes every cluster conforming (its set grows towards all clusters),
while a question it calls certain (c_i = 1) keeps only its heavy clusters. The baseline
``method=None`` uses c_i = 1 (cluster frequency alone).

Calibration and sets
--------------------
On the calibration split, each question's score is s_i* = min over its correct clusters of
s_ic (+∞ when no cluster is correct: no set of clusters can cover it). With n calibration
questions and target coverage 1 − α, q̂ is the ⌈(n + 1)(1 − α)⌉-th smallest s_i* (+∞ when that
rank exceeds n). A test question's set is {c : s_ic ≤ q̂}. Coverage is the share of test
questions whose set holds a correct cluster; questions without any correct cluster can never
be covered, so the attainable coverage is the share of ``coverable`` questions. Splits are
random halves (``calibration_fraction``) repeated ``n_splits`` times with a fixed seed.

Confident hallucination: the dominant cluster holds ≥ ``dominance`` (0.7) of the samples and
is incorrect. The paper expects their sets to fail (miss the answer) or blow up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from uqlens.analysis.evaluation import uncertainty_to_confidence
from uqlens.core.frames import first_seen, isin


@dataclass
class ConformalResult:
    """``summary``: headline numbers; ``splits``: one row per split; ``sets``: one row per
    (split, test question) with its set size and whether it covers."""

    method: str | None
    target: float
    summary: dict
    splits: pd.DataFrame
    sets: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def size_distribution(self) -> pd.DataFrame:
        """Share of test sets of each size (pooled over splits)."""
        if self.sets.empty:
            return pd.DataFrame(columns=["set_size", "share"])
        d = self.sets["set_size"].value_counts(normalize=True).sort_index()
        return d.rename_axis("set_size").reset_index(name="share")


def candidates(run, rule: str, judge: str) -> pd.DataFrame:
    """One row per (question, cluster) over the scored samples: ``question_id, cluster_id,
    size, mass, correct`` (the representative's label), ``n_samples``."""
    from uqlens.run.rescore import scored_sample_mask, scored_temperature

    gen = run.table("generations")
    scored = gen[scored_sample_mask(gen, scored_temperature(run)).to_numpy()]
    scored = scored[["question_id", "sample_id"]]
    cl = run.table("clusters")
    cl = cl[cl["rule"] == rule]
    corr = run.table("correctness")
    corr = corr[corr["judge"] == judge][["question_id", "sample_id", "label"]]
    members = scored.merge(cl[["question_id", "sample_id", "cluster_id"]],
                           on=["question_id", "sample_id"])
    sizes = members.groupby(["question_id", "cluster_id"]).size().rename("size").reset_index()
    sizes["n_samples"] = sizes.groupby("question_id")["size"].transform("sum")
    sizes["mass"] = sizes["size"] / sizes["n_samples"]
    # representative label; a cluster whose representative has no label uses its first
    # labelled member
    lab = cl.merge(corr, on=["question_id", "sample_id"], how="left")
    if "is_representative" in lab:
        lab = lab.sort_values("is_representative", ascending=False, kind="stable")
    lab = lab.dropna(subset=["label"]).drop_duplicates(["question_id", "cluster_id"])
    out = sizes.merge(lab[["question_id", "cluster_id", "label"]],
                      on=["question_id", "cluster_id"], how="left")
    out["correct"] = out["label"].fillna(False).astype(bool)
    return out.drop(columns="label")[["question_id", "cluster_id", "size", "mass", "correct",
                                      "n_samples"]]


def nonconformity(mass, confidence):
    """s = confidence · (1 − mass) (module docstring)."""
    return np.asarray(confidence, dtype=float) * (1.0 - np.asarray(mass, dtype=float))


def conformal_quantile(scores, alpha: float) -> float:
    """The ⌈(n + 1)(1 − α)⌉-th smallest score (+∞ when that rank exceeds n or n = 0)."""
    s = np.sort(np.asarray(scores, dtype=float))
    n = len(s)
    k = math.ceil((n + 1) * (1.0 - alpha) - 1e-12)
    if n == 0 or k > n:
        return math.inf
    return float(s[max(k, 1) - 1])


def _scored_candidates(cands: pd.DataFrame, confidence: pd.Series) -> pd.DataFrame:
    c = cands[isin(cands["question_id"], confidence.index)].copy()
    c["confidence"] = confidence.reindex(c["question_id"]).to_numpy()
    c["score"] = nonconformity(c["mass"], c["confidence"])
    return c


def calibrate(c: pd.DataFrame, calib_ids, alpha: float) -> float:
    """q̂ from the candidates (with ``score``) of the calibration questions."""
    cal = c[isin(c["question_id"], set(calib_ids))]
    true = cal[cal["correct"]].groupby("question_id")["score"].min()
    s = true.reindex(pd.Index(sorted(set(cal["question_id"])))).fillna(math.inf)
    return conformal_quantile(s.to_numpy(), alpha)


def predict(c: pd.DataFrame, test_ids, qhat: float) -> pd.DataFrame:
    """Per test question: ``set_size, covered, coverable, n_clusters``."""
    t = c[isin(c["question_id"], set(test_ids))].assign(
        in_set=lambda d: d["score"] <= qhat + 1e-12)
    g = t.groupby("question_id")
    out = pd.DataFrame({
        "set_size": g["in_set"].sum().astype(int),
        "covered": (t["in_set"] & t["correct"]).groupby(t["question_id"]).any(),
        "coverable": g["correct"].any(),
        "n_clusters": g.size(),
    })
    return out.reset_index()


@dataclass
class _Candidates:
    """What every method's split conformal shares: the candidates' questions sorted
    (``qids``), and each candidate's position among them (``code``)."""

    qids: list
    code: np.ndarray
    # what every method's split conformal can reuse: the random splits, the questions'
    # column and flags, the sets' question ids
    memo: dict = field(default_factory=dict)

    @classmethod
    def of(cls, cands: pd.DataFrame) -> _Candidates:
        qids = sorted(first_seen(cands["question_id"]))
        return cls(qids=qids, code=pd.Index(qids).get_indexer(cands["question_id"]))


def split_conformal(
    cands: pd.DataFrame,
    uncertainty: pd.Series | None,
    coverage: float = 0.9,
    calibration_fraction: float = 0.5,
    n_splits: int = 20,
    seed: int = 0,
    hallucination_ids=(),
    method: str | None = None,
    shared: _Candidates | None = None,
) -> ConformalResult:
    """Split conformal over clusters (module docstring).

    ``cands``: :func:`candidates`; ``uncertainty``: the method's score by question id (None:
    the frequency baseline); ``hallucination_ids``: confident-hallucination question ids;
    ``shared``: ``_Candidates.of(cands)``, computed once for many methods."""
    if not 0 < coverage < 1:
        raise ValueError("coverage must lie in (0, 1)")
    notes: list[str] = []
    shared = shared or _Candidates.of(cands)
    scored, confidence = _confidence(shared, uncertainty, notes)
    # the candidates of scored questions, with their confidence and nonconformity score
    keep = (shared.code >= 0) & scored[shared.code]  # -1: a missing question id
    c = cands[keep].copy()
    c["confidence"] = confidence[shared.code[keep]]
    c["score"] = nonconformity(c["mass"], c["confidence"])
    qids = [q for q, on in zip(shared.qids, scored.tolist(), strict=True) if on]
    n_cal = int(round(calibration_fraction * len(qids)))
    if n_cal < 1 or n_cal >= len(qids):
        raise ValueError(f"{len(qids)} questions cannot be split into calibration and test")
    hall = set(hallucination_ids)
    position = np.cumsum(scored) - 1  # a scored question's place in qids
    q = _QuestionArrays.of(c, qids, hall, position[shared.code[keep]], shared.memo)
    splits, sets = _splits(q, n_cal, 1.0 - coverage, n_splits, seed, shared.memo)
    summary = _summary(method, coverage, q, qids, hall, splits, sets)
    if summary["attainable_coverage"] < coverage:
        notes.append(f"only {summary['attainable_coverage']:.0%} of questions have a correct "
                     f"cluster at all, below the {coverage:.0%} target: no set can reach it")
    return ConformalResult(method=method, target=coverage, summary=summary, splits=splits,
                           sets=sets, notes=notes)


def _confidence(shared: _Candidates, uncertainty: pd.Series | None, notes: list[str]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per question of ``shared.qids``: scored (bool) and its confidence (rank-transformed
    uncertainty over the scored ones; 1 for the frequency baseline); questions without a
    score are left out, with a note."""
    n = len(shared.qids)
    if uncertainty is None:
        return np.ones(n, dtype=bool), np.ones(n)
    u = uncertainty.reindex(shared.qids).astype(float).to_numpy()
    scored = ~np.isnan(u)
    n_undef = int(n - scored.sum())
    if n_undef:
        notes.append(f"{n_undef} questions without a score are left out")
    confidence = np.full(n, np.nan)
    confidence[scored] = uncertainty_to_confidence(u[scored], "rank")
    return scored, confidence


@dataclass
class _QuestionArrays:
    """Per-candidate and per-question arrays, computed once for every split.

    Vectorised :func:`calibrate` + :func:`predict`: question positions in ``qids`` (sorted,
    so sorted positions give groupby's sorted question order); each split is then a few
    NumPy reductions (tests/test_conformal.py checks equality)."""

    code: np.ndarray  # question position of each candidate
    score: np.ndarray
    correct: np.ndarray
    n_clusters: np.ndarray
    coverable: np.ndarray
    true_min: np.ndarray  # lowest nonconformity score of a correct cluster (inf: none)
    qid_col: object
    is_hall: np.ndarray

    @classmethod
    def of(cls, c: pd.DataFrame, qids: list, hall: set, code: np.ndarray,
           cache: dict | None = None) -> _QuestionArrays:
        """``code``: each candidate's position in ``qids``; ``cache``: keeps the question
        ids' column and hallucination flags for the next method with the same questions."""
        nq = len(qids)
        hit = cache.get("questions") if cache is not None else None
        if hit is None or hit[0] != qids or hit[1] != hall:
            hit = (qids, set(hall), pd.array(list(qids), dtype=c["question_id"].dtype),
                   isin(pd.Index(qids), hall))
            if cache is not None:
                cache["questions"] = hit
        score = c["score"].to_numpy(dtype=float)
        correct = c["correct"].to_numpy(dtype=bool)
        true_min = np.full(nq, math.inf)
        np.minimum.at(true_min, code[correct], score[correct])
        return cls(code=code, score=score, correct=correct,
                   n_clusters=np.bincount(code, minlength=nq).astype(np.int64),
                   coverable=np.bincount(code[correct], minlength=nq) > 0, true_min=true_min,
                   qid_col=hit[2], is_hall=hit[3])


def _split_positions(nq: int, n_cal: int, n_splits: int, seed: int,
                     cache: dict | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per split: (calibration positions, test mask) of ``nq`` questions; kept in ``cache``
    (every method of a run draws the same splits)."""
    key = (nq, n_cal, n_splits, seed)
    if cache is not None and key in cache:
        return cache[key]
    out = []
    for k in range(n_splits):
        perm = np.random.default_rng((seed, k)).permutation(nq)
        is_test = np.zeros(nq, dtype=bool)
        is_test[perm[n_cal:]] = True
        out.append((perm[:n_cal], is_test))
    if cache is not None:
        cache[key] = out
    return out


def _set_sizes_at(q: _QuestionArrays, thresholds: np.ndarray) -> list[np.ndarray]:
    """Per threshold t: every question's count of candidates with score <= t.

    The candidates sorted by score once; the thresholds visited in increasing order, each
    adding the counts of the candidates between it and the previous one (the same counts as
    a bincount of ``score <= t`` per threshold, at the cost of one pass)."""
    nq = len(q.true_min)
    order = np.argsort(q.score, kind="stable")
    ends = np.searchsorted(q.score[order], thresholds, side="right")
    code = q.code[order]
    counts = np.zeros(nq, dtype=np.int64)
    sizes: list[np.ndarray] = [counts] * len(thresholds)
    done = 0
    for j in np.argsort(ends, kind="stable"):
        if ends[j] > done:
            counts = counts + np.bincount(code[done:ends[j]], minlength=nq)
            done = ends[j]
        sizes[j] = counts
    return sizes


def _splits(q: _QuestionArrays, n_cal: int, alpha: float, n_splits: int, seed: int,
            cache: dict | None = None):
    """``(one row per split, one row per test question and split)``."""
    nq = len(q.true_min)
    has_cands = q.n_clusters > 0
    positions = _split_positions(nq, n_cal, n_splits, seed, cache)
    qhats = [conformal_quantile(q.true_min[cal[has_cands[cal]]], alpha) for cal, _ in positions]
    thresholds = np.array(qhats, dtype=float) + 1e-12  # a cluster is in the set: score <= this
    sizes = _set_sizes_at(q, thresholds)
    split_rows, test_rows, set_sizes, covers, split_ids = [], [], [], [], []
    for k, ((_, is_test), qhat) in enumerate(zip(positions, qhats, strict=True)):
        tp = np.flatnonzero(is_test & has_cands)  # sorted, as np.sort(test_pos) was
        size = sizes[k][tp]
        # a correct cluster is in the set exactly when the lowest correct score is
        cov = q.coverable[tp] & (q.true_min[tp] <= thresholds[k])
        test_rows.append(tp)
        set_sizes.append(size)
        covers.append(cov)
        split_ids.append(np.full(len(tp), k, dtype=np.int64))
        # sums of 0/1 and of ints are exact, so these equal pandas' Series.mean
        n_t = len(tp)
        split_rows.append({"split": k, "qhat": qhat, "n_calibration": n_cal,
                           "n_test": nq - n_cal,
                           "coverage": int(cov.sum()) / n_t if n_t else float("nan"),
                           "mean_set_size": int(size.sum()) / n_t if n_t else float("nan"),
                           "empty_share": int((size == 0).sum()) / n_t if n_t
                           else float("nan")})
    tp = np.concatenate(test_rows)
    sets = pd.DataFrame({
        "question_id": _question_ids(q.qid_col, tp, cache),
        "set_size": np.concatenate(set_sizes),
        "covered": np.concatenate(covers),
        "coverable": q.coverable[tp],
        "n_clusters": q.n_clusters[tp],
        "split": np.concatenate(split_ids),
        "confident_hallucination": q.is_hall[tp],
    })
    return pd.DataFrame(split_rows), sets


def _question_ids(qid_col, positions: np.ndarray, cache: dict | None):
    """``qid_col.take(positions)``, kept in ``cache`` for the next method that tests the same
    questions (taking ~a million strings costs a tenth of a second per method)."""
    hit = cache.get("question_ids") if cache is not None else None
    if (hit is not None and np.array_equal(hit[1], positions)
            and (hit[0] is qid_col
                 or (hit[0].dtype == qid_col.dtype and hit[0].equals(qid_col)))):
        return hit[2]
    taken = qid_col.take(positions)
    if cache is not None:
        cache["question_ids"] = (qid_col, positions, taken)
    return taken


def _summary(method, coverage, q: _QuestionArrays, qids, hall, splits, sets) -> dict:
    # the numeric columns only: taking the question ids too would cost more than the rest
    ch = sets.loc[sets["confident_hallucination"].to_numpy(),
                  ["set_size", "covered", "n_clusters"]]
    return {
        "method": method or "frequency baseline",
        "target_coverage": coverage,
        "coverage": float(splits["coverage"].mean()),
        "coverage_sd": float(splits["coverage"].std(ddof=0)),
        # questions with candidates only (a mean over questions skips those without)
        "attainable_coverage": float(q.coverable[q.n_clusters > 0].mean())
        if (q.n_clusters > 0).any() else float("nan"),
        "mean_set_size": float(sets["set_size"].mean()),
        "mean_clusters": float(sets["n_clusters"].mean()),
        "empty_share": float((sets["set_size"] == 0).mean()),
        "all_clusters_share": float((sets["set_size"] == sets["n_clusters"]).mean()),
        "infinite_qhat_share": float(np.isinf(splits["qhat"]).mean()),
        "n_questions": len(qids),
        "n_splits": len(splits),
        "ch_questions": len(hall & set(qids)),
        "ch_mean_set_size": float(ch["set_size"].mean()) if len(ch) else float("nan"),
        "ch_coverage": float(ch["covered"].mean()) if len(ch) else float("nan"),
        "ch_all_clusters_share": float((ch["set_size"] == ch["n_clusters"]).mean())
        if len(ch) else float("nan"),
    }


def hallucination_ids(cands: pd.DataFrame, dominance: float = 0.7) -> list[str]:
    """Questions whose largest cluster holds ≥ ``dominance`` of the samples and is incorrect
    (ties for the largest: the first cluster id)."""
    top = cands.sort_values(["question_id", "size", "cluster_id"],
                            ascending=[True, False, True]).drop_duplicates("question_id")
    mask = (top["mass"] >= dominance - 1e-12) & ~top["correct"]
    return sorted(top.loc[mask, "question_id"])


def run_conformal(run, rule: str, judge: str, methods=None, coverage: float = 0.9,
                  calibration_fraction: float = 0.5, n_splits: int = 20, seed: int = 0,
                  dominance: float = 0.7, baseline: bool = True) -> dict[str, ConformalResult]:
    """:func:`split_conformal` for each method (and the frequency baseline) on a run."""
    from uqlens.run.rescore import run_scores, score_methods

    cands = candidates(run, rule, judge)
    hall = hallucination_ids(cands, dominance)
    methods = list(methods) if methods is not None else score_methods(run, rule)
    s = run_scores(run, rule, methods)
    out: dict[str, ConformalResult] = {}
    shared = _Candidates.of(cands)
    if baseline:
        out["frequency"] = split_conformal(cands, None, coverage, calibration_fraction,
                                           n_splits, seed, hall, None, shared)
    by_method = s.groupby("method", sort=False).indices
    for m in methods:
        part = s.iloc[by_method.get(m, np.zeros(0, dtype=np.int64))]
        u = part.set_index("question_id")["uncertainty"]
        if u.notna().sum() < 2:
            continue
        out[m] = split_conformal(cands, u, coverage, calibration_fraction, n_splits, seed,
                                 hall, m, shared)
    return out


@dataclass
class ConformalView:
    """What the Conformal page shows of :func:`run_conformal`'s results, without their sets
    (a million rows per method at 1,000,000 answers, which a page's cache would copy out on
    every rerun): :func:`summary_table`, the results' notes, :func:`agreement_note`,
    :func:`differing_sets` and each method's set-size distribution."""

    table: pd.DataFrame
    notes: list[str]
    agreement: str
    differ: pd.DataFrame
    sizes: dict[str, pd.DataFrame]


def conformal_view(run, rule: str, judge: str, coverage: float = 0.9,
                   n_splits: int = 20) -> ConformalView:
    """:class:`ConformalView` of ``run_conformal(run, rule, judge, coverage=coverage,
    n_splits=n_splits)``."""
    res = run_conformal(run, rule, judge, coverage=coverage, n_splits=n_splits)
    return ConformalView(table=summary_table(res),
                         notes=sorted({n for r in res.values() for n in r.notes}),
                         agreement=agreement_note(res), differ=differing_sets(res),
                         sizes={m: r.size_distribution() for m, r in res.items()})


def summary_table(results: dict[str, ConformalResult]) -> pd.DataFrame:
    return pd.DataFrame([r.summary for r in results.values()])


def _set_sizes(results: dict[str, ConformalResult]) -> pd.DataFrame:
    """``(split, question_id) × method`` set sizes over the pairs every method tested."""
    frames = [r.sets for r in results.values()]
    first = frames[0]
    if all(f["split"].equals(first["split"]) and f["question_id"].equals(first["question_id"])
           for f in frames[1:]):
        # the usual case: every method tested the same questions in the same order
        index = pd.MultiIndex.from_arrays([first["split"], first["question_id"]])
        return pd.DataFrame({m: r.sets["set_size"].to_numpy() for m, r in results.items()},
                            index=index)
    return pd.concat(
        [r.sets.set_index(["split", "question_id"])["set_size"].rename(m)
         for m, r in results.items()], axis=1, join="inner")


def _all_equal(sizes: pd.DataFrame) -> np.ndarray:
    """Per row: are all the methods' set sizes equal (the row-wise ``nunique == 1``)?"""
    values = sizes.to_numpy()
    return (values == values[:, :1]).all(axis=1)


def set_agreement(results: dict[str, ConformalResult]) -> dict:
    """How far the methods' sets agree, to explain identical rows.

    Within a question every method orders the clusters the same way (s_ic = c_i · (1 − p_ic)
    falls as the mass p_ic grows, whatever c_i), so a set is always the k heaviest clusters
    and two methods' sets on a (split, test question) are equal exactly when their sizes are.
    Returns ``n_methods``, ``n_pairs`` (split, test question pairs every method scored),
    ``n_same`` (pairs where all sets are equal), ``n_questions`` and ``n_questions_same``
    (questions with equal sets in every split), ``n_single`` (tested questions with one
    cluster, whose sets can only be empty or that cluster),
    ``all_infinite`` (methods whose q̂ was +∞ on
    every split: their sets hold every cluster), ``attainable`` and ``target``.
    """
    names = list(results)
    if not names:
        return {"n_single": 0, "n_methods": 0, "n_pairs": 0, "n_same": 0, "n_questions": 0,
                "n_questions_same": 0, "all_infinite": [], "attainable": float("nan"),
                "target": float("nan")}
    sizes = _set_sizes(results)
    same = pd.Series(_all_equal(sizes), index=sizes.index)
    per_q = same.groupby(level="question_id").all()
    first = results[names[0]]
    single = first.sets.groupby("question_id")["n_clusters"].first() == 1
    return {
        "n_single": int(single.sum()),
        "n_methods": len(names), "n_pairs": len(sizes), "n_same": int(same.sum()),
        "n_questions": len(per_q), "n_questions_same": int(per_q.sum()),
        "all_infinite": [m for m, r in results.items()
                         if len(r.splits) and bool(np.isinf(r.splits["qhat"]).all())],
        "attainable": float(first.summary["attainable_coverage"]), "target": first.target,
    }


def agreement_note(results: dict[str, ConformalResult]) -> str:
    """One sentence on why the methods' sets agree (or how much they differ), from
    :func:`set_agreement`."""
    a = set_agreement(results)
    if a["n_methods"] < 2 or a["n_pairs"] == 0:
        return ""
    head = (f"All {a['n_methods']} methods give the same set on {a['n_same']:,} of "
            f"{a['n_pairs']:,} (split, test question) pairs ({a['n_questions_same']:,} of "
            f"{a['n_questions']:,} questions in every split)")
    if len(a["all_infinite"]) == a["n_methods"]:
        return (f"{head} because q̂ is +∞ for every method on every split: only "
                f"{a['attainable']:.0%} of questions have a correct cluster at all, below the "
                f"{a['target']:.0%} target, so no finite threshold reaches the target and every "
                "set holds all of its question's clusters. Lower the target below "
                f"{a['attainable']:.0%} to see the methods differ.")
    why = ("Every method orders a question's clusters the same way (by their share of "
           "samples), so sets differ only in how many clusters they keep.")
    single = (f" {a['n_single']:,} questions have a single cluster, so their sets can only "
              "be that cluster or empty." if a["n_single"] else "")
    if a["n_same"] == a["n_pairs"]:
        return f"{head}. {why}{single}"
    return f"{head}. {why}{single} The table below lists the questions where they differ."


def differing_sets(results: dict[str, ConformalResult]) -> pd.DataFrame:
    """Questions where the methods' set sizes differ: one row per question, one column per
    method with its mean set size over the splits that tested the question."""
    if not results:
        return pd.DataFrame()
    sizes = _set_sizes(results)
    differ = ~_all_equal(sizes)
    qids = sizes.index[differ].get_level_values("question_id").unique()
    rows = sizes[sizes.index.get_level_values("question_id").isin(qids)]
    return rows.groupby(level="question_id").mean().reset_index()

