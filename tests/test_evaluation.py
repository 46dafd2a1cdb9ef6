import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from uqlens.analysis import evaluation as ev


@pytest.fixture
def tied_data():
    rng = np.random.default_rng(3)
    y = rng.random(300) < 0.35
    u = np.round(rng.normal(size=300) + 0.8 * y, 1)  # rounding creates many ties
    return u, y


# --- AUROC / AUPRC ------------------------------------------------------------------------
def test_auroc_auprc_hand_example():
    # classic 4-point example: pairs (pos, neg) ordered right: (0.35>0.1), (0.8>0.1),
    # (0.8>0.4); wrong: (0.35<0.4) -> AUROC 3/4.
    # AP: thresholds .8 (P=1, R=.5), .4 (P=.5, R=.5), .35 (P=2/3, R=1) -> .5*1 + .5*2/3 = .8333
    u, y = [0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]
    assert ev.auroc(u, y) == pytest.approx(0.75)
    assert ev.auprc(u, y) == pytest.approx(5 / 6)


def test_auroc_auprc_match_sklearn_with_ties(tied_data):
    u, y = tied_data
    assert ev.auroc(u, y) == pytest.approx(roc_auc_score(y, u))
    assert ev.auprc(u, y) == pytest.approx(average_precision_score(y, u))


def test_all_tied_scores():
    u, y = np.zeros(6), np.array([1, 0, 0, 1, 0, 0], bool)
    assert ev.auroc(u, y) == pytest.approx(0.5)
    assert ev.auprc(u, y) == pytest.approx(average_precision_score(y, u))  # = base rate 1/3


def test_undefined_is_none_and_nan_scores_dropped():
    assert ev.auroc([0.1, 0.2], [1, 1]) is None
    assert ev.auprc([], []) is None
    assert ev.prr([0.3, 0.4], [0, 0]) is None
    assert ev.area_under_rejection([], []) is None
    assert ev.ece([], []) is None
    # NaN dropped: remaining (0.9, wrong), (0.1, right) -> perfect
    assert ev.auroc([0.9, np.nan, 0.1], [1, 0, 0]) == 1.0


# --- rejection / PRR ----------------------------------------------------------------------
def test_rejection_curve_with_tie_uses_expected_accuracy():
    # u = [1, 1, 0], correct = [1, 0, 1]; the tied pair holds one correct answer.
    # k=0: 2/3; k=1: expected rejected correct 0.5 -> (2 - .5)/2 = .75; k=2: (2 - 1)/1 = 1.
    frac, acc = ev.rejection_curve([1, 1, 0], [1, 0, 1])
    assert frac.tolist() == pytest.approx([0, 1 / 3, 2 / 3])
    assert acc.tolist() == pytest.approx([2 / 3, 0.75, 1.0])
    assert ev.area_under_rejection([1, 1, 0], [1, 0, 1]) == pytest.approx((2 / 3 + 0.75 + 1) / 3)


def test_prr_hand_example():
    # u = [.9, .1, .8, .2], incorrect = [1, 0, 0, 1]. Reject order: 0(w), 2(r), 3(w), 1(r).
    # kept accuracy k=0..3: 2/4, 2/3, 1/2, 1/1 -> A_unc = (.5+.6667+.5+1)/4 = .666667
    # random: A = .5. oracle (reject 2 wrong first): .5, 2/3, 1, 1 -> A = .791667
    # PRR = (.666667 - .5)/(.791667 - .5) = .166667/.291667 = 4/7
    assert ev.prr([0.9, 0.1, 0.8, 0.2], [1, 0, 0, 1]) == pytest.approx(4 / 7)
    # u = [.9, .8, .1, .2], incorrect = [1, 0, 1, 0]: kept accuracy .5, 2/3, .5, 0 ->
    # A = .416667 -> PRR = -.083333/.291667 = -2/7
    assert ev.prr([0.9, 0.8, 0.1, 0.2], [1, 0, 1, 0]) == pytest.approx(-2 / 7)


def test_prr_oracle_random_constant(tied_data):
    _, y = tied_data
    assert ev.prr(y.astype(float), y) == pytest.approx(1.0)
    assert ev.prr(np.zeros(len(y)), y) == pytest.approx(0.0)
    assert ev.prr(-y.astype(float), y) < 0
    rng = np.random.default_rng(0)
    rand = [ev.prr(rng.random(len(y)), y) for _ in range(200)]
    assert abs(np.mean(rand)) < 0.05


