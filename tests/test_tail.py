"""Tail metrics: ROC points by hand, TPR@FPR warnings, rejection curves, reliability bins."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_curve

from uqlens.analysis import tail


def test_roc_points_hand_worked():
    u = [0.9, 0.8, 0.8, 0.3, 0.1]
    wrong = [True, True, False, False, True]
    r = tail.roc_points(u, wrong)
    # thresholds inf, 0.9, 0.8, 0.3, 0.1
    assert r["fpr"].tolist() == pytest.approx([0, 0, 0.5, 1.0, 1.0])
    assert r["tpr"].tolist() == pytest.approx([0, 1 / 3, 2 / 3, 2 / 3, 1.0])
    assert r["on_log_axis"].tolist() == [False, False, True, True, True]
    fpr, tpr, _ = roc_curve(wrong, u, drop_intermediate=False)
    assert r["fpr"].tolist() == pytest.approx(fpr.tolist())
    assert r["tpr"].tolist() == pytest.approx(tpr.tolist())
    assert tail.roc_points([0.1, 0.2], [True, True]).empty


def test_reliability_bins_and_ece():
    conf = [0.05, 0.15, 0.95, 1.0]
    correct = [False, True, True, True]
    bins, e = tail.reliability(conf, correct, n_bins=10)
    assert bins.loc[0, "n"] == 1 and bins.loc[1, "n"] == 1 and bins.loc[9, "n"] == 2
    assert bins.loc[9, "mean_confidence"] == pytest.approx(0.975)
    # ECE = 1/4·|0 − .05| + 1/4·|1 − .15| + 2/4·|1 − .975|
    assert e == pytest.approx(0.25 * 0.05 + 0.25 * 0.85 + 0.5 * 0.025)
    with pytest.raises(ValueError):
        tail.reliability([1.2], [True])


def test_run_level_tables(tiny_run):
    rule, judge = tiny_run.rules[0], tiny_run.judges[0]
    t = tail.tail_table(tiny_run, rule, judge)
    assert set(t["fpr"]) == set(tail.DEFAULT_FPRS)
    # a fixture this small always has too few correct answers for FPR 0.1 %
    assert t.loc[t["fpr"] == 0.001, "warning"].notna().all()
    c = tail.rejection_curves(tiny_run, rule, judge)
    assert {"oracle", "random"} <= set(c["method"])
    oracle = c[c["method"] == "oracle"]["accuracy"].to_numpy()
    assert (np.diff(oracle) >= -1e-12).all()  # oracle accuracy never falls
    roc = tail.run_roc(tiny_run, rule, judge)
    assert isinstance(roc, pd.DataFrame)


def test_thinned_curve_keeps_ends_and_at_most_max_points():
    from uqlens.viz.metrics import thinned

    g = pd.DataFrame({"x": np.arange(10_001)})
    t = thinned(g, 1_000)
    assert len(t) == 1_000 and t["x"].iloc[0] == 0 and t["x"].iloc[-1] == 10_000
    assert t["x"].is_monotonic_increasing
    assert thinned(g.iloc[:5], 1_000) is not None and len(thinned(g.iloc[:5], 1_000)) == 5


def test_thinned_log_keeps_every_low_fpr_point_and_each_steps_ends():
    from uqlens.viz.metrics import thinned_log

    fpr = np.r_[np.arange(1, 101) / 100_000, np.linspace(0.002, 1.0, 20_000)]
    g = pd.DataFrame({"fpr": fpr, "tpr": np.linspace(0, 1, len(fpr))})
    t = thinned_log(g, bins=1_000)
    assert len(t) <= 2_000
    assert t["fpr"].iloc[0] == fpr[0] and t["fpr"].iloc[-1] == 1.0
    assert set(fpr[:100]) <= set(t["fpr"])  # 1e-5 … 1e-3: one step per point, all kept
    assert len(thinned_log(g.iloc[:50], bins=1_000)) == 50
