"""Widget values that survive page switches.

Streamlit drops a widget's state when a page that does not render it runs, so a value that
must outlive a page switch (or be shared by two pages) is kept under an app key (``uq.*``)
and copied into the widget's key (``w.*``) before the widget is drawn.
"""

from __future__ import annotations

from typing import Any

import streamlit as st


def _copy(src: str, dst: str) -> None:
    st.session_state[dst] = st.session_state[src]


def persist(widget: str, default: Any, key: str | None = None) -> dict[str, Any]:
    """Keyword arguments (``key``, ``on_change``, ``args``) for a widget whose value is kept
    under ``key`` (default: ``widget`` with ``w.`` replaced by ``uq.``), ``default`` at first.

    Do not pass the widget a ``value``/``default``/``index`` as well: the kept value is it.
    """
    key = key or "uq." + widget.removeprefix("w.")
    st.session_state[widget] = st.session_state.setdefault(key, default)
    return {"key": widget, "on_change": _copy, "args": (widget, key)}
