"""Judge audit: Cohen's κ by hand and vs scikit-learn, re-thresholding, provenance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _built_run import built_run
from sklearn.metrics import cohen_kappa_score

from uqlens.analysis import judge_audit as J
from uqlens.analysis.evaluation import auroc
from uqlens.run.folder import load_run
from uqlens.run.rescore import judged_labels, run_scores


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    return load_run(built_run(tmp_path_factory))


def _from_confusion(tt, tf, ft, ff):
    a = [True] * (tt + tf) + [False] * (ft + ff)
    b = [True] * tt + [False] * tf + [True] * ft + [False] * ff
    return np.array(a), np.array(b)


def test_kappa_hand_worked_and_sklearn():
    # p_o = 35/50 = 0.7; p_a = 0.5, p_b = 0.6; p_e = 0.5·0.6 + 0.5·0.4 = 0.5; κ = 0.4
    a, b = _from_confusion(20, 5, 10, 15)
    assert J.cohen_kappa(a, b) == pytest.approx(0.4)
    assert J.cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))
    rng = np.random.default_rng(0)
    x, y = rng.random(40) > 0.4, rng.random(40) > 0.5
    assert J.cohen_kappa(x, y) == pytest.approx(cohen_kappa_score(x, y))
    assert J.cohen_kappa([True, True], [True, True]) is None


def test_confusion_and_kappa_table():
    labels = pd.DataFrame({"x": [True, True, False, False, None],
                           "y": [True, False, False, False, True]}, dtype="boolean")
    c = J.confusion(labels, "x", "y")
    assert c.to_numpy().tolist() == [[1, 1], [0, 2]]
    t = J.kappa_table(labels).iloc[0]
    assert t["n"] == 4 and t["agreement"] == pytest.approx(0.75)
    assert t["kappa"] == pytest.approx(cohen_kappa_score([1, 1, 0, 0], [1, 0, 0, 0]))


def test_relabel_keeps_known_false_rejections():
    f = pd.DataFrame({"value": [0.2, 0.5, 0.9, 0.9], "label": [False, True, True, False]})
    # the last answer reached τ0 = 0.3 but was rejected (known-false reference): stays False
    assert J.relabel(f, 0.1, 0.3).tolist() == [True, True, True, False]
    assert J.relabel(f, 0.6, 0.3).tolist() == [False, False, True, False]


@pytest.mark.model
def test_threshold_sweep_at_own_tau_matches_stored_labels(built):
    rule = built.manifest["default_rule"]
    sw = J.threshold_sweep(built, rule, "rouge_l", n_boot=20)
    assert sw["reference"] == pytest.approx(0.3)
    lab = judged_labels(built, "rouge_l")
    s = run_scores(built, rule).pivot(index="question_id", columns="method",
                                      values="uncertainty").reindex(lab.index)
    at = sw["curve"][np.isclose(sw["curve"]["value"], 0.3)].set_index("method")
    for m in at.index:
        expected = auroc(s[m].to_numpy(dtype=float), ~lab.to_numpy())
        got = at.loc[m, "auroc"]
        assert (expected is None and np.isnan(got)) or got == pytest.approx(expected)
    ref_flips = sw["flips"].set_index("value").loc[0.3, "flips"]
    assert ref_flips == 0
    assert set(sw["curve"]["value"]) >= set(J.DEFAULT_GRIDS["rouge_l"])


@pytest.mark.model
def test_provenance_and_model_free_filter(built):
    p = J.provenance_table(built)
    assert set(p["judge"]) == set(built.judges) | set(built.human_judges)
    free = J.model_free_judges(built)
    assert "embedding_similarity" not in free and "rouge_l" in free
    table = J.method_auroc_by_judge(built, built.manifest["default_rule"], only_model_free=True)
    assert list(table.columns) == free
    assert "embedding_similarity" in J.thresholdable(built)
