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


def _model(c: float):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(),
                         LogisticRegression(C=c, class_weight="balanced", max_iter=2000))


def _fit_predict(x_train, y_train, x_test, c: float) -> np.ndarray:
    model = _model(c).fit(x_train, y_train)
    return model.predict_proba(x_test)[:, 1]


PROBE_RECIPE = "StandardScaler + LogisticRegression(C, class_weight=balanced, max_iter=2000)"
"""What :func:`_model` fits; part of every memo key (change it when :func:`_model` changes)."""


class FitMemo(Protocol):
    """Where fitted probes' predictions are kept between builds (the build's content cache):
    ``get(key)`` gives the stored float64 array or None, ``put(key, values)`` stores one."""

    def get(self, key: str) -> np.ndarray | None: ...

    def put(self, key: str, values: np.ndarray) -> None: ...


class _Fits:
    """:func:`_fit_predict` on rows of ``x`` (integer positions), through ``memo`` when given.

    A fit is a pure function of its training rows, labels, test rows and C (the solver is
    deterministic), so its key is a digest of those and of the model recipe with the
    scikit-learn version: a rebuild whose labels and hidden states did not change reads
    every prediction back, bit for bit, instead of refitting."""

    def __init__(self, x: np.ndarray, memo: FitMemo | None, stats: dict | None = None):
        import hashlib

        self.x, self.memo, self.stats = x, memo, stats if stats is not None else {}
        self._base = None
        if memo is not None:
            import sklearn

            digest = hashlib.sha256(f"{PROBE_RECIPE} sklearn {sklearn.__version__} "
                                    f"{x.dtype} {x.shape}".encode())
            digest.update(np.ascontiguousarray(x).tobytes())
            self._base = digest.digest()

    def __call__(self, train_rows, y_train, test_rows, c: float) -> np.ndarray:
        if self.memo is None:
            return _fit_predict(self.x[train_rows], y_train, self.x[test_rows], c)
        import hashlib

        digest = hashlib.sha256(self._base)
        for part in (np.asarray(train_rows, dtype=np.int64), np.asarray(y_train, dtype=float),
                     np.asarray(test_rows, dtype=np.int64), np.array([c], dtype=float)):
            digest.update(part.tobytes() + b"|")
        key = digest.hexdigest()
        got = self.memo.get(key)
        if got is not None and len(got) == len(test_rows):
            self.stats["probe_fits_from_cache"] = self.stats.get("probe_fits_from_cache", 0) + 1
            return got
        got = _fit_predict(self.x[train_rows], y_train, self.x[test_rows], c)
        self.memo.put(key, np.asarray(got, dtype=np.float64))
        self.stats["probe_fits_computed"] = self.stats.get("probe_fits_computed", 0) + 1
        return got


def choose_c(x: np.ndarray, y: np.ndarray, c_grid, inner_folds: int, seed: int,
             fit=None) -> float:
    """The C of ``c_grid`` with the lowest mean inner-CV log-loss on (x, y) alone; ties and
    degenerate inner splits (one class) fall to the smaller C. ``fit(train rows, labels, test
    rows, C)`` (positions into x) replaces :func:`_fit_predict` (a memo, see :class:`_Fits`)."""
    if fit is None:
        fit = lambda tr, y_tr, te, c: _fit_predict(x[tr], y_tr, x[te], c)  # noqa: E731
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
        for i, c in enumerate(grid):
            p = np.clip(fit(np.flatnonzero(train), y[train], np.flatnonzero(test), c),
                        1e-12, 1 - 1e-12)
            losses[i] += -np.mean(y[test] * np.log(p) + (1 - y[test]) * np.log(1 - p))
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
) -> CrossFit:
    """Out-of-fold P(target) for every row of ``features`` (rows = questions, ids their ids).

    ``target``: 0/1 (NaN = unlabelled: scored, never trained on), or with
    ``binarize_at_training_median`` a real value (semantic entropy) cut per outer fold at the
    median of that fold's training rows (1 = strictly above). ``memo``: fitted predictions
    kept between builds (:class:`_Fits`); ``stats`` counts fits computed and read back.
    """
    x = np.asarray(features, dtype=np.float64)
    fits = _Fits(x, memo, stats)
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
                     fit=lambda tr, y_tr, te, c, rows=rows: fits(rows[tr], y_tr, rows[te], c))
        chosen.append(c)
        prob[test] = fits(rows, y, np.flatnonzero(test), c)
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
            result = _incorrectness_probe(x, ids, labels, judge, p, method_id, memo, stats)
        else:
            result = _entropy_probe(x, ids, scores, rules, p, memo, stats)
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


def _incorrectness_probe(x, ids, labels, judge, p, method_id, memo=None, stats=None):
    if labels is None or judge is None or labels.empty:
        return f"{method_id} needs judged labels; this run has no judge labels"
    incorrect = (~labels.astype(bool)).astype(float).reindex(ids).to_numpy(dtype=float)
    fit = cross_fit(x, incorrect, ids, folds=int(p["folds"]), inner_folds=int(p["inner_folds"]),
                    seed=int(p["seed"]), c_grid=p["c_grid"], memo=memo, stats=stats)
    values = dict(zip(ids, fit.probability.tolist(), strict=True))
    extra = {"judge": judge, "trained_questions": int(np.sum(~np.isnan(incorrect))),
             "chosen_c": list(fit.chosen_c), "notes": list(fit.notes)}
    return {None: values}, extra


def _entropy_probe(x, ids, scores, rules, p, memo=None, stats=None):
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
                        binarize_at_training_median=True, memo=memo, stats=stats)
        per_rule[rule] = dict(zip(ids, fit.probability.tolist(), strict=True))
        chosen[rule] = list(fit.chosen_c)
        notes += [f"{rule}: {n}" for n in fit.notes]
    extra = {"target_method": target, "split": "median of the training folds (high = above)",
             "chosen_c": chosen, "notes": notes}
    return per_rule, extra
