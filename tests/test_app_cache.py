"""Reruns that change nothing a computation depends on do not repeat it: the Question page's
Next / Previous clicks compute each question's detail (from its own rows, never the whole
run's judged answers) and graph once (counted by wrapping the library functions the pages
call)."""

from __future__ import annotations

import functools
from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

from uqlens.analysis import overview, spectrum

APP = str(Path(__file__).resolve().parent.parent / "app.py")


class _Calls(list):
    subsets: list


def _counting(monkeypatch, module, name: str) -> _Calls:
    calls = _Calls()
    subsets = calls.subsets = []  # the run's question subset per call (None: the whole run)
    original = getattr(module, name)

    @functools.wraps(original)  # same module and name: the cache key of the real function
    def counted(*args, **kwargs):
        calls.append(args[1:])
        subsets.append(getattr(args[0], "subset", None))
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_question_clicks_reuse_cached_results(monkeypatch):
    st.cache_data.clear()
    judged = _counting(monkeypatch, overview, "judged_answers")
    details = _counting(monkeypatch, overview, "question_detail")
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
    # no click asked for the whole run's judged answers (a question's detail computes its
    # own from a one-question view of the run)
    assert judged.subsets[first_run:] and None not in judged.subsets[first_run:]
    assert len(details) == 3  # q01, q02, q03: each computed once, the way back is cached
    assert [c[-1] for c in graphs] == ["q01", "q02", "q03"]
