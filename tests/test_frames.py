"""uqlens.core.frames: the Arrow-kernel isin and first_seen give pandas' answers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from uqlens.core.frames import first_seen, isin


def test_isin_matches_pandas_on_text_numbers_and_missing():
    text = pd.Series(["q1", "q2", None, "q3", "q1"], dtype="str")
    assert isin(text, {"q1", "q3", "q9"}).tolist() == [True, False, False, True, True]
    assert isin(text, []).tolist() == [False] * 5
    assert isin(pd.Index(["a", "b"]), ["b"]).tolist() == [False, True]
    ints = pd.Series([1, 2, 3])
    assert isin(ints, [3, 1]).tolist() == [True, False, True]
    # values of another type than the column: pandas' own answer (nothing matches)
    assert isin(text, [1, 2]).tolist() == text.isin([1, 2]).tolist() == [False] * 5
    assert isinstance(isin(text, ["q1"]), np.ndarray)


def test_first_seen_keeps_order_of_first_appearance():
    col = pd.Series(["b", "a", "b", None, "c", "a"], dtype="str")
    assert first_seen(col) == ["b", "a", "c"]
    assert first_seen(pd.Series([], dtype="str")) == []
