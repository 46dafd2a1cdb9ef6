"""`uqlens build` killed with SIGKILL: at seeded random moments, right after the embeddings
are cached, halfway through writing the tables, with the new run complete but not yet
swapped in, and between the two renames of the non-Linux swap.

After every kill the previous run is byte-identical and loadable, no half-written folder is
listed by find_runs, and the next build completes, reuses the cache and removes what the
killed build left behind."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from uqlens.build.pipeline import BuildConfig, build, prepare_out_dir
from uqlens.run.folder import find_runs, is_run, load_run

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "tiny_generations.jsonl"
UQLENS = Path(sys.executable).with_name("uqlens")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
CONFIG = BuildConfig(projection="pca")
SEED = 20240608

pytestmark = pytest.mark.model


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _assert_readable(run_dir: Path) -> None:
    run = load_run(run_dir)
    for name in ("questions", "generations", "texts", "clusters", "scores", "correctness",
                 "projection"):
        assert len(run.table(name)) > 0, name


def _hidden(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def _cached_embeddings(cache: Path) -> int:
    if not (cache / "cache.sqlite").exists():
        return 0
    with sqlite3.connect(cache / "cache.sqlite") as db:
        return db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]


def _rebuild(out: Path, cache: Path) -> dict:
    return build(FIXTURE, out, CONFIG, cache_dir=cache, progress=False, log=lambda _: None)


@pytest.fixture(scope="module")
def previous(tmp_path_factory):
    """A finished run (and the warm cache it filled), copied into each test's own folder."""
    base = tmp_path_factory.mktemp("interrupted")
    run, cache = base / "runs" / "demo", base / "cache"
    started = time.monotonic()
    _rebuild(run, cache)
    previous.seconds = time.monotonic() - started  # a cold build, to place random kills
    return run, cache


@pytest.fixture
def runs(tmp_path, previous):
    run, _ = previous
    out = tmp_path / "runs" / "demo"
    shutil.copytree(run, out)
    return out


def _start(out: Path, cache: Path, log: Path) -> subprocess.Popen:
    with open(log, "wb") as err:
        return subprocess.Popen(
            [str(UQLENS), "build", str(FIXTURE), "--out", str(out), "--projection", "pca",
             "--cache-dir", str(cache)],
            stdout=subprocess.DEVNULL, stderr=err, env=ENV, cwd=ROOT,
        )


def _stages(log: Path) -> list[str]:
    text = log.read_text("utf-8", errors="replace")
    return [s for s in ("ingest", "embed", "cluster", "entailment", "score", "judge",
                        "project") if f"[{s}]" in text]


def test_kill_at_random_points(runs, tmp_path):
    """Seeded random kill times over cold-cache builds (start-up, model load, embedding,
    scoring, writing, clean-up): the previous run survives each one; a rerun completes and
    reuses whatever the last killed build had cached."""
    cache = tmp_path / "cold-cache"
    rng = random.Random(SEED)
    span = previous.seconds + 3.0  # + interpreter start-up and imports of a fresh process
    before = _hashes(runs)
    created = load_run(runs).manifest["created"]
    reached = []
    for attempt, delay in enumerate(sorted(rng.uniform(0.05, 1.1) * span for _ in range(4))):
        shutil.rmtree(cache, ignore_errors=True)  # every attempt starts cold: same timeline
        log = tmp_path / f"attempt{attempt}.log"
        proc = _start(runs, cache, log)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
        code = proc.wait(timeout=60)
        reached.append((round(delay, 2), code, _stages(log)[-1:]))
        assert code in (0, -signal.SIGKILL), log.read_text()
        after = _hashes(runs)
        if after != before:
            # Only allowed when the swap had happened: the new run, complete, is in place
            # (the kill hit while the old one was being deleted, or the build finished).
            assert after.keys() == before.keys(), reached
            assert load_run(runs).manifest["created"] >= created, reached
            before = after
        created = load_run(runs).manifest["created"]
        _assert_readable(runs)
        assert find_runs(runs.parent) == [runs], _hidden(runs.parent)
    cached = _cached_embeddings(cache)
    manifest = _rebuild(runs, cache)
    _assert_readable(runs)
    counts = manifest["counts"]
    # everything a killed build stored is reused (texts, references), nothing is lost
    assert counts.get("embeddings_from_cache", 0) == cached, reached
    assert counts.get("embeddings_from_cache", 0) + counts.get("embeddings_computed", 0) >= \
        counts["unique_texts"]
    print("kills (delay s, exit code, last stage):", reached)
    assert _hidden(runs.parent) == [], "the rerun removes the killed builds' folders"


