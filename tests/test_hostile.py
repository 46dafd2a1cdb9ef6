"""Hostile inputs (tests/hostile/, see make_corpus.py and EXPECTED.json) through `uqlens
validate` in-process for every file, and through the real `uqlens validate` / `uqlens build`
executables for a few: every file either fails with a message naming the file, the record
and the field, or loads with its documented handling; nothing prints a traceback, nothing is
ever unpickled, and a failed build leaves an earlier run byte-identical."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from uqlens.cli import EXIT_DATA, EXIT_OK, main

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = ROOT / "tests" / "hostile"
CASES: dict[str, dict] = json.loads((HOSTILE / "EXPECTED.json").read_text("utf-8"))["cases"]
UQLENS = Path(sys.executable).with_name("uqlens")
TRIPWIRE = "UQLENS-PICKLE-EXECUTED"  # printed if anything ever unpickles records.pkl


def _corpus_module():
    spec = importlib.util.spec_from_file_location("make_corpus", HOSTILE / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _path(name: str, tmp_path: Path) -> Path:
    """The corpus file; generated cases (the 1 MB answers) are written into tmp_path."""
    if CASES[name].get("generated"):
        path = tmp_path / name
        path.write_bytes(_corpus_module().GENERATED[name]())
        return path
    return HOSTILE / name


def _prefix(path: Path | str, record: str | None, field: str) -> str:
    """How :class:`uqlens.data.schema.RecordError` starts a line for this file/record/field."""
    where = f"{path}: {record}" if record else str(path)
    if field:
        where += f", field '{field}'"
    return where + ":"


def _assert_clean(out: str, err: str) -> None:
    both = out + err
    assert "Traceback" not in both
    assert "internal error" not in both
    assert TRIPWIRE not in both


def test_the_corpus_is_big_enough_and_committed():
    files = {p.name for p in HOSTILE.iterdir()} - {"make_corpus.py", "EXPECTED.json"}
    committed = {n for n, c in CASES.items() if not c.get("generated")}
    assert files == committed, "rerun tests/hostile/make_corpus.py"
    assert len(CASES) >= 40
    assert all(p.stat().st_size < 300_000 for p in HOSTILE.iterdir())


def test_the_committed_corpus_matches_its_generator(tmp_path):
    """Regenerating gives the same bytes (except Parquet, whose metadata carries versions)."""
    module = _corpus_module()
    for name, data in module.FILES.items():
        if not name.endswith(".parquet"):
            assert (HOSTILE / name).read_bytes() == data, name


@pytest.mark.parametrize("name", sorted(CASES))
def test_validate(name, tmp_path, capsys):
    case = CASES[name]
    path = _path(name, tmp_path)
    code = main(["validate", str(path)])
    out, err = capsys.readouterr()
    _assert_clean(out, err)
    assert code == case["validate"], out + err
    lines = out.splitlines()
    if code == EXIT_OK:
        assert lines[0] == f"{path}: OK"
        return
    assert lines[0].startswith(f"{path}: INVALID")
    problems = [line.strip() for line in lines[1:] if line.strip()]
    assert problems, out
    assert all(p.startswith(str(path)) for p in problems), "every problem names the file"
    for want in case["errors"]:
        prefix = _prefix(path, want["record"], want["field"])
        hits = [p for p in problems if p.startswith(prefix)]
        assert hits, f"no problem starts with {prefix!r}:\n{out}"
        if "message" in want:
            assert any(want["message"].lower() in h.lower() for h in hits), (want, hits)


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c["validate"] == EXIT_DATA))
def test_validate_skip_invalid_never_crashes(name, tmp_path, capsys):
    """Skipping keeps what is valid (exit 0) or says nothing is (exit 1); never a crash."""
    code = main(["validate", "--skip-invalid", str(_path(name, tmp_path))])
    out, err = capsys.readouterr()
    _assert_clean(out, err)
    assert code in (EXIT_OK, EXIT_DATA)
    if code == EXIT_OK:
        assert "skipped:" in out


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c["validate"] == EXIT_OK))
def test_valid_hostile_text_is_kept_verbatim(name, tmp_path):
    from uqlens.data.loaders import load

    dataset = load(_path(name, tmp_path))
    q, g = dataset.questions, dataset.generations
    seen = set(q["question_id"]) | set(q["question"]) | set(g["text"]) | set(g["sample_id"])
    seen |= {r for refs in q["references"] for r in refs}
    for text in CASES[name]["verbatim"]:
        assert text in seen, f"{text!r} was altered or lost"


@pytest.mark.parametrize("name", ["huge_answer.jsonl", "huge_answer.csv"])
def test_the_huge_answer_is_kept_whole(name, tmp_path):
    from uqlens.data.loaders import load

    dataset = load(_path(name, tmp_path))
    assert dataset.generations["text"].str.len().max() == 1_000_000


def test_a_pickle_is_refused_not_opened(capsys):
    code = main(["validate", str(HOSTILE / "records.pkl")])
    out, err = capsys.readouterr()
    assert code == EXIT_DATA
    assert "pickle" in out and "arbitrary code" in out
    assert TRIPWIRE not in out + err


def test_a_missing_file_and_a_directory_are_data_errors(tmp_path, capsys):
    for target in (tmp_path / "nope.jsonl", tmp_path):
        assert main(["validate", str(target)]) == EXIT_DATA
        out, err = capsys.readouterr()
        _assert_clean(out, err)
        assert str(target) in out


# ---- real executables -------------------------------------------------------------------

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(UQLENS), *args], capture_output=True, text=True, env=ENV, timeout=timeout,
        cwd=ROOT,
    )


@pytest.mark.parametrize(
    "name",
    ["records.pkl", "invalid_utf8.jsonl", "deeply_nested.jsonl", "html_js_payloads.jsonl",
     "parquet_wrong_types.parquet", "csv_embedded_newlines_quotes.csv"],
)
def test_validate_executable(name):
    proc = _run("validate", str(HOSTILE / name), timeout=120)
    _assert_clean(proc.stdout, proc.stderr)
    assert proc.returncode == CASES[name]["validate"], proc.stdout + proc.stderr


def test_validate_on_an_ascii_console():
    """Messages quote input text; a console that cannot encode it gets escapes, not a crash."""
    files = [str(HOSTILE / n) for n in ("non_ascii_in_errors.jsonl", "surrogate_keys.jsonl")]
    proc = subprocess.run([str(UQLENS), "validate", *files], capture_output=True, text=True,
                          env={**ENV, "PYTHONIOENCODING": "ascii"}, timeout=120, cwd=ROOT)
    _assert_clean(proc.stdout, proc.stderr)
    assert proc.returncode == EXIT_DATA
    assert "Z\\xfcrich" in proc.stdout and "surrogate_keys.jsonl: OK" in proc.stdout


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """One real run of the tiny fixture, built once; tests must leave it as it is."""
    base = tmp_path_factory.mktemp("hostile-build")
    run, cache = base / "runs" / "previous", base / "cache"
    proc = _run("build", str(ROOT / "tests" / "fixtures" / "tiny_generations.jsonl"),
                "--out", str(run), "--projection", "pca", "--cache-dir", str(cache), "--quiet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return run, cache, _hashes(run)


@pytest.mark.model
@pytest.mark.parametrize(
    "name", ["truncated.jsonl", "records.pkl", "parquet_wrong_schema.parquet",
             "mixed_latin1.jsonl"]
)
def test_a_failed_build_leaves_the_previous_run_untouched(built, name):
    run, cache, before = built
    proc = _run("build", str(HOSTILE / name), "--out", str(run), "--projection", "pca",
                "--cache-dir", str(cache), "--quiet")
    _assert_clean(proc.stdout, proc.stderr)
    assert proc.returncode == CASES[name]["build"] == EXIT_DATA
    assert f"{HOSTILE / name}: INVALID" in proc.stdout
    assert _hashes(run) == before
    assert not [p for p in run.parent.iterdir() if p.name.startswith(".")], "no leftovers"


@pytest.mark.model
def test_a_hostile_but_valid_build_keeps_text_verbatim(built):
    import pandas as pd

    from uqlens.run.folder import find_runs, load_run

    run, cache, before = built
    name = "html_js_payloads.jsonl"
    out = run.parent / "html"
    proc = _run("build", str(HOSTILE / name), "--out", str(out), "--projection", "pca",
                "--cache-dir", str(cache), "--quiet")
    _assert_clean(proc.stdout, proc.stderr)
    assert proc.returncode == CASES[name]["build"] == EXIT_OK, proc.stdout + proc.stderr
    assert _hashes(run) == before
    assert find_runs(run.parent) == [out, run]
    texts = set(load_run(out).texts["text"]) | set(load_run(out).questions["question"])
    questions = load_run(out).questions
    texts |= {r for refs in questions["references"] for r in refs}
    for payload in CASES[name]["verbatim"]:
        assert any(payload in t for t in texts), payload
    assert isinstance(load_run(out).scores, pd.DataFrame)
