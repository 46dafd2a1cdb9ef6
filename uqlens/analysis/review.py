"""What a reviewer should look at first, and the flags the hallucination list shows.

Four reasons make a question worth a person's time (issue 14):

- **judges disagree**: the automatic judges of the run give its judged answer different
  verdicts;
- **mixed cluster**: a cluster holds answers the chosen judge calls right *and* wrong (the
  clustering merged meanings, or the judge is inconsistent);
- **confident hallucination, not reviewed**: the dominant cluster is wrong and a gate at the
  operating point would accept the question, and no person has labelled its judged answer;
- **reference doubtful**: a person marked a reference wrong or disputed.

:func:`review_queue` orders questions by these reasons (see :data:`WEIGHTS`);
:func:`hallucination_flags` gives the three flags of the hallucination list. Pure functions
over a built run and its ``labels.jsonl`` (:mod:`uqlens.run.labels`); nothing is written.
"""

from __future__ import annotations

import pandas as pd

from uqlens.analysis import overview
from uqlens.analysis.evaluation import rounded
from uqlens.run import labels as store
from uqlens.run.rescore import judged_labels

WEIGHTS = {"judges_disagree": 3, "reference_doubtful": 3, "mixed_cluster": 2,
           "unreviewed_hallucination": 2}
"""Priority = the sum of the weights of a question's reasons; a confident hallucination
adds 1 more when the gate accepts it."""

REASON_TEXT = {"judges_disagree": "judges disagree", "reference_doubtful": "reference doubtful",
               "mixed_cluster": "mixed cluster",
               "unreviewed_hallucination": "confident hallucination, not reviewed"}


def _automatic(run) -> list[str]:
    return [j for j in run.judges if store.human_base(j) is None]


def judges_disagree(run, judges: list[str] | None = None) -> pd.Series:
    """Per question: do the automatic ``judges`` (default: the run's) label its judged answer
    differently? (Questions fewer than two judges labelled are False.)"""
    judges = list(judges) if judges is not None else _automatic(run)
    cols = {j: judged_labels(run, j).astype("boolean") for j in judges}
    if len(cols) < 2:
        return pd.Series(False, index=run.table("questions")["question_id"], dtype=bool)
    wide = pd.DataFrame(cols)
    n_true = wide.sum(axis=1, skipna=True)
    n_known = wide.notna().sum(axis=1)
    out = (n_known >= 2) & (n_true > 0) & (n_true < n_known)
    return out.reindex(run.table("questions")["question_id"], fill_value=False).astype(bool)


def mixed_clusters(run, rule: str, judge: str) -> pd.DataFrame:
    """Per question: ``mixed_clusters`` (clusters whose members ``judge`` calls right and
    wrong) and ``dominant_mixed`` (the largest cluster is one of them)."""
    cs = overview.cluster_columns(run, rule, judge, ("question_id", "cluster_id", "rank", "size",
                                                     "share_correct"))
    share = cs["share_correct"].to_numpy(dtype=float)
    cs = cs.assign(_mixed=(share > 0) & (share < 1))
    out = cs.groupby("question_id").agg(mixed_clusters=("_mixed", "sum"))
    dom = cs[cs["rank"] == 1].set_index("question_id")["_mixed"]
    out["dominant_mixed"] = dom.reindex(out.index).fillna(False).astype(bool)
    q = run.table("questions")["question_id"]
    out = out.reindex(q, fill_value=0)
    out["mixed_clusters"] = out["mixed_clusters"].astype(int)
    out["dominant_mixed"] = out["dominant_mixed"].astype(bool)
    return out


def reviewed_questions(run) -> set[str]:
    """Questions whose judged answer's text a person has labelled."""
    from uqlens.run.rescore import judged_rows

    verdicts = store.answer_verdicts(store.read(run))
    if verdicts.empty:
        return set()
    gen = run.table("generations")[["question_id", "sample_id", "text"]]
    judged = judged_rows(run).merge(gen, on=["question_id", "sample_id"])
    keys = set(zip(verdicts["question_id"], verdicts["key"], strict=True))
    return {q for q, t in zip(judged["question_id"], judged["text"], strict=True)
            if (q, store.text_key(t)) in keys}


