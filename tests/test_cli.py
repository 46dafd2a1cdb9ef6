"""The `uqlens` command line: main([...]) in-process, one real subprocess, import cost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from uqlens.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _write(path: Path, *records) -> str:
    path.write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n",
        encoding="utf-8",
    )
    return str(path)


def _q(qid, samples, **kw):
    return {
        "question_id": qid,
        "question": f"{qid}?",
        "references": ["a"],
        "samples": samples,
        **kw,
    }


@pytest.fixture
def good(tmp_path):
    return _write(
        tmp_path / "good.jsonl",
        _q(
            "q1",
            [
                {"text": "a", "logprob_sum": -1.0, "num_tokens": 2},
                {"text": "b", "logprob_sum": -2.0, "num_tokens": 3},
            ],
            greedy="a",
        ),
        _q(
            "q2",
            [
                {"text": "a", "logprob_sum": -1.0, "num_tokens": 1, "p_true": 0.4},
                {"text": "a", "logprob_sum": -1.5, "num_tokens": 1},
                {"text": "c", "logprob_sum": -3.0, "num_tokens": 1},
            ],
            greedy="a",
        ),
    )


@pytest.fixture
def bad(tmp_path):
    return _write(
        tmp_path / "bad.jsonl",
        _q("q1", ["a", "b"]),
        _q("q2", [{"text": "a", "temperature": -1}, "b"]),
        _q("q3", ["a", 7]),
    )


def test_validate_good_file_prints_summary(good, capsys):
    assert main(["validate", good]) == 0
    out = capsys.readouterr().out
    assert f"{good}: OK" in out
    assert "questions: 2" in out
    assert "samples per question: min 2, median 2.5, max 3" in out
    assert "greedy (judged) answers: 2 of 2 questions" in out
    assert "optional fields: logprob_sum, num_tokens, p_true" in out
    methods = out.split("methods enabled:")[1].splitlines()[0]
    for method in ("semantic_entropy", "ln_predictive_entropy", "eigv", "self_consistency"):
        assert f" {method}," in methods or methods.endswith(f" {method}")
    assert "p_true (1/2 questions)" in methods
    assert "verbalized_confidence" not in methods
    assert "Traceback" not in out


def test_validate_bad_file_lists_every_error(bad, capsys):
    assert main(["validate", bad]) == 1
    out = capsys.readouterr().out
    assert "INVALID (2 problems)" in out
    assert f"{bad}: line 2, sample 1, field 'temperature': must be >= 0" in out
    assert f"{bad}: line 3, sample 2, field 'text': expected text, got number 7" in out


def test_validate_skip_invalid_reports_skipped_count(bad, capsys):
    assert main(["validate", "--skip-invalid", bad]) == 0
    out = capsys.readouterr().out
    assert "questions: 3" in out
    assert "skipped: 2 records (2 problems)" in out
    assert "samples per question: min 1, median 1, max 2" in out


def test_validate_several_files_fails_if_any_fails(good, bad, tmp_path, capsys):
    missing = str(tmp_path / "nope.jsonl")
    assert main(["validate", good, bad, missing]) == 1
    out = capsys.readouterr().out
    assert f"{good}: OK" in out and f"{bad}: INVALID" in out
    assert f"{missing}: cannot read" in out


def test_validate_empty_file(tmp_path, capsys):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert main(["validate", str(path)]) == 1
    assert "file is empty" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [[], ["validate"], ["nonsense"], ["validate", "--bogus", "x"]])
def test_usage_errors_exit_2(argv, capsys):
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    assert "validate" in capsys.readouterr().out


def test_unexpected_exception_is_one_line(monkeypatch, good, capsys):
    import uqlens.data.loaders as loaders

    def boom(*args, **kwargs):
        raise RuntimeError("kaput")

    monkeypatch.setattr(loaders, "load", boom)
    assert main(["validate", good]) == 3
    err = capsys.readouterr().err
    assert err.strip() == "internal error: RuntimeError: kaput"


def test_validate_lists_what_the_build_computes(tmp_path, capsys):
    """validate and build read the same needs: no log-probabilities on one question means no
    logprob method at all (the build skips them), and max_sequence_prob (greedy + logprobs)
    is listed exactly when the build computes it."""
    from uqlens.build.config import BuildConfig
    from uqlens.build.stages import choose_methods
    from uqlens.data.loaders import load

    path = _write(
        tmp_path / "partial.jsonl",
        _q("q1", [{"text": "a", "logprob_sum": -1.0, "num_tokens": 1},
                  {"text": "b", "logprob_sum": -2.0, "num_tokens": 1},
                  {"text": "a", "is_greedy": True, "logprob_sum": -0.5, "num_tokens": 1}]),
        _q("q2", ["c", "d", {"text": "c", "is_greedy": True}]),
    )
    assert main(["validate", path]) == 0
    listed = capsys.readouterr().out.split("methods enabled:")[1].splitlines()[0]
    listed = {m.strip().split(" ")[0] for m in listed.split(",")}
    data = load(path)
    gens = data.generations
    built, *_ = choose_methods(BuildConfig(), gens, gens[~gens["is_greedy"]], data.questions,
                               log=lambda _msg: None)
    assert listed == {m.id for m in built}
    for m in ("predictive_entropy", "ln_predictive_entropy", "max_sequence_prob",
              "semantic_entropy"):
        assert m not in listed
    assert {"eigv", "self_consistency", "num_semantic_sets"} <= listed


def test_console_script_on_bad_file_exits_1_without_traceback(bad):
    script = Path(sys.executable).parent / "uqlens"
    assert script.exists(), "the uqlens console script is missing: pip install -e ."
    proc = subprocess.run(
        [str(script), "validate", bad], capture_output=True, text=True, timeout=60
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert "line 2, sample 1, field 'temperature'" in output
    assert "Traceback" not in output


def test_import_is_light():
    code = (
        "import sys, uqlens, uqlens.cli\n"
        "heavy = [m for m in ('torch', 'umap', 'streamlit', 'pandas', 'sentence_transformers')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
