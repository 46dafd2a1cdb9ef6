"""Run-level view logic: pure functions over a built run's tables.

Everything the dashboard shows is computed here, from a :class:`uqlens.run.folder.Run` (or anything
with a ``table(name)`` method returning the run's DataFrames), so it can be tested without
Streamlit. Nothing here imports Streamlit or a model.

Conventions
-----------
- Ids (``question_id``, ``sample_id``) cross every boundary, never row positions.
- ``uncertainty``: higher = more uncertain, everywhere.
- The *judged answer* of a question is its generation with ``is_greedy`` True, or, when a
  question has none, its first sample (in table order).
- The *samples* of a question are the generations the methods score: its non-greedy
  generations, and of those only the ones drawn at the build's ``sample_temperature`` when
  the manifest records one (:func:`scored_sample_mask`; :func:`scored_samples_note` says
  which in words). Clusters, sizes, probability mass, dominant share and every count are
  computed over these samples only (the judged answer is placed in the cluster it falls into
  but not counted), so a share and the scores beside it describe the same answers.
- A cluster is *correct* when its representative answer is labelled correct by the judge.
- The *operating point* ``p`` accepts the ``ceil(p * n)`` least uncertain of the ``n`` scored
  questions (ties broken by question id), the way a UQ gate would.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from uqlens.analysis import stored
from uqlens.core.frames import isin
from uqlens.core.projection import (  # noqa: F401  (map point ids, used across the app)
    ID_SEP,
    parse_point_ids,
    point_id,
)
from uqlens.run.memo import memo as _memo
from uqlens.run.rescore import (  # noqa: F401  (re-exported: which samples are scored)
    scored_sample_mask,
    scored_temperature,
)

# --------------------------------------------------------------------------- helpers


def _boolean(series: pd.Series) -> pd.Series:
    """A nullable boolean copy of a label column (NaN/None stay missing)."""
    return series.astype("boolean")


def rule_backend(manifest: dict, rule: str) -> str | None:
    """The backend whose pairs feed the rule's graph methods (its ``affinity_backend``; an
    ``exact`` or ``embedding`` rule has cosine there), else the rule's own backend."""
    for entry in manifest.get("rules", []):
        if entry.get("key") == rule:
            return entry.get("affinity_backend") or entry.get("backend")
    return None


def _id_codes(*columns) -> tuple[list[np.ndarray], int]:
    """Integer codes of id columns over their shared values (equal ids, equal codes; a
    missing id -1) and how many distinct values there are: one factorisation of all of
    them, where every merge on the strings would hash each row again."""
    parts = [pd.Series(np.asarray(c, dtype=object) if isinstance(c, np.ndarray) else c)
             .reset_index(drop=True) for c in columns]
    codes, uniques = pd.factorize(pd.concat(parts, ignore_index=True))
    codes = codes.astype(np.int64)
    ends = np.cumsum([len(p) for p in parts])
    return np.split(codes, ends[:-1]), len(uniques)


def _merge_ids(left: pd.DataFrame, right: pd.DataFrame, on: list[str], how: str
               ) -> pd.DataFrame:
    """``left.merge(right, on=on, how=how)``, joined on one integer per row built from the
    key columns' codes: pandas factorises string keys row by row (seconds at 1,000,000
    rows). The same rows in the same order; key values come from ``left`` as in a merge."""
    if any(left[k].isna().any() or right[k].isna().any() for k in on):
        return left.merge(right, on=on, how=how)  # missing ids: pandas' own matching rules
    lkey = np.zeros(len(left), dtype=np.int64)
    rkey = np.zeros(len(right), dtype=np.int64)
    span = 1
    for k in on:
        (lc, rc), n = _id_codes(left[k], right[k])
        span *= max(n, 1)
        if span >= 2**62:
            return left.merge(right, on=on, how=how)
        lkey, rkey = lkey * max(n, 1) + lc, rkey * max(n, 1) + rc
    key = "__key"
    while key in left or key in right:
        key += "_"
    out = left.assign(**{key: lkey}).merge(right.drop(columns=on).assign(**{key: rkey}),
                                           on=key, how=how)
    return out.drop(columns=key)


def _pair_isin(frame: pd.DataFrame, keys: pd.DataFrame) -> np.ndarray:
    """Rows of ``frame`` whose ``(question_id, sample_id)`` is a row of ``keys``."""
    (fq, kq), nq = _id_codes(frame["question_id"], keys["question_id"])
    (fs, ks), ns = _id_codes(frame["sample_id"], keys["sample_id"])
    if nq * ns >= 2**62 or frame[["question_id", "sample_id"]].isna().any().any():
        return pd.MultiIndex.from_arrays([frame["question_id"], frame["sample_id"]]).isin(
            pd.MultiIndex.from_arrays([keys["question_id"], keys["sample_id"]]))
    return np.isin(fq * ns + fs, kq * ns + ks)


# --------------------------------------------------------------------------- samples


def scored_samples_note(run) -> str:
    """One sentence naming the samples counts and shares are computed over."""
    gen = run.table("generations")
    t = scored_temperature(run)
    scored = scored_sample_mask(gen, t)
    sampled = scored_sample_mask(gen, None)
    n, n_all = int(scored.sum()), int(sampled.sum())
    if t is None or n == n_all:
        return f"Counts and shares use all {n} sampled answers, the ones the methods score."
    others = sorted({float(x) for x in gen.loc[sampled & ~scored, "temperature"].dropna()})
    at = ", ".join(f"{x:g}" for x in others)
    return (f"Counts and shares use the {n} samples drawn at temperature {t:g}, the ones the "
            f"methods score; {n_all - n} samples at other temperatures ({at}) are left out.")


