"""What every figure shares: escaping of untrusted text, and colours."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

import numpy as np

from uqlens.core.text import visible_controls

CORRECTNESS_COLORS = {"correct": "#2a9d5c", "incorrect": "#d1495b", "unknown": "#9aa0a6"}

# 24 colours that stay apart from each other (Plotly's "Dark24"), so a run's 13 methods plus
# the oracle and random baselines never share a colour in one chart.
METHOD_PALETTE = (
    "#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A", "#B68100", "#750D86",
    "#EB663B", "#511CFB", "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE",
    "#862A16", "#A777F1", "#620042", "#1616A7", "#DA60CA", "#6C4516", "#0D2A63", "#AF0038",
)
BASELINE_COLORS = {"oracle": "#555555", "random": "#999999"}


def method_colors(names: Iterable[object]) -> dict[str, str]:
    """A distinct colour per name, in order (baselines grey); cycles only past 24 names."""
    out: dict[str, str] = {}
    i = 0
    for name in dict.fromkeys(str(n) for n in names):
        if name in BASELINE_COLORS:
            out[name] = BASELINE_COLORS[name]
        else:
            out[name] = METHOD_PALETTE[i % len(METHOD_PALETTE)]
            i += 1
    return out


def escape(text: object, width: int = 70, limit: int = 300) -> str:
    """Text made safe for Plotly labels: control characters shown as ``⟨U+XXXX⟩``, ``&``,
    ``<``, ``>`` escaped, shortened, wrapped with ``<br>`` (added after escaping, so only our
    own line breaks are markup)."""
    s = "" if text is None or (isinstance(text, float) and np.isnan(text)) else str(text)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    s = visible_controls(s)
    lines = textwrap.wrap(s, width=width, replace_whitespace=True) or [""]
    safe = [ln.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for ln in lines]
    return "<br>".join(safe)
