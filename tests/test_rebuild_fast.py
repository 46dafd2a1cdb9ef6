"""The faster rebuild gives what the slower code gave: graph methods scored a stack of
questions at a time, grouped sums, scipy's compiled linkage, per-question row slices, and
supervised probe fits read back from the content cache instead of refitted."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.linalg import expm

from uqlens.core.methods import REGISTRY, QuestionView
from uqlens.core.methods.supervised import cross_fit

GRAPH = ["eigv", "deg", "ecc", "kernel_language_entropy"]


def random_matrices(rng, k, m):
    e = rng.random((k, m, m))
    c = rng.random((k, m, m)) * (1 - e)
    e[rng.random(e.shape) < 0.2] = 1.0  # saturated probabilities and exact ties
    c[rng.random(c.shape) < 0.2] = 0.0
    e[:, np.arange(m), np.arange(m)] = 1.0
    c[:, np.arange(m), np.arange(m)] = 0.0
    return e, c


PARAMS = {
    "eigv": [{}, {"affinity": "entail", "temperature": 1.0}, {"temperature": 0.5}],
    "deg": [{}, {"affinity": "entail", "temperature": 1.0}, {"temperature": 0.5}],
    "ecc": [{}, {"affinity": "entail"}, {"eigv_threshold": 0.5}],
    "kernel_language_entropy": [{}, {"affinity": "contra", "t": 0.7}, {"scale": True}],
}


@pytest.mark.parametrize("m", [2, 3, 5, 10, 11, 20])
@pytest.mark.parametrize("method", GRAPH)
def test_stacked_graph_scores_equal_one_view_at_a_time(method, m):
    rng = np.random.default_rng(m)
    e, c = random_matrices(rng, 60, m)
    views = [QuestionView("q", "?", tuple("x" * m), entail=e[i], contradict=c[i])
             for i in range(len(e))]
    meth = REGISTRY[method]
    for params in PARAMS[method]:
        kwargs = {**meth.defaults, **params}
        one = np.array([meth.score(v, **kwargs) for v in views])
        got = meth.stack(e, c, **kwargs)
        assert np.isfinite(one).all()
        assert np.array_equal(got, one), (params, np.abs(got - one).max())


def two_sample_stack(contradictions):
    """Two answers per question that never entail each other, contradicting with c."""
    k = len(contradictions)
    e = np.tile(np.eye(2), (k, 1, 1))
    c = np.array([[[0.0, x], [x, 0.0]] for x in contradictions])
    return e, c


def test_stacked_graph_scores_worked_out_by_hand():
    # W = [[1, 1 - c], [1 - c, 1]] (contra affinity, untempered), degrees 2 - c:
    # Laplacian eigenvalues 0 and (2 - 2c)/(2 - c); Deg = 1 - mean(W) = c / 2.
    e, c = two_sample_stack([0.5, 0.0])
    params = {"affinity": "contra", "temperature": 1.0}
    np.testing.assert_allclose(REGISTRY["deg"].stack(e, c, **params), [0.25, 0.0])
    # EigV = 1 + max(0, 1 - (2 - 2c)/(2 - c)) = 1 + c / (2 - c)
    np.testing.assert_allclose(REGISTRY["eigv"].stack(e, c, **params), [4 / 3, 1.0])
    # Ecc keeps eigenvectors below 0.9: c = 0.5 keeps (1, -1)/√2 too (eigenvalue 2/3),
    # whose centred norm is 1; c = 0 keeps only the constant one (centred: 0).
    np.testing.assert_allclose(REGISTRY["ecc"].stack(e, c, **params), [1.0, 0.0],
                               atol=1e-12)


def test_stacked_kernel_language_entropy_worked_out_by_hand():
    # Two answers entailing each other fully: w = 2 off the diagonal, L = [[2, -2], [-2, 2]]
    # (eigenvalues 0, 4); the unit-trace heat kernel has eigenvalues 1/(1+a), a/(1+a) with
    # a = exp(-4t).
    e = np.ones((1, 2, 2))
    c = np.zeros((1, 2, 2))
    t = 0.3
    a = math.exp(-4 * t)
    lam = np.array([1 / (1 + a), a / (1 + a)])
    want = -(lam * np.log(lam)).sum()
    got = REGISTRY["kernel_language_entropy"].stack(e, c, t=t)
    assert got[0] == pytest.approx(want, abs=1e-12)
    k = expm(-t * np.array([[2.0, -2.0], [-2.0, 2.0]]))  # the definition, once more
    assert k[0, 0] == pytest.approx((1 + a) / 2, abs=1e-12)


def test_jaccard_has_no_stacked_form():
    e, c = two_sample_stack([0.5])
    with pytest.raises(ValueError, match="jaccard"):
        REGISTRY["eigv"].stack(e, c, affinity="jaccard", temperature=1.0)


def test_segment_sums_equal_numpy_sums_of_each_segment():
    from uqlens.core.methods._grouped import segment_sums

    rng = np.random.default_rng(0)
    sizes = rng.choice([0, 1, 2, 7, 8, 9, 10, 11, 127, 128, 129, 300], size=800)
    start = np.r_[0, np.cumsum(sizes)]
    values = rng.standard_normal(start[-1]) * np.exp(5 * rng.standard_normal(start[-1]))
    want = np.array([np.sum(values[a:b]) for a, b in zip(start[:-1], start[1:], strict=True)])
    assert np.array_equal(segment_sums(values, start), want)
    assert segment_sums(np.array([1.0, 2.0, 4.0]), np.array([0, 2, 2, 3])).tolist() == [
        3.0, 0.0, 4.0]


def test_compiled_linkage_equals_scipy_linkage():
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import pdist

    from uqlens.core.clustering import _compiled_linkage

    compiled = _compiled_linkage()
    assert compiled is not None  # this scipy exposes them; else the public calls are used
    cosine, link = compiled
    rng = np.random.default_rng(1)
    for _ in range(300):
        n, d = int(rng.integers(2, 20)), int(rng.integers(1, 17))
        x = rng.standard_normal((n, d))
        x[-1] = x[0]  # a tie at distance 0
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        want = np.clip(pdist(x, "cosine"), 0.0, 2.0)
        got = np.empty(n * (n - 1) // 2)
        cosine(x, got)
        assert np.array_equal(np.clip(got, 0.0, 2.0), want)
        for method in ("single", "complete", "average", "weighted", "centroid", "ward"):
            assert np.array_equal(link(want, n, method), linkage(want, method=method))


def test_embedding_rule_clusters_by_hand():
    from uqlens.core import clustering

    # two directions; cosine 1 within each, 0 across: two clusters at tau 0.9
    x = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0], [0.0, 1.0]])
    got = clustering.cluster("embedding:0.9:average", ["a", "b", "c", "d"], embeddings=x)
    assert got.tolist() == [0, 1, 0, 1]


def test_question_rows_equal_groupby():
    from uqlens.build.stages import QuestionRows

    frame = pd.DataFrame({"question_id": ["a", "a", "b", "c", "c", "c"],
                          "text": ["x", "y", "x", "z", "z", "w"]})
    rows = QuestionRows(frame)
    assert list(rows) == ["a", "b", "c"] and len(rows) == 3
    assert rows["c"]["text"].tolist() == ["z", "z", "w"]
    assert {k: v.tolist() for k, v in rows.column("text").items()} == {
        "a": ["x", "y"], "b": ["x"], "c": ["z", "z", "w"]}
    scattered = frame.iloc[[0, 2, 1, 3]].reset_index(drop=True)  # "a" in two blocks
    rows = QuestionRows(scattered)
    assert list(rows) == ["a", "b", "c"]
    assert rows.column("text")["a"].tolist() == ["x", "y"]


class DictMemo:
    """A fake of the content cache's array memo, in a dict (counts its reads)."""

    def __init__(self):
        self.store, self.hits = {}, 0

    def get(self, key):
        got = self.store.get(key)
        self.hits += got is not None
        return got

    def put(self, key, values):
        self.store[key] = np.array(values, dtype=np.float64)


