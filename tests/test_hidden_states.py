"""Hidden states of prompt + answer: recorded by ``uqlens generate --hidden-states`` and added
to an existing file by ``uqlens hidden-states``, the same vectors both ways. Around a fake
generator, then on the real SmolLM2 runtime (skipped when llama_cpp is not compiled)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_llm_batched import needs_llama, smollm2_path

from uqlens.backends import generate as gen
from uqlens.backends.llm import Completion
from uqlens.data.loaders import load


class FakeStateGenerator:
    """A fake model: answers name their seed; the hidden state of a text is
    [len(text), number of words, 1/3], so the test knows which text each vector came from."""

    model_name = "fake"

    def __init__(self):
        self.state_calls: list[list[str]] = []

    def sample(self, prompt, specs, *, top_p, max_tokens, stop):
        return [Completion(f"answer {s}", (-0.5,)) for _, s in specs]

    def p_true(self, question, answer):
        return None

    def hidden_states(self, texts, pooling):
        self.state_calls.append(list(texts))
        return [gen._float16_list([len(t), len(t.split()), 1 / 3]) for t in texts]


QUESTIONS = [{"question_id": "q1", "question": "What is the capital of France?",
              "references": ["Paris"]}]


def test_float16_list_keeps_float16_values_in_few_digits():
    assert gen._float16_list([0.1, 1 / 3, 2048.0]) == [0.1, 0.3333, 2048.0]
    assert np.float16(0.3333) == np.float16(1 / 3)


def test_generate_records_the_state_of_prompt_plus_each_answer(tmp_path):
    config = gen.GenerationConfig(samples_per_temperature=2, p_true=False,
                                  hidden_states="all")
    fake = FakeStateGenerator()
    (record,) = gen.generate(fake, QUESTIONS, tmp_path / "g.jsonl", config, progress=False)
    prompt = config.template.render(QUESTIONS[0]["question"])
    texts = [prompt + " answer 0"] + [prompt + f" answer {s['seed']}" for s in record["samples"]]
    assert fake.state_calls == [texts]  # one call per question: the prompt is shared
    assert record["greedy"]["hidden_state"] == [float(len(texts[0])),
                                                float(len(texts[0].split())), 0.3333]
    assert record["meta"]["hidden_state"]["pooling"] == "last"
    assert record["meta"]["hidden_state"]["answers"] == "greedy and samples"
    dataset = load(tmp_path / "g.jsonl")
    states = dataset.generations["hidden_state"].tolist()
    assert len(states) == 3 and all(len(s) == 3 for s in states)


def test_add_hidden_states_to_an_existing_file_gives_what_generate_records(tmp_path):
    template = gen.PromptTemplate(instruction="Complete each statement.", shots=(("a", "b"),))
    with_states = gen.GenerationConfig(samples_per_temperature=2, p_true=False,
                                       hidden_states="all", template=template)
    without = gen.GenerationConfig(samples_per_temperature=2, p_true=False, template=template)
    (expected,) = gen.generate(FakeStateGenerator(), QUESTIONS, tmp_path / "a.jsonl",
                               with_states, progress=False)
    gen.generate(FakeStateGenerator(), QUESTIONS, tmp_path / "plain.jsonl", without,
                 progress=False).__next__()
    # The template comes from a provenance file keyed by the input's name (as in
    # data/demo-source/generation.json).
    (tmp_path / "generation.json").write_text(json.dumps(
        {"plain.jsonl": gen.provenance(FakeStateGenerator(), without, 0.0)}))
    found, source = gen.template_for(tmp_path / "plain.jsonl")
    assert found == template and "generation.json" in source
    n = gen.add_hidden_states(FakeStateGenerator(), tmp_path / "plain.jsonl",
                              tmp_path / "out.jsonl", found, progress=False)
    (got,) = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert n == 1
    assert got["greedy"]["hidden_state"] == expected["greedy"]["hidden_state"]
    assert [s["hidden_state"] for s in got["samples"]] == [
        s["hidden_state"] for s in expected["samples"]]
    # Resumable: a second run writes nothing new.
    assert gen.add_hidden_states(FakeStateGenerator(), tmp_path / "plain.jsonl",
                                 tmp_path / "out.jsonl", found, progress=False) == 0


def test_greedy_only_leaves_samples_without_states(tmp_path):
    fake = FakeStateGenerator()
    record = {"question_id": "q", "question": "Q?", "greedy": {"text": "A"},
              "samples": [{"text": "B"}]}
    gen.attach_hidden_states(fake, record, "PROMPT", "mean", greedy_only=True)
    assert fake.state_calls == [["PROMPT A"]]
    assert "hidden_state" in record["greedy"] and "hidden_state" not in record["samples"][0]
    assert record["meta"]["hidden_state"]["pooling"] == "mean"


def test_meta_given_as_a_json_string_keeps_its_fields_and_its_form():
    record = {"question_id": "q", "question": "Q?", "greedy": {"text": "A"},
              "meta": '{"category": "Myths"}'}
    gen.attach_hidden_states(FakeStateGenerator(), record, "PROMPT", "last", greedy_only=True)
    meta = json.loads(record["meta"])
    assert meta["category"] == "Myths" and meta["hidden_state"]["pooling"] == "last"


def test_add_hidden_states_names_line_of_a_bad_record(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question_id": "q", "question": "Q", "greedy": {"text": "a"}}\n'
                    '{"question_id": "r"}\n')
    with pytest.raises(ValueError, match="line 2"):
        gen.add_hidden_states(FakeStateGenerator(), path, tmp_path / "o.jsonl",
                              gen.PromptTemplate(), progress=False)


def test_servers_say_plainly_that_they_have_no_hidden_states(tmp_path, capsys):
    from uqlens.cli import main

    server = gen.OpenAICompatibleGenerator("http://127.0.0.1:9", "m")
    with pytest.raises(NotImplementedError, match="not available from an OpenAI-compatible"):
        server.hidden_states(["x"], "last")
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps(QUESTIONS[0]) + "\n")
    code = main(["generate", str(questions), "--out", str(tmp_path / "o.jsonl"),
                 "--endpoint", "http://127.0.0.1:9/v1", "--hidden-states"])
    assert code != 0
    assert "not available from an OpenAI-compatible server" in capsys.readouterr().err


@pytest.mark.model
@needs_llama
def test_real_states_from_generate_and_from_the_file_agree(tmp_path):
    model = str(smollm2_path())
    config = gen.GenerationConfig(samples_per_temperature=2, max_tokens=6, p_true=False,
                                  hidden_states="all")
    generator = gen.LocalGenerator(model, n_threads=1)
    try:
        (record,) = gen.generate(generator, QUESTIONS, tmp_path / "g.jsonl", config,
                                 progress=False)
        states = np.array([record["greedy"]["hidden_state"]]
                          + [s["hidden_state"] for s in record["samples"]])
        assert states.shape == (3, 576)  # SmolLM2-135M's hidden size
        assert np.isfinite(states).all() and (np.linalg.norm(states, axis=1) > 0).all()
        plain = tmp_path / "plain.jsonl"
        for answer in [record["greedy"], *record["samples"]]:
            answer.pop("hidden_state")
        plain.write_text(json.dumps(record) + "\n")
        gen.add_hidden_states(generator, plain, tmp_path / "added.jsonl", config.template,
                              progress=False)
        added = json.loads((tmp_path / "added.jsonl").read_text())
        again = np.array([added["greedy"]["hidden_state"]]
                         + [s["hidden_state"] for s in added["samples"]])
        np.testing.assert_array_equal(again, states)
    finally:
        generator.close()
