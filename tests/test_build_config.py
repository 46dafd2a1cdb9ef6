"""BuildConfig refuses bad values when it is made, with a message naming the value, so a build
never loads a model (or embeds anything) only to fail later."""

from __future__ import annotations

from pathlib import Path

import pytest
from _built_run import no_model_check

from uqlens.build.config import BuildConfig
from uqlens.build.errors import BuildError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("kwargs, message", [
    ({"projection": "tsne"}, "unknown projection 'tsne'"),
    ({"projection_text": "question"}, "projection_text 'question'"),
    ({"n_neighbors": 1}, "n_neighbors >= 2"),
    ({"judges": ("squad_f1", "nope")}, "unknown judge 'nope'"),
    ({"judges": ("squad_f1:high",)}, "threshold 'high' is not a number"),
    ({"judges": ("nli_reference",)}, "needs an entailment backend"),
    ({"rules": ("threshold:1.5@cosine",)}, "tau in [0, 1]"),
    ({"rules": ("strict",)}, "needs an entailment backend"),
    ({"rules": ("strict@llm",)}, "no backend 'llm'"),
    ({"rules": ("fuzzy",)}, "cannot parse rule key 'fuzzy'"),
    ({"rules": ()}, "no clustering rule"),
    ({"entailment": ("bert:x",)}, "unknown entailment backend 'bert:x'"),
    ({"entailment": ("llm",)}, "unknown entailment backend 'llm'"),
    ({"graph_backend": "nli"}, "graph backend 'nli'"),
    ({"methods": ("eigv", "nonsense")}, "unknown methods ['nonsense']"),
    ({"method_params": {"eigv": {"tempreature": 2}}}, "unknown parameters ['tempreature']"),
    ({"method_params": {"nonsense": {}}}, "unknown method 'nonsense'"),
    ({"batch_size": 0}, "batch_size must be a positive integer"),
    ({"sample_temperature": -0.5}, "must be >= 0"),
    ({"nli_dtype": "float16"}, "NLI dtype must be one of float32, bfloat16"),
])
def test_bad_values_are_refused_when_the_config_is_made(kwargs, message):
    with pytest.raises(BuildError) as err:
        BuildConfig(**kwargs)
    assert message in str(err.value)


def test_good_values_pass():
    BuildConfig()
    BuildConfig(rules=("strict@nli", "provided", "embedding:0.8:complete"),
                entailment=("cosine", "nli:some/model"), graph_backend="cosine",
                judges=("squad_f1:0.7", "nli_reference@nli", "provided"),
                methods=("eigv", "semantic_uncertainty:semantic_entropy"),
                method_params={"eigv": {"temperature": 1.0}}, projection="pca",
                nli_dtype="bfloat16")


def test_cli_build_fails_before_any_model_loads(tmp_path):
    code = (
        "from uqlens.cli import main\n"
        f"rc = main(['build', {str(ROOT / 'tests/fixtures/tiny_generations.jsonl')!r}, "
        f"'--out', {str(tmp_path / 'run')!r}, '--rule', 'threshold:2@cosine'])\n"
        "assert rc == 1, rc\n"
    )
    proc = no_model_check(code)
    assert "NO_MODEL_OK" in proc.stdout, proc.stdout + proc.stderr
    assert "build failed: rule 'threshold:2@cosine'" in proc.stderr
    assert not (tmp_path / "run").exists()
