"""Conformal sets: the quantile rule, a constructed example worked by hand, coverage on
synthetic data, and confident-hallucination questions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from uqlens.analysis import conformal as C


def test_conformal_quantile():
    s = [0.1, 0.4, 0.2, 0.3]
    # n = 4, α = 0.2: rank ⌈5·0.8⌉ = 4 -> 0.4 ; α = 0.5: rank ⌈2.5⌉ = 3 -> 0.3
    assert C.conformal_quantile(s, 0.2) == 0.4
    assert C.conformal_quantile(s, 0.5) == 0.3
    assert C.conformal_quantile(s, 0.1) == math.inf  # rank 5 > n
    assert C.conformal_quantile([], 0.1) == math.inf


def _cands(rows):
    return pd.DataFrame(rows, columns=["question_id", "cluster_id", "size", "mass", "correct",
                                       "n_samples"])


def test_constructed_example_by_hand():
    # confidence 1 for every question (baseline): s = 1 − mass
    cands = _cands([
        ("a", 0, 8, 0.8, True, 10), ("a", 1, 2, 0.2, False, 10),   # s* = 0.2
        ("b", 0, 6, 0.6, False, 10), ("b", 1, 4, 0.4, True, 10),   # s* = 0.6
        ("c", 0, 10, 1.0, False, 10),                              # s* = inf (uncoverable)
        ("d", 0, 5, 0.5, True, 10), ("d", 1, 5, 0.5, False, 10),   # test
    ])
    conf = pd.Series(1.0, index=["a", "b", "c", "d"])
    c = C._scored_candidates(cands, conf)
    # n = 3 calibration, α = 0.5: rank ⌈4·0.5⌉ = 2 -> q̂ = 0.6
    qhat = C.calibrate(c, ["a", "b", "c"], 0.5)
    assert qhat == pytest.approx(0.6)
    pred = C.predict(c, ["d"], qhat).iloc[0]
    assert pred["set_size"] == 2 and bool(pred["covered"])
    # with α = 0.4 the rank is ⌈4·0.6⌉ = 3 -> q̂ = inf: every cluster
    assert C.calibrate(c, ["a", "b", "c"], 0.4) == math.inf


def test_uncertain_questions_get_bigger_sets():
    # question confidence 0 makes every cluster conforming (score 0)
    cands = _cands([("x", 0, 5, 0.5, True, 10), ("x", 1, 3, 0.3, False, 10),
                    ("x", 2, 2, 0.2, False, 10)])
    c = C._scored_candidates(cands, pd.Series({"x": 0.0}))
    assert C.predict(c, ["x"], 0.0).iloc[0]["set_size"] == 3
    c = C._scored_candidates(cands, pd.Series({"x": 1.0}))
    assert C.predict(c, ["x"], 0.55).iloc[0]["set_size"] == 1


def test_marginal_coverage_on_synthetic_questions():
    rng = np.random.default_rng(1)
    rows, u = [], {}
    for i in range(400):
        k = rng.integers(1, 5)
        mass = rng.dirichlet(np.ones(k))
        truth = rng.choice(k, p=mass)  # the correct cluster is drawn by its mass
        for c in range(k):
            rows.append((f"q{i:03d}", c, int(mass[c] * 100), mass[c], c == truth, 100))
        u[f"q{i:03d}"] = float(1 - mass.max())
    cands = _cands(rows)
    res = C.split_conformal(cands, pd.Series(u), coverage=0.8, n_splits=10, seed=0)
    assert res.summary["attainable_coverage"] == 1.0
    assert res.summary["coverage"] >= 0.8 - 0.03
    assert len(res.splits) == 10
    d = res.size_distribution()
    assert d["share"].sum() == pytest.approx(1.0)


def test_hallucination_ids_and_run(tiny_run):
    rule, judge = "strict", "exact_match"
    cands = C.candidates(tiny_run, rule, judge)
    hall = C.hallucination_ids(cands, 0.7)
    assert "q01" in hall  # every sample says Sydney
    res = C.run_conformal(tiny_run, rule, judge, n_splits=3)
    assert "frequency" in res
    for r in res.values():
        assert r.summary["ch_questions"] >= 1
        assert 0 <= r.summary["coverage"] <= 1


def _reference_split_conformal(cands, uncertainty, coverage, calibration_fraction, n_splits,
                               seed, hallucination_ids):
    """A straightforward per-question loop over the documented rule (module docstring)."""
    from uqlens.analysis.evaluation import uncertainty_to_confidence

    alpha = 1.0 - coverage
    qids = sorted(set(cands["question_id"]))
    if uncertainty is None:
        conf = {q: 1.0 for q in qids}
    else:
        u = uncertainty.reindex(qids).astype(float).dropna()
        conf = dict(zip(u.index, uncertainty_to_confidence(u.to_numpy(), "rank"), strict=True))
    rows = {}
    for r in cands.itertuples(index=False):
        if r.question_id in conf:
            s = conf[r.question_id] * (1.0 - r.mass)
            rows.setdefault(r.question_id, []).append((s, bool(r.correct)))
    qids = sorted(conf)
    n_cal = int(round(calibration_fraction * len(qids)))
    out = []
    for k in range(n_splits):
        perm = np.random.default_rng((seed, k)).permutation(len(qids))
        cal = [qids[i] for i in perm[:n_cal]]
        test = sorted(qids[i] for i in perm[n_cal:])
        stars = sorted(min((s for s, ok in rows[q] if ok), default=math.inf) for q in cal)
        rank = math.ceil((len(stars) + 1) * (1 - alpha) - 1e-12)
        qhat = math.inf if rank > len(stars) else stars[max(rank, 1) - 1]
        for q in test:
            in_set = [(s <= qhat + 1e-12, ok) for s, ok in rows[q]]
            out.append((q, sum(i for i, _ in in_set), any(i and ok for i, ok in in_set),
                        any(ok for _, ok in in_set), len(in_set), k,
                        q in set(hallucination_ids), qhat))
    return out


@pytest.mark.parametrize("with_scores", [False, True])
def test_vectorised_split_conformal_matches_reference(with_scores):
    rng = np.random.default_rng(7)
    rows, u = [], {}
    for i in range(60):
        k = int(rng.integers(1, 6))
        sizes = rng.integers(1, 6, size=k)
        n = int(sizes.sum())
        for c in range(k):
            rows.append((f"q{i:02d}", c, int(sizes[c]), sizes[c] / n,
                         bool(rng.random() < 0.6), n))
        # ties and a few questions without a score
        u[f"q{i:02d}"] = np.nan if i % 13 == 5 else float(rng.integers(0, 8))
    # shuffle the rows: the result must not depend on the input order
    cands = _cands(rows).sample(frac=1.0, random_state=3).reset_index(drop=True)
    unc = pd.Series(u) if with_scores else None
    hall = ["q03", "q10", "q41"]
    res = C.split_conformal(cands, unc, coverage=0.7, calibration_fraction=0.5, n_splits=7,
                            seed=4, hallucination_ids=hall)
    ref = _reference_split_conformal(cands, unc, 0.7, 0.5, 7, 4, hall)
    # finite q̂ with varied set sizes, so an off-by-one in the rank would show
    assert all(math.isfinite(r[7]) for r in ref) and len({r[1] for r in ref}) > 2
    got = res.sets[["question_id", "set_size", "covered", "coverable", "n_clusters", "split",
                    "confident_hallucination"]]
    assert [tuple(r) for r in got.itertuples(index=False)] == [r[:7] for r in ref]
    qhats = {r[5]: r[7] for r in ref}
    assert res.splits["qhat"].tolist() == [qhats[k] for k in range(7)]
    # the per-question helpers agree with the vectorised loop too
    conf = pd.Series(1.0, index=sorted(set(cands["question_id"])))
    c = C._scored_candidates(cands, conf)
    pred = C.predict(c, ["q01", "q02", "q30"], 0.5)
    for r in pred.itertuples(index=False):
        d = c[c["question_id"] == r.question_id]
        in_set = d["score"] <= 0.5 + 1e-12
        assert r.set_size == in_set.sum() and r.covered == (in_set & d["correct"]).any()


def _result(method, sizes, n_clusters, qhats):
    """A ConformalResult with hand-made sets: ``sizes[(split, qid)] = set size``."""
    sets = pd.DataFrame([(k[0], k[1], v, n_clusters[k[1]]) for k, v in sizes.items()],
                        columns=["split", "question_id", "set_size", "n_clusters"])
    splits = pd.DataFrame({"split": range(len(qhats)), "qhat": qhats})
    return C.ConformalResult(method=method, target=0.9, splits=splits, sets=sets,
                             summary={"attainable_coverage": 0.6})


def test_set_agreement_counts_equal_sets_and_infinite_qhat():
    n = {"a": 3, "b": 1, "c": 2}
    inf = [math.inf, math.inf]
    same = {(0, "a"): 3, (0, "b"): 1, (1, "c"): 2}
    res = {"m1": _result("m1", same, n, inf), "m2": _result("m2", same, n, inf)}
    a = C.set_agreement(res)
    assert (a["n_methods"], a["n_pairs"], a["n_same"]) == (2, 3, 3)
    assert (a["n_questions"], a["n_questions_same"], a["n_single"]) == (3, 3, 1)
    assert a["all_infinite"] == ["m1", "m2"]
    note = C.agreement_note(res)
    assert note.startswith("All 2 methods give the same set on 3 of 3")
    assert "+∞ for every method" in note and "60%" in note and "90%" in note
    assert C.differing_sets(res).empty


def test_set_agreement_lists_questions_that_differ():
    n = {"a": 3, "b": 1}
    r1 = _result("m1", {(0, "a"): 1, (0, "b"): 1, (1, "a"): 2}, n, [0.3, 0.5])
    r2 = _result("m2", {(0, "a"): 3, (0, "b"): 1, (1, "a"): 2}, n, [0.4, math.inf])
    a = C.set_agreement({"m1": r1, "m2": r2})
    # pairs (0,a) differ; (0,b), (1,a) agree; question a differs in split 0
    assert (a["n_pairs"], a["n_same"], a["n_questions_same"]) == (3, 2, 1)
    assert a["all_infinite"] == []
    d = C.differing_sets({"m1": r1, "m2": r2})
    assert d["question_id"].tolist() == ["a"]
    assert d["m1"].tolist() == [1.5] and d["m2"].tolist() == [2.5]  # means over splits 0, 1
    assert "differ" in C.agreement_note({"m1": r1, "m2": r2})


def test_conformal_view_holds_what_the_results_give(tiny_run):
    from pandas.testing import assert_frame_equal

    from uqlens.viz.metrics import set_size_bars, set_size_figure

    rule, judge = tiny_run.rules[0], tiny_run.judges[0]
    res = C.run_conformal(tiny_run, rule, judge, coverage=0.6, n_splits=3)
    cv = C.conformal_view(tiny_run, rule, judge, coverage=0.6, n_splits=3)
    assert_frame_equal(cv.table, C.summary_table(res), check_exact=True)
    assert cv.notes == sorted({n for r in res.values() for n in r.notes})
    assert cv.agreement == C.agreement_note(res)
    assert_frame_equal(cv.differ, C.differing_sets(res), check_exact=True)
    assert list(cv.sizes) == list(res)
    for m, r in res.items():
        assert_frame_equal(cv.sizes[m], r.size_distribution(), check_exact=True)
    assert set_size_bars(cv.sizes).to_json() == set_size_figure(res).to_json()