# --------------------------------------------------------------------------- answers


def judged_answers(run, judge: str) -> pd.DataFrame:
    """The judged answer of every question with its correctness under ``judge``.

    Columns: ``question_id, sample_id, text, text_id, is_greedy, correct, value``
    (``correct`` is nullable boolean: missing when the judge has no label for it).
    """
    return _memo(run, "judged_answers", (judge,), lambda: _judged_answers(run, judge))


def _judged_answers(run, judge: str) -> pd.DataFrame:
    gen = run.table("generations")
    greedy = gen[gen["is_greedy"].astype(bool)] if "is_greedy" in gen else gen.iloc[0:0]
    greedy = greedy.drop_duplicates("question_id", keep="first")
    rest = gen[~isin(gen["question_id"], greedy["question_id"])]
    first = rest.drop_duplicates("question_id", keep="first")
    judged = pd.concat([greedy, first], ignore_index=True)
    cols = [c for c in ("question_id", "sample_id", "text", "text_id", "is_greedy") if c in judged]
    judged = judged[cols]
    corr = run.table("correctness")
    corr = corr[corr["judge"] == judge][["question_id", "sample_id", "label", "value"]]
    out = _merge_ids(judged, corr, ["question_id", "sample_id"], "left")
    out = out.rename(columns={"label": "correct"})
    out["correct"] = _boolean(out["correct"])
    listed = pd.Index(run.table("questions")["question_id"])
    position = pd.Series(np.arange(len(listed)), index=listed)
    position = position[~listed.duplicated(keep="last")]  # a repeated id: its last place
    order = position.index.get_indexer(out["question_id"])
    order = np.where(order < 0, -1, position.to_numpy()[order])
    out["_o"] = np.where(order < 0, np.nan, order)  # a question not listed: last, by id
    return out.sort_values(["_o", "question_id"]).drop(columns="_o").reset_index(drop=True)


def answer_table(run, rule: str, judge: str) -> pd.DataFrame:
    """One row per generation: text, cluster under ``rule``, correctness under ``judge``.

    Columns: ``question_id, sample_id, text, is_greedy, is_scored, is_judged, cluster_id,
    correct``. ``cluster_id`` is -1 when the answer is in no cluster; ``is_scored`` marks the
    samples the methods score (:func:`scored_sample_mask`).
    """
    return _memo(run, "answer_table", (rule, judge), lambda: _answer_table(run, rule, judge))


def _answer_table(run, rule: str, judge: str) -> pd.DataFrame:
    out = _answer_rows(run, judge)
    cl = run.table("clusters")
    cl = cl[cl["rule"] == rule][["question_id", "sample_id", "cluster_id"]]
    out = _merge_ids(out, cl, ["question_id", "sample_id"], "left")
    # A judged answer missing from the clusters table joins the cluster of an identical text.
    if "text_id" in out:
        by_text = (
            out[~out["is_greedy"] & out["cluster_id"].notna()]
            .drop_duplicates(["question_id", "text_id"])
            .set_index(["question_id", "text_id"])["cluster_id"]
        )
        missing = out["cluster_id"].isna()
        if missing.any():
            keys = list(zip(out.loc[missing, "question_id"], out.loc[missing, "text_id"],
                            strict=True))
            out.loc[missing, "cluster_id"] = [by_text.get(k, np.nan) for k in keys]
    out["cluster_id"] = out["cluster_id"].fillna(-1).astype(int)
    cols = [c for c in out if c not in ("correct", "is_judged")]
    return out[[*cols, "correct", "is_judged"]]


def _answer_rows(run, judge: str) -> pd.DataFrame:
    """:func:`answer_table` without the clusters: ``question_id, sample_id, text, [text_id],
    is_greedy, is_scored, correct, is_judged``, in generation order."""
    gen = run.table("generations")
    cols = [c for c in ("question_id", "sample_id", "text", "text_id", "is_greedy") if c in gen]
    out = gen[cols].copy()
    out["is_scored"] = scored_sample_mask(gen, scored_temperature(run)).to_numpy()
    if "is_greedy" not in out:
        out["is_greedy"] = False
    out["is_greedy"] = out["is_greedy"].astype(bool)
    corr = run.table("correctness")
    corr = corr[corr["judge"] == judge][["question_id", "sample_id", "label"]]
    out = _merge_ids(out, corr, ["question_id", "sample_id"], "left")
    out = out.rename(columns={"label": "correct"})
    out["correct"] = _boolean(out["correct"])
    out["is_judged"] = _pair_isin(out, judged_answers(run, judge))
    return out


def _samples(answers: pd.DataFrame) -> pd.DataFrame:
    """The scored samples; a question with none keeps its other non-greedy rows, and a
    question with only a greedy answer keeps that."""
    scored = answers[answers["is_scored"]] if "is_scored" in answers else answers.iloc[0:0]
    rest = answers[~isin(answers["question_id"], scored["question_id"])]
    sampled = rest[~rest["is_greedy"]]
    only = rest[~isin(rest["question_id"], sampled["question_id"])]
    return pd.concat([scored, sampled, only], ignore_index=True)


def sample_correctness(run, judge: str) -> pd.DataFrame:
    """Per question with samples (sorted by id), what ``judge`` says of its samples:
    ``any_correct``, ``share_correct`` (of the labelled samples; NaN when none is) and
    ``correct_answers`` (the distinct correct texts, first seen first; [] when none).
    Read from the run's summaries when it has them (:mod:`uqlens.analysis.stored`)."""
    got = stored.judge_table(run, judge, _sample_correctness)
    return got if got is not None and len(got) else _sample_correctness(run, judge)


