"""Shared fixtures: the tiny synthetic run, and a ``streamlit run`` server for browser tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TINY_RUN = ROOT / "tests" / "fixtures" / "tiny_run"


def pytest_configure(config):
    """numba's on-disk cache, as the app and CLI use it, set before any test imports numba:
    UMAP's compiled code then survives from one test run to the next (each worker would
    otherwise compile it again, ~40 s)."""
    from uqlens.core.projection import use_numba_cache

    use_numba_cache()


@pytest.fixture(scope="session")
def tiny_run_path() -> Path:
    """The committed synthetic fixture run (see tests/fixtures/make_tiny_run.py)."""
    assert (TINY_RUN / "manifest.json").is_file(), "run tests/fixtures/make_tiny_run.py"
    return TINY_RUN


@pytest.fixture(scope="session")
def tiny_run(tiny_run_path):
    from uqlens.run.folder import load_run

    return load_run(tiny_run_path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(run: Path, log_name: str = "streamlit-test-server.log", env: dict | None = None):
    """Start ``streamlit run app.py -- --run RUN`` on a free port; yield its URL.

    The health check does not run the app script, so the first page the caller opens is
    the first script run of this server process.
    """
    port = _free_port()
    log = ROOT / "artifacts" / log_name
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
           **(env or {})}
    run_arg = str(run.relative_to(ROOT)) if run.is_relative_to(ROOT) else str(run)
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
        "--server.port", str(port), "--server.address", "127.0.0.1",
        "--server.headless", "true", "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
        "--", "--run", run_arg,
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited early; see {log}:\n{log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not become healthy in 60 s; see {log}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def streamlit_server(tiny_run_path):
    """``streamlit run app.py -- --run tests/fixtures/tiny_run`` on a free port; yields its URL."""
    with serve(tiny_run_path) as url:
        yield url


@pytest.fixture
def fresh_streamlit_server(tiny_run_path):
    """Like :func:`streamlit_server`, but a new server process for this test only (its first
    request is the first script run since the server started)."""
    with serve(tiny_run_path, "streamlit-fresh-server.log") as url:
        yield url