# --- calibration --------------------------------------------------------------------------
def test_ece_hand_values():
    # one answer per bin (9, 8, 1, 0): .25*(|1-.95| + |0-.85| + |0-.15| + |0-.05|) = .275
    assert ev.ece([0.95, 0.85, 0.15, 0.05], [1, 0, 0, 0]) == pytest.approx(0.275)
    # same bin 9 (1.0 goes to the last bin): acc .5, mean conf (.9+1)/2 = .95 -> .45
    assert ev.ece([0.9, 1.0], [1, 0]) == pytest.approx(0.45)
    with pytest.raises(ValueError):
        ev.ece([1.5], [1])


def test_uncertainty_to_confidence():
    # ranks of [3, 1, 2, 2] = [4, 1, 2.5, 2.5] -> 1 - (r - 1)/3 = [0, 1, .5, .5]
    assert ev.uncertainty_to_confidence([3, 1, 2, 2]).tolist() == pytest.approx([0, 1, .5, .5])
    assert ev.uncertainty_to_confidence([0.2, 0.7], "flip").tolist() == pytest.approx([.8, .3])
    out = ev.uncertainty_to_confidence([2.0, np.nan, 4.0], "minmax")
    assert out[0] == 1.0 and math.isnan(out[1]) and out[2] == 0.0


# --- TPR at FPR ---------------------------------------------------------------------------
def test_tpr_at_fpr_and_warning():
    # incorrect at u = 5, 4, 2; 100 correct: one at u = 3, 99 at u = 1.
    # u>=5: TPR 1/3, FPR 0; u>=4: 2/3, 0; u>=3: 2/3, .01; u>=2: 1, .01; u>=1: 1, 1.
    u = np.r_[5, 4, 2, 3, np.ones(99)]
    y = np.r_[True, True, True, np.zeros(100, bool)]
    value, warning = ev.tpr_at_fpr(u, y, 0.01)
    assert value == pytest.approx(1.0) and warning is None  # 100 negatives >= 1/0.01
    value, warning = ev.tpr_at_fpr(u, y, 0.005)
    assert value == pytest.approx(2 / 3) and "100 correct" in warning
    assert ev.tpr_at_fpr([1, 2], [1, 1])[0] is None


# --- bootstrap ----------------------------------------------------------------------------
def test_bootstrap_ci(tied_data):
    u, y = tied_data
    ci = ev.bootstrap_ci(ev.auroc, u, y, n_boot=300, seed=1)
    point = ev.auroc(u, y)
    assert ci.low < point < ci.high and ci.n_used == 300 and ci.n_dropped == 0
    assert ev.bootstrap_ci(ev.auroc, u, y, n_boot=300, seed=1) == ci  # deterministic
    perfect = ev.bootstrap_ci(ev.auroc, [0.0, 1.0, 0.0, 1.0], [0, 1, 0, 1], n_boot=200)
    assert (perfect.low, perfect.high) == (1.0, 1.0)


def test_bootstrap_drops_one_class_resamples():
    # n = 2, one of each: a resample has one class with probability 1/2
    ci = ev.bootstrap_ci(ev.auroc, [0.2, 0.8], [0, 1], n_boot=400, seed=0)
    assert ci.n_used + ci.n_dropped == 400
    assert 120 < ci.n_dropped < 280
    empty = ev.bootstrap_ci(ev.auroc, [0.2, 0.8], [1, 1], n_boot=10)
    assert empty.low is None and empty.n_dropped == 10


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_vectorised_bootstrap_equals_the_loop(seed):
    # every built-in metric on all resamples at once = the per-resample loop on the same seed
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 60))
    y = rng.random(n) < rng.uniform(0.1, 0.9)
    u = np.round(rng.normal(size=n) + y, int(rng.integers(0, 2)))  # ties, some heavy
    u[rng.random(n) < 0.1] = np.nan
    for name, fn in ev.METRICS.items():
        loop = ev.bootstrap_ci(fn, u, y, n_boot=120, seed=seed, vectorised=False)
        fast = ev.bootstrap_ci(fn, u, y, n_boot=120, seed=seed)
        assert (fast.n_used, fast.n_dropped) == (loop.n_used, loop.n_dropped), name
        if loop.low is None:
            assert fast.low is None and fast.high is None
        else:
            assert fast.low == pytest.approx(loop.low, abs=1e-12), name
            assert fast.high == pytest.approx(loop.high, abs=1e-12), name