def _sample_correctness(run, judge: str) -> pd.DataFrame:
    """:func:`sample_correctness` computed from the run's tables."""
    answers = _samples(_answer_rows(run, judge))
    right = answers["correct"].fillna(False).astype(bool)
    out = pd.DataFrame({"any_correct": right.groupby(answers["question_id"]).any()})
    out["share_correct"] = answers.groupby("question_id")["correct"].agg(
        lambda s: s.astype("Float64").mean()).astype(float)
    good = answers[right]
    texts = good.groupby("question_id")["text"].agg(lambda s: list(dict.fromkeys(s)))
    out["correct_answers"] = [texts.get(q, []) for q in out.index]
    return out.rename_axis("question_id").reset_index()


# --------------------------------------------------------------------------- clusters


def cluster_summary(run, rule: str, judge: str, question_id: str | None = None) -> pd.DataFrame:
    """Per (question, cluster) summary under ``rule``, largest cluster first.

    Columns: ``question_id, cluster_id, rank`` (1 = largest), ``size`` (samples),
    ``mass`` (share of the question's samples), ``representative`` (text), ``members``
    (list of sample texts), ``member_ids`` (sample ids), ``correct`` (the representative's
    label), ``share_correct`` (share of members labelled correct), ``holds_judged``.
    Read from the run's summaries when it has them (:mod:`uqlens.analysis.stored`).
    """
    got = stored.clusters(run, rule, judge, _cluster_summary)
    if got is not None and question_id is not None:
        got = got[got["question_id"] == question_id].reset_index(drop=True)
    if got is not None and len(got):
        return got
    return _cluster_summary(run, rule, judge, question_id)


def _cluster_summary(run, rule: str, judge: str, question_id: str | None = None
                     ) -> pd.DataFrame:
    """:func:`cluster_summary` computed from the run's tables."""
    answers = answer_table(run, rule, judge)
    if question_id is not None:
        answers = answers[answers["question_id"] == question_id]
    samples = _samples(answers)
    samples = samples[samples["cluster_id"] >= 0]
    if samples.empty:
        return pd.DataFrame(
            columns=[
                "question_id", "cluster_id", "rank", "size", "mass", "representative",
                "members", "member_ids", "correct", "share_correct", "holds_judged",
            ]
        )
    cl = run.table("clusters")
    cl = cl[cl["rule"] == rule]
    keys = ["question_id", "cluster_id"]
    samples = samples.reset_index(drop=True)
    pos = np.arange(len(samples))
    is_rep = np.zeros(len(samples), dtype=bool)
    if "is_representative" in cl:
        rep_rows = cl[cl["is_representative"].astype(bool)]
        reps = pd.MultiIndex.from_arrays([rep_rows["question_id"], rep_rows["sample_id"]])
        is_rep = pd.MultiIndex.from_arrays(
            [samples["question_id"], samples["sample_id"]]).isin(reps)
    # Representative: the cluster's first row marked representative; else its most frequent
    # text, first seen on ties (the row where that text first occurs).
    by_text = samples.groupby(keys + ["text"], sort=False, dropna=False)
    count = by_text["text"].transform("size").to_numpy()
    first = by_text.cumcount().to_numpy() == 0
    count = np.where(samples["text"].isna().to_numpy(), -1, count)  # a missing text: last
    cand = pd.DataFrame({"question_id": samples["question_id"],
                         "cluster_id": samples["cluster_id"], "_pos": pos,
                         "_p0": np.where(is_rep, 0, 1), "_p1": np.where(is_rep, 0, -count)})
    cand = cand[is_rep | first]
    cand = cand.sort_values(["_p0", "_p1", "_pos"], kind="stable")
    rep_pos = cand.drop_duplicates(keys, keep="first").set_index(keys)["_pos"]
    grp = samples.groupby(keys, sort=False)
    out = grp.agg(size=("sample_id", "size"), members=("text", list),
                  member_ids=("sample_id", list))
    share = samples["correct"].astype("Float64").groupby(
        [samples["question_id"], samples["cluster_id"]], sort=False).mean()
    out["share_correct"] = share.reindex(out.index).astype(float)
    rp = rep_pos.reindex(out.index).to_numpy()
    out["representative"] = samples["text"].to_numpy()[rp]
    out["correct"] = samples["correct"].array[rp]
    out = out.reset_index()
    out["cluster_id"] = out["cluster_id"].astype(int)
    n_samples = samples.groupby("question_id").size()
    out["mass"] = out["size"] / out["question_id"].map(n_samples).to_numpy()
    judged = answers[answers["is_judged"]][["question_id", "cluster_id"]]
    judged_cluster = pd.Series(dict(zip(judged["question_id"], judged["cluster_id"],
                                        strict=True)), dtype=object)
    out["holds_judged"] = (out["question_id"].map(judged_cluster) == out["cluster_id"]) \
        .fillna(False).astype(bool)
    out["correct"] = _boolean(out["correct"])
    out = out.sort_values(["question_id", "size", "cluster_id"], ascending=[True, False, True])
    out["rank"] = out.groupby("question_id").cumcount() + 1
    order = [
        "question_id", "cluster_id", "rank", "size", "mass", "representative", "members",
        "member_ids", "correct", "share_correct", "holds_judged",
    ]
    return out[order].reset_index(drop=True)


