"""Supervised, run-level methods: probes trained on the generating model's hidden states.

Unlike the registry's methods (:mod:`uqlens.core.methods.base`), which score one question
from its own answers, a probe learns from the *other* questions of a run, so it is scored
over the whole run at once and strictly out of fold:

- **Outer cross-fitting over questions.** Questions are shuffled with ``seed`` (by sorted id,
  never by label) and cut into ``folds`` folds; a question's score comes from a model fitted
  only on the other folds. Fold membership does not depend on any label, so changing one
  question's label cannot change its own score.
- **Regularisation chosen inside the training folds.** For each outer fold, the inverse
  regularisation strength ``C`` of an L2 logistic regression (features standardised) is
  picked from ``c_grid`` by ``inner_folds``-fold cross-validated log-loss on the training
  folds only; ties go to the smaller ``C`` (more regularisation).
- **Classes weighted equally** (``class_weight="balanced"``): otherwise each fold's intercept
  follows its training share of positives, which is anti-correlated with the held-out
  fold's share, and pooling the folds biases the out-of-fold AUROC below 0.5 on pure noise
  (measured here: 0.40 on 400 shuffled labels). The output is therefore P(positive) under
  equal priors, a ranking score more than a calibrated probability.
- A training set with one class only predicts its class share (0 or 1) and says so in the
  notes; a question without a hidden state gets NaN.
- **Solved exactly, and fast, in each split's principal axes** when a split has fewer
  training rows than features (hidden states of up to ~1,500 questions): the optimum of
  an L2 penalty lies in the span of the training rows, so each split's standardised rows
  are rotated once onto their ≤ n principal axes (shared by both probes and every rule,
  kept in the build's memo) and every C is solved there by Newton-CG to its optimum
  (:func:`_fit_logistic`). With more rows than features, scikit-learn's lbfgs fits.

The two probes (:data:`SUPERVISED`):

``hidden_state_probe``
    predicts that the judged answer is *incorrect* under a named judge from the hidden state
    of the greedy answer; uncertainty = out-of-fold P(incorrect). Trained on one judge's labels:
    under another judge it is stale until refitted (:func:`uqlens.analysis.probes.refit`).
``semantic_entropy_probe``
    Kossen, Han, Razzak, Schut, Malik & Gal (2024), "Semantic Entropy Probes: Robust and
    Cheap Hallucination Detection in LLMs" (arXiv:2406.15927): predicts *high* semantic
    entropy from the same hidden state; the target is binarised at the median of the
    training folds' semantic entropy (high = strictly above it); uncertainty = out-of-fold
    P(high). Needs no correctness label, only the run's semantic entropy under each rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

import numpy as np
import pandas as pd

C_GRID = (0.001, 0.01, 0.1, 1.0, 10.0)
DEFAULTS = MappingProxyType({"folds": 5, "inner_folds": 3, "seed": 0, "c_grid": list(C_GRID)})
NO_HIDDEN_STATES = ("needs hidden states of the generating model (generations.hidden_state); "
                    "this data has none")


@dataclass(frozen=True)
class SupervisedMethod:
    """A run-level method trained on the run's own questions (see the module docstring).

    ``target`` names what it predicts: ``"incorrect"`` (a judge's labels) or
    ``"high_semantic_entropy"``.
    """

    id: str
    label: str
    target: str
    citation: str
    description: str
    defaults: Mapping[str, object] = field(default_factory=lambda: DEFAULTS)


SUPERVISED: dict[str, SupervisedMethod] = {
    m.id: m
    for m in (
        SupervisedMethod(
            "hidden_state_probe", "Hidden-state probe (supervised)", "incorrect",
            "logistic-regression probe on hidden states (e.g. Azaria & Mitchell 2023; "
            "Kossen et al. 2024, arXiv:2406.15927)",
            "Out-of-fold P(incorrect) from a logistic regression on the greedy answer's "
            "hidden state, trained on the other questions' judged labels."),
        SupervisedMethod(
            "semantic_entropy_probe", "Semantic entropy probe (supervised)",
            "high_semantic_entropy",
            "Kossen, Han, Razzak, Schut, Malik & Gal (2024), arXiv:2406.15927",
            "Out-of-fold P(semantic entropy above the training folds' median) from a "
            "logistic regression on the greedy answer's hidden state."),
    )
}
SE_TARGETS = ("semantic_entropy", "discrete_semantic_entropy")
"""Scores the semantic entropy probe learns, first available wins."""


@dataclass(frozen=True)
class CrossFit:
    """Out-of-fold predictions: ``probability[i]`` for row ``i`` came from a model that never
    saw row ``i``; ``fold[i]`` is its outer fold; ``chosen_c`` the C of each outer fold
    (NaN where no model was fitted); ``notes`` anything unusual."""

    probability: np.ndarray
    fold: np.ndarray
    chosen_c: tuple[float, ...]
    notes: tuple[str, ...] = ()


def assign_folds(ids, folds: int, seed: int) -> np.ndarray:
    """Fold of each id: the sorted ids shuffled with ``seed`` and dealt round-robin, so the
    assignment depends on the set of ids only, never on labels or row order."""
    ids = np.asarray(ids).astype(str)
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    order = np.argsort(ids, kind="stable")
    shuffled = order[np.random.default_rng(seed).permutation(len(ids))]
    out = np.empty(len(ids), dtype=np.int64)
    out[shuffled] = np.arange(len(ids)) % folds
    return out


PROBE_RECIPE = ("StandardScaler + L2 LogisticRegression(C, class_weight=balanced): with fewer "
                "training rows than features solved to its optimum by Newton-CG in the rows' "
                "principal axes (newton-cg/1), else scikit-learn's lbfgs (max_iter=2000)")
"""What :func:`_fit_rows` fits; part of every memo key (change it when the fit changes)."""

NEWTON_DECREMENT = 1e-14
"""A fit stops once a full Newton step lowered its (mean-loss) objective by less than this:
the optimum is then reached to far below what a probability shows (within 1e-6 of
scikit-learn's own Newton solver run to tol=1e-12, tests/test_probe_solver.py; its
default lbfgs, used before, stops at a gradient of 1e-4, up to 2e-3 away on the demo)."""


@dataclass(frozen=True)
class Split:
    """Training and test rows of one split, standardised with the training rows' mean and
    standard deviation (as scikit-learn's ``StandardScaler``) and expressed in the principal
    axes of the standardised training matrix: ``train`` (n × r) has orthogonal columns
    (``train.T @ train`` is diagonal) and a last column of ones for the intercept.

    For an L2 penalty the optimal weights lie in the row space of the training matrix (the
    loss's gradient does, and the penalty shrinks everything outside it to zero), so fitting
    in these r ≤ min(n, d) axes is the same problem, and test logits are exact."""

    train: np.ndarray
    test: np.ndarray

    def __post_init__(self):
        # 64-byte aligned copies: OpenBLAS rounds differently by alignment (~1e-15 here), and
        # the same split must give the same fit bit for bit, computed or read from the memo;
        # derived once: a contiguous transpose (faster products), the preconditioner's weights
        train = _aligned(self.train)
        for name, value in (("train", train), ("test", _aligned(self.test)),
                            ("train_t", _aligned(train.T)), ("squares", train * train)):
            object.__setattr__(self, name, value)


def _aligned(a: np.ndarray) -> np.ndarray:
    """A C-ordered copy of ``a`` whose data starts on a 64-byte boundary."""
    buffer = np.empty(a.size + 8)
    start = (-buffer.ctypes.data % 64) // 8
    out = buffer[start:start + a.size].reshape(a.shape)
    out[...] = a
    return out


def principal_axes(x_train: np.ndarray, x_test: np.ndarray) -> Split:
    """:class:`Split` of the rows: an eigendecomposition of the smaller of the Gram matrix
    (n ≤ d) and the covariance (n > d); directions of a variance below 1e-10 of the largest
    (the centring, exact collinearity) carry nothing and are dropped."""
    n, d = x_train.shape
    mean, var = x_train.mean(axis=0), x_train.var(axis=0)
    eps = np.finfo(np.float64).eps
    # scikit-learn's test for a constant feature (its scale is then 1)
    constant = var <= n * eps * var + (n * mean * eps) ** 2
    scale = np.where(constant, 1.0, np.sqrt(var))
    train, test = (x_train - mean) / scale, (x_test - mean) / scale
    if n <= d:
        lam, u = np.linalg.eigh(train @ train.T)
        keep = lam > lam[-1] * 1e-10
        root = np.sqrt(lam[keep])
        z, z_test = u[:, keep] * root, (test @ train.T) @ (u[:, keep] / root)
    else:
        lam, v = np.linalg.eigh(train.T @ train)
        v = v[:, lam > lam[-1] * 1e-10]
        z, z_test = train @ v, test @ v
    z = np.hstack([z, np.ones((n, 1))])
    z_test = np.hstack([z_test, np.ones((len(x_test), 1))])
    return Split(z, z_test)


def _objective(logits, y, weight, theta, lam):
    """Per column: weighted mean log-loss + lam/2 |weights|² (the intercept unpenalised)."""
    loss = np.logaddexp(0.0, logits) - y[:, None] * logits
    return weight @ loss + 0.5 * lam * np.einsum("ij,ij->j", theta[:-1], theta[:-1])


def _newton_step(split, curvature, grad, lam, penalised):
    """Approximately solve (zᵀ diag(curvature) z + lam·penalised) step = -grad, one column
    per problem, by conjugate gradients preconditioned with the diagonal (in principal axes
    zᵀz is diagonal, so the diagonal is most of the matrix); a column stops at a relative
    residual of min(0.1, sqrt(|grad|)), which keeps Newton's convergence superlinear, but
    not below 0.01: each Newton step still gains two digits, and the last steps, which
    would otherwise cost most of the iterations, stay cheap (on the demo: a quarter less
    work, probabilities within 5e-8 of the tighter solve)."""
    z, z_t = split.train, split.train_t
    norm = np.sqrt(np.einsum("ij,ij->j", grad, grad))
    goal = np.clip(np.sqrt(norm), 0.01, 0.1) * norm
    diag = split.squares.T @ curvature + penalised * lam
    step, residual = np.zeros_like(grad), -grad
    pre = residual / diag
    direction, rz = pre.copy(), np.einsum("ij,ij->j", residual, pre)
    live = np.arange(grad.shape[1])  # columns still iterating
    for _ in range(10 * len(grad)):
        d, res = direction[:, live], residual[:, live]
        product = z_t @ (curvature[:, live] * (z @ d)) + penalised * lam[live] * d
        alpha = rz[live] / np.einsum("ij,ij->j", d, product)
        step[:, live] += alpha * d
        res -= alpha * product
        residual[:, live] = res
        going = np.einsum("ij,ij->j", res, res) > goal[live] ** 2
        live, res = live[going], res[:, going]
        if not len(live):
            break
        pre = res / diag[:, live]
        rz_new = np.einsum("ij,ij->j", res, pre)
        direction[:, live] = pre + (rz_new / rz[live]) * direction[:, live]
        rz[live] = rz_new
    return step


def _fit_logistic(split: Split, y: np.ndarray, cs) -> np.ndarray:
    """Coefficients (one column per C of ``cs``; last row the intercept) of the L2 logistic
    regression scikit-learn's ``LogisticRegression(C, class_weight="balanced")`` fits:
    minimise mean_i(s_i·logloss_i) + |w|²/(2·C·n), s_i = n / (2 · rows of i's class). All
    C at once (matrix products instead of vector products); each column stops on its own
    when its Newton decrement falls below :data:`NEWTON_DECREMENT`."""
    z, n = split.train, len(y)
    positives = y.sum()
    weight = np.where(y > 0, 0.5 / positives, 0.5 / (n - positives))
    lam_all = 1.0 / (np.asarray(cs, dtype=float) * n)
    penalised = np.ones((z.shape[1], 1))
    penalised[-1] = 0.0
    theta = np.zeros((z.shape[1], len(lam_all)))
    logits = np.zeros((n, len(lam_all)))
    active = np.arange(len(lam_all))
    for _ in range(100):
        th, f, lam = theta[:, active], logits[:, active], lam_all[active]
        p = 1.0 / (1.0 + np.exp(-f))
        grad = z.T @ (weight[:, None] * (p - y[:, None])) + penalised * lam * th
        step = _newton_step(split, weight[:, None] * p * (1 - p), grad, lam, penalised)
        change, slope = z @ step, (grad * step).sum(axis=0)
        before = _objective(f, y, weight, th, lam)
        size = np.ones(len(active))
        for _ in range(40):  # backtracking (Armijo), with room for rounding near the optimum
            after = _objective(f + size * change, y, weight, th + size * step, lam)
            ok = after <= before + 1e-4 * size * slope + 1e-13 * np.abs(before)
            if ok.all():
                break
            size = np.where(ok, size, size / 2)
        theta[:, active] = th + size * step
        logits[:, active] = f + size * change
        active = active[(-slope > NEWTON_DECREMENT) | (size < 1)]
        if not len(active):
            break
    return theta


def _fit_predict(split: Split, y_train, cs) -> np.ndarray:
    """P(1) of the split's test rows (one column per C of ``cs``)."""
    return 1.0 / (1.0 + np.exp(-(split.test @ _fit_logistic(split, y_train, cs))))


def _sklearn_fit_predict(x_train, y_train, x_test, c: float) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(),
                          LogisticRegression(C=c, class_weight="balanced", max_iter=2000))
    return model.fit(x_train, y_train).predict_proba(x_test)[:, 1]


def _fit_rows(bases: SplitBases, train_rows, y_train, test_rows, cs) -> np.ndarray:
    """P(1) of ``bases.x[test_rows]`` per C of ``cs``, fitted on the training rows. With fewer
    rows than features (hidden states of up to ~1,500 questions) the principal axes make the
    exact optimum cheap (:func:`_fit_logistic`); with more they reduce nothing, the Newton
    solver's matrix products then cost what scikit-learn's do, and it needs more of them
    than scikit-learn's lbfgs, which stops earlier (at a gradient of 1e-4), so that is used."""
    y_train = np.asarray(y_train, dtype=float)
    if len(train_rows) < bases.x.shape[1]:
        return _fit_predict(bases(train_rows, test_rows), y_train, cs)
    x_train, x_test = bases.x[train_rows], bases.x[test_rows]
    return np.stack([_sklearn_fit_predict(x_train, y_train, x_test, c) for c in cs], axis=1)


class FitMemo(Protocol):
    """Where fitted probes' predictions are kept between builds (the build's content cache):
    ``get(key)`` gives the stored float64 array or None, ``put(key, values)`` stores one."""

    def get(self, key: str) -> np.ndarray | None: ...

    def put(self, key: str, values: np.ndarray) -> None: ...


class InMemoryFitMemo:
    """A :class:`FitMemo` in a dict, for one process (benchmarks, tests); builds use the
    content cache's."""

    def __init__(self):
        self.store: dict[str, np.ndarray] = {}

    def get(self, key: str) -> np.ndarray | None:
        return self.store.get(key)

    def put(self, key: str, values: np.ndarray) -> None:
        self.store[key] = np.array(values, dtype=np.float64)


CACHED_SPLIT_FLOATS = 1_000_000
"""A split's principal axes are kept in the memo when they take at most this many numbers
(8 MB; the demo's largest takes 0.52 M, its 20 splits 54 MB): computing them is a third of
a demo rebuild's probe work (an eigendecomposition per split), reading them back ~0.1 s."""


class SplitBases:
    """:func:`principal_axes` of ``x`` per (training rows, test rows), computed once and shared
    by every probe and rule fitted on ``x`` (they do not depend on the target); through
    ``memo`` (between builds) when given and small enough (:data:`CACHED_SPLIT_FLOATS`)."""

    def __init__(self, x: np.ndarray, memo: FitMemo | None = None):
        self.x, self.memo = x, memo
        self._splits: dict[bytes, Split] = {}
        self._digest: bytes | None = None

    @property
    def digest(self) -> bytes:
        """sha256 of the model recipe and of ``x`` (shape, dtype and values)."""
        if self._digest is None:
            import hashlib

            digest = hashlib.sha256(f"{PROBE_RECIPE} {self.x.dtype} {self.x.shape}".encode())
            digest.update(np.ascontiguousarray(self.x).tobytes())
            self._digest = digest.digest()
        return self._digest

    def __call__(self, train_rows, test_rows) -> Split:
        train = np.asarray(train_rows, dtype=np.int64)
        test = np.asarray(test_rows, dtype=np.int64)
        key = train.tobytes() + b"|" + test.tobytes()
        if key not in self._splits:
            self._splits[key] = self._load_or_compute(train, test, key)
        return self._splits[key]

    def _load_or_compute(self, train, test, key: bytes) -> Split:
        memo_key = None
        if self.memo is not None:
            import hashlib

            memo_key = "axes:" + hashlib.sha256(self.digest + key).hexdigest()
            got = self.memo.get(memo_key)
            # stored as [columns, train values..., test values...]
            if got is not None and len(got) and (
                    got[0] * (len(train) + len(test)) + 1 == len(got)):
                cut = 1 + len(train) * int(got[0])
                return Split(got[1:cut].reshape(len(train), -1),
                             got[cut:].reshape(len(test), -1))
        split = principal_axes(self.x[train], self.x[test])
        if memo_key is not None and split.train.size + split.test.size <= CACHED_SPLIT_FLOATS:
            self.memo.put(memo_key, np.concatenate([[split.train.shape[1]],
                                                    split.train.ravel(), split.test.ravel()]))
        return split


class _Fits:
    """Fitted predictions for rows of ``x`` (integer positions), through ``memo`` when given.

    A fit is a pure function of its training rows, labels, test rows and C (the solver is
    deterministic), so its key is a digest of those and of the model recipe: a rebuild
    whose labels and hidden states did not change reads every prediction back, bit for
    bit, instead of refitting. The C values a memo lacks are fitted together."""

    def __init__(self, bases: SplitBases, memo: FitMemo | None, stats: dict | None = None):
        self.bases, self.memo, self.stats = bases, memo, stats if stats is not None else {}

    def _key(self, train_rows, y_train, test_rows, c: float) -> str:
        import hashlib

        digest = hashlib.sha256(self.bases.digest)
        if len(train_rows) >= self.bases.x.shape[1]:  # scikit-learn fits it (:func:`_fit_rows`)
            import sklearn

            digest.update(f"sklearn {sklearn.__version__}".encode())
        for part in (np.asarray(train_rows, dtype=np.int64), np.asarray(y_train, dtype=float),
                     np.asarray(test_rows, dtype=np.int64), np.array([c], dtype=float)):
            digest.update(part.tobytes() + b"|")
        return digest.hexdigest()

    def __call__(self, train_rows, y_train, test_rows, cs) -> np.ndarray:
        """P(1) of the test rows, one column per C of ``cs``."""
        out = np.empty((len(test_rows), len(cs)))
        keys = [None if self.memo is None else self._key(train_rows, y_train, test_rows, c)
                for c in cs]
        missing = []
        for i, key in enumerate(keys):
            got = self.memo.get(key) if key is not None else None
            if got is not None and len(got) == len(test_rows):
                out[:, i] = got
                self._count("probe_fits_from_cache")
            else:
                missing.append(i)
        if missing:
            out[:, missing] = _fit_rows(self.bases, train_rows, y_train, test_rows,
                                        [cs[i] for i in missing])
            for i in missing:
                if keys[i] is not None:
                    self.memo.put(keys[i], out[:, i].copy())
                    self._count("probe_fits_computed")
        return out

    def _count(self, what: str) -> None:
        self.stats[what] = self.stats.get(what, 0) + 1


def choose_c(x: np.ndarray, y: np.ndarray, c_grid, inner_folds: int, seed: int,
             fit=None) -> float:
    """The C of ``c_grid`` with the lowest mean inner-CV log-loss on (x, y) alone; ties and
    degenerate inner splits (one class) fall to the smaller C. ``fit(train rows, labels, test
    rows, Cs)`` (positions into x; one column per C) replaces a plain fit on ``x`` (a memo
    and shared bases, see :class:`_Fits`)."""
    if fit is None:
        fit = _Fits(SplitBases(np.asarray(x, dtype=np.float64)), None)
    grid = sorted(float(c) for c in c_grid)
    if len(grid) == 1 or len(y) < 2 * inner_folds:
        return grid[len(grid) // 2]
    fold = assign_folds(np.arange(len(y)), inner_folds, seed + 1)
    losses = np.zeros(len(grid))
    used = 0
    for k in range(inner_folds):
        train, test = fold != k, fold == k
        if len(np.unique(y[train])) < 2:
            continue
        used += 1
        p = np.clip(fit(np.flatnonzero(train), y[train], np.flatnonzero(test), grid),
                    1e-12, 1 - 1e-12)
        truth = y[test][:, None]
        losses += -np.mean(truth * np.log(p) + (1 - truth) * np.log(1 - p), axis=0)
    if used == 0:
        return grid[len(grid) // 2]
    return grid[int(np.argmin(losses))]  # argmin takes the first, i.e. the smallest C


def cross_fit(
    features: np.ndarray,
    target: np.ndarray,
    ids,
    *,
    folds: int = 5,
    inner_folds: int = 3,
    seed: int = 0,
    c_grid=C_GRID,
    binarize_at_training_median: bool = False,
    memo: FitMemo | None = None,
    stats: dict | None = None,
    bases: SplitBases | None = None,
) -> CrossFit:
    """Out-of-fold P(target) for every row of ``features`` (rows = questions, ids their ids).

    ``target``: 0/1 (NaN = unlabelled: scored, never trained on), or with
    ``binarize_at_training_median`` a real value (semantic entropy) cut per outer fold at the
    median of that fold's training rows (1 = strictly above). ``memo``: fitted predictions
    kept between builds (:class:`_Fits`); ``stats`` counts fits computed and read back;
    ``bases``: :class:`SplitBases` of these same ``features``, shared with other targets.
    """
    x = np.asarray(features, dtype=np.float64)
    if bases is None:
        bases = SplitBases(x, memo)
    elif bases.x is not x and (bases.x.shape != x.shape or not np.array_equal(bases.x, x)):
        raise ValueError("cross_fit: bases were computed from other features")
    fits = _Fits(bases, memo, stats)
    t = np.asarray(target, dtype=np.float64)
    fold = assign_folds(ids, folds, seed)
    prob = np.full(len(x), np.nan)
    chosen, notes = [], []
    for k in range(folds):
        test = fold == k
        train = ~test & ~np.isnan(t)
        if not test.any():
            chosen.append(float("nan"))
            continue
        y = t[train]
        if binarize_at_training_median and len(y):
            y = (y > np.median(y)).astype(float)
        if len(y) == 0:
            chosen.append(float("nan"))
            notes.append(f"fold {k}: no labelled training question, scores undefined")
            continue
        if len(np.unique(y)) < 2:
            prob[test] = float(y[0])
            chosen.append(float("nan"))
            notes.append(f"fold {k}: training labels of one class only; predicts {y[0]:g}")
            continue
        rows = np.flatnonzero(train)
        c = choose_c(x[train], y, c_grid, inner_folds, seed,
                     fit=lambda tr, y_tr, te, cs, rows=rows: fits(rows[tr], y_tr, rows[te], cs))
        chosen.append(c)
        prob[test] = fits(rows, y, np.flatnonzero(test), [c])[:, 0]
    return CrossFit(prob, fold, tuple(chosen), tuple(notes))


def stack_vectors(vectors: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(matrix of the vectors of the most common length, boolean mask of the rows used)."""
    lengths = np.array([0 if v is None or isinstance(v, float) else len(v) for v in vectors])
    if not (lengths > 0).any():
        return np.zeros((0, 0)), lengths > 0
    common = np.bincount(lengths[lengths > 0]).argmax()  # most common length, smallest on ties
    ok = lengths == common
    return np.stack([np.asarray(v, dtype=np.float64) for v in vectors[ok]]), ok


def judged_hidden_states(hidden: pd.DataFrame, judged: pd.DataFrame) -> pd.DataFrame:
    """``question_id, hidden_state`` of each question's judged (greedy) answer.

    ``hidden``: ``question_id, sample_id, hidden_state``; ``judged``: ``question_id,
    sample_id`` of each question's judged answer."""
    rows = judged[["question_id", "sample_id"]].merge(
        hidden[["question_id", "sample_id", "hidden_state"]], on=["question_id", "sample_id"],
        how="inner")
    return rows[["question_id", "hidden_state"]].reset_index(drop=True)


@dataclass
class RunProbes:
    """What :func:`score_run` gives the build: ``scores`` rows (``question_id, rule, method,
    uncertainty, params``), manifest ``method_info`` entries and ``skipped`` reasons."""

    scores: pd.DataFrame
    info: dict
    skipped: dict


SCORE_COLUMNS = ["question_id", "rule", "method", "uncertainty", "params"]


def score_run(
    judged_states: pd.DataFrame,
    question_ids,
    rules,
    *,
    labels: pd.Series | None,
    judge: str | None,
    scores: pd.DataFrame,
    methods=tuple(SUPERVISED),
    params: Mapping[str, Mapping] | None = None,
    memo: FitMemo | None = None,
    stats: dict | None = None,
) -> RunProbes:
    """Cross-fitted scores of the supervised ``methods`` for every question under every rule.

    ``judged_states``: :func:`judged_hidden_states`; ``labels``: ``correct`` (bool) of the
    judged answers under ``judge``, indexed by question id; ``scores``: the run's
    unsupervised scores (``question_id, rule, method, uncertainty``), the semantic entropy
    probe's target. A method that cannot be fitted is in ``skipped`` with the reason.
    ``memo``/``stats``: see :func:`cross_fit`.
    """
    import json

    question_ids = list(question_ids)
    frames, info, skipped = [], {}, {}
    x, ok = stack_vectors(judged_states["hidden_state"]) if len(judged_states) else (None, None)
    bases = SplitBases(x, memo) if x is not None else None  # both probes, every rule
    for method_id in methods:
        method = SUPERVISED[method_id]
        p = {**dict(method.defaults), **dict((params or {}).get(method_id, {}))}
        if x is None or len(x) < 2 * int(p["folds"]):
            skipped[method_id] = NO_HIDDEN_STATES if x is None or not len(x) else (
                f"needs hidden states for at least {2 * int(p['folds'])} questions "
                f"({p['folds']} folds); this data has {len(x)}")
            continue
        ids = judged_states["question_id"].to_numpy()[ok]
        if method.target == "incorrect":
            result = _incorrectness_probe(x, ids, labels, judge, p, method_id, memo, stats,
                                          bases)
        else:
            result = _entropy_probe(x, ids, scores, rules, p, memo, stats, bases)
        if isinstance(result, str):
            skipped[method_id] = result
            continue
        per_rule, extra = result
        for rule in rules:
            values = per_rule.get(rule, per_rule.get(None))
            frames.append(pd.DataFrame({
                "question_id": question_ids, "rule": rule, "method": method_id,
                "uncertainty": [values.get(q, np.nan) for q in question_ids],
                "params": json.dumps({**p, **{k: v for k, v in extra.items()
                                               if k in ("judge", "target_method")}},
                                     sort_keys=True)}))
        info[method_id] = {"label": method.label, "citation": method.citation,
                           "description": method.description, "flipped": False,
                           "supervised": True, "target": method.target, "needs": ["hidden_state"],
                           "params": p, **extra}
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SCORE_COLUMNS)
    return RunProbes(out[SCORE_COLUMNS], info, skipped)


def _incorrectness_probe(x, ids, labels, judge, p, method_id, memo=None, stats=None,
                         bases=None):
    if labels is None or judge is None or labels.empty:
        return f"{method_id} needs judged labels; this run has no judge labels"
    incorrect = (~labels.astype(bool)).astype(float).reindex(ids).to_numpy(dtype=float)
    fit = cross_fit(x, incorrect, ids, folds=int(p["folds"]), inner_folds=int(p["inner_folds"]),
                    seed=int(p["seed"]), c_grid=p["c_grid"], memo=memo, stats=stats,
                    bases=bases)
    values = dict(zip(ids, fit.probability.tolist(), strict=True))
    extra = {"judge": judge, "trained_questions": int(np.sum(~np.isnan(incorrect))),
             "chosen_c": list(fit.chosen_c), "notes": list(fit.notes)}
    return {None: values}, extra


def _entropy_probe(x, ids, scores, rules, p, memo=None, stats=None, bases=None):
    have = set(scores["method"]) if len(scores) else set()
    target = next((m for m in SE_TARGETS if m in have), None)
    if target is None:
        return "semantic_entropy_probe needs semantic entropy scores (samples and clusters)"
    per_rule, chosen, notes = {}, {}, []
    for rule in rules:
        se = scores[(scores["method"] == target) & (scores["rule"] == rule)]
        se = se.set_index("question_id")["uncertainty"].astype(float)
        fit = cross_fit(x, se.reindex(ids).to_numpy(dtype=float), ids,
                        folds=int(p["folds"]), inner_folds=int(p["inner_folds"]),
                        seed=int(p["seed"]), c_grid=p["c_grid"],
                        binarize_at_training_median=True, memo=memo, stats=stats,
                        bases=bases)
        per_rule[rule] = dict(zip(ids, fit.probability.tolist(), strict=True))
        chosen[rule] = list(fit.chosen_c)
        notes += [f"{rule}: {n}" for n in fit.notes]
    extra = {"target_method": target, "split": "median of the training folds (high = above)",
             "chosen_c": chosen, "notes": notes}
    return per_rule, extra
