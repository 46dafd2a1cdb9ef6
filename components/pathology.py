"""Cached calls into the pathology modules (agreement, sensitivity, judge_audit, tail,
conformal) for the pages; caching only here, at the I/O edge. No model is loaded."""

from __future__ import annotations

import importlib

import streamlit as st

from components import state

MODULES = ("agreement", "sensitivity", "judge_audit", "tail", "conformal", "regions",
           "review")


@st.cache_data(show_spinner="Computing from the run's cache…", max_entries=64)
def _compute(module: str, fn: str, path: str, stamp: tuple, args: tuple, kwargs: tuple):
    if module not in MODULES:
        raise ValueError(module)
    mod = importlib.import_module(f"uqlens.analysis.{module}")
    return getattr(mod, fn)(state._load(path, stamp[0]), *args, **dict(kwargs))


def compute(module: str, fn: str, view: state.View, *args, **kwargs):
    """``uqlens.<module>.<fn>(run, *args, **kwargs)``, cached per run version and arguments."""
    p = state.resolve(view.run.path)
    return _compute(module, fn, str(p), state.version(p), tuple(args),
                    tuple(sorted(kwargs.items())))