def dominant_clusters(run, rule: str, judge: str) -> pd.DataFrame:
    """One row per question: its largest cluster and the judged answer.

    Columns: ``question_id, question, dataset, n_samples, n_clusters, dominant_cluster,
    dominant_share, dominant_representative, dominant_correct, any_correct`` (some sample
    labelled correct), ``judged_text, judged_correct, judged_in_dominant``.
    """
    return _memo(run, "dominant_clusters", (rule, judge),
                 lambda: _dominant_clusters(run, rule, judge))


DOMINANT_COLUMNS = ("question_id", "cluster_id", "rank", "size", "mass", "representative",
                    "correct", "holds_judged")
"""The cluster summary's columns :func:`dominant_clusters` reads (no member lists)."""


def cluster_columns(run, rule: str, judge: str, columns: tuple[str, ...]) -> pd.DataFrame:
    """``cluster_summary(run, rule, judge)[list(columns)]``, reading only those columns of
    the stored summary when the run has one."""
    got = stored.clusters(run, rule, judge, _cluster_summary, columns=columns)
    if got is not None and len(got):
        return got
    return cluster_summary(run, rule, judge)[list(columns)]


def _judge_column(run, judge: str, column: str) -> pd.Series:
    """``sample_correctness(run, judge)[column]`` by question id, without reading the lists
    of correct texts when the run stores the table."""
    got = stored.judge_table(run, judge, _sample_correctness, columns=("question_id", column))
    if got is None or not len(got):
        got = sample_correctness(run, judge)
    return got.set_index("question_id")[column]


def _dominant_clusters(run, rule: str, judge: str) -> pd.DataFrame:
    clusters = cluster_columns(run, rule, judge, DOMINANT_COLUMNS)
    top = clusters[clusters["rank"] == 1].set_index("question_id")
    counts = clusters.groupby("question_id").agg(
        n_samples=("size", "sum"), n_clusters=("cluster_id", "size")
    )
    any_correct = _judge_column(run, judge, "any_correct")
    q = run.table("questions")
    out = pd.DataFrame({"question_id": q["question_id"], "question": q["question"]})
    out["dataset"] = q["dataset"] if "dataset" in q else ""
    out = out.set_index("question_id")
    out = out.join(counts)
    out["dominant_cluster"] = top["cluster_id"]
    out["dominant_share"] = top["mass"]
    out["dominant_representative"] = top["representative"]
    out["dominant_correct"] = _boolean(top["correct"].reindex(out.index))
    out["any_correct"] = any_correct.reindex(out.index).fillna(False).astype(bool)
    judged = judged_answers(run, judge).set_index("question_id")
    out["judged_text"] = judged["text"]
    out["judged_correct"] = _boolean(judged["correct"].reindex(out.index))
    out["judged_in_dominant"] = top["holds_judged"].reindex(out.index).fillna(False).astype(bool)
    out["n_samples"] = out["n_samples"].fillna(0).astype(int)
    out["n_clusters"] = out["n_clusters"].fillna(0).astype(int)
    return out.reset_index()


# --------------------------------------------------------------------------- scores


def question_scores(run, rule: str, method: str | None = None) -> pd.DataFrame:
    """Scores under ``rule`` with each question's percentile within its method.

    Columns: ``question_id, method, uncertainty, percentile`` (0-100, the mid-rank
    percentile of :func:`uqlens.analysis.evaluation.mid_ranks`: tied scores share one value,
    100 = most uncertain; NaN when undefined), ``n_tied`` (other questions with the same
    score, after rounding), ``tie`` ("tied with N others" or "") and
    ``certainty_rank`` (1 = least uncertain question for that method; ties broken by question
    id, as the gate of :func:`accepted_questions` does), ``shared_rank`` (the mean
    ``certainty_rank`` of a tied group: the rank shown, equal for every tied question) and
    ``rank_percentile``
    (``100 * certainty_rank / n_scored``: a gate at operating point ``p`` accepts exactly the
    questions with ``rank_percentile <= 100 * ceil(p * n) / n``).
    Read from the run's summaries when it has them (:mod:`uqlens.analysis.stored`).
    """
    got = stored.scores(run, rule)
    if got is not None and method is not None:
        got = got[got["method"] == method].reset_index(drop=True)
    if got is not None and len(got):
        return got
    return _question_scores(run, rule, method)


def _question_scores(run, rule: str, method: str | None = None) -> pd.DataFrame:
    """:func:`question_scores` computed from the run's tables."""
    s = run.table("scores")
    s = s[s["rule"] == rule][["question_id", "method", "uncertainty"]].copy()
    if method is not None:
        s = s[s["method"] == method]
    s["uncertainty"] = s["uncertainty"].astype(float)
    from uqlens.analysis.evaluation import mid_ranks, rounded, tie_note
    from uqlens.core.ranking import certainty_ranks

    s["percentile"], s["n_tied"] = np.nan, np.nan
    for _, idx in s.groupby("method").groups.items():
        _, pct, tied = mid_ranks(s.loc[idx, "uncertainty"].to_numpy())
        s.loc[idx, "percentile"], s.loc[idx, "n_tied"] = pct, tied
    s["tie"] = [tie_note(t) for t in s["n_tied"]]
    s = s.assign(_u=rounded(s["uncertainty"].to_numpy()))  # float noise is a tie, not an order
    return certainty_ranks(s)


def accepted_questions(scores: pd.Series, operating_point: float) -> set[str]:
    """Question ids a gate at ``operating_point`` accepts (least uncertain fraction).

    ``scores`` is uncertainty indexed by question id; undefined scores are never accepted.
    """
    from uqlens.core.ranking import rounded

    s = scores.dropna()
    if s.empty or operating_point <= 0:
        return set()
    k = min(len(s), math.ceil(operating_point * len(s) - 1e-9))
    ids = np.asarray(s.index.astype(str), dtype=str)
    order = np.lexsort((ids, rounded(s.to_numpy(dtype=float))))  # noise is a tie, then id
    return set(s.index[order[:k]].tolist())