def test_vectorised_resamples_match_sklearn(tied_data):
    # per resample, against scikit-learn directly (not only against our own loop)
    u, y = tied_data
    idx = np.random.default_rng(5).integers(0, len(u), size=(25, len(u)))
    got = ev._boot_metrics(u, y, idx, tuple(ev.METRICS))
    for b, row in enumerate(idx):
        assert got["auroc"][b] == pytest.approx(roc_auc_score(y[row], u[row]), abs=1e-12)
        assert got["auprc"][b] == pytest.approx(average_precision_score(y[row], u[row]),
                                                abs=1e-12)
        assert got["prr"][b] == pytest.approx(ev.prr(u[row], y[row]), abs=1e-12)
        assert got["tpr_at_1fpr"][b] == pytest.approx(ev.tpr_at_fpr(u[row], y[row])[0],
                                                      abs=1e-12)


def test_method_table_shares_resamples_across_metrics(tied_data):
    u, y = tied_data
    scores = pd.DataFrame({"question_id": [f"q{i:03d}" for i in range(len(u))], "method": "m",
                           "uncertainty": u})
    incorrect = pd.Series(y, index=scores["question_id"])
    row = ev.method_table(scores, incorrect, n_boot=150, seed=4).iloc[0]
    for name, fn in ev.METRICS.items():
        ci = ev.bootstrap_ci(fn, u, y, n_boot=150, seed=4, vectorised=False)
        assert row[f"{name}_lo"] == pytest.approx(ci.low, abs=1e-12)
        assert row[f"{name}_hi"] == pytest.approx(ci.high, abs=1e-12)


# --- agreement ----------------------------------------------------------------------------
def test_top_k_jaccard():
    assert ev.top_k_jaccard([4, 3, 2, 1], [1, 2, 3, 4], 0.5) == 0.0
    assert ev.top_k_jaccard([4, 3, 2, 1], [4, 3, 2, 1], 0.5) == 1.0
    assert ev.top_k_jaccard([4, 3, 2, 1], [4, 1, 3, 2], 0.5) == pytest.approx(1 / 3)  # {0,1},{0,2}
    # tie rule: all tied in u1 -> question id order decides
    assert ev.top_k_jaccard([1, 1, 1, 1], [1, 1, 0, 0], 0.5) == 1.0
    assert ev.top_k_jaccard([1, 1, 1, 1], [1, 1, 0, 0], 0.5, ids=["d", "c", "b", "a"]) == 0.0
    # k*n = 0.3*4 = 1.2 -> m = 2
    assert ev.top_k_jaccard([4, 3, 2, 1], [4, 1, 3, 2], 0.3) == pytest.approx(1 / 3)
    assert ev.top_k_jaccard([np.nan], [1.0], 0.5) is None


def test_top_k_chance_level():
    assert ev.top_k_chance(0.5) == pytest.approx(1 / 3)
    rng = np.random.default_rng(0)
    sims = [ev.top_k_jaccard(rng.random(2000), rng.random(2000), 0.2) for _ in range(30)]
    assert np.mean(sims) == pytest.approx(ev.top_k_chance(0.2), abs=0.01)


def test_kendall_tau():
    assert ev.kendall_tau([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    # one discordant pair of 6: (5 - 1)/6
    assert ev.kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(2 / 3)
    assert ev.kendall_tau([1, 1, 1], [1, 2, 3]) is None
    assert ev.kendall_tau([1.0], [2.0]) is None


# --- method table -------------------------------------------------------------------------
def test_method_table(tied_data):
    u, y = tied_data
    qids = [f"q{i:03d}" for i in range(len(u))]
    scores = pd.concat([
        pd.DataFrame({"question_id": qids, "method": "a", "uncertainty": u}),
        pd.DataFrame({"question_id": qids, "method": "b", "uncertainty": -u}),
    ]).sample(frac=1.0, random_state=0)  # row order must not matter
    incorrect = pd.Series(y, index=qids)
    t = ev.method_table(scores, incorrect, n_boot=50).set_index("method")
    assert t.loc["a", "auroc"] == pytest.approx(roc_auc_score(y, u))
    assert t.loc["b", "auroc"] == pytest.approx(1 - roc_auc_score(y, u))
    assert t.loc["a", "auprc"] == pytest.approx(average_precision_score(y, u))
    assert t.loc["a", "prr"] == pytest.approx(ev.prr(u, y))
    assert t.loc["a", "n"] == len(u) and t.loc["a", "n_incorrect"] == int(y.sum())
    assert t.loc["a", "auroc_lo"] < t.loc["a", "auroc"] < t.loc["a", "auroc_hi"]
    assert {"tpr_at_1fpr", "tpr_at_1fpr_lo", "tpr_warning", "boot_dropped"} <= set(t.columns)
    n_correct = int((~y).sum())
    assert n_correct >= 100 and t.loc["a", "tpr_warning"] is None  # enough negatives for 1%
    with pytest.raises(ValueError):
        ev.method_table(pd.concat([scores, scores]), incorrect, n_boot=10)
