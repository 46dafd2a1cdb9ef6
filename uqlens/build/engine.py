"""Where a build's model calls and scoring run (``BuildConfig.engine``).

:class:`LocalEngine` (the default) runs them in this process. :class:`RayEngine` runs them on
a Ray cluster: each model is loaded once per actor (one actor per CPU, or per GPU when the
cluster has GPUs and the model can use one), and scoring runs as Ray tasks over batches of
questions. The driver keeps the rest: reading the data, the content cache (only its misses
go to the actors, and their results are written back by the driver), clustering decisions,
the projection and writing the run.

Both engines cut the work into the same chunks (:data:`EMBED_CHUNK`, :func:`pair_chunk`,
:data:`SCORE_CHUNK`), so a model sees the same batches either way and both write the same
run. Ray is an optional extra, imported only here and only by :class:`RayEngine`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from uqlens.build.errors import BuildError

EMBED_CHUNK = 512
"""Texts per embedding call."""
SCORE_CHUNK = 64
"""Question views per scoring call (one Ray task)."""
PAIR_FORWARD_PASSES = 16
"""Forward passes per pair call: a chunk of ``16 * batch_size`` pairs keeps the number of
NLI forward passes what one call over all pairs would need."""

RAY_MISSING = "the Ray engine needs Ray: pip install 'uqlens[ray]'"

Bar = Callable[..., Iterable]


def chunked(items: Sequence, size: int) -> list:
    """``items`` cut into consecutive slices of at most ``size``."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def pair_chunk(batch_size: int) -> int:
    return PAIR_FORWARD_PASSES * int(batch_size)


def _no_bar(it, desc=None, total=None):
    return it


def _progress(bar: Bar, items: Iterable, desc: str, total: int | None = None) -> Iterable:
    """``items`` under a progress bar when there is more than one (a bar per small model call
    would flicker under the clustering's own)."""
    total = len(items) if total is None else total
    return bar(items, desc, total=total) if total > 1 else items


def make_engine(config, bar: Bar | None = None) -> LocalEngine | RayEngine:
    """The engine ``config`` asks for; a Ray engine connects (or starts Ray) here."""
    if config.engine == "ray":
        return RayEngine(config.ray_address, bar)
    return LocalEngine(bar)


class LocalEngine:
    """Everything in this process, one chunk after another."""

    name = "local"

    def __init__(self, bar: Bar | None = None):
        self._bar = bar or _no_bar

    def run_model(self, key: str, recipe: Callable[[str], Any], fn: Callable, chunks: list,
                  *, local: Callable[[], Any], gpu: bool = False, desc: str = "") -> list:
        """``[fn(model, chunk) for chunk in chunks]``; ``local()`` gives the caller's own
        model, loaded on first use (``key``, ``recipe`` and ``gpu`` serve the Ray engine)."""
        if not chunks:
            return []
        model = local()
        return [fn(model, chunk) for chunk in _progress(self._bar, chunks, desc)]

    def map_tasks(self, fn: Callable, batches: Iterable, *shared, desc: str = "") -> list:
        """``[fn(batch, *shared) for batch in batches]``."""
        return [fn(batch, *shared) for batch in batches]

    def describe(self) -> dict:
        return {"name": self.name}

    def close(self) -> None:
        pass


