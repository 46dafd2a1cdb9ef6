"""Supervised methods of a built run: which they are, which judge they learned, whether that
judge is the one a view shows, and a refit for another judge.

A ``hidden_state_probe`` is trained on one judge's labels (manifest ``method_info[m]["judge"]``).
Shown beside a different judge it is *stale*: its stored scores still reflect the judge it
learned. :func:`refit` trains it again, out of fold, on the view's judge from the run's own
``hidden_states`` table (seconds for a few thousand questions; no model call).
"""

from __future__ import annotations

import pandas as pd

from uqlens.core.methods import supervised as sup
from uqlens.run import rescore


def supervised_info(run) -> dict[str, dict]:
    """``{method: method_info}`` of the run's supervised methods, in manifest order."""
    info = run.manifest.get("method_info", {})
    return {m: i for m, i in info.items() if i.get("supervised")}


def is_stale(run, method: str, judge: str) -> bool:
    """Whether ``method`` learned another judge's labels than ``judge``."""
    trained = supervised_info(run).get(method, {}).get("judge")
    return trained is not None and trained != judge


def badge(run, method: str, judge: str) -> str | None:
    """A short label for a table or caption: ``"supervised · trained on exact_match"``,
    with ``" · stale under squad_f1"`` when the view's judge differs; None when unsupervised."""
    info = supervised_info(run).get(method)
    if info is None:
        return None
    trained = info.get("judge")
    if trained is None:
        return f"supervised · learns {info.get('target_method', 'semantic entropy')}"
    text = f"supervised · trained on {trained}"
    return text + (f" · stale under {judge}" if trained != judge else "")


def badges(run, judge: str) -> dict[str, str]:
    """:func:`badge` of every supervised method of the run."""
    return {m: badge(run, m, judge) for m in supervised_info(run)}


def refit(run, judge: str, rule: str | None = None) -> pd.DataFrame:
    """``hidden_state_probe`` trained again on ``judge`` with the run's stored parameters.

    Returns ``question_id, method, uncertainty`` (the shape of
    :func:`uqlens.run.rescore.run_scores`); empty when the run has no hidden states. ``rule``
    only selects nothing here (the probe ignores clusters); it is accepted so that callers
    can treat every method alike.
    """
    hidden = run.table("hidden_states")
    cols = ["question_id", "method", "uncertainty"]
    if hidden.empty:
        return pd.DataFrame(columns=cols)
    params = {**dict(sup.DEFAULTS),
              **supervised_info(run).get("hidden_state_probe", {}).get("params", {})}
    states = sup.judged_hidden_states(hidden, rescore.judged_rows(run))
    labels = rescore.judged_labels(run, judge)
    qids = run.table("questions")["question_id"].tolist()
    out = sup.score_run(states, qids, [rule or "-"], labels=labels, judge=judge,
                        scores=pd.DataFrame(columns=["question_id", "rule", "method",
                                                     "uncertainty"]),
                        methods=("hidden_state_probe",), params={"hidden_state_probe": params})
    return out.scores[cols].reset_index(drop=True)


def current_scores(run, rule: str, judge: str) -> pd.DataFrame:
    """:func:`uqlens.run.rescore.run_scores` with every stale probe refitted on ``judge``."""
    s = rescore.run_scores(run, rule)
    stale = [m for m in supervised_info(run) if is_stale(run, m, judge)]
    if not stale:
        return s
    fresh = refit(run, judge, rule)
    order = {m: i for i, m in enumerate(dict.fromkeys(s["method"]))}
    out = pd.concat([s[~s["method"].isin(stale)], fresh], ignore_index=True)
    return out.sort_values("method", key=lambda m: m.map(order), kind="stable",
                           ignore_index=True)
