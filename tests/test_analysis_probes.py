"""Supervised methods in analysis: badges, staleness, refit on another judge."""

from __future__ import annotations

import numpy as np
import pandas as pd

from uqlens.analysis import probes
from uqlens.analysis.evaluation import auroc
from uqlens.core.methods.supervised import cross_fit


class FakeRun:
    def __init__(self, tables, manifest):
        self.manifest, self._tables = manifest, tables

    def table(self, name):
        return self._tables.get(name, pd.DataFrame())


def fake_run(n=60):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 4))
    qids = [f"q{i:02d}" for i in range(n)]
    # judge "a" says wrong when x0 > 0; judge "b" when x1 > 0
    wrong_a, wrong_b = x[:, 0] > 0, x[:, 1] > 0
    corr = pd.concat([
        pd.DataFrame({"question_id": qids, "sample_id": "g", "judge": "a", "label": ~wrong_a,
                      "value": 0.0, "provenance": "heuristic"}),
        pd.DataFrame({"question_id": qids, "sample_id": "g", "judge": "b", "label": ~wrong_b,
                      "value": 0.0, "provenance": "heuristic"})])
    tables = {
        "questions": pd.DataFrame({"question_id": qids}),
        "generations": pd.DataFrame({"question_id": qids, "sample_id": "g", "is_greedy": True}),
        "correctness": corr,
        "hidden_states": pd.DataFrame({"question_id": qids, "sample_id": "g",
                                       "hidden_state": list(x.astype(np.float16))}),
        "scores": pd.DataFrame({"question_id": qids, "rule": "r",
                                "method": "hidden_state_probe", "uncertainty": 0.5}),
    }
    manifest = {"method_info": {
        "hidden_state_probe": {"supervised": True, "judge": "a",
                               "params": {"folds": 5, "inner_folds": 3, "seed": 0,
                                          "c_grid": [0.1, 1.0]}},
        "semantic_entropy_probe": {"supervised": True, "target_method": "semantic_entropy"},
        "semantic_entropy": {"label": "SE"}}}
    return FakeRun(tables, manifest), x, wrong_b


def test_badges_name_the_judge_and_staleness():
    run, _, _ = fake_run()
    assert probes.badge(run, "semantic_entropy", "a") is None
    assert probes.badge(run, "hidden_state_probe", "a") == "supervised · trained on a"
    assert probes.badge(run, "hidden_state_probe", "b") == (
        "supervised · trained on a · stale under b")
    assert probes.badge(run, "semantic_entropy_probe", "b") == (
        "supervised · learns semantic_entropy")
    assert probes.is_stale(run, "hidden_state_probe", "b")
    assert not probes.is_stale(run, "semantic_entropy_probe", "b")


def test_refit_learns_the_new_judge_with_the_stored_parameters():
    run, x, wrong_b = fake_run()
    fresh = probes.refit(run, "b").sort_values("question_id")
    ids = [f"q{i:02d}" for i in range(len(x))]
    # the same cross-fit, run directly on judge b's labels with the stored parameters
    expected = cross_fit(x.astype(np.float16), wrong_b.astype(float), ids, folds=5,
                         inner_folds=3, seed=0, c_grid=[0.1, 1.0]).probability
    np.testing.assert_allclose(fresh["uncertainty"].to_numpy(), expected)
    assert auroc(fresh["uncertainty"].to_numpy(), wrong_b) > 0.8
    # current_scores swaps the stale stored 0.5s for the refit
    cur = probes.current_scores(run, "r", "b")
    assert len(cur) == len(x) and not (cur["uncertainty"] == 0.5).all()
    assert (probes.current_scores(run, "r", "a")["uncertainty"] == 0.5).all()