def probe_data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    y = (rng.random(n) < 1 / (1 + np.exp(-2 * x[:, 0]))).astype(float)
    return x, y, np.array([f"q{i:03d}" for i in range(n)])


def test_probe_fits_are_read_back_when_nothing_changed():
    x, y, ids = probe_data()
    plain = cross_fit(x, y, ids, folds=5, seed=0)
    memo, first, second = DictMemo(), {}, {}
    a = cross_fit(x, y, ids, folds=5, seed=0, memo=memo, stats=first)
    b = cross_fit(x, y, ids, folds=5, seed=0, memo=memo, stats=second)
    # 5 outer folds × (5 C values × 3 inner folds + 1 final fit)
    assert first == {"probe_fits_computed": 80}
    assert second == {"probe_fits_from_cache": 80}
    assert np.array_equal(a.probability, plain.probability)
    assert np.array_equal(b.probability, plain.probability) and b.chosen_c == plain.chosen_c


def test_a_changed_label_refits_only_the_folds_that_train_on_it():
    x, y, ids = probe_data()
    memo = DictMemo()
    cross_fit(x, y, ids, folds=5, seed=0, memo=memo)
    flipped = y.copy()
    flipped[7] = 1 - flipped[7]
    stats = {}
    got = cross_fit(x, flipped, ids, folds=5, seed=0, memo=memo, stats=stats)
    # question 7's own outer fold never trains on it: its 16 fits are read back. In each of
    # the four other folds it sits in the test part of one of the 3 inner splits, whose 5
    # fits (one per C) are read back too; the other 2 × 5 inner fits and the final fit are
    # refitted: 16 + 4 × 5 = 36 read, 4 × 11 = 44 refitted.
    assert stats == {"probe_fits_computed": 44, "probe_fits_from_cache": 36}
    assert np.array_equal(got.probability,
                          cross_fit(x, flipped, ids, folds=5, seed=0).probability)
    other = cross_fit(x * 2.0, y, ids, folds=5, seed=0, memo=memo, stats=(s := {}))
    assert s == {"probe_fits_computed": 80} and len(other.probability) == len(y)


