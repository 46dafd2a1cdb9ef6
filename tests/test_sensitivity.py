"""Sensitivity sweeps: AUSC and rank flips by hand, replay reproduces a build exactly,
missing pairs are reported (never computed), and no model is loaded."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from _built_run import built_run, no_model_check

from uqlens.analysis import sensitivity as S
from uqlens.run.folder import load_run
from uqlens.run.rescore import Replay, method_params, run_scores, score_view


@pytest.fixture(scope="session")
def built_path(tmp_path_factory):
    return built_run(tmp_path_factory)


@pytest.fixture(scope="session")
def built(built_path):
    return load_run(built_path)


def test_ausc_by_hand():
    # trapezoid over [0, 3]: (1·(.5+.7)/2 + 2·(.7+.6)/2) / 3 = (0.6 + 1.3) / 3
    assert S.ausc([0, 1, 3], [0.5, 0.7, 0.6]) == pytest.approx(1.9 / 3)
    assert S.ausc([3, 0, 1], [0.6, 0.5, 0.7]) == pytest.approx(1.9 / 3)  # order-free
    assert S.ausc([0, 1, 3], [0.5, None, 0.6]) == pytest.approx(0.55)  # undefined dropped
    assert S.ausc(["a", "b"], [0.4, 0.8], numeric=False) == pytest.approx(0.6)
    assert np.isnan(S.ausc([0, 1], [None, np.nan]))


def test_rank_flips_and_cluster_changes_by_hand():
    curve = pd.DataFrame({"value": [1, 1, 1, 2, 2, 2],
                          "method": ["a", "b", "c"] * 2,
                          "auroc": [0.9, 0.7, 0.5, 0.6, 0.8, 0.4]})
    f = S.rank_flips(curve, reference=1).set_index("value")
    assert f.loc[1, "flips"] == 0 and f.loc[2, "flips"] == 1 and f.loc[2, "n_pairs"] == 3
    r = S.rank_methods(curve)
    assert r[(r.value == 2) & (r.method == "b")]["rank"].item() == 1
    counts = pd.DataFrame({"value": [1, 1, 2, 2], "question_id": ["x", "y", "x", "y"],
                           "n_clusters": [1, 2, 1, 3]})
    c = S.cluster_changes(counts, 1).set_index("value")
    assert c.loc[2, "share_changed"] == 0.5 and c.loc[1, "share_changed"] == 0.0
    assert S.share_any_change(counts) == 0.5
    s = S.summarise(curve, [1, 2], True).set_index("method")
    assert s.loc["a", "spread"] == pytest.approx(0.3)
    assert s.loc["a", "ausc"] == pytest.approx(0.75)


@pytest.mark.model
def test_replay_reproduces_the_build(built):
    rp = Replay(built)
    methods = built.methods
    params = {m: method_params(built, m) for m in methods}
    for rule in built.rules:
        ref = run_scores(built, rule).set_index(["question_id", "method"])["uncertainty"]
        for qid, g in rp.scored().groupby("question_id", sort=False):
            got = score_view(rp.view(qid, rule, g), methods, params)
            for m, v in got.items():
                r = ref[(qid, m)]
                assert (np.isnan(r) and np.isnan(v)) or v == pytest.approx(r, abs=1e-5), \
                    (rule, qid, m)
    assert rp.n_missing() == 0


@pytest.mark.model
def test_sweeps_on_a_built_run(built):
    judge = "squad_f1"
    th = S.threshold_sweep(built, judge, n_boot=20)
    assert th.reference == pytest.approx(0.9) and 0.9 in th.values
    # at the run's own τ the re-clustered scores give the stored rule's AUROC
    rs = S.rule_sweep(built, judge, n_boot=20)
    a = th.curve[th.curve["value"] == 0.9].set_index("method")["auroc"]
    b = rs.curve[rs.curve["value"] == "threshold:0.9@cosine"].set_index("method")["auroc"]
    pd.testing.assert_series_equal(a.sort_index(), b.reindex(a.index).sort_index(),
                                   check_names=False)
    assert th.clusters.set_index("value").loc[0.9, "share_changed"] == 0
    assert {"ausc", "spread"} <= set(th.summary.columns)
    gt = S.graph_temperature_sweep(built, judge, n_boot=20)
    assert set(gt.curve["method"]) == {"eigv", "deg", "ecc"} and gt.reference == 3.0
    ns = S.sample_count_sweep(built, judge, n_draws=2, n_boot=10)
    assert ns.values == [2, 3, 4, 5] and ns.reference == 5
    assert ns.curve["lo"].notna().any()
    sweeps, skipped = S.all_sweeps(built, judge, n_boot=10, n_draws=2)
    assert len(sweeps) >= 3
    assert "sample_temperature" in skipped  # one temperature in this fixture


@pytest.mark.model
def test_reused_views_equal_views_built_from_scratch(built):
    # the sweeps reuse each question's view across values and draws (_base_views); the scores
    # must be those of views built afresh for every value and sub-sample
    rp = Replay(built)
    methods = [m for m in built.methods if m in S.score_methods(built)]
    methods, _ = S.split_recomputable(built, methods)
    params = {m: method_params(built, m) for m in methods}
    samples = S._samples_of(rp)
    spec = rp.resolve("threshold:0.7@cosine")
    base = S._base_views(rp, spec, samples, graph=True)
    rng = np.random.default_rng(0)
    picks = {q: np.sort(rng.choice(len(g), size=min(3, len(g)), replace=False))
             for q, g in samples.items()}
    for kw in ({}, {"picks": picks}):
        fresh = S._rescore(rp, spec, methods, params, samples if not kw else
                           {q: g.iloc[picks[q]] for q, g in samples.items()},
                           graph=True, value=0)
        reused = S._rescore(rp, spec, methods, params, samples, graph=True, value=0,
                            base=base, **kw)
        assert fresh[1] == reused[1]
        for a, b in zip(fresh[0], reused[0], strict=True):
            assert a[:4] == b[:4]
            assert (np.isnan(a[4]) and np.isnan(b[4])) or a[4] == pytest.approx(b[4], abs=1e-12)


@pytest.mark.model
def test_one_sweep_names_every_sweep(built):
    sw, why = S.one_sweep(built, "squad_f1", "threshold", n_boot=10)
    assert why is None and sw.name == "threshold"
    sw, why = S.one_sweep(built, "squad_f1", "sample_temperature", n_boot=10)
    assert sw is None and why
    with pytest.raises(ValueError):
        S.one_sweep(built, "squad_f1", "nope")
    assert set(S.SWEEPS) == {"rule", "threshold", "embedding_threshold", "graph_temperature",
                             "ecc_threshold", "n_samples", "sample_temperature"}


def test_missing_pairs_are_reported_not_computed(tiny_run_path, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run_path, run_dir)
    pairs = pd.read_parquet(run_dir / "pairs.parquet")
    pairs[pairs["question_id"] != "q03"].to_parquet(run_dir / "pairs.parquet", index=False)
    run = load_run(run_dir)
    sw = S.threshold_sweep(run, "exact_match", taus=(0.5, 0.9), backend="fixture-nli",
                           methods=["num_semantic_sets"], n_boot=5)
    assert sw.missing_pairs > 0
    assert any("not in the run's cache" in n for n in sw.notes)


@pytest.mark.model
def test_no_model_is_loaded(built_path):
    code = (
        "from uqlens.run.folder import load_run\n"
        "from uqlens.analysis import sensitivity, agreement, judge_audit, tail, conformal\n"
        f"run = load_run({str(built_path)!r})\n"
        "sensitivity.all_sweeps(run, 'squad_f1', n_boot=5, n_draws=1)\n"
        "rule = run.manifest['default_rule']\n"
        "agreement.run_agreement(run, rule)\n"
        "judge_audit.threshold_sweep(run, rule, 'embedding_similarity', n_boot=5)\n"
        "tail.tail_table(run, rule, 'squad_f1')\n"
        "conformal.run_conformal(run, rule, 'squad_f1', n_splits=2)\n"
    )
    res = no_model_check(code)
    assert "NO_MODEL_OK" in res.stdout, res.stderr[-2000:]


def _counts_by_hand(run, rules) -> dict:
    """{(rule, question): distinct cluster ids among the question's scored samples}, row by
    row from the tables."""
    from uqlens.run.rescore import scored_sample_mask, scored_temperature

    gen = run.table("generations")
    mask = scored_sample_mask(gen, scored_temperature(run)).to_numpy()
    scored = set(zip(gen["question_id"][mask], gen["sample_id"][mask], strict=True))
    seen: dict = {}
    for q, s, r, c in zip(*(run.table("clusters")[k] for k in
                            ("question_id", "sample_id", "rule", "cluster_id")), strict=True):
        if r in rules and (q, s) in scored:
            seen.setdefault((r, q), set()).add(int(c))
    return {k: len(v) for k, v in seen.items()}


@pytest.mark.parametrize("in_order", [True, False])
def test_rule_cluster_counts_match_a_row_by_row_count(tiny_run_path, tmp_path, in_order):
    """Both paths: each rule's rows listing the generations in their order (how a build
    writes them) and rows in any other order."""
    path = tmp_path / "run"
    shutil.copytree(tiny_run_path, path)
    cl = pd.read_parquet(path / "clusters.parquet")
    if in_order:
        gen = pd.read_parquet(path / "generations.parquet", columns=["question_id", "sample_id"])
        cl = pd.concat([gen.merge(part, on=["question_id", "sample_id"], how="left")
                        for _, part in cl.groupby("rule", sort=False)], ignore_index=True)
    else:
        cl = cl.sample(frac=1.0, random_state=0)
    cl.to_parquet(path / "clusters.parquet", index=False)
    run = load_run(path)
    gen, cl = run.table("generations"), run.table("clusters")
    assert (S._generation_blocks(cl, gen) is not None) == in_order
    for rules in (list(run.rules), list(run.rules)[:1]):
        counts = S._rule_cluster_counts(run, rules)
        got = {(r, q): n for r, q, n in zip(counts["value"], counts["question_id"],
                                             counts["n_clusters"], strict=True)}
        assert got == _counts_by_hand(run, set(rules))
        order = list(zip(counts["value"], counts["question_id"], strict=True))
        assert order == sorted(order)  # by rule, then question id, as a groupby gives


def test_curve_point_without_resamples_has_no_interval():
    # wrong answers score 0.9 and 0.4, right ones 0.1 and 0.5: of the 4 (wrong, right) pairs
    # 3 are ordered (0.9>0.1, 0.9>0.5, 0.4>0.1), so AUROC = 3/4
    u = np.array([0.9, 0.4, 0.1, 0.5])
    wrong = np.array([True, True, False, False])
    point = S.curve_point(u, wrong, n_boot=0, seed=0)
    assert point["auroc"] == pytest.approx(0.75)
    assert np.isnan(point["lo"]) and np.isnan(point["hi"])
    assert point["n"] == 4 and point["n_incorrect"] == 2
    with_ci = S.curve_point(u, wrong, n_boot=50, seed=0)
    assert with_ci["lo"] <= 0.75 <= with_ci["hi"]
