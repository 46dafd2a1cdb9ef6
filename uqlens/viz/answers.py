"""Figures of answers: the answer map, one question's similarity graph, and the
uncertainty-against-correctness quadrants. Model text passes through
:func:`uqlens.viz.common.escape`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from uqlens.viz.common import CORRECTNESS_COLORS, answer_hover, escape

CLUSTER_COLORS = {
    "largest": "#3465a4",
    "2nd largest": "#f0a202",
    "3rd or smaller": "#8e6c8a",
    "no cluster": "#9aa0a6",
}
COLOR_BY = ("correctness", "cluster", "uncertainty", "question")


def _hover(points: pd.DataFrame, method: str) -> list[str]:
    tags = [f"{c} · {cl} cluster"
            for c, cl in zip(points["correctness"], points["cluster"], strict=True)]
    return answer_hover(points, method, tags)


def _trace(points: pd.DataFrame, method: str, name: str, **marker) -> go.Scattergl:
    symbols = np.where(points["is_judged"].to_numpy(bool), "diamond", "circle")
    return go.Scattergl(
        x=points["x"],
        y=points["y"],
        mode="markers",
        name=name,
        customdata=points["id"],
        text=_hover(points, method),
        hovertemplate="%{text}<extra></extra>",
        marker={"size": np.where(symbols == "diamond", 11, 8), "symbol": symbols, "opacity": 0.85,
                "line": {"width": 0.5, "color": "white"}, **marker},
    )


def answer_map(points: pd.DataFrame, color_by: str = "correctness", method: str = "",
               height: int = 620) -> go.Figure:
    """All answers in 2-D; ``customdata`` carries each point's ``question_id|sample_id``.

    ``points`` comes from :func:`uqlens.analysis.overview.map_points`. Diamonds are judged answers.
    """
    fig = go.Figure()
    if color_by in ("correctness", "cluster"):
        colors = CORRECTNESS_COLORS if color_by == "correctness" else CLUSTER_COLORS
        for name, color in colors.items():
            part = points[points[color_by] == name]
            if len(part):
                fig.add_trace(_trace(part, method, name, color=color))
    elif color_by == "uncertainty":
        known = points[points["uncertainty"].notna()]
        unknown = points[points["uncertainty"].isna()]
        if len(known):
            fig.add_trace(_trace(
                known, method, f"{method} uncertainty", color=known["uncertainty"],
                colorscale="Viridis", showscale=True,
                colorbar={"title": {"text": "uncertainty"}, "thickness": 12},
            ))
        if len(unknown):
            fig.add_trace(_trace(unknown, method, "undefined", color="#9aa0a6"))
    elif color_by == "question":
        codes = pd.Categorical(points["question_id"]).codes
        fig.add_trace(_trace(points, method, "answers", color=codes, colorscale="Turbo"))
    else:
        raise ValueError(f"unknown colouring {color_by!r}; expected one of {COLOR_BY}")
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        dragmode="lasso",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
        hoverlabel={"align": "left"},
        showlegend=color_by in ("correctness", "cluster"),
    )
    fig.update_xaxes(showticklabels=False, title=None, zeroline=False, showgrid=False)
    fig.update_yaxes(showticklabels=False, title=None, zeroline=False, showgrid=False)
    return fig


def affinity_heatmap(w: np.ndarray, labels: list[str], texts: list[str]) -> go.Figure:
    """The affinity matrix of one question's samples (hover shows both answers)."""
    safe_labels = [escape(x, limit=40) for x in labels]
    safe_texts = [escape(t, width=50, limit=120) for t in texts]
    hover = [[f"{safe_texts[i]}<br>↔<br>{safe_texts[j]}" for j in range(len(labels))]
             for i in range(len(labels))]
    fig = go.Figure(go.Heatmap(
        z=w, x=safe_labels, y=safe_labels, zmin=0, zmax=1, colorscale="Blues",
        text=hover, hovertemplate="%{text}<br>affinity %{z:.2f}<extra></extra>",
        colorbar={"thickness": 12},
    ))
    fig.update_layout(height=340, margin={"l": 10, "r": 10, "t": 10, "b": 10})
    fig.update_yaxes(autorange="reversed")
    return fig


def eigenvalue_bars(eigs: np.ndarray) -> go.Figure:
    """Laplacian eigenvalues; bars below 1 add ``1 - λ`` to the EigV score."""
    k = np.arange(1, len(eigs) + 1)
    colors = ["#3465a4" if e < 1 else "#b0b7c3" for e in eigs]
    fig = go.Figure(go.Bar(x=k, y=eigs, marker_color=colors,
                           hovertemplate="λ%{x} = %{y:.3f}<extra></extra>"))
    fig.add_hline(y=1.0, line_dash="dot", line_color="#666")
    fig.update_layout(height=340, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                      xaxis_title="k", yaxis_title="eigenvalue λ", yaxis_range=[0, 2])
    return fig


def quadrants(frames: dict[str, pd.DataFrame]) -> go.Figure:
    """Per method: certainty rank as a percentile (x) against the share of correct samples (y).

    Each frame comes from :func:`uqlens.analysis.overview.quadrant_table` (one method): columns
    ``question_id, question, rank_percentile, share_correct, flag, cut``. The shaded corner
    is what the gate (x <= cut) accepts although most samples are wrong.
    """
    methods = list(frames)
    cols = min(3, max(1, len(methods)))
    rows = int(np.ceil(len(methods) / cols)) or 1
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[escape(m) for m in methods],
                        horizontal_spacing=0.06, vertical_spacing=0.12)
    colors = {"confident hallucination": "#d1495b", "judged correct": "#2a9d5c",
              "judged incorrect": "#f0a202"}
    for i, method in enumerate(methods):
        r, c = i // cols + 1, i % cols + 1
        df = frames[method]
        x_cut = float(df["cut"].iloc[0]) if len(df) else 0.0
        fig.add_shape(type="rect", x0=0, x1=x_cut, y0=-0.05, y1=0.5, row=r, col=c,
                      fillcolor="rgba(209,73,91,0.10)", line_width=0, layer="below")
        fig.add_vline(x=x_cut, line_dash="dot", line_color="#888", row=r, col=c)
        for flag, color in colors.items():
            part = df[df["flag"] == flag]
            fig.add_trace(go.Scatter(
                x=part["rank_percentile"], y=part["share_correct"], mode="markers", name=flag,
                legendgroup=flag, showlegend=i == 0, customdata=part["question_id"],
                text=[f"{escape(q)}: {escape(t, limit=120)}"
                      for q, t in zip(part["question_id"], part["question"], strict=True)],
                hovertemplate="%{text}<br>percentile %{x:.0f} · correct share %{y:.2f}"
                              "<extra></extra>",
                marker={"color": color, "size": 8, "opacity": 0.8},
            ), row=r, col=c)
        fig.update_xaxes(range=[-2, 102], row=r, col=c,
                         title_text="certainty rank (percentile)" if r == rows else None)
        fig.update_yaxes(range=[-0.05, 1.05], row=r, col=c,
                         title_text="share correct" if c == 1 else None)
    fig.update_layout(height=60 + 300 * rows, margin={"l": 10, "r": 10, "t": 70, "b": 10},
                      legend={"orientation": "h", "yanchor": "top", "y": 0.99, "x": 0,
                              "yref": "container"})
    return fig
