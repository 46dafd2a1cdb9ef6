"""Which methods a dataset can feed: the one answer shared by ``uqlens validate``, ``uqlens
build`` and the app's Data page.

A method declares what it reads (:data:`uqlens.core.methods.NEEDS`, in ``Method.needs``);
here each need becomes a condition on one question's generations (:func:`question_needs`),
and a policy says when the build computes methods with that need at all
(:func:`available_needs`):

=================  ======================================  =================================
need               a question meets it when                the build computes it when
=================  ======================================  =================================
samples            it has ≥ 2 scored (sampled) answers     the median question meets it
logprobs           every scored answer has ``logprob_sum``  every question meets it
greedy             it has a judged (greedy) answer         any question meets it
p_true, verbalized a generation carries the field          any question meets it
clusters, ...      always (the build computes them)        always
=================  ======================================  =================================

A computed method scores NaN on a question that misses one of its needs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COMPUTED = ("clusters", "embeddings", "entailment")  # needs the build itself provides
FIELD_NEEDS = ("p_true", "verbalized_confidence")  # needs that are one generation field


def question_needs(generations: pd.DataFrame, scored: pd.DataFrame | None = None
                   ) -> dict[str, set]:
    """``{need: question ids meeting it}``. ``scored``: the sampled answers the methods
    score (default: every non-greedy generation)."""
    gens = generations
    greedy = gens["is_greedy"].astype(bool)
    if scored is None:
        scored = gens[~greedy]
    everyone = set(gens["question_id"].tolist())
    per_q = scored.groupby("question_id").size()
    have: dict[str, set] = {need: set(everyone) for need in COMPUTED}
    have["samples"] = set(per_q.index[per_q >= 2])
    have["greedy"] = set(gens.loc[greedy, "question_id"].tolist())
    for name in FIELD_NEEDS:
        have[name] = set(gens.loc[gens[name].notna(), "question_id"].tolist()) \
            if name in gens else set()
    if "logprob_sum" in scored and "num_tokens" in scored:
        missing = set(scored.loc[scored["logprob_sum"].isna(), "question_id"].tolist())
        have["logprobs"] = everyone - missing
    else:
        have["logprobs"] = set()
    return have


def available_needs(generations: pd.DataFrame, scored: pd.DataFrame | None = None) -> set[str]:
    """The needs the build meets for the whole run (see the module docstring's policy)."""
    have = question_needs(generations, scored)
    everyone = set(generations["question_id"].tolist())
    if scored is None:
        scored = generations[~generations["is_greedy"].astype(bool)]
    per_q = scored.groupby("question_id").size()
    out = set(COMPUTED)
    if len(per_q) and np.median(per_q) >= 2:
        out.add("samples")
    if everyone and have["logprobs"] == everyone:
        out.add("logprobs")
    out |= {need for need in ("greedy", *FIELD_NEEDS) if have[need]}
    return out


def method_coverage(generations: pd.DataFrame, scored: pd.DataFrame | None = None
                    ) -> tuple[dict[str, int], dict[str, str]]:
    """``({method the build computes: questions meeting all its needs},
    {method it skips: why})``, in the registry's display order."""
    from uqlens.core import methods

    have = question_needs(generations, scored)
    chosen, skipped = methods.applicable(available_needs(generations, scored))
    everyone = set(generations["question_id"])
    coverage = {}
    for m in chosen:
        ids = set(everyone)
        for need in m.needs:
            ids &= have[need]
        coverage[m.id] = len(ids)
    return coverage, skipped