def confident_hallucinations(
    run,
    rule: str,
    method: str,
    judge: str,
    dominance: float = 0.7,
    operating_point: float = 0.2,
) -> pd.DataFrame:
    """Questions whose dominant cluster holds at least ``dominance`` of the samples and is
    incorrect, ranked by ``method``'s uncertainty ascending (most confident first).

    Ties in uncertainty are ordered by dominant share (larger first), then question id.
    Adds ``uncertainty, percentile, certainty_rank, n_tied, tie`` and ``accepted`` (within the
    ``operating_point`` fraction of least uncertain questions: a gate would pass it).
    """
    dom = dominant_clusters(run, rule, judge)
    scores = question_scores(run, rule, method).set_index("question_id")
    return _hallucinations(dom, scores, dominance, operating_point)


def _gate(scores: pd.DataFrame, operating_point: float) -> np.ndarray:
    """Per row of one method's :func:`question_scores`: accepted by a gate at
    ``operating_point``. The rows with ``certainty_rank`` up to ``ceil(p * n)``: the same
    questions as :func:`accepted_questions` (its order, rounded score then question id, is
    how ``certainty_rank`` is numbered), without sorting the ids again."""
    rank = scores["certainty_rank"].to_numpy(dtype=float)
    n = int((~np.isnan(scores["uncertainty"].to_numpy(dtype=float))).sum())
    if n == 0 or operating_point <= 0:
        return np.zeros(len(rank), dtype=bool)
    k = min(n, math.ceil(operating_point * n - 1e-9))
    return rank <= k  # NaN (unscored) compares False


def _hallucinations(dom: pd.DataFrame, scores: pd.DataFrame, dominance: float,
                    operating_point: float) -> pd.DataFrame:
    """:func:`confident_hallucinations` from :func:`dominant_clusters` and one method's
    :func:`question_scores` (indexed by question id)."""
    from uqlens.analysis.evaluation import order_with_ties

    cols = [c for c in ("uncertainty", "percentile", "certainty_rank", "shared_rank", "n_tied",
                        "tie")
            if c in scores]
    dom = dom.join(scores[cols], on="question_id")
    accepted = (scores.index[_gate(scores, operating_point)] if "certainty_rank" in scores
                else accepted_questions(scores["uncertainty"], operating_point))
    dom["accepted"] = isin(dom["question_id"], accepted)
    mask = _confidently_wrong(dom, dominance)
    # most confident first; ties: the more dominant cluster first, then question id
    out = order_with_ties(dom[mask].sort_values("question_id"),
                          then=[("dominant_share", False)])
    return out.reset_index(drop=True)


def _confidently_wrong(dom: pd.DataFrame, dominance: float) -> pd.Series:
    """Rows of :func:`dominant_clusters` whose dominant cluster holds at least ``dominance``
    of the samples and is labelled incorrect."""
    return (dom["dominant_share"] >= dominance - 1e-12) & (
        dom["dominant_correct"].fillna(True) == False  # noqa: E712 (nullable boolean)
    )


def hallucination_counts(
    run, rule: str, judge: str, dominance: float = 0.7, operating_point: float = 0.2
) -> pd.DataFrame:
    """Per method: how many questions a gate at ``operating_point`` accepts, and how many of
    those are confident hallucinations.

    Columns: ``method, accepted, confident_hallucinations, share`` (of accepted),
    ``total_confident_hallucinations`` (regardless of the gate).
    """
    rows = []
    dom = dominant_clusters(run, rule, judge)  # once: it does not depend on the method
    confident = dom.loc[_confidently_wrong(dom, dominance), "question_id"]
    all_scores = question_scores(run, rule)
    is_confident = isin(all_scores["question_id"], confident)
    by_method = all_scores.groupby("method", sort=False).indices
    for method in run_methods(run, rule):
        at = by_method.get(method, np.zeros(0, dtype=np.int64))
        accepted = _gate(all_scores.iloc[at], operating_point)
        n_acc, n_ch = int(accepted.sum()), int((accepted & is_confident[at]).sum())
        rows.append(
            {
                "method": method,
                "accepted": n_acc,
                "confident_hallucinations": n_ch,
                "share": n_ch / n_acc if n_acc else np.nan,
                "total_confident_hallucinations": int(confident.nunique()),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "method", "accepted", "confident_hallucinations", "share",
            "total_confident_hallucinations",
        ],
    )