def import_ray():
    """The ``ray`` module, or a :class:`BuildError` saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise BuildError(f"{RAY_MISSING} ({exc})") from None
    return ray


class ModelHolder:
    """State of a Ray model actor: one model, loaded once, applied to chunk after chunk."""

    def __init__(self, recipe: Callable[[str], Any]):
        import ray

        from uqlens.backends.llm import THREADS_ENV

        # A llama.cpp model would otherwise take every CPU of the node in each actor.
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
        os.environ[THREADS_ENV] = str(max(1, int(cpus)))
        self.model = recipe("cuda" if ray.get_gpu_ids() else "cpu")

    def apply(self, fn: Callable, chunk):
        return fn(self.model, chunk)


class RayEngine:
    """Model calls on Ray actors, scoring as Ray tasks; see the module docstring.

    One model at a time holds the cluster: a call for another model, or scoring, first frees
    the previous model's actors (their CPUs and GPUs), so actors never wait on each other.
    """

    name = "ray"

    def __init__(self, address: str | None = None, bar: Bar | None = None):
        import builtins

        ray = import_ray()
        self._ray, self._bar, self.address = ray, bar or _no_bar, address
        # ray.shutdown() leaves builtins.print replaced by its own wrapper (Ray 2.60): keep
        # the caller's print to put it back
        self._print = builtins.print
        # A Ray instance already running in this process (a test's, a notebook's) is reused.
        self._started = not ray.is_initialized()
        if self._started:
            try:
                if address is None:
                    ray.init(num_cpus=os.cpu_count(), include_dashboard=False)
                else:
                    ray.init(address=address)
            except Exception as err:  # noqa: BLE001  (Ray raises many kinds; all mean: no cluster)
                where = f"join the Ray cluster at {address}" if address else "start Ray here"
                raise BuildError(f"could not {where}: {err}") from None
        resources = ray.cluster_resources()
        self.cpus, self.gpus = int(resources.get("CPU", 0)), int(resources.get("GPU", 0))
        self._holder = ray.remote(ModelHolder)
        self._actors: dict[str, list] = {}

    def run_model(self, key: str, recipe: Callable[[str], Any], fn: Callable, chunks: list,
                  *, local: Callable[[], Any] | None = None, gpu: bool = False,
                  desc: str = "") -> list:
        """``[fn(model, chunk) for chunk in chunks]`` on actors holding ``recipe(device)``,
        results in chunk order (``local`` is not used: the driver loads no model)."""
        from ray.util import ActorPool

        if not chunks:
            return []
        actors = self._actors_for(key, recipe, gpu, len(chunks))
        results = ActorPool(actors).map(lambda actor, chunk: actor.apply.remote(fn, chunk),
                                        chunks)
        try:
            return list(_progress(self._bar, results, desc, len(chunks)))
        except self._ray.exceptions.RayError as err:
            raise BuildError(f"Ray engine: {desc or key} failed on a worker: {err}") from None

    def _actors_for(self, key, recipe, gpu: bool, wanted: int) -> list:
        for other in [k for k in self._actors if k != key]:
            self._free(other)
        actors = self._actors.setdefault(key, [])
        if gpu and self.gpus:
            slots, options = self.gpus, {"num_gpus": 1}
        else:
            slots, options = max(1, self.cpus), {"num_cpus": 1}
        while len(actors) < min(wanted, slots):
            actors.append(self._holder.options(**options).remote(recipe))
        return actors

    def _free(self, key: str) -> None:
        for actor in self._actors.pop(key, []):
            self._ray.kill(actor)

    def map_tasks(self, fn: Callable, batches: Iterable, *shared, desc: str = "") -> list:
        """``[fn(batch, *shared) for batch in batches]`` as Ray tasks of one CPU each,
        submitted as ``batches`` yields them; ``shared`` goes to the object store once."""
        for key in list(self._actors):
            self._free(key)  # the tasks need the CPUs the model actors hold
        ray = self._ray
        task = ray.remote(num_cpus=1)(fn)
        refs_shared = [ray.put(value) for value in shared]
        refs = [task.remote(batch, *refs_shared) for batch in batches]
        try:
            return [ray.get(ref) for ref in self._bar(refs, desc, total=len(refs))]
        except ray.exceptions.RayError as err:
            raise BuildError(f"Ray engine: {desc or 'a task'} failed on a worker: {err}") \
                from None

    def describe(self) -> dict:
        return {"name": self.name, "address": self.address or "local instance",
                "cpus": self.cpus, "gpus": self.gpus}

    def close(self) -> None:
        for key in list(self._actors):
            self._free(key)
        if self._started:
            import builtins

            self._ray.shutdown()
            builtins.print = self._print
