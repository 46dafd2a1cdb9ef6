"""One cache for the pages' calls into the library: ``cached(fn, run, *args)``.

``fn`` is a real function (a rename fails at import, not when a page runs). A result is kept
per function, run folder, run version (manifest time and human labels, see
:func:`components.runs.version`) and arguments; a rerun that changes
none of them costs a dictionary look-up. Results are copied out of the cache (a page cannot
alter what another session sees).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from components import runs
from uqlens.run.folder import Run


def _name(fn: Callable) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def _run(path: str, version: tuple, subset: tuple | None) -> Run:
    run = runs.load(path, version[0])
    return run if subset is None else run.restricted(subset)


@st.cache_resource(show_spinner=False, max_entries=8)
def _source(name: str, path: str, version: tuple, subset: tuple | None,
            _make: Callable) -> Any:
    return _make(_run(path, version, subset))


@st.cache_data(show_spinner="Computing from the run…", max_entries=256)
def _call(name: str, path: str, version: tuple, subset: tuple | None, args: tuple,
          kwargs: tuple, via: str | None, _fn: Callable, _via: Callable | None) -> Any:
    first = (_run(path, version, subset) if _via is None
             else _source(via, path, version, subset, _via))
    return _fn(first, *args, **dict(kwargs))


def cached(fn: Callable, run: Run, *args, via: Callable | None = None, **kwargs) -> Any:
    """``fn(run, *args, **kwargs)``, computed once per run version and arguments.

    ``via``: pass ``via(run)`` to ``fn`` instead of the run, an object built once per run
    version and shared (e.g. :class:`uqlens.run.rescore.Replay`, which reads every pair).
    Arguments must be hashable by Streamlit (strings, numbers, tuples).
    """
    path = str(runs.resolve(run.path))
    return _call(_name(fn), path, runs.version(path), run.subset, tuple(args),
                 tuple(sorted(kwargs.items())), None if via is None else _name(via), fn, via)