def quadrant_table(
    run, rule: str, judge: str, dominance: float = 0.7, operating_point: float = 0.2,
    question_ids=None,
) -> pd.DataFrame:
    """Per (method, question): where the question sits for a gate, and how right it is.

    Columns: ``method, question_id, question, uncertainty, rank_percentile, accepted,
    share_correct`` (share of samples labelled correct), ``flag`` ("confident hallucination",
    "judged correct" or "judged incorrect") and ``cut`` (the gate's ``rank_percentile``
    boundary for that method). ``question_ids``: only their rows (the gate and ``cut`` still
    those of every question), the same rows as filtering the whole table.
    """
    dom = dominant_clusters(run, rule, judge).set_index("question_id")
    share = _judge_column(run, judge, "share_correct")
    is_ch = _confidently_wrong(dom, dominance)
    judged = dom["judged_correct"].astype(object)
    flag = pd.Series(
        np.where(is_ch, "confident hallucination",
                 np.where(judged == True, "judged correct", "judged incorrect")),  # noqa: E712
        index=dom.index,
    )
    scores = question_scores(run, rule)
    frames = []
    for _, part in scores.groupby("method", sort=False):
        accepted = _gate(part, operating_point)
        n = int(part["uncertainty"].notna().sum())
        cut = 100.0 * int(accepted.sum()) / n if n else 0.0
        if question_ids is not None:  # after the gate: it ranks every question
            keep = isin(part["question_id"], question_ids)
            part, accepted = part[keep], accepted[keep]
        frames.append(part.assign(accepted=accepted, cut=cut))
    out = pd.concat(frames, ignore_index=True) if frames else scores.assign(accepted=False, cut=0.0)
    if question_ids is not None and not frames:
        out = out[isin(out["question_id"], question_ids)].reset_index(drop=True)
    # one look-up of a million question ids for the three columns (what .map does per column)
    at = dom.index.get_indexer(out["question_id"])
    out["question"] = _take(dom["question"], at)
    out["share_correct"] = _take(share, share.index.get_indexer(out["question_id"]))
    out["flag"] = _take(flag, at)
    cols = ["method", "question_id", "question", "uncertainty", "rank_percentile", "accepted",
            "share_correct", "flag", "cut"]
    # by the run's method order (others last, together), then question id: integer keys
    # sorted once instead of mapping and sorting a million strings
    order = {m: i for i, m in enumerate(run_methods(run, rule))}
    m_code, m_uniques = pd.factorize(out["method"])
    m_rank = np.array([order.get(m, len(order)) for m in m_uniques] + [len(order)])
    q_code, _ = pd.factorize(out["question_id"], sort=True)
    q_code = np.where(q_code < 0, q_code.max(initial=0) + 1, q_code)  # a missing id: last
    out = out.iloc[np.lexsort((q_code, m_rank[m_code]))]
    return out[cols].reset_index(drop=True)


def _take(values: pd.Series, at: np.ndarray):
    """``values`` at positions ``at`` (-1: missing), as ``Series.map`` fills them."""
    return pd.api.extensions.take(values.array, at, allow_fill=True)


def correct_but_outvoted(run, rule: str, judge: str) -> pd.DataFrame:
    """Questions where some sample is correct but the dominant cluster is not.

    Adds ``correct_answers``: the distinct correct sample texts.
    """
    dom = dominant_clusters(run, rule, judge)
    mask = dom["any_correct"] & (dom["dominant_correct"].fillna(True) == False)  # noqa: E712
    out = dom[mask].copy()
    texts = sample_correctness(run, judge).set_index("question_id")["correct_answers"]
    out["correct_answers"] = out["question_id"].map(texts)
    return out.reset_index(drop=True)


def run_methods(run, rule: str | None = None) -> list[str]:
    """Methods with scores (manifest order first, then any others found)."""
    from uqlens.run.rescore import score_methods

    return score_methods(run, rule)


# --------------------------------------------------------------------------- summaries


def _names(value) -> str:
    """A manifest's dataset/model entry (a name or a list of names) as one line."""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value or "")


def run_summary(run, judge: str) -> dict:
    """Headline numbers: dataset, model, questions, samples, judged-answer accuracy."""
    m = run.manifest
    gen = run.table("generations")
    judged = judged_answers(run, judge)
    labelled = judged["correct"].dropna()
    n_greedy = int(gen["is_greedy"].astype(bool).sum()) if "is_greedy" in gen else 0
    return {
        "name": m.get("name") or str(getattr(run, "path", "")),
        "dataset": _names(m.get("dataset")),
        "model": _names(m.get("model")),
        "questions": int(len(run.table("questions"))),
        "samples": int(len(gen) - n_greedy),
        "judged_answers": int(len(judged)),
        "accuracy": float(labelled.astype(float).mean()) if len(labelled) else None,
        "labelled": int(len(labelled)),
    }


def method_metrics(run, rule: str, judge: str, n_boot: int = 200) -> pd.DataFrame | None:
    """AUROC/AUPRC/PRR/TPR@1%FPR per method via :mod:`uqlens.analysis.evaluation`.
    The positive class is "the judged answer is incorrect". A supervised probe trained on
    another judge is refitted on ``judge`` (:func:`uqlens.analysis.probes.current_scores`)."""
    from uqlens.analysis import evaluation
    judged = judged_answers(run, judge).dropna(subset=["correct"])
    incorrect = pd.Series(
        ~judged["correct"].astype(bool).to_numpy(), index=judged["question_id"].to_numpy()
    )
    from uqlens.analysis.probes import current_scores

    # A supervised probe trained on another judge is refitted on this one (out of fold).
    s = current_scores(run, rule, judge)
    return evaluation.method_table(s, incorrect, n_boot=n_boot)


