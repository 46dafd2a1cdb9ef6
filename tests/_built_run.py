"""A real built run of tests/fixtures/tiny_generations.jsonl, built ONCE per test session in a
subprocess (so the embedding model never enters the test process's ``sys.modules``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_BUILT: dict[str, Path] = {}


def built_run(tmp_path_factory) -> Path:
    if "run" not in _BUILT:
        base = tmp_path_factory.mktemp("pathology_run")
        out = base / "run"
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        subprocess.run(
            [sys.executable, "-m", "uqlens.cli", "build",
             str(ROOT / "tests" / "fixtures" / "tiny_generations.jsonl"), "--out", str(out),
             "--projection", "pca", "--cache-dir", str(base / "cache"), "--quiet"],
            check=True, cwd=ROOT, env=env, capture_output=True,
        )
        _BUILT["run"] = out
    return _BUILT["run"]


def no_model_check(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter, then fail if torch / sentence-transformers /
    transformers were imported."""
    tail = ("\nimport sys\nbad = [m for m in ('torch', 'sentence_transformers', 'transformers',"
            " 'llama_cpp') if m in sys.modules]\nassert not bad, bad\nprint('NO_MODEL_OK')\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code + tail], cwd=ROOT, env=env,
                          capture_output=True, text=True)
