"""Reruns that change nothing a computation depends on do not repeat it: the Question page's
Next / Previous clicks never recompute the judged answers of the whole run, and compute each
question's graph once (counted by wrapping the library functions the pages call)."""

from __future__ import annotations

import functools
from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

from uqlens.analysis import overview, spectrum

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def _counting(monkeypatch, module, name: str) -> list:
    calls: list = []
    original = getattr(module, name)

    @functools.wraps(original)  # same module and name: the cache key of the real function
    def counted(*args, **kwargs):
        calls.append(args[1:])
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_question_clicks_reuse_cached_results(monkeypatch):
    st.cache_data.clear()
    judged = _counting(monkeypatch, overview, "judged_answers")
    graphs = _counting(monkeypatch, spectrum, "question_spectrum")
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["uq.run"] = "tests/fixtures/tiny_run"
    at.query_params["q"] = "q01"
    at.switch_page("pages/question.py")
    at.run()
    first_run = len(judged)
    for button in (1, 1, 0, 0):  # Next, Next, Previous, Previous: q02, q03, q02, q01
        at.button[button].click().run()
        assert not at.exception, [e.value for e in at.exception]
    at.run()  # a rerun with nothing changed
    assert at.selectbox(key="w.q").value == "q01"
    assert len(judged) == first_run  # no click merged the judged answers again
    assert [c[-1] for c in graphs] == ["q01", "q02", "q03"]
