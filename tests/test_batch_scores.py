"""Batch scoring (Method.batch, uqlens.build.scoring) gives bit for bit what scoring one view
at a time gives: on random questions built to hit every edge (ties, one sample, missing or
infinite log-probabilities, no judged answer), and on the demo run's stored scores."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from uqlens.core.methods import REGISTRY, ClusterBatch, QuestionView

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data" / "demo"
BATCHED = sorted(m for m, meth in REGISTRY.items() if meth.batch is not None)


def test_the_cluster_methods_have_batch_forms():
    assert BATCHED == ["discrete_semantic_entropy", "num_semantic_sets", "self_consistency",
                       "semantic_entropy"]


def random_questions(rng, n_questions):
    """Views and the one ClusterBatch of the same questions."""
    views, sizes, ids, lps, toks, has_lp, has_tok, greedy = [], [], [], [], [], [], [], []
    for q in range(n_questions):
        n = int(rng.choice([0, 1, 2, 3, 5, 10, 11, 20]))
        cl = rng.choice([0, 3, 7, 12], size=n)  # ids need not be 0..k-1
        lp = np.round(-rng.gamma(1.0, 2.0, size=n), int(rng.choice([1, 8])))  # ties
        tok = rng.integers(0, 6, size=n).astype(float)  # 0 tokens: max(., 1)
        kind = rng.random()
        if n and kind < 0.1:
            lp[rng.integers(n)] = -np.inf
        lp_ok = not (n and 0.1 <= kind < 0.2)  # a question without log-probabilities
        tok_ok = lp_ok and not (0.2 <= kind < 0.3)
        g = rng.choice([None, -1, *cl.tolist()]) if n else None
        views.append(QuestionView(
            question_id=f"q{q}", question="?", texts=tuple("x" * n), cluster_ids=cl,
            logprob_sum=lp if lp_ok else None, num_tokens=tok if tok_ok else None,
            greedy_cluster=None if g is None else int(g)))
        sizes.append(n), ids.append(cl), lps.append(lp if lp_ok else np.full(n, np.nan))
        toks.append(tok if tok_ok else np.full(n, np.nan))
        has_lp.append(lp_ok), has_tok.append(tok_ok)
        greedy.append(np.nan if g is None else float(g))
    batch = ClusterBatch(np.r_[0, np.cumsum(sizes)].astype(np.int64),
                         np.concatenate(ids).astype(np.int64), np.concatenate(lps),
                         np.concatenate(toks), np.array(has_lp), np.array(has_tok),
                         np.array(greedy))
    return views, batch


CASES = [(m, {}) for m in BATCHED] + [("semantic_entropy", {"length_normalized": False})]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("method, params", CASES)
def test_batch_equals_one_view_at_a_time(seed, method, params):
    meth = REGISTRY[method]
    views, batch = random_questions(np.random.default_rng(seed), 300)
    one = np.array([meth.score(v, **params) for v in views])
    got = meth.batch(batch, **params)
    assert got.shape == one.shape and np.isfinite(one).sum() > 100
    assert np.array_equal(got, one, equal_nan=True), np.flatnonzero(
        ~((got == one) | (np.isnan(got) & np.isnan(one))))[:5]


def test_batch_values_worked_out_by_hand():
    # q0: clusters {0: 2 samples, 5: 1}, judged in cluster 5; q1: one sample (undefined)
    ll = [math.log(0.5), math.log(0.25), math.log(0.25)]
    batch = ClusterBatch(np.array([0, 3, 4]), np.array([0, 0, 5, 9]),
                         np.array([*ll, -1.0]), np.ones(4), np.array([True, True]),
                         np.array([True, True]), np.array([5.0, 9.0]))
    get = {m: REGISTRY[m].batch(batch) for m in BATCHED}
    assert get["num_semantic_sets"][0] == 2.0 and np.isnan(get["num_semantic_sets"][1])
    assert get["self_consistency"][0] == pytest.approx(2 / 3)
    p = np.array([2 / 3, 1 / 3])
    assert get["discrete_semantic_entropy"][0] == pytest.approx(-(p * np.log(p)).sum())
    # likelihood mass 0.75 / 0.25 of a total 1.0
    assert get["semantic_entropy"][0] == pytest.approx(
        -(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))


@pytest.mark.skipif(not (DEMO / "manifest.json").is_file(), reason="no demo run")
def test_batch_scoring_reproduces_the_demo_scores_exactly():
    """The demo's scores were computed one view at a time; scoring its replay in batches
    (and the rule-free methods once per affinity backend) gives the same floats."""
    from uqlens.build.scoring import score_table
    from uqlens.core import methods
    from uqlens.run.folder import load_run
    from uqlens.run.rescore import Replay, method_params, split_recomputable

    run = load_run(DEMO)
    rp = Replay(run)
    ids, _ = split_recomputable(run, run.methods)
    chosen = [methods.REGISTRY[m] for m in ids]
    groups = {q: g for q, g in rp.scored().groupby("question_id", sort=False)}
    got = score_table(run.manifest["rules"], groups, rp, chosen,
                      {m: method_params(run, m) for m in ids}, lambda it, *_: it)
    stored = run.table("scores")
    stored = stored[stored["method"].isin(ids)][["question_id", "rule", "method",
                                                  "uncertainty"]]
    both = stored.merge(got, on=["question_id", "rule", "method"], how="outer",
                        suffixes=("_stored", "_batch"), indicator=True)
    assert (both["_merge"] == "both").all() and len(both) == len(got)
    a, b = both["uncertainty_stored"].to_numpy(), both["uncertainty_batch"].to_numpy()
    assert np.array_equal(a, b, equal_nan=True)
    assert set(got["method"]) >= set(BATCHED)
    pd.testing.assert_index_equal(pd.Index(got["rule"].unique()), pd.Index(run.rules))