def hallucination_flags(run, rule: str, judge: str,
                        judges: list[str] | None = None) -> pd.DataFrame:
    """The hallucination list's flags per question, indexed by ``question_id``:
    ``mixed_cluster`` (the dominant cluster's members are judged differently),
    ``judges_disagree``, ``reference_disputed`` (a person marked a reference wrong or
    disputed: the mark) and ``flags`` (the raised ones, comma-separated, "" for none)."""
    mixed = mixed_clusters(run, rule, judge)["dominant_mixed"]
    disagree = judges_disagree(run, judges).reindex(mixed.index, fill_value=False)
    doubt = store.doubtful_references(store.read(run))
    out = pd.DataFrame({"mixed_cluster": mixed, "judges_disagree": disagree})
    out["reference_disputed"] = [doubt.get(q, "") for q in out.index]
    out["flags"] = [
        ", ".join(name for name, on in (("mixed cluster", m), ("judges disagree", d),
                                        (f"reference {r}", bool(r))) if on)
        for m, d, r in zip(out["mixed_cluster"], out["judges_disagree"],
                           out["reference_disputed"], strict=True)]
    return out


def review_queue(run, rule: str, method: str, judge: str, judges: list[str] | None = None,
                 dominance: float = 0.7, operating_point: float = 0.2) -> pd.DataFrame:
    """Questions worth reviewing, most valuable first; questions with no reason are left out.

    Columns: ``question_id, question, judged_text, judged_correct`` (under ``judge``),
    ``dominant_cluster, dominant_representative, dominant_share``, the reasons
    ``judges_disagree, mixed_cluster`` (number of mixed clusters), ``dominant_mixed``,
    ``confident_hallucination, accepted`` (by the gate), ``reference_doubtful`` ("wrong",
    "disputed" or ""), ``reviewed`` (a person labelled the judged answer), ``priority``
    (:data:`WEIGHTS`), ``reasons`` (text) and ``uncertainty`` under ``method``.

    Order: not yet reviewed first, then priority (high first), then uncertainty (confident
    first, rounded), then question id.
    """
    dom = overview.dominant_clusters(run, rule, judge).set_index("question_id")
    scores = overview.question_scores(run, rule, method).set_index("question_id")
    ch = overview._hallucinations(dom.reset_index(), scores, dominance, operating_point)
    mixed = mixed_clusters(run, rule, judge)
    out = dom[["question", "judged_text", "judged_correct", "dominant_cluster",
               "dominant_representative", "dominant_share"]].copy()
    out["judges_disagree"] = judges_disagree(run, judges).reindex(out.index, fill_value=False)
    out["mixed_cluster"] = mixed["mixed_clusters"].reindex(out.index, fill_value=0)
    out["dominant_mixed"] = mixed["dominant_mixed"].reindex(out.index, fill_value=False)
    out["confident_hallucination"] = out.index.isin(ch["question_id"])
    out["accepted"] = out.index.isin(ch.loc[ch["accepted"], "question_id"])
    doubt = store.doubtful_references(store.read(run))
    out["reference_doubtful"] = [doubt.get(q, "") for q in out.index]
    out["reviewed"] = out.index.isin(reviewed_questions(run))
    reasons = pd.DataFrame({
        "judges_disagree": out["judges_disagree"],
        "reference_doubtful": out["reference_doubtful"] != "",
        "mixed_cluster": out["mixed_cluster"] > 0,
        "unreviewed_hallucination": out["confident_hallucination"] & ~out["reviewed"],
    })
    out["priority"] = sum(reasons[k].astype(int) * w for k, w in WEIGHTS.items()) + (
        reasons["unreviewed_hallucination"] & out["accepted"]).astype(int)
    out["reasons"] = ["; ".join(REASON_TEXT[k] for k in WEIGHTS if row[k])
                      for row in reasons.to_dict("records")]
    out["uncertainty"] = scores["uncertainty"].reindex(out.index)
    out = out[out["priority"] > 0].reset_index()
    out["_u"] = rounded(out["uncertainty"].to_numpy(dtype=float))
    out = out.sort_values(["reviewed", "priority", "_u", "question_id"],
                          ascending=[True, False, True, True], na_position="last")
    return out.drop(columns="_u").reset_index(drop=True)


def queue_position(queue: pd.DataFrame, question_id: str | None, step: int = 1) -> str | None:
    """The question ``step`` places after ``question_id`` in ``queue`` (the first when it is
    not there; None for an empty queue); wraps around."""
    ids = queue["question_id"].tolist()
    if not ids:
        return None
    if question_id not in ids:
        return ids[0]
    return ids[(ids.index(question_id) + step) % len(ids)]

