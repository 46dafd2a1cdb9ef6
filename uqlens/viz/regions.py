"""Figure builders for the confidence-region view (pure functions returning Plotly figures).

Colour shows one attribute (the confidence band or the correctness), the marker symbol the
other, so confident-but-wrong answers stand out in either colouring. Text is escaped with
:func:`uqlens.viz.common.escape`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from uqlens.viz.common import CORRECTNESS_COLORS, answer_hover

BAND_COLORS = {"confident": "#3465a4", "uncertain": "#f0a202", "undefined": "#9aa0a6"}
# the attribute not shown by colour is shown by the symbol
CORRECTNESS_SYMBOLS = {"correct": "circle", "incorrect": "x", "unknown": "circle-open"}
BAND_SYMBOLS = {"confident": "circle", "uncertain": "circle-open", "undefined": "triangle-up"}
COLOR_BY = ("band", "correctness")


def _hover(points: pd.DataFrame, method: str) -> list[str]:
    tags = [f"{b} band · {c}" for b, c in zip(points["band"], points["correctness"], strict=True)]
    return answer_hover(points, method, tags)


DRAWN = 20_000
"""At most this many answers drawn by :func:`region_map` (a random choice; every count and
statistic of the page is over all answers): beyond, building the hover text and shipping
the points cost seconds on every change of a widget."""


def drawn_points(points: pd.DataFrame, cap: int | None = DRAWN, seed: int = 0) -> pd.DataFrame:
    """``points`` when at most ``cap`` rows, else ``cap`` of them chosen at random (``seed``),
    in their original order (:func:`uqlens.analysis.regions.sample_rows`)."""
    from uqlens.analysis.regions import sample_rows

    return sample_rows(points, cap, seed)


def region_map(points: pd.DataFrame, color_by: str = "band", method: str = "",
               height: int = 600, cap: int | None = DRAWN) -> go.Figure:
    """Answers in 2-D coloured by confidence band (or correctness), symbol by the other.

    ``points`` comes from :func:`uqlens.analysis.regions.region_points`; ``customdata`` carries each
    point's ``question_id|sample_id``. One trace per (colour, symbol) pair, named
    "colour value · symbol value" so the legend reads as the 2×2 table. At most ``cap``
    points are drawn (:func:`drawn_points`).
    """
    if color_by not in COLOR_BY:
        raise ValueError(f"unknown colouring {color_by!r}; expected one of {COLOR_BY}")
    points = drawn_points(points, cap)
    other = "correctness" if color_by == "band" else "band"
    colors = BAND_COLORS if color_by == "band" else CORRECTNESS_COLORS
    symbols = CORRECTNESS_SYMBOLS if color_by == "band" else BAND_SYMBOLS
    fig = go.Figure()
    for cname, color in colors.items():
        for sname, symbol in symbols.items():
            part = points[(points[color_by] == cname) & (points[other] == sname)]
            if not len(part):
                continue
            judged = part["is_judged"].to_numpy(bool)
            fig.add_trace(go.Scattergl(
                x=part["x"], y=part["y"], mode="markers", name=f"{cname} · {sname}",
                customdata=part["id"], text=_hover(part, method),
                hovertemplate="%{text}<extra></extra>",
                marker={"color": color, "symbol": symbol, "size": np.where(judged, 12, 9),
                        "opacity": 0.85, "line": {"width": 1.5, "color": color}},
            ))
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
        hoverlabel={"align": "left"},
    )
    fig.update_xaxes(showticklabels=False, title=None, zeroline=False, showgrid=False)
    fig.update_yaxes(showticklabels=False, title=None, zeroline=False, showgrid=False)
    return fig


def region_bars(stats: dict) -> go.Figure:
    """Accuracy inside and outside the confident band next to the overall accuracy."""
    names = ["confident band", "uncertain band", "all counted answers"]
    values = [stats["accuracy_inside"], stats["accuracy_outside"], stats["base_accuracy"]]
    fig = go.Figure(go.Bar(
        x=names, y=[0 if np.isnan(v) else v for v in values],
        marker_color=[BAND_COLORS["confident"], BAND_COLORS["uncertain"], "#9aa0a6"],
        text=["–" if np.isnan(v) else f"{v:.0%}" for v in values], textposition="outside",
        hovertemplate="%{x}: %{text} correct<extra></extra>",
    ))
    fig.update_layout(height=260, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                      yaxis={"range": [0, 1.15], "tickformat": ".0%", "title": "correct"})
    return fig
