"""The probes' logistic-regression solver (uqlens.core.methods.supervised): the same optimum
as scikit-learn's StandardScaler + LogisticRegression(C, class_weight="balanced"), found in
each split's principal axes, and those axes computed once per split and kept in the memo."""

import numpy as np
import pytest

from uqlens.core.methods import supervised
from uqlens.core.methods.supervised import (
    C_GRID,
    SplitBases,
    cross_fit,
    principal_axes,
)


def problem(n, d, seed=0, positive_share=0.3):
    """Features on very different scales with offsets, one constant column, labels that
    depend on two features, and unbalanced classes."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * rng.uniform(0.05, 20, size=d) + rng.normal(scale=5, size=d)
    x[:, 3] = 2.5  # constant: scikit-learn scales it by 1, and it carries nothing
    logit = x[:, 0] / x[:, 0].std() - x[:, 1] / x[:, 1].std()
    y = (rng.random(n) < 1 / (1 + np.exp(-(logit + np.log(positive_share / 0.7))))).astype(float)
    return x, y


def sklearn_probabilities(x_train, y_train, x_test, c):
    """The reference: scikit-learn's pipeline, solved by its exact Newton solver to a tight
    tolerance (its default lbfgs stops at a gradient of 1e-4, short of the optimum)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(
        C=c, class_weight="balanced", solver="newton-cholesky", tol=1e-12, max_iter=1000))
    return model.fit(x_train, y_train).predict_proba(x_test)[:, 1]


@pytest.mark.parametrize("n,d", [(60, 100), (200, 12)])  # fewer rows than features, and more
def test_solver_finds_sklearns_optimum_for_every_c(n, d):
    x, y = problem(n + 30, d)
    split = principal_axes(x[:n], x[n:])
    ours = supervised._fit_predict(split, y[:n], list(C_GRID))
    for i, c in enumerate(C_GRID):
        reference = sklearn_probabilities(x[:n], y[:n], x[n:], c)
        np.testing.assert_allclose(ours[:, i], reference, atol=1e-6, rtol=0)


def test_principal_axes_keep_the_standardised_geometry():
    x, _ = problem(40, 30)
    train, test = x[:30], x[30:]
    mean, scale = train.mean(axis=0), train.std(axis=0)
    scale[3] = 1.0  # the constant column
    xs, xt = (train - mean) / scale, (test - mean) / scale
    split = principal_axes(train, test)
    z, zt = split.train[:, :-1], split.test[:, :-1]
    assert (split.train[:, -1] == 1).all() and (split.test[:, -1] == 1).all()  # intercept
    # inner products among and with the training rows are those of the standardised rows,
    # so an L2-penalised linear model sees the same problem
    np.testing.assert_allclose(z @ z.T, xs @ xs.T, atol=1e-8 * np.abs(xs @ xs.T).max())
    np.testing.assert_allclose(zt @ z.T, xt @ xs.T, atol=1e-8 * np.abs(xt @ xs.T).max())
    gram = z.T @ z  # the axes are orthogonal
    np.testing.assert_allclose(gram - np.diag(np.diag(gram)), 0, atol=1e-8 * gram.max())
    assert z.shape[1] <= 29  # centred rows span at most n - 1 directions




def count_axes(monkeypatch):
    calls = []
    real = supervised.principal_axes

    def counted(x_train, x_test):
        calls.append(len(x_train))
        return real(x_train, x_test)

    monkeypatch.setattr(supervised, "principal_axes", counted)
    return calls


def test_axes_are_computed_once_per_split_and_read_back_from_the_memo(monkeypatch):
    x, y = problem(80, 100, seed=1)  # fewer rows than features: the principal-axes solver
    ids = [f"q{i:02d}" for i in range(80)]
    other = 1 - y  # another target on the same hidden states (another rule)
    calls = count_axes(monkeypatch)
    bases = SplitBases(x)
    first = cross_fit(x, y, ids, bases=bases)
    cross_fit(x, other, ids, bases=bases)
    assert len(calls) == 5 * (3 + 1)  # 5 outer splits, each with 3 inner ones: once each
    memo = supervised.InMemoryFitMemo()
    cross_fit(x, y, ids, memo=memo)
    calls.clear()
    again = cross_fit(x, other, ids, memo=memo, stats=(stats := {}))  # a later build
    assert calls == [] and stats == {"probe_fits_computed": 80}  # axes read, fits new
    np.testing.assert_array_equal(again.probability, cross_fit(x, other, ids).probability)
    assert np.array_equal(first.probability, cross_fit(x, y, ids, memo=memo).probability)


def test_bases_of_other_features_are_refused():
    x, y = problem(40, 10)
    with pytest.raises(ValueError, match="other features"):
        cross_fit(x, y, [f"q{i}" for i in range(40)], bases=SplitBases(x * 2))