def test_kill_after_embedding_then_rerun_reuses_the_cache(runs, tmp_path):
    cache, log = tmp_path / "cold-cache", tmp_path / "build.log"
    before = _hashes(runs)
    proc = _start(runs, cache, log)
    deadline = time.monotonic() + 240
    while "cluster" not in _stages(log):  # "[cluster]" is logged once embeddings are stored
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "build did not reach the cluster stage"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    assert _hashes(runs) == before
    _assert_readable(runs)
    assert find_runs(runs.parent) == [runs]
    assert _cached_embeddings(cache) > 0
    manifest = _rebuild(runs, cache)
    counts = manifest["counts"]
    # every answer embedded before the kill comes from the cache; only what the killed build
    # never reached (the judges' reference embeddings) is computed
    assert counts["embeddings_from_cache"] == counts["unique_texts"] > 0
    _assert_readable(runs)


# ---- kills inside write_run, placed exactly by a patched build ---------------------------

KILLERS = {
    # SIGKILL when the third table is about to be written: a half-written temporary folder.
    "mid-write": """
orig, calls = pd.DataFrame.to_parquet, [0]
def to_parquet(self, *a, **k):
    calls[0] += 1
    if calls[0] == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return orig(self, *a, **k)
pd.DataFrame.to_parquet = to_parquet
""",
    # SIGKILL with the new run complete (manifest written) but not yet swapped in.
    "before-swap": """
write._exchange = lambda a, b: os.kill(os.getpid(), signal.SIGKILL)
""",
    # The non-Linux swap: two renames; SIGKILL between them.
    "between-renames": """
write._exchange = lambda a, b: False
orig_replace = os.replace
def replace(src, dst, *a, **k):
    if ".building-" in str(src):
        os.kill(os.getpid(), signal.SIGKILL)
    return orig_replace(src, dst, *a, **k)
write.os.replace = replace
""",
}


def _killed_build(out: Path, cache: Path, killer: str) -> subprocess.CompletedProcess:
    script = (
        "import os, signal, sys\nimport pandas as pd\nfrom uqlens.build import pipeline, write\n"
        + killer
        + "\nfrom uqlens.cli import main\n"
        + f"sys.exit(main(['build', {str(FIXTURE)!r}, '--out', {str(out)!r}, '--projection', "
        + f"'pca', '--cache-dir', {str(cache)!r}, '--quiet']))\n"
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=ENV, cwd=ROOT, timeout=300)


@pytest.mark.parametrize("where", sorted(KILLERS))
def test_kill_inside_write_run(runs, previous, where):
    _, cache = previous  # warm: the build loads no model and reaches write_run quickly
    parent = runs.parent
    before = _hashes(runs)
    proc = _killed_build(runs, cache, KILLERS[where])
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    leftovers = [parent / name for name in _hidden(parent)]

    if where == "between-renames":
        # The previous run was renamed aside and the new one not yet into place.
        assert not runs.exists()
        assert [p.name.split("-")[0] for p in leftovers] == [".demo.building", ".demo.old"]
        assert _hashes(leftovers[1]) == before
        assert find_runs(parent) == [], "a hidden .old folder is not listed"
        prepare_out_dir(runs)  # what the next build does first: put it back
        assert _hashes(runs) == before and _hidden(parent) == []
    else:
        assert len(leftovers) == 1 and ".demo.building-" in leftovers[0].name
        assert _hashes(runs) == before
        assert is_run(leftovers[0]) == (where == "before-swap")  # manifest is written last
        assert find_runs(parent) == [runs], "the temporary folder is never listed"
    _assert_readable(runs)

    manifest = _rebuild(runs, cache)
    assert manifest["counts"]["embeddings_from_cache"] >= manifest["counts"]["unique_texts"]
    assert manifest["counts"].get("embeddings_computed", 0) == 0
    _assert_readable(runs)
    assert _hidden(parent) == [], "the next build removed the dead build's folder"
    assert find_runs(parent) == [runs]


def test_a_live_builds_folder_is_left_alone(runs):
    """Cleanup only takes folders whose process is gone: a concurrent build keeps its own."""
    parent = runs.parent
    live = parent / f".demo.building-{os.getpid()}@{_host()}-abc123"
    other_host = parent / ".demo.building-1@some.other.host-abc123"
    live.mkdir()
    other_host.mkdir()
    prepare_out_dir(runs)
    assert live.exists() and other_host.exists()


def test_refuses_to_replace_a_folder_that_is_not_a_run(tmp_path):
    from uqlens.build.pipeline import BuildError

    precious = tmp_path / "my-documents"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(BuildError, match="not a uqlens run"):
        build(FIXTURE, precious, CONFIG, cache_dir=tmp_path / "c", progress=False,
              log=lambda _: None)
    assert (precious / "thesis.tex").read_text() == "years of work"
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    with pytest.raises(BuildError, match="not a uqlens run"):
        prepare_out_dir(a_file)


def _host() -> str:
    import platform

    return "".join(c for c in platform.node() if c.isalnum() or c == ".") or "host"
