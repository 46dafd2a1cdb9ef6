"""The build's supervised stage on a small synthetic input, with the real embedder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from uqlens.analysis.evaluation import auroc
from uqlens.build.pipeline import BuildConfig, build
from uqlens.core.methods.supervised import NO_HIDDEN_STATES
from uqlens.run.folder import load_run

pytestmark = pytest.mark.model
N = 40


def write_input(path, with_hidden: bool):
    """40 questions; the greedy answer is right for even ones. Its hidden state's first
    coordinate is +1 when right, -1 when wrong (plus noise), so a probe can learn it."""
    rng = np.random.default_rng(0)
    with open(path, "w") as f:
        for i in range(N):
            right = i % 2 == 0
            greedy = {"text": "blue" if right else "red", "logprob_sum": -0.5, "num_tokens": 1}
            if with_hidden:
                v = rng.normal(scale=0.3, size=6)
                v[0] += 1.0 if right else -1.0
                greedy["hidden_state"] = v.round(4).tolist()
            samples = [{"sample_id": f"s{k}", "text": ["blue", "red", "green"][(i + k) % 3],
                        "logprob_sum": -1.0 - 0.1 * k, "num_tokens": 1} for k in range(3)]
            f.write(json.dumps({"question_id": f"q{i:02d}", "question": f"Colour {i}?",
                                "references": ["blue"], "greedy": greedy,
                                "samples": samples}) + "\n")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def test_build_scores_the_probes_out_of_fold(tmp_path, cache):
    write_input(tmp_path / "in.jsonl", with_hidden=True)
    config = BuildConfig(rules=("exact", "embedding:0.9:average"), judges=("exact_match",),
                         projection="pca")
    build(tmp_path / "in.jsonl", tmp_path / "run", config, cache_dir=cache, progress=False,
          log=lambda _: None)
    run = load_run(tmp_path / "run")
    hidden = run.table("hidden_states")
    assert len(hidden) == N  # only the greedy answers carried one
    assert hidden["hidden_state"].iloc[0].dtype == np.float16
    assert run.manifest["hidden_states"] == {"rows": N, "questions": N, "dim": 6}
    info = run.manifest["method_info"]["hidden_state_probe"]
    assert info["supervised"] is True and info["judge"] == "exact_match"
    assert info["params"]["folds"] == 5 and info["trained_questions"] == N
    assert {"hidden_state_probe", "semantic_entropy_probe"} <= set(run.methods)
    s = run.scores
    for rule in run.rules:
        probe = s[(s.rule == rule) & (s.method == "hidden_state_probe")].sort_values(
            "question_id")
        assert len(probe) == N
        wrong = np.arange(N) % 2 == 1
        assert auroc(probe["uncertainty"].to_numpy(), wrong) > 0.9
    # the un-hidden build: no table, the probes skipped with the reason
    write_input(tmp_path / "plain.jsonl", with_hidden=False)
    build(tmp_path / "plain.jsonl", tmp_path / "plain", config, cache_dir=cache,
          progress=False, log=lambda _: None)
    plain = load_run(tmp_path / "plain")
    assert not (tmp_path / "plain" / "hidden_states.parquet").exists()
    assert plain.table("hidden_states").empty
    assert plain.manifest["skipped_methods"]["hidden_state_probe"] == NO_HIDDEN_STATES
    assert "hidden_state_probe" not in set(plain.scores["method"])
