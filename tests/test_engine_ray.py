"""``uqlens build --engine ray``: the Ray engine writes the run the local engine writes.

The equality test runs one local Ray instance with 2 CPUs for the module (Ray start-up is
slow) and builds the tiny fixture twice, each engine with its own empty cache so that both
compute every embedding and pair. Its NLI model is a tiny BERT with seeded random weights
(no download): its probabilities vary with the input, so the pairs and the clusters they
make are a real check, not a constant.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _built_run import no_model_check
from _tiny_nli import save_tiny_nli

from uqlens.backends import similarity
from uqlens.build.config import BuildConfig
from uqlens.build.errors import BuildError
from uqlens.build.pipeline import build

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "tiny_generations.jsonl"
QUIET = {"progress": False, "log": lambda _: None}


def require_ray():
    """``ray``; CI sets UQLENS_REQUIRE_RAY (.ci/run), so a missing Ray fails there."""
    try:
        import ray
    except ImportError:
        if os.environ.get("UQLENS_REQUIRE_RAY"):
            pytest.fail("Ray is not installed (pip install -r requirements-dev.txt)")
        pytest.skip("Ray is not installed (pip install 'uqlens[ray]')")
    return ray


def test_closing_a_ray_engine_it_started_restores_print():
    """Ray 2.60's shutdown leaves builtins.print replaced by its wrapper (a later pickle of
    print changed bytes); the engine puts the caller's back. Runs before the module's Ray
    instance starts, so the engine starts and stops its own."""
    import builtins

    ray = require_ray()
    assert not ray.is_initialized()
    from uqlens.build.engine import RayEngine

    before = builtins.print
    RayEngine(None).close()
    assert not ray.is_initialized() and builtins.print is before


@pytest.fixture(scope="module")
def ray_instance():
    import builtins

    ray = require_ray()
    own_print = builtins.print
    ray.init(num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()
    builtins.print = own_print  # Ray leaves its wrapper behind; later tests pickle print


def save_random_nli(folder: Path) -> str:
    """A tiny BERT NLI model with seeded random weights; its classifier is scaled up so the
    three labels each win on some pairs."""
    return save_tiny_nli(folder, 7, lambda head: head.weight.mul_(40.0))


def fake_model_class(*args, **kwargs):
    """Fake stand-in for the model classes in the driver: under the Ray engine the models
    load in the workers (which import the real classes), never in the driver."""
    raise AssertionError("the driver loaded a model under the Ray engine")


def assert_same_tables(a: Path, b: Path) -> None:
    """Every Parquet table of run ``a`` equals run ``b``'s: the same rows in the same order,
    floats (and vectors) within 1e-12, everything else exactly."""
    names = sorted(p.name for p in a.glob("*.parquet"))
    assert names == sorted(p.name for p in b.glob("*.parquet"))
    for name in names:
        x, y = pd.read_parquet(a / name), pd.read_parquet(b / name)
        assert list(x.columns) == list(y.columns) and len(x) == len(y), name
        for col in x.columns:
            where = f"{name}: column {col}"
            if x[col].dtype.kind == "f":
                np.testing.assert_allclose(x[col], y[col], rtol=0, atol=1e-12, equal_nan=True,
                                           err_msg=where)
            elif len(x) and isinstance(x[col].iloc[0], np.ndarray):
                for i, (u, v) in enumerate(zip(x[col], y[col], strict=True)):
                    if u.dtype.kind == "f":
                        np.testing.assert_allclose(u, v, rtol=0, atol=1e-12,
                                                   err_msg=f"{where}, row {i}")
                    else:
                        assert u.tolist() == v.tolist(), f"{where}, row {i}"
            else:
                pd.testing.assert_series_equal(x[col], y[col], check_exact=True, obj=where)


@pytest.mark.model
def test_ray_engine_writes_the_run_the_local_engine_writes(tmp_path, ray_instance,
                                                           monkeypatch):
    nli = save_random_nli(tmp_path / "nli")
    params = {"rules": ("exact", "threshold:0.8@cosine", "embedding:0.9:average", "strict@nli"),
              "entailment": ("cosine", f"nli:{nli}"),
              "judges": ("squad_f1", "embedding_similarity", "nli_reference@nli"),
              "projection": "pca"}
    local = build(FIXTURE, tmp_path / "local" / "run", BuildConfig(**params),
                  cache_dir=tmp_path / "local-cache", **QUIET)

    monkeypatch.setattr(similarity, "SentenceTransformerEmbedder", fake_model_class)
    monkeypatch.setattr(similarity, "HFNLIEntailment", fake_model_class)
    remote = build(FIXTURE, tmp_path / "ray" / "run", BuildConfig(**params, engine="ray"),
                   cache_dir=tmp_path / "ray-cache", **QUIET)

    assert local["engine"] == {"name": "local"}
    assert remote["engine"] == {"name": "ray", "address": "local instance", "cpus": 2,
                                "gpus": 0}
    # Both caches started empty: the Ray workers embedded and paired everything themselves.
    assert remote["counts"]["embeddings_computed"] > 0
    assert remote["counts"]["pairs_computed[nli]"] > 0
    skip = {"created", "timings", "engine", "params"}
    assert {k: v for k, v in remote.items() if k not in skip} == {
        k: v for k, v in local.items() if k not in skip}
    assert {**remote["params"], "engine": "local"} == local["params"]

    assert_same_tables(tmp_path / "local" / "run", tmp_path / "ray" / "run")
    clusters = pd.read_parquet(tmp_path / "ray" / "run" / "clusters.parquet")
    assert set(clusters["rule"]) == {"exact", "threshold:0.8@cosine", "embedding:0.9:average",
                                     "strict@nli"}
    # The random model both merges and splits answers: the NLI partitions are not trivial.
    sizes = clusters[clusters["rule"] == "strict@nli"].groupby(
        ["question_id", "cluster_id"]).size()
    assert (sizes > 1).any() and (sizes.groupby("question_id").size() > 1).any()


def test_a_model_actor_gives_llama_the_cpus_it_holds(ray_instance):
    """Each actor holds one CPU; a llama.cpp model in it must not take every CPU of the node
    (two actors on this 2-CPU instance would each have taken 2 threads)."""
    from uqlens.backends.llm import default_threads
    from uqlens.build.engine import RayEngine

    # A fake model: the thread count a llama.cpp model would take in the actor (a lambda,
    # so Ray ships it by value to workers that cannot import this test module).
    threads_here = lambda device: default_threads()  # noqa: E731
    engine = RayEngine(None)
    try:
        got = engine.run_model("llm", threads_here, lambda threads, chunk: threads, [0, 1],
                               desc="threads")
    finally:
        engine.close()
    assert got == [1, 1]


@pytest.mark.parametrize("kwargs, message", [
    ({"engine": "spark"}, "unknown engine 'spark'; expected one of local, ray"),
    ({"ray_address": "auto"}, "a Ray address ('auto') needs engine 'ray'"),
    ({"engine": "ray", "ray_address": "head node"}, "Ray address 'head node': expected"),
    ({"engine": "ray", "ray_address": "http://head:8265"}, "Ray address 'http://head:8265'"),
])
def test_bad_engine_settings_are_refused_when_the_config_is_made(kwargs, message):
    with pytest.raises(BuildError) as err:
        BuildConfig(**kwargs)
    assert message in str(err.value)


def test_engine_settings_are_checked_without_loading_a_model_or_ray():
    result = no_model_check(
        "from uqlens.build.config import BuildConfig, BuildError\n"
        "try:\n    BuildConfig(engine='spark')\nexcept BuildError as e:\n    print(e)\n"
        "for address in ('auto', 'ray://head:10001', '10.0.0.5:6379', None):\n"
        "    BuildConfig(engine='ray', ray_address=address)\n"
        "import sys\nassert 'ray' not in sys.modules\n")
    assert result.returncode == 0, result.stderr
    assert "unknown engine 'spark'" in result.stdout
    assert "NO_MODEL_OK" in result.stdout


def fake_ray_not_installed(monkeypatch) -> None:
    """Fake a missing Ray: ``import ray`` fails as when the package is not installed."""
    monkeypatch.setitem(sys.modules, "ray", None)


def test_a_missing_ray_is_a_clear_error_before_any_work(tmp_path, monkeypatch):
    fake_ray_not_installed(monkeypatch)
    with pytest.raises(BuildError, match=r"pip install 'uqlens\[ray\]'"):
        build(FIXTURE, tmp_path / "run", BuildConfig(engine="ray", projection="pca"),
              cache_dir=tmp_path / "cache", **QUIET)
    # no cache opened, no run written: the build stopped before reading anything
    assert not (tmp_path / "cache").exists() and not (tmp_path / "run").exists()


def test_cli_says_how_to_install_ray(tmp_path, monkeypatch, capsys):
    from uqlens.cli import EXIT_DATA, main

    fake_ray_not_installed(monkeypatch)
    code = main(["build", str(FIXTURE), "--out", str(tmp_path / "run"), "--engine", "ray",
                 "--address", "auto", "--quiet", "--cache-dir", str(tmp_path / "cache")])
    assert code == EXIT_DATA
    assert "the Ray engine needs Ray: pip install 'uqlens[ray]'" in capsys.readouterr().err
