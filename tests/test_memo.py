"""uqlens.run.memo: a frame is computed once per run object and key, again when the human
labels change, and callers get copies they may change freely."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from uqlens.run import labels
from uqlens.run.memo import MEMO_ENTRIES, memo


def test_memo_computes_once_per_key_and_labels_state(tmp_path):
    run = SimpleNamespace(path=tmp_path, human_judges=[])
    calls = []

    def compute(tag):
        calls.append(tag)
        return pd.DataFrame({"x": [1, 2]})

    first = memo(run, "t", ("a",), lambda: compute("a"))
    again = memo(run, "t", ("a",), lambda: compute("a"))
    assert calls == ["a"] and again.equals(first)
    again.loc[0, "x"] = 99  # a caller's change stays its own
    assert memo(run, "t", ("a",), lambda: compute("a"))["x"].tolist() == [1, 2]
    memo(run, "t", ("b",), lambda: compute("b"))
    assert calls == ["a", "b"]
    labels.labels_path(tmp_path).write_text("{}\n")  # a person labelled something
    memo(run, "t", ("a",), lambda: compute("a"))
    assert calls == ["a", "b", "a"]
    run.human_judges = ["human+squad_f1"]
    memo(run, "t", ("a",), lambda: compute("a"))
    assert calls == ["a", "b", "a", "a"]


def test_memo_keeps_a_bounded_number_of_frames(tmp_path):
    run = SimpleNamespace(path=tmp_path, human_judges=[])
    for i in range(MEMO_ENTRIES + 3):
        memo(run, "t", (i,), lambda: pd.DataFrame({"x": [0]}))
    assert len(run._analysis_memo["t"]) == MEMO_ENTRIES
    for i in range(3):
        memo(run, "u", (i,), lambda: pd.DataFrame({"x": [0]}), keep=2)
    assert list(run._analysis_memo["u"]) == [((1,), None, ()), ((2,), None, ())]


def test_objects_without_attributes_are_computed_every_time():
    calls = []
    for _ in range(2):
        memo(object(), "t", (), lambda: calls.append(1) or pd.DataFrame())
    assert calls == [1, 1]
