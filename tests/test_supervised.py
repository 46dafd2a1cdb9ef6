"""Supervised probes: strictly out-of-fold, no label reaches its own question's score."""

import numpy as np
import pandas as pd
import pytest

from uqlens.analysis.evaluation import auroc
from uqlens.core.methods import supervised
from uqlens.core.methods.supervised import assign_folds, cross_fit, score_run


def synthetic(n=400, d=8, seed=0, signal=2.5):
    """Hidden states whose first coordinate drives P(incorrect) through a logistic link;
    wider ones (d > 8) mix 8 such coordinates into d, plus noise, as hidden states are
    correlated."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, min(d, 8)))
    incorrect = (rng.random(n) < 1 / (1 + np.exp(-signal * x[:, 0]))).astype(float)
    if d > 8:
        x = x @ rng.normal(size=(8, d)) + 0.3 * rng.normal(size=(n, d))
    ids = np.array([f"q{i:04d}" for i in range(n)])
    return x, incorrect, ids


def test_folds_depend_on_the_id_set_only():
    ids = [f"q{i}" for i in range(10)]
    a = assign_folds(ids, 5, seed=3)
    b = assign_folds(ids[::-1], 5, seed=3)[::-1]  # same ids, reversed row order
    assert (a == b).all()
    assert np.bincount(a).tolist() == [2, 2, 2, 2, 2]  # 10 ids dealt round-robin to 5 folds
    with pytest.raises(ValueError, match="folds"):
        assign_folds(ids, 1, 0)


# d=8: more questions than features (scikit-learn's lbfgs fits); d=450: fewer (the
# principal-axes Newton solver fits, as on hidden states of a few hundred questions)
WIDTHS = [8, 450]


@pytest.mark.parametrize("d", WIDTHS)
def test_informative_hidden_states_give_high_auroc(d):
    x, y, ids = synthetic(d=d)
    fit = cross_fit(x, y, ids, folds=5, seed=0)
    assert not np.isnan(fit.probability).any()
    assert auroc(fit.probability, y.astype(bool)) > 0.8
    assert len(fit.chosen_c) == 5 and all(c in supervised.C_GRID for c in fit.chosen_c)


@pytest.mark.parametrize("d", WIDTHS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shuffled_labels_give_chance_auroc(seed, d):
    x, y, ids = synthetic(seed=seed, d=d)
    shuffled = np.random.default_rng(100 + seed).permutation(y)
    fit = cross_fit(x, shuffled, ids, folds=5, seed=seed)
    assert abs(auroc(fit.probability, shuffled.astype(bool)) - 0.5) < 0.08


@pytest.mark.parametrize("d", WIDTHS)
def test_a_questions_own_label_never_reaches_its_score(d):
    x, y, ids = synthetic(n=120, d=d)
    base = cross_fit(x, y, ids, folds=5, seed=0).probability
    for i in (0, 17, 63):
        flipped = y.copy()
        flipped[i] = 1 - flipped[i]
        again = cross_fit(x, flipped, ids, folds=5, seed=0).probability
        assert again[i] == base[i]  # exactly: its own fold's model never saw it
        assert not np.array_equal(again, base)  # other folds' models did change
        unlabelled = y.copy()
        unlabelled[i] = np.nan
        assert cross_fit(x, unlabelled, ids, folds=5, seed=0).probability[i] == base[i]


def test_semantic_entropy_target_is_cut_at_the_training_median():
    # Three folds of 2 rows; every training set then holds 4 values. Feature = target.
    ids = ["a", "b", "c", "d", "e", "f"]
    se = np.array([0.0, 0.0, 0.0, 1.0, 2.0, 3.0])
    fit = cross_fit(se[:, None], se, ids, folds=3, seed=0, binarize_at_training_median=True,
                    c_grid=(1.0,))
    fold = fit.fold
    for k in range(3):
        train = se[fold != k]
        high = train > np.median(train)
        # a one-class training set predicts its class share, else a fitted probability
        if high.all() or not high.any():
            assert (fit.probability[fold == k] == float(high[0])).all()
        else:
            assert ((fit.probability[fold == k] > 0) & (fit.probability[fold == k] < 1)).all()
    # the monotone relation survives: the top entropy gets a higher P(high) than a zero one
    assert fit.probability[5] > fit.probability[0]


def _states(x, ids):
    return pd.DataFrame({"question_id": ids, "hidden_state": [v.astype(np.float16) for v in x]})


def test_score_run_writes_every_rule_and_names_the_judge():
    x, y, ids = synthetic(n=60)
    labels = pd.Series(y == 0, index=ids)
    se = pd.DataFrame({"question_id": np.r_[ids, ids], "rule": ["r1"] * 60 + ["r2"] * 60,
                       "method": "semantic_entropy", "uncertainty": np.r_[x[:, 0], -x[:, 0]]})
    out = score_run(_states(x, ids), ids, ["r1", "r2"], labels=labels, judge="squad_f1",
                    scores=se)
    assert out.skipped == {}
    assert set(out.scores["method"]) == {"hidden_state_probe", "semantic_entropy_probe"}
    assert len(out.scores) == 2 * 2 * 60
    hsp = out.scores[out.scores["method"] == "hidden_state_probe"]
    # rule-free: the same value under both rules
    assert (hsp[hsp["rule"] == "r1"]["uncertainty"].to_numpy()
            == hsp[hsp["rule"] == "r2"]["uncertainty"].to_numpy()).all()
    info = out.info["hidden_state_probe"]
    assert info["supervised"] is True and info["judge"] == "squad_f1"
    assert info["params"]["folds"] == 5 and info["params"]["c_grid"] == list(supervised.C_GRID)
    assert '"judge": "squad_f1"' in hsp["params"].iloc[0]
    sep = out.scores[out.scores["method"] == "semantic_entropy_probe"]
    r1 = sep[sep["rule"] == "r1"]["uncertainty"].to_numpy()
    r2 = sep[sep["rule"] == "r2"]["uncertainty"].to_numpy()
    # rule r2's entropy is the mirror of r1's, so its probe ranks the questions the other way
    assert auroc(r1, x[:, 0] > 0) > 0.8 and auroc(r2, x[:, 0] > 0) < 0.2
    assert out.info["semantic_entropy_probe"]["target_method"] == "semantic_entropy"


def test_score_run_without_hidden_states_skips_with_a_reason():
    empty = pd.DataFrame({"question_id": [], "hidden_state": []})
    out = score_run(empty, ["q1"], ["r"], labels=pd.Series([True], index=["q1"]), judge="j",
                    scores=pd.DataFrame(columns=["question_id", "rule", "method", "uncertainty"]))
    assert out.scores.empty
    assert out.skipped["hidden_state_probe"] == supervised.NO_HIDDEN_STATES
    assert out.skipped["semantic_entropy_probe"] == supervised.NO_HIDDEN_STATES
