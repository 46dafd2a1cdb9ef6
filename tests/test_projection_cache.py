"""numba's cache folder lives under the uqlens cache, set before numba is imported."""

import os
import subprocess
import sys


def test_numba_cache_dir_is_under_the_uqlens_cache(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["UQLENS_CACHE"] = str(tmp_path)
    code = (
        "from uqlens.core.projection import use_numba_cache\n"
        "folder = use_numba_cache()\n"
        "import numba.core.config as c\n"
        "print(folder); print(c.CACHE_DIR)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[0] == str(tmp_path / "numba")
    assert out[1] == str(tmp_path / "numba")
    assert (tmp_path / "numba").is_dir()


def test_a_user_numba_cache_dir_wins(tmp_path):
    env = dict(os.environ, UQLENS_CACHE=str(tmp_path / "u"), NUMBA_CACHE_DIR=str(tmp_path / "n"))
    code = "from uqlens.core.projection import use_numba_cache\nprint(use_numba_cache())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == str(tmp_path / "n")
    assert not (tmp_path / "u" / "numba").exists()