def selection_summary(
    run, rule: str, method: str, judge: str, ids: Iterable[Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The answers behind a list of selected ``(question_id, sample_id)`` ids, and a summary
    of the clusters they fall in (with each cluster's representative text).

    Returns ``(answers, clusters)``. ``answers``: ``question_id, sample_id, question, text,
    cluster_id, correct, uncertainty``. ``clusters``: ``question_id, cluster_id,
    representative, selected`` (answers selected), ``size`` (cluster size over samples),
    ``accuracy`` (share of the selected answers labelled correct), ``mean_uncertainty``.
    """
    keys = parse_point_ids(ids)
    sel = pd.DataFrame(keys, columns=["question_id", "sample_id"])
    picked = sel["question_id"].unique()
    answers = answer_table(run, rule, judge)
    answers = answers[isin(answers["question_id"], picked)]  # the merge then hashes few rows
    q = run.table("questions")[["question_id", "question"]]
    scores = question_scores(run, rule, method)[["question_id", "uncertainty"]]
    out = sel.merge(answers, on=["question_id", "sample_id"], how="inner")
    out = out.merge(q, on="question_id", how="left").merge(scores, on="question_id", how="left")
    out = out[
        ["question_id", "sample_id", "question", "text", "cluster_id", "correct", "uncertainty"]
    ]
    # the selected questions' clusters only: the whole run's summary is a million members
    sizes = _cluster_sizes(run, rule, answers, picked)
    if out.empty:
        clusters = pd.DataFrame(
            columns=["question_id", "cluster_id", "representative", "selected", "size",
                     "accuracy", "mean_uncertainty"]
        )
        return out.reset_index(drop=True), clusters
    tmp = out.assign(_c=out["correct"].astype("Float64"))
    clusters = (
        tmp.groupby(["question_id", "cluster_id"], sort=False)
        .agg(selected=("sample_id", "size"), accuracy=("_c", "mean"),
             mean_uncertainty=("uncertainty", "mean"))
        .reset_index()
        .merge(sizes, on=["question_id", "cluster_id"], how="left")
    )
    clusters["accuracy"] = clusters["accuracy"].astype(float)
    clusters = clusters[
        ["question_id", "cluster_id", "representative", "selected", "size", "accuracy",
         "mean_uncertainty"]
    ]
    return out.reset_index(drop=True), clusters.reset_index(drop=True)


def _cluster_sizes(run, rule: str, answers: pd.DataFrame, questions) -> pd.DataFrame:
    """``question_id, cluster_id, size, representative`` of :func:`cluster_summary` for the
    clusters of ``answers`` (rows of :func:`answer_table` of the ``questions``), without
    the members' lists; the representative chosen by the summaries' rule
    (:func:`uqlens.run.summaries._representatives`)."""
    from uqlens.run.summaries import _representatives

    keys = ["question_id", "cluster_id"]
    samples = _samples(answers)
    samples = samples[samples["cluster_id"] >= 0].reset_index(drop=True)
    view = run.restricted(questions) if hasattr(run, "restricted") else run
    cl = view.table("clusters")
    cl = cl[cl["rule"] == rule]
    is_rep = np.zeros(len(samples), dtype=bool)
    if "is_representative" in cl and len(samples):
        is_rep = _pair_isin(samples, cl[cl["is_representative"].astype(bool)])
    groups = samples.groupby(keys, sort=False)  # numbered in order of first appearance
    out = groups.size().rename("size").reset_index()
    rep_rows = _representatives(groups.ngroup().to_numpy(), samples["text"], is_rep)
    out["representative"] = samples["text"].to_numpy()[rep_rows]
    out["cluster_id"] = out["cluster_id"].astype(int)
    return out


def map_points(run, rule: str, method: str, judge: str) -> pd.DataFrame:
    """Every projected answer with what the map colours and hovers by.

    Columns: ``id`` ("question_id|sample_id"), ``question_id, sample_id, x, y, question,
    text, correctness`` ("correct"/"incorrect"/"unknown"), ``cluster`` (rank label within
    the question: "largest", "2nd", "3rd+", "judged only"), ``cluster_id`` (NaN when none),
    ``uncertainty, is_judged``.
    """
    # two kept: at 1,000,000 answers a method's points are half a gigabyte
    return _memo(run, "map_points", (rule, method, judge),
                 lambda: _map_points(run, rule, method, judge), keep=2)


def _map_points(run, rule: str, method: str, judge: str) -> pd.DataFrame:
    proj = run.table("projection")[["question_id", "sample_id", "x", "y"]]
    answers = answer_table(run, rule, judge)
    ranks = _cluster_ranks(answers)
    q = run.table("questions")[["question_id", "question"]]
    scores = question_scores(run, rule, method)[["question_id", "uncertainty"]]
    out = _map_rows(proj, answers, ranks, q, scores)
    if out is None:  # ids repeated or missing: the merges' own rules
        out = _merge_ids(proj, answers, ["question_id", "sample_id"], "inner")
        out = _merge_ids(out, ranks, ["question_id", "cluster_id"], "left")
        out = _merge_ids(out, q, ["question_id"], "left")
        out = _merge_ids(out, scores, ["question_id"], "left")
    # labels as codes, then one take from a string array of the few labels: building a
    # million strings and converting them costs a quarter of a second per column
    out["correctness"] = _labels(("unknown", "correct", "incorrect"), np.where(
        out["correct"].isna(), 0, np.where(out["correct"].fillna(False).astype(bool), 1, 2)))
    rank = out["rank"]
    out["cluster"] = _labels(("no cluster", "largest", "2nd largest", "3rd or smaller"),
                             np.select([rank.isna(), rank == 1, rank == 2], [0, 1, 2], default=3))
    # point_id of every row, as one string operation
    out["id"] = out["question_id"].astype(str) + ID_SEP + out["sample_id"].astype(str)
    cols = ["id", "question_id", "sample_id", "x", "y", "question", "text", "correctness",
            "cluster", "cluster_id", "uncertainty", "is_judged"]
    return out[cols].reset_index(drop=True)


def _labels(names: tuple[str, ...], codes: np.ndarray):
    """``names[code]`` for every code, as a string array."""
    return pd.array(list(names), dtype="str").take(np.asarray(codes, dtype=np.intp))


def _map_rows(proj: pd.DataFrame, answers: pd.DataFrame, ranks: pd.DataFrame,
              q: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame | None:
    """The merges of :func:`_map_points` (projection inner answers, left ranks, questions,
    scores) as row positions found once and one ``take`` per column: the same frame when
    every id is present and each answer, question and score row is unique; else None."""
    (pq, aq, rq, qq, sq), _ = _id_codes(proj["question_id"], answers["question_id"],
                                        ranks["question_id"], q["question_id"],
                                        scores["question_id"])
    (ps, as_), ns = _id_codes(proj["sample_id"], answers["sample_id"])
    if min((c.min() if len(c) else 0) for c in (pq, aq, rq, qq, sq, ps, as_)) < 0:
        return None
    answer_keys = pd.Index(aq * max(ns, 1) + as_)
    if not (answer_keys.is_unique and pd.Index(qq).is_unique and pd.Index(sq).is_unique):
        return None
    hit = answer_keys.get_indexer(pq * max(ns, 1) + ps)
    rows, at = np.flatnonzero(hit >= 0), hit[hit >= 0]
    qcode = aq[at]
    cid = answers["cluster_id"].to_numpy()[at]
    span = int(max(cid.max(initial=0), ranks["cluster_id"].max() if len(ranks) else 0)) + 2
    rank_at = pd.Index(rq * span + ranks["cluster_id"].to_numpy(np.int64) + 1).get_indexer(
        qcode * span + cid.astype(np.int64) + 1)
    q_at, s_at = pd.Index(qq).get_indexer(qcode), pd.Index(sq).get_indexer(qcode)

    def take(frame: pd.DataFrame, column: str, where: np.ndarray) -> pd.Series:
        return pd.Series(frame[column].array.take(where, allow_fill=True))

    out = pd.DataFrame({c: take(proj, c, rows) for c in proj.columns})
    for c in answers.columns.drop(["question_id", "sample_id"]):
        out[c] = take(answers, c, at)
    out["rank"] = take(ranks, "rank", rank_at)
    out["question"] = take(q, "question", q_at)
    out["uncertainty"] = take(scores, "uncertainty", s_at)
    return out


def _cluster_ranks(answers: pd.DataFrame) -> pd.DataFrame:
    """``question_id, cluster_id, rank``: the ``rank`` column of :func:`cluster_summary`
    (1 = the question's largest cluster of samples, ties by cluster id) from the answer
    table, without building the summary's lists of members."""
    # only the columns used: the other (text) columns would be copied for nothing
    narrow = [c for c in ("question_id", "cluster_id", "is_scored", "is_greedy") if c in answers]
    samples = _samples(answers[narrow])
    samples = samples[samples["cluster_id"] >= 0]
    (q,), _ = _id_codes(samples["question_id"])
    c = samples["cluster_id"].to_numpy(np.int64)
    sizes = pd.DataFrame({"q": q, "c": c}).groupby(["q", "c"], sort=False).size()
    frame = pd.DataFrame({"q": sizes.index.get_level_values(0).to_numpy(),
                          "cluster_id": sizes.index.get_level_values(1).to_numpy(),
                          "size": sizes.to_numpy()})
    frame = frame.sort_values(["q", "size", "cluster_id"], ascending=[True, False, True])
    frame["rank"] = frame.groupby("q").cumcount() + 1
    first = pd.Series(np.arange(len(q))).groupby(q, sort=False).first()  # a row per code
    qid = samples["question_id"].to_numpy()[first.reindex(frame["q"]).to_numpy()]
    return pd.DataFrame({"question_id": qid, "cluster_id": frame["cluster_id"].to_numpy(),
                         "rank": frame["rank"].to_numpy()})


def question_detail(run, rule: str, method: str, judge: str) -> dict[str, pd.DataFrame]:
    """What the Question page shows of the question ``run`` is restricted to
    (:meth:`uqlens.run.folder.Run.restricted`), computed from that slice alone, never from
    whole-run frames: ``judged`` (:func:`judged_answers`), ``clusters``
    (:func:`cluster_summary`) and ``points`` (:func:`map_points`; empty without a
    projection). Each equals the whole run's frame filtered to the question: every column
    of them is a property of one question (ranks are within the question)."""
    has_map = not run.table("projection").empty
    return {
        "judged": judged_answers(run, judge),
        "clusters": _cluster_summary(run, rule, judge),
        "points": map_points(run, rule, method, judge) if has_map else pd.DataFrame(),
    }


def question_scores_of(run, rule: str, question_id: str) -> pd.DataFrame:
    """The rows of ``question_id`` in :func:`question_scores` (every method; percentiles
    among all the run's questions). The whole-run frame stays with the run object, so that
    moving between questions filters it instead of copying it out of a cache."""
    scores = _memo(run, "question_scores", (rule,), lambda: question_scores(run, rule))
    return scores[scores["question_id"] == question_id].reset_index(drop=True)


def cap_points(points: pd.DataFrame, cap: int | None, seed: int = 0) -> tuple[pd.DataFrame, bool]:
    """At most ``cap`` rows, sampled at random with a fixed seed; returns (rows, capped)."""
    if cap is None or cap <= 0 or len(points) <= cap:
        return points, False
    return points.sample(n=cap, random_state=seed).sort_index(), True


def cap_points_of(run, rule: str, method: str, judge: str, cap: int | None,
                  seed: int = 0) -> tuple[pd.DataFrame, bool]:
    """:func:`map_points` capped at ``cap`` rows (see :func:`cap_points`)."""
    return cap_points(map_points(run, rule, method, judge), cap, seed)
