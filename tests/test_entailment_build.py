"""The build's entailment path (issue 12): only same-text answers skip the model, the cache
follows the model's content rather than its path, pairs go in batches, stages run when needed.

The NLI models are deterministic tiny BERTs whose classifier ignores the input (weights 0,
bias +10 on one label), so every pair gets that label and expected clusters follow by hand.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from _tiny_nli import LABELS, save_tiny_nli

from uqlens.backends.cache import ModelCache
from uqlens.build import pairs as build_pairs
from uqlens.build.pipeline import BuildConfig, Stats, build
from uqlens.run.folder import load_run


def save_constant_nli(folder, label: str) -> str:
    """A tiny BERT NLI model that answers ``label`` for every pair."""
    def constant(head):
        head.weight.zero_()
        head.bias.zero_()
        head.bias[{v: k for k, v in LABELS.items()}[label]] = 10.0

    return save_tiny_nli(folder, 0, constant)


def write_questions(path, answers_by_question: dict[str, list[str]]) -> str:
    with open(path, "w", encoding="utf-8") as out:
        for n, (question, answers) in enumerate(answers_by_question.items()):
            out.write(json.dumps({
                "question_id": f"q{n}", "question": question, "references": [answers[0]],
                "samples": [{"sample_id": f"s{i}", "text": t, "temperature": 1.0}
                            for i, t in enumerate(answers)],
            }) + "\n")
    return str(path)


def clusters_of(run_dir, rule: str, qid: str = "q0") -> list[int]:
    c = load_run(run_dir).clusters
    c = c[(c.rule == rule) & (c.question_id == qid)]
    return c.sort_values("sample_id", key=lambda s: s.str[1:].astype(int)).cluster_id.tolist()


QUIET = {"progress": False, "log": lambda _: None}


@pytest.mark.model
def test_answers_equal_only_after_squad_normalisation_are_the_models_call(tmp_path):
    # Always-contradict model: every answer is its own cluster unless it is the same text up
    # to case and surrounding whitespace ("Paris"/"PARIS"). Old code merged "-5"/"5",
    # "3.14"/"314" and "The Who"/"Who" without asking (SQuAD-normalised equal).
    model = save_constant_nli(tmp_path / "contradict", "CONTRADICTION")
    data = write_questions(tmp_path / "q.jsonl", {
        "Which answers?": ["-5", "5", "3.14", "314", "The Who", "Who", "Paris", "PARIS"]})
    config = BuildConfig(rules=("strict@nli", "either@nli", "lenient@nli", "exact"),
                         entailment=(f"nli:{model}",), judges=("squad_f1",), projection="pca",
                         graph_backend="nli")
    manifest = build(data, tmp_path / "run", config, cache_dir=tmp_path / "cache", **QUIET)
    for rule in ("strict@nli", "either@nli", "lenient@nli"):
        assert clusters_of(tmp_path / "run", rule) == [0, 1, 2, 3, 4, 5, 6, 6]
    # the exact rule keeps its SQuAD normalisation, as its name says
    assert clusters_of(tmp_path / "run", "exact") == [0, 0, 1, 1, 2, 2, 3, 3]
    # nothing needed question-conditioned embeddings: the embed stage did not run
    assert manifest["stages"]["embed"].startswith("skipped")
    assert manifest["stages"]["entailment"].startswith("ran: graph pairs")
    assert not (tmp_path / "run" / "text_embeddings.parquet").exists()


@pytest.mark.model
def test_a_model_replaced_at_the_same_path_is_not_served_from_the_cache(tmp_path):
    folder = tmp_path / "nli-model"
    data = write_questions(tmp_path / "q.jsonl", {"Capital of France?": ["Paris", "Lyon",
                                                                        "Nice"]})
    config = BuildConfig(rules=("strict@nli",), entailment=(f"nli:{folder}",),
                         judges=("squad_f1",), projection="pca", graph_pairs=False)
    save_constant_nli(folder, "ENTAILMENT")
    first = build(data, tmp_path / "a", config, cache_dir=tmp_path / "cache", **QUIET)
    assert clusters_of(tmp_path / "a", "strict@nli") == [0, 0, 0]
    # strict asks (0,1),(1,0),(0,2),(2,0): all entail, everything joins answer 0
    assert first["counts"]["pairs_computed"] == 4

    shutil.rmtree(folder)
    save_constant_nli(folder, "CONTRADICTION")
    second = build(data, tmp_path / "b", config, cache_dir=tmp_path / "cache", **QUIET)
    assert clusters_of(tmp_path / "b", "strict@nli") == [0, 1, 2]
    # (0,1) and (0,2) are new for this model, (1,2) was never asked before: 3 computed
    assert second["counts"]["pairs_computed"] == 3
    assert second["entailment_backends"]["nli"] != first["entailment_backends"]["nli"]


class FakeBatchNLI:
    """Fake NLI backend: counts calls; entailment iff the answers start with the same letter."""

    symmetric = False

    def __init__(self):
        self.calls: list[list] = []

    def predict_many(self, keys):
        self.calls.append(list(keys))
        return np.array([(0.9, 0.05, 0.05) if a[:1] == b[:1] else (0.05, 0.05, 0.9)
                         for _, a, b in keys])


def test_pair_store_asks_one_batch_and_shares_unconditioned_pairs(tmp_path, monkeypatch):
    fake = FakeBatchNLI()
    monkeypatch.setattr(build_pairs, "_make_backend", lambda *a, **k: fake)
    cache = ModelCache(tmp_path)
    store = build_pairs.PairStore("nli", "nli:fake", None, cache, Stats(), condition=False)
    keys = [("Q1", "apple", "avocado"), ("Q1", "apple", "banana"), ("Q2", "apple", "avocado"),
            ("Q2", "kiwi", " KIWI")]
    got = store.get_many(keys)
    np.testing.assert_allclose(got[:, 0], [0.9, 0.05, 0.9, 1.0])
    # one model call; the question is not used, so Q1's and Q2's (apple, avocado) are one
    # row; " KIWI" is the same text as "kiwi" and needs no model
    assert fake.calls == [[("", "apple", "avocado"), ("", "apple", "banana")]]
    # a fresh store (new build) finds them in the cache, for any question
    again = build_pairs.PairStore("nli", "nli:fake", None, cache, Stats(), condition=False)
    np.testing.assert_allclose(again.get_many([("Q3", "apple", "banana")])[:, 0], [0.05])
    assert len(fake.calls) == 1


def test_conditioned_pairs_are_keyed_by_question(tmp_path, monkeypatch):
    fake = FakeBatchNLI()
    monkeypatch.setattr(build_pairs, "_make_backend", lambda *a, **k: fake)
    store = build_pairs.PairStore("nli", "nli:fake", None, ModelCache(tmp_path), Stats(),
                                  condition=True)
    store.get_many([("Q1", "apple", "avocado"), ("Q2", "apple", "avocado")])
    assert fake.calls == [[("Q1", "apple", "avocado"), ("Q2", "apple", "avocado")]]


def test_cache_reads_and_writes_by_set(tmp_path):
    cache = ModelCache(tmp_path)
    keys = [("Q", f"a{i}", f"b{i}") for i in range(1000)]
    probs = np.tile([0.7, 0.2, 0.1], (1000, 1))
    cache.put_pairs_many("be", keys, probs)
    found = cache.get_pairs_many("be", keys[:10] + [("Q", "x", "y")])
    assert set(found) == set(keys[:10])
    assert found[("Q", "a3", "b3")] == pytest.approx((0.7, 0.2, 0.1))
    assert cache.get_pairs_many("other", keys[:10]) == {}
    assert cache.get_pairs("be", "Q", [("a1", "b1")]) == {("a1", "b1"): pytest.approx(
        (0.7, 0.2, 0.1))}


def test_batch_size_must_be_a_positive_integer(tmp_path):
    with pytest.raises(ValueError, match="batch_size"):
        build("tests/fixtures/tiny_generations.jsonl", tmp_path / "r",
              BuildConfig(batch_size=0), cache_dir=tmp_path / "c", **QUIET)


@pytest.mark.model
def test_seeding_the_cache_from_a_run_makes_its_rebuild_call_no_model(tmp_path):
    from uqlens.build.seed import seed_cache

    entail = save_constant_nli(tmp_path / "entail", "ENTAILMENT")
    data = write_questions(tmp_path / "q.jsonl", {"Capital?": ["Paris", "Lyon", "Nice"],
                                                  "River?": ["Seine", "Loire"]})
    config = BuildConfig(rules=("strict@nli",), entailment=(f"nli:{entail}",),
                         judges=("squad_f1",), projection="pca", graph_backend="nli")
    first = build(data, tmp_path / "run", config, cache_dir=tmp_path / "a", **QUIET)
    computed = first["counts"]["pairs_computed[nli]"]
    assert computed > 0
    # a fresh cache seeded from the run: the rebuild asks the model nothing
    seeded = seed_cache(load_run(tmp_path / "run"), cache_dir=tmp_path / "b", log=lambda _: None)
    assert seeded == {"nli": len(load_run(tmp_path / "run").pairs.query("backend == 'nli'"))}
    again = build(data, tmp_path / "run2", config, cache_dir=tmp_path / "b", **QUIET)
    assert again["counts"]["pairs_computed[nli]"] == 0
    assert again["counts"]["pairs_from_cache[nli]"] == computed
    # another model at the same path has another fingerprint: nothing is seeded for it
    shutil.rmtree(entail)
    save_constant_nli(tmp_path / "entail", "CONTRADICTION")
    notes = []
    assert seed_cache(load_run(tmp_path / "run"), cache_dir=tmp_path / "c", log=notes.append) == {}
    assert "not the model that built this run" in notes[0]