def write_input(path, n=30):
    """Questions with their own answer vectors (no model) and greedy hidden states."""
    rng = np.random.default_rng(0)
    with open(path, "w") as f:
        for i in range(n):
            right = i % 2 == 0
            hidden = rng.normal(scale=0.3, size=4)
            hidden[0] += 1.0 if right else -1.0
            words = ["blue", "red", "green"]
            vec = {w: np.round(rng.normal(size=3), 4).tolist() for w in words}
            greedy = {"text": "blue" if right else "red", "logprob_sum": -0.5,
                      "num_tokens": 1, "hidden_state": hidden.round(4).tolist(),
                      "embedding": vec["blue" if right else "red"]}
            # one, two or three different words: three levels of semantic entropy, so that
            # its probe (cut at the training median) has two classes to learn
            said = [[words[i % 3]] * 4, [words[(i + k % 2) % 3] for k in range(4)],
                    [words[(i + k) % 3] for k in range(4)]][i % 3]
            samples = [{"text": w, "logprob_sum": -1.0 - 0.1 * k, "num_tokens": 1,
                        "embedding": vec[w]} for k, w in enumerate(said)]
            f.write(json.dumps({"question_id": f"q{i:02d}", "question": f"Colour {i}?",
                                "references": ["blue"], "greedy": greedy,
                                "samples": samples}) + "\n")


def test_a_rebuild_reads_unchanged_probe_fits_and_equals_a_cold_build(tmp_path):
    from uqlens.build.pipeline import BuildConfig, build
    from uqlens.run.folder import load_run

    write_input(tmp_path / "in.jsonl")

    def config(tau):
        return BuildConfig(embedder="provided", projection="pca", judges=("exact_match",),
                           rules=("exact", f"threshold:{tau}@cosine"))

    def run(name, tau, cache):
        manifest = build(tmp_path / "in.jsonl", tmp_path / name, config(tau),
                         cache_dir=tmp_path / cache, progress=False, log=lambda _: None)
        return manifest, load_run(tmp_path / name).scores.sort_values(
            ["rule", "method", "question_id"]).reset_index(drop=True)

    first, _ = run("cold", 0.9, "cache")
    assert first["counts"]["probe_fits_computed"] > 0  # (two rules may share a fit)
    again, warm = run("warm", 0.5, "cache")  # another threshold, same cache
    _, cold = run("fresh", 0.5, "other-cache")  # the same settings, nothing cached
    counts = again["counts"]
    # the hidden-state probe (same labels) and the exact rule's entropy probe are read back
    assert counts["probe_fits_from_cache"] >= 2 * 80
    assert "read from the cache" in again["stages"]["supervised"]
    pd.testing.assert_frame_equal(warm, cold)


def test_clean_numeric_columns_are_read_as_they_are_and_still_range_checked():
    from uqlens.data.schema import DataError, _clean_fields, _rows, normalise

    q = pd.DataFrame({"question_id": ["q1"], "question": ["Which?"], "references": [["a"]]},
                     dtype=object)
    g = pd.DataFrame({"question_id": ["q1"] * 4, "text": ["a", "b", "c", "d"],
                      "temperature": [1.0, -0.5, None, 0.7],
                      "p_true": [None, None, 1.5, 0.2],
                      "logprob_sum": [-1.0, -2.0, 0.5, -0.25],
                      "num_tokens": [1, 2, 3, 4],
                      "provided_cluster": [0, None, 1, True]}, dtype=object)
    clean = _clean_fields(_rows(g, tuple(g.columns)))
    # every value finite / whole: no per-record conversion; a boolean among the cluster
    # ids is not a whole number, so that column goes through the per-record checks
    assert {"temperature", "p_true", "logprob_sum", "num_tokens"} <= clean
    assert "provided_cluster" not in clean
    with pytest.raises(DataError) as info:
        normalise(q, g, source="mem")
    got = {(e.record, e.field) for e in info.value.errors}
    assert got == {("generations row 2", "temperature"), ("generations row 3", "p_true"),
                   ("generations row 3", "logprob_sum"),
                   ("generations row 4", "provided_cluster")}
    ok = normalise(q, g.iloc[[0, 3]][["question_id", "text", "temperature", "logprob_sum",
                                      "num_tokens"]].reset_index(drop=True), source="mem")
    gens = ok.generations
    assert gens["temperature"].tolist() == [1.0, 0.7]
    assert gens["logprob_sum"].tolist() == [-1.0, -0.25]
    assert gens["num_tokens"].tolist() == [1, 4]
