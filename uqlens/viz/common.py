"""What every figure shares: escaping of untrusted text, and colours."""

from __future__ import annotations

import functools
import re
import textwrap
from collections.abc import Iterable

import numpy as np
import pandas as pd

from uqlens.core.text import visible_controls

CORRECTNESS_COLORS = {"correct": "#2a9d5c", "incorrect": "#d1495b", "unknown": "#9aa0a6"}

# Kelly's colours of maximum contrast (Kelly 1965, without white, black and grey), strongest
# first, then a teal: a run's 13 methods never share a colour, and none looks like the grey
# and black of the oracle and random baselines.
METHOD_PALETTE = (
    "#0067A5", "#F38400", "#008856", "#BE0032", "#875692", "#A1CAF1", "#C2B280", "#E68FAC",
    "#2B3D26", "#F3C300", "#882D17", "#8DB600", "#604E97", "#F99379", "#B3446C", "#654522",
    "#E25822", "#DCD300", "#F6A600", "#00A0A0",
)
BASELINE_COLORS = {"oracle": "#222222", "random": "#999999"}


def method_colors(names: Iterable[object]) -> dict[str, str]:
    """A distinct colour per name, in order (baselines grey); cycles only past 20 names."""
    out: dict[str, str] = {}
    i = 0
    for name in dict.fromkeys(str(n) for n in names):
        if name in BASELINE_COLORS:
            out[name] = BASELINE_COLORS[name]
        else:
            out[name] = METHOD_PALETTE[i % len(METHOD_PALETTE)]
            i += 1
    return out


_WRAP_SPACE = re.compile(r"[\t\n\x0b\x0c\r]")


def escape(text: object, width: int = 70, limit: int = 300) -> str:
    """Text made safe for Plotly labels: control characters shown as ``⟨U+XXXX⟩``, ``&``,
    ``<``, ``>`` escaped, shortened, wrapped with ``<br>`` (added after escaping, so only our
    own line breaks are markup)."""
    if isinstance(text, str):
        return _escape_str(text, width, limit)
    return _escape_str("" if text is None or (isinstance(text, float) and np.isnan(text))
                       else str(text), width, limit)


@functools.lru_cache(maxsize=1 << 14)  # a map repeats each question on every answer's hover
def _escape_str(s: str, width: int, limit: int) -> str:
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    s = visible_controls(s)
    if len(s) <= width and s == s.rstrip() and not _WRAP_SPACE.search(s):
        lines = [s]  # what textwrap gives a short line, without its cost (maps: 100,000s)
    else:
        lines = textwrap.wrap(s, width=width, replace_whitespace=True) or [""]
    safe = [ln.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for ln in lines]
    return "<br>".join(safe)


def answer_hover(points: pd.DataFrame, method: str, tags: Iterable[str]) -> list[str]:
    """Hover text of answer points: question, answer, the per-point ``tags`` (plain text),
    the method's score and whether it is the judged answer."""
    unc = points["uncertainty"].to_numpy(float)
    return [
        f"<b>Q</b> {escape(q)}<br><b>A</b> {escape(a)}<br>{escape(t, width=200)} · "
        f"{escape(method)} {'undefined' if np.isnan(u) else f'{u:.3f}'}"
        f"{' · judged answer' if j else ''}"
        # object arrays: iterating an Arrow string column boxes every value slowly
        for q, a, t, u, j in zip(points["question"].to_numpy(object),
                                 points["text"].to_numpy(object), tags, unc,
                                 points["is_judged"].to_numpy(object), strict=True)
    ]
