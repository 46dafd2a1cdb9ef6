"""uqlens build on the hand-made fixture, with the real embedding model.

Expected values are worked out by hand from tests/fixtures/tiny_generations.jsonl.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from uqlens.build import pairs as build_pairs
from uqlens.build import pipeline
from uqlens.build.pipeline import BuildConfig, build
from uqlens.run.folder import find_runs, load_run

FIXTURE = "tests/fixtures/tiny_generations.jsonl"
pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def run(tmp_path_factory, cache_dir):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    build(FIXTURE, out, BuildConfig(projection="pca"), cache_dir=cache_dir, progress=False,
          log=lambda _: None)
    return load_run(out)


def score(run, qid, method, rule="exact"):
    s = run.scores
    row = s[(s.question_id == qid) & (s.method == method) & (s.rule == rule)]
    assert len(row) == 1
    return float(row.uncertainty.iloc[0])


def test_counts_and_tables(run):
    counts = run.manifest["counts"]
    assert counts["questions"] == 6
    assert counts["samples"] == 36  # 6 × (5 samples + 1 greedy)
    assert len(run.generations) == 36
    assert len(run.projection) == 36
    assert np.isfinite(run.projection[["x", "y"]].to_numpy()).all()
    assert set(run.rules) == set(pipeline.DEFAULT_RULES)
    # the greedy answer is the representative of its own cluster (it is clustered first)
    c = run.clusters
    greedy = c[(c.sample_id == "greedy")]
    assert greedy.is_representative.all()


def test_scores_match_hand_values(run):
    # cap-fr, exact rule: Paris ×4, London ×1 among the samples.
    dse = -(0.8 * math.log(0.8) + 0.2 * math.log(0.2))
    assert score(run, "cap-fr", "discrete_semantic_entropy") == pytest.approx(dse)
    assert score(run, "cap-fr", "num_semantic_sets") == 2
    assert score(run, "cap-fr", "self_consistency") == pytest.approx(1 - 4 / 5)
    # semantic entropy, length-normalised (every answer is one token here):
    # Paris mass = log(3e^-0.2 + e^-0.3), London = -2.5, normalised over both.
    paris = math.log(3 * math.exp(-0.2) + math.exp(-0.3))
    total = math.log(math.exp(paris) + math.exp(-2.5))
    lp = [paris - total, -2.5 - total]
    se = -sum(math.exp(x) * x for x in lp)
    assert score(run, "cap-fr", "semantic_entropy") == pytest.approx(se, rel=1e-6)
    assert score(run, "cap-fr", "p_true") == pytest.approx(1 - 0.92)
    assert score(run, "cap-fr", "max_sequence_prob") == pytest.approx(0.1)
    # cap-au: every sample says Sydney → a confident (and wrong) answer.
    assert score(run, "cap-au", "discrete_semantic_entropy") == 0.0
    assert score(run, "cap-au", "num_semantic_sets") == 1


def test_methods_scored_under_every_rule(run):
    s = run.scores
    per_rule = s.groupby("rule").size()
    assert set(per_rule.index) == set(run.rules)
    assert per_rule.nunique() == 1  # same number of rows under each rule
    assert "verbalized_confidence" in run.manifest["skipped_methods"]


def test_correctness_of_judged_answers(run):
    c = run.correctness
    judged = c[(c.sample_id == "greedy") & (c.judge == "squad_f1")].set_index("question_id")
    assert judged.label.to_dict() == {
        "cap-fr": True,
        "cap-au": False,  # Sydney, reference Canberra
        "author-hamlet": True,
        "element-au": False,  # Ag, reference Au
        "seeds": True,
        "xss": False,
    }
    assert set(c.provenance) == {"heuristic", "embedding"}


def test_untrusted_text_kept_verbatim(run):
    texts = set(run.generations.text)
    assert "<script>alert(1)</script>" in texts
    assert "<img src=x onerror=alert(2)>" in texts


def test_rebuild_with_other_rule_reuses_cache(tmp_path, cache_dir, run):
    out = tmp_path / "again"
    manifest = build(
        FIXTURE, out, BuildConfig(rules=("embedding:0.8:complete",), projection="pca"),
        cache_dir=cache_dir, progress=False, log=lambda _: None,
    )
    assert manifest["counts"].get("embeddings_computed", 0) == 0
    assert manifest["counts"]["embeddings_from_cache"] > 0
    assert manifest["counts"]["pairs_computed"] == 0
    # same answer vectors, same projection parameters: the map is read, not fitted again
    assert manifest["counts"]["projection_from_cache"] == 1
    first, again = run.projection, load_run(out).projection
    assert np.array_equal(first[["x", "y"]].to_numpy(), again[["x", "y"]].to_numpy())


def test_projection_cache_is_keyed_by_vectors_and_parameters(tmp_path):
    from uqlens.backends.cache import ModelCache

    cache = ModelCache(tmp_path)
    vectors = np.arange(12, dtype=np.float32).reshape(4, 3)
    key = cache.projection_key(vectors, {"method": "umap", "seed": 0})
    assert cache.get_projection(key) is None
    cache.put_projection(key, np.ones((4, 2)))
    assert np.array_equal(cache.get_projection(key), np.ones((4, 2)))
    # another seed, or one changed vector, is another projection
    assert cache.projection_key(vectors, {"method": "umap", "seed": 1}) != key
    moved = vectors.copy()
    moved[0, 0] = 0.5
    assert cache.projection_key(moved, {"method": "umap", "seed": 0}) != key
    cache.close()


class FakeEntailment:
    """A fake NLI backend that counts calls: entailment iff the first letters match."""

    symmetric = False
    calls: list = []

    def predict(self, question, pairs):
        FakeEntailment.calls.extend(pairs)
        return np.array([(0.9, 0.05, 0.05) if a[:1] == b[:1] else (0.05, 0.05, 0.9)
                         for a, b in pairs])


def test_entailment_pairs_are_cached_across_builds(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setattr(build_pairs, "_make_backend", lambda spec, e, c, **kw: FakeEntailment())
    FakeEntailment.calls = []
    config = BuildConfig(rules=("strict@nli",), entailment=("nli:fake",), projection="pca")
    first = build(FIXTURE, tmp_path / "a", config, cache_dir=tmp_path / "c", progress=False,
                  log=lambda _: None)
    computed = first["counts"]["pairs_computed"]
    assert computed == len(FakeEntailment.calls) > 0
    assert len(set(FakeEntailment.calls)) == len(FakeEntailment.calls)  # never twice
    second = build(
        FIXTURE, tmp_path / "b",
        BuildConfig(rules=("threshold:0.5@nli", "lenient@nli"), entailment=("nli:fake",),
                    projection="pca"),
        cache_dir=tmp_path / "c", progress=False, log=lambda _: None,
    )
    assert second["counts"]["pairs_computed"] == 0
    assert len(FakeEntailment.calls) == computed
    pairs = load_run(tmp_path / "b").pairs
    assert set(pairs.backend) == {"nli"}
    assert ((pairs.p_entail >= 0) & (pairs.p_entail <= 1)).all()


def test_failed_build_keeps_previous_run(tmp_path, cache_dir, monkeypatch):
    out = tmp_path / "run"
    build(FIXTURE, out, BuildConfig(projection="pca"), cache_dir=cache_dir, progress=False,
          log=lambda _: None)
    before = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def boom(*args, **kwargs):
        raise RuntimeError("killed while writing")

    monkeypatch.setattr(pipeline.pd.DataFrame, "to_parquet", boom)
    with pytest.raises(RuntimeError):
        build(FIXTURE, out, BuildConfig(projection="pca", name="second"), cache_dir=cache_dir,
              progress=False, log=lambda _: None)
    after = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert json.loads(after["manifest.json"])["name"] == "run"
    assert find_runs(tmp_path) == [out]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_unknown_backend_is_a_clear_error(tmp_path, cache_dir):
    with pytest.raises(pipeline.BuildError, match="no backend 'llm'"):
        build(FIXTURE, tmp_path / "x", BuildConfig(rules=("strict@llm",)), cache_dir=cache_dir,
              progress=False, log=lambda _: None)


def test_embeddings_stored_once_per_text_and_expanded_per_sample(run):
    assert (run.path / "text_embeddings.parquet").exists()
    emb = run.embeddings
    assert len(emb) == 36
    vectors = np.stack(emb.embedding.to_numpy())
    assert vectors.shape == (36, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-2)  # unit norm, float16
    paris = emb.merge(run.generations, on=["question_id", "sample_id"])
    paris = paris[(paris.question_id == "cap-fr") & (paris.text == "Paris")]
    assert len(paris) == 5  # greedy + 4 samples share one stored vector
    assert all(np.array_equal(v, paris.embedding.iloc[0]) for v in paris.embedding)
