"""Table helpers: downloads and display formatting (model text stays in st.dataframe)."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import streamlit as st

from uqlens.core.text import visible_controls

CELL_LIMIT = 500  # characters of model text in one table cell (the full text: Question page)


def to_parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def to_csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode("utf-8")


def download_buttons(df: pd.DataFrame, name: str, key: str) -> None:
    """CSV and Parquet download buttons for one table, side by side (built on click)."""
    with st.container(horizontal=True):
        st.download_button(f"{name}.csv", lambda: to_csv(df), file_name=f"{name}.csv",
                           mime="text/csv",
                           key=f"{key}.csv", icon=":material/download:", on_click="ignore")
        st.download_button(f"{name}.parquet", lambda: to_parquet(df), file_name=f"{name}.parquet",
                           mime="application/vnd.apache.parquet", key=f"{key}.parquet",
                           icon=":material/download:", on_click="ignore")


def fmt(value, digits: int = 3, undefined: str = "undefined") -> str:
    """A number as text, or ``undefined`` for NaN/None."""
    if value is None or value is pd.NA:
        return undefined
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    return undefined if np.isnan(v) else f"{v:.{digits}f}"


def _per_distinct(series: pd.Series, fn) -> pd.Series:
    """``series.map(fn)``, calling ``fn`` once per distinct value (a million answers hold a
    few hundred thousand texts, three labels); missing values go through ``fn`` once too."""
    typed = isinstance(series.dtype, pd.StringDtype | pd.BooleanDtype) or series.dtype == bool
    if len(series) < 1000 or not typed:  # lists, mixed objects (1 == True): row by row
        return series.map(fn)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    mapped = pd.Series(uniques).map(fn)
    if (codes < 0).any():  # the missing value's own result, appended last
        mapped = pd.concat([mapped, series[codes < 0].iloc[:1].reset_index(drop=True).map(fn)],
                           ignore_index=True)
        codes = np.where(codes < 0, len(uniques), codes)
    return pd.Series(mapped.array.take(codes), index=series.index, name=series.name)


def label_text(series: pd.Series) -> pd.Series:
    """Nullable boolean labels as ✓ correct / ✗ incorrect / unjudged."""
    return _per_distinct(series, lambda v: "unjudged" if pd.isna(v)
                         else ("✓ correct" if v else "✗ incorrect"))


_LOW = ("_ci_low", "_ci_lo", "_lower", "_low", "_lo")
_HIGH = ("_ci_high", "_ci_hi", "_upper", "_high", "_hi")


def metric_table(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Metrics as display text: ``value [low, high]``, ``undefined`` where NaN.

    Interval columns are recognised by suffix (``auroc_lo``/``auroc_hi``,
    ``auroc_ci_low``/``auroc_ci_high``, ...) and folded into their metric's column.
    """
    cols = list(table.columns)
    used: set[str] = set()
    out = pd.DataFrame(index=table.index)
    for col in cols:
        if col in used:
            continue
        if not pd.api.types.is_numeric_dtype(table[col]) or pd.api.types.is_bool_dtype(table[col]):
            out[col] = table[col].astype(str)
            continue
        if any(col.endswith(s) for s in _LOW + _HIGH):
            base = next((col[: -len(s)] for s in _LOW + _HIGH if col.endswith(s)), col)
            if base in cols:
                continue  # folded into the base column below
        lo = next((col + s for s in _LOW if col + s in cols), None)
        hi = next((col + s for s in _HIGH if col + s in cols), None)
        if lo and hi:
            used.update({lo, hi})
            out[col] = [
                fmt(v, digits) if fmt(v, digits) == "undefined" or pd.isna(a) or pd.isna(b)
                else f"{fmt(v, digits)} [{fmt(a, digits)}, {fmt(b, digits)}]"
                for v, a, b in zip(table[col], table[lo], table[hi], strict=True)
            ]
        elif pd.api.types.is_integer_dtype(table[col]):
            out[col] = table[col].astype(str)
        else:
            out[col] = [fmt(v, digits) for v in table[col]]
    return out.reset_index(drop=True)


_MD_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character


def md_escape(text: object) -> str:
    """Untrusted text made inert for ``st.markdown``: every ASCII punctuation character is
    backslash-escaped (CommonMark allows that for all of them), so no emphasis, link, HTML,
    LaTeX (``$``) or Streamlit directive (``:red[...]``, ``:material/...:``) survives."""
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", "  \n")


def cell_text(value: object, limit: int = CELL_LIMIT) -> object:
    """Model text for a table cell: control characters visible, cut at ``limit``
    characters with "… (N characters)"; anything that is not text passes unchanged."""
    if not isinstance(value, str):
        return value
    if len(value) > limit:
        value = f"{value[:limit]}… ({len(value):,} characters)"
    return visible_controls(value)


def visible(series: pd.Series, limit: int = CELL_LIMIT) -> pd.Series:
    """:func:`cell_text` over a column."""
    return _per_distinct(series, lambda v: cell_text(v, limit))
