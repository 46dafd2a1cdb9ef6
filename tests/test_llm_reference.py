"""The LLM correctness judge ``llm_reference@ALIAS``: prompt assembly, content-keyed caching
and the build's judge stage, around a fake model (no LLM is loaded here)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from uqlens.backends import llm_reference as ref
from uqlens.backends.cache import ModelCache


class FakeChoiceModel:
    """A fake model: P(Yes) = 0.9 when the proposed answer is "Paris", else 0.2. Records
    every batch of prompts it is asked."""

    def __init__(self):
        self.batches: list[list[str]] = []

    def choice_probabilities(self, prompts, first, second, progress=None):
        assert (first, second) == (" Yes", " No")
        self.batches.append(list(prompts))
        return np.array([0.9 if p.split("Proposed answer: ")[1].startswith("Paris\n") else 0.2
                         for p in prompts])


def test_prompt_lists_question_correct_and_incorrect_references_then_the_answer():
    prompt = ref.reference_prompt(" Capital of France? ", ["Paris", "Paris, France"], ["Lyon"],
                                  " Paris ")
    assert prompt == (
        "Decide whether the proposed answer to the question is correct. It is correct if it "
        "agrees with one of the correct answers and not with the incorrect answers.\n"
        "Question: Capital of France?\n"
        "Correct answers:\n- Paris\n- Paris, France\n"
        "Incorrect answers:\n- Lyon\n"
        "Proposed answer: Paris\n"
        "Is the proposed answer correct? Reply Yes or No.\n"
        "Reply:"
    )
    assert "Incorrect answers:\n- (none given)\n" in ref.reference_prompt("Q", ["a"], None, "b")


def test_judge_id_follows_model_and_prompt(monkeypatch):
    first = ref.llm_reference_id("model-a")
    assert first == ref.llm_reference_id("model-a") != ref.llm_reference_id("model-b")
    monkeypatch.setattr(ref, "REFERENCE_PROMPT", ref.REFERENCE_PROMPT + " ")
    assert ref.llm_reference_id("model-a") != first


def test_verdicts_are_cached_by_content_and_only_missing_ones_reach_the_model(tmp_path):
    cache = ModelCache(tmp_path)
    fake = FakeChoiceModel()
    items = [("Capital of France?", ["Paris"], ["Lyon"], "Paris"),
             ("Capital of France?", ["Paris"], ["Lyon"], "Lyon"),
             ("Capital of Italy?", ["Rome"], [], "Paris")]
    got = ref.p_correct(items, "judge-1", lambda: fake, cache=cache)
    np.testing.assert_allclose(got, [0.9, 0.2, 0.9])
    assert len(fake.batches) == 1 and len(fake.batches[0]) == 3

    # Same content again, plus one answer and one changed reference list: two new prompts.
    more = items + [("Capital of France?", ["Paris"], ["Lyon"], "Marseille"),
                    ("Capital of France?", ["Paris", "Paname"], ["Lyon"], "Paris")]
    got = ref.p_correct(more, "judge-1", lambda: fake, cache=cache)
    np.testing.assert_allclose(got, [0.9, 0.2, 0.9, 0.2, 0.9])
    assert len(fake.batches) == 2 and len(fake.batches[1]) == 2
    assert "Proposed answer: Marseille" in fake.batches[1][0]

    # Everything cached: the model is not even loaded.
    def no_model():
        raise AssertionError("model loaded although every verdict was cached")

    np.testing.assert_allclose(ref.p_correct(more, "judge-1", no_model, cache=cache),
                               [0.9, 0.2, 0.9, 0.2, 0.9])
    # Another judge id (model or prompt) shares nothing.
    ref.p_correct(items[:1], "judge-2", lambda: fake, cache=cache)
    assert len(fake.batches) == 3
    cache.close()


class FakeStore:
    """Stands in for the build's PairStore of alias ``llm``: a spec and a lazily made
    backend whose ``llm`` is the fake model."""

    def __init__(self, spec, model):
        self.spec = spec
        self.model = model

    @property
    def backend(self):
        return type("FakeBackend", (), {"llm": self.model})()


def test_build_judge_stage_labels_every_sample_and_records_prompt_and_model(tmp_path):
    from uqlens.backends.llm import quick_fingerprint
    from uqlens.build.pipeline import judge_run

    model_file = tmp_path / "fake-model.gguf"
    model_file.write_bytes(b"not a real model, only fingerprinted")
    questions = pd.DataFrame({"question_id": ["q1"], "question": ["Capital of France?"],
                              "references": [["Paris"]], "incorrect_references": [["Lyon"]]})
    texts = pd.DataFrame({"question_id": ["q1", "q1"], "text_id": [0, 1],
                          "text": ["Paris", "Lyon"]})
    gens = pd.DataFrame({"question_id": ["q1"] * 3, "sample_id": ["greedy", "s0", "s1"],
                         "text_id": [0, 1, 0]})
    fake = FakeChoiceModel()
    info: dict = {}
    frame = judge_run(questions, gens, texts, ["llm_reference@llm"], None,
                      {"llm": FakeStore(f"llm:{model_file}", fake)},
                      cache=ModelCache(tmp_path / "cache"), info=info)
    got = frame.set_index("sample_id").loc[["greedy", "s0", "s1"]]
    assert got["label"].tolist() == [True, False, True]
    np.testing.assert_allclose(got["value"], [0.9, 0.2, 0.9])
    assert set(got["judge"]) == {"llm_reference"} and set(got["provenance"]) == {"llm"}
    assert len(fake.batches[0]) == 2  # unique texts only
    record = info["llm_reference"]
    assert record["model"] == quick_fingerprint(model_file)
    assert record["prompt"] == ref.REFERENCE_PROMPT
    assert record["cache_id"] == ref.llm_reference_id(quick_fingerprint(model_file))


def test_build_judge_stage_refuses_a_non_llm_backend(tmp_path):
    from uqlens.build.pipeline import BuildError, judge_run

    questions = pd.DataFrame({"question_id": ["q1"], "question": ["Q"], "references": [["a"]]})
    texts = pd.DataFrame({"question_id": ["q1"], "text_id": [0], "text": ["a"]})
    gens = pd.DataFrame({"question_id": ["q1"], "sample_id": ["greedy"], "text_id": [0]})
    with pytest.raises(BuildError, match="llm_reference@ALIAS"):
        judge_run(questions, gens, texts, ["llm_reference@cosine"], None,
                  {"cosine": FakeStore("cosine", None)})


class FakeRun:
    """Stands in for a built run: the tables and manifest seeding reads."""

    def __init__(self, tables, manifest):
        self._tables, self.manifest = tables, manifest

    def table(self, name):
        return self._tables[name]


def test_seeding_a_fresh_cache_from_a_run_restores_its_llm_verdicts(tmp_path):
    from uqlens.backends.llm import quick_fingerprint
    from uqlens.build.seed import _seed_llm_verdicts

    model_file = tmp_path / "judge.gguf"
    model_file.write_bytes(b"the judge that built the run")
    judge_id = ref.llm_reference_id(quick_fingerprint(model_file))
    questions = pd.DataFrame({"question_id": ["q1"], "question": ["Capital of France?"],
                              "references": [["Paris"]], "incorrect_references": [["Lyon"]]})
    gens = pd.DataFrame({"question_id": ["q1"] * 3, "sample_id": ["greedy", "s0", "s1"],
                         "text": ["Paris", "Lyon", "Paris"]})
    correctness = pd.DataFrame({
        "question_id": ["q1"] * 4, "sample_id": ["greedy", "s0", "s1", "greedy"],
        "judge": ["llm_reference"] * 3 + ["rouge_l"], "value": [0.83, 0.07, 0.83, 1.0]})
    run = FakeRun({"questions": questions, "generations": gens, "correctness": correctness},
                  {"judge_info": {"llm_reference": {"backend": f"llm:{model_file}",
                                                    "cache_id": judge_id}}})
    cache = ModelCache(tmp_path / "cache")
    notes = []
    seeded = _seed_llm_verdicts(run, {"llm": f"llm:{model_file}"}, cache, notes.append)
    assert seeded == {"llm_reference": 2}  # two distinct answers; rouge_l is not an LLM's

    def no_model():
        raise AssertionError("model loaded although the run's verdicts were seeded")

    items = [("Capital of France?", ["Paris"], ["Lyon"], "Paris"),
             ("Capital of France?", ["Paris"], ["Lyon"], "Lyon")]
    np.testing.assert_allclose(ref.p_correct(items, judge_id, no_model, cache=cache),
                               [0.83, 0.07])
    # another model file: its judge id differs, nothing is seeded, and the log says why
    other = tmp_path / "other.gguf"
    other.write_bytes(b"a different judge")
    assert _seed_llm_verdicts(run, {"llm": f"llm:{other}"}, cache, notes.append) == {}
    assert "not the model that judged this run" in notes[-1]
    cache.close()
