"""Figures of method metrics: agreement heatmaps, sensitivity curves and ranks, ROC,
accuracy–rejection, reliability, conformal set sizes. One colour per method
(:func:`uqlens.viz.common.method_colors`); names from the run are escaped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from uqlens.analysis.tail import DEFAULT_FPRS
from uqlens.core.frames import first_seen
from uqlens.viz.common import escape, method_colors


def _name(x: object) -> str:
    return escape(x, width=200, limit=80)


def _integer_axis(values: pd.Series) -> dict:
    """Ticks at the swept values when they are whole numbers (no "2.5 samples")."""
    v = pd.to_numeric(pd.Series(values), errors="coerce").dropna().unique()
    if len(v) and np.all(np.isclose(v, np.round(v))):
        ticks = sorted({int(round(x)) for x in v})
        return {"tickmode": "array", "tickvals": ticks}
    return {}


def heatmap(mat: pd.DataFrame, title: str, zmin=0.0, zmax=1.0) -> go.Figure:
    z = mat.to_numpy(dtype=float)
    fig = go.Figure(go.Heatmap(z=z, x=[_name(c) for c in mat.columns],
                               y=[_name(i) for i in mat.index], zmin=zmin, zmax=zmax,
                               colorscale="Viridis", text=np.round(z, 2),
                               texttemplate="%{text}"))
    fig.update_layout(title=title, height=420 + 12 * len(mat), margin=dict(l=10, r=10, t=40))
    return fig


def curve_figure(curve: pd.DataFrame, title: str, xlabel: str, numeric: bool = True,
                 colors: dict[str, str] | None = None) -> go.Figure:
    colors = {**method_colors(curve["method"]), **(colors or {})}
    fig = go.Figure()
    for method, g in curve.groupby("method", sort=False):
        x = g["value"] if numeric else g["value"].astype(str)
        fig.add_trace(go.Scatter(
            x=x, y=g["auroc"], mode="lines+markers", name=_name(method),
            line=dict(color=colors[str(method)]),
            error_y=dict(type="data", symmetric=False, array=(g["hi"] - g["auroc"]).clip(lower=0),
                         arrayminus=(g["auroc"] - g["lo"]).clip(lower=0))))
    fig.add_hline(y=0.5, line_dash="dot", line_color="grey")
    has_ci = bool(curve[["lo", "hi"]].notna().any().any()) if {"lo", "hi"} <= set(curve) \
        else False
    fig.update_layout(title=title, xaxis_title=xlabel,
                      yaxis_title="AUROC (95 % bootstrap CI)" if has_ci else "AUROC",
                      height=420, margin=dict(l=10, r=10, t=40))
    if numeric:
        fig.update_xaxes(**_integer_axis(curve["value"]))
    return fig


def bump_figure(ranks: pd.DataFrame, title: str, xlabel: str, numeric: bool = True,
                colors: dict[str, str] | None = None) -> go.Figure:
    colors = {**method_colors(ranks["method"]), **(colors or {})}
    fig = go.Figure()
    for method, g in ranks.groupby("method", sort=False):
        x = g["value"] if numeric else g["value"].astype(str)
        fig.add_trace(go.Scatter(x=x, y=g["rank"], mode="lines+markers", name=_name(method),
                                 line=dict(color=colors[str(method)])))
    # ranks are whole numbers: one tick per rank, never "2.5"
    fig.update_yaxes(autorange="reversed", title="rank by AUROC (1 = best)", tickmode="linear",
                     tick0=1, dtick=1)
    fig.update_layout(title=title, xaxis_title=xlabel, height=380, margin=dict(l=10, r=10, t=40))
    if numeric:
        fig.update_xaxes(**_integer_axis(ranks["value"]))
    return fig


CURVE_POINTS = 1_000
"""Points per method a rejection curve is drawn with (a chart is about 1,000 pixels wide;
10,000 questions × 15 curves would ship 4 MB on every change of a widget)."""


def thinned_log(g: pd.DataFrame, column: str = "fpr", bins: int = CURVE_POINTS
                ) -> pd.DataFrame:
    """Rows of ``g`` (sorted by ``column`` > 0, drawn on a log axis) reduced to the first and
    last of each of ``bins`` equal steps of log ``column``: at most 2 · ``bins`` points that
    trace the same steps at a chart's resolution (the low false-positive rates keep every
    point they have)."""
    if len(g) <= 2 * bins:
        return g
    logs = np.log10(g[column].to_numpy(dtype=float))
    span = logs[-1] - logs[0]
    b = np.floor((logs - logs[0]) / (span if span > 0 else 1.0) * (bins - 1e-9)).astype(int)
    edge = np.r_[True, b[1:] != b[:-1]] | np.r_[b[:-1] != b[1:], True]
    return g[edge]


def roc_figure(roc: pd.DataFrame, colors: dict[str, str] | None = None) -> go.Figure:
    colors = {**method_colors(first_seen(roc["method"])), **(colors or {})}
    fig = go.Figure()
    for method, g in roc.groupby("method", sort=False):
        g = thinned_log(g[g["on_log_axis"]])
        fig.add_trace(go.Scatter(x=g["fpr"], y=g["tpr"], mode="lines+markers", name=_name(method),
                                 line_shape="hv", line=dict(color=colors[str(method)])))
    for f in DEFAULT_FPRS:
        fig.add_vline(x=f, line_dash="dot", line_color="grey")
    fig.update_xaxes(type="log", title="false-positive rate (correct answers flagged), log")
    fig.update_layout(title="ROC, log-scale FPR", yaxis_title="TPR (incorrect answers flagged)",
                      height=420, margin=dict(l=10, r=10, t=40))
    return fig


def thinned(g: pd.DataFrame, max_points: int = CURVE_POINTS) -> pd.DataFrame:
    """At most ``max_points`` rows of ``g``, evenly spaced in row order, the first and last
    always kept (the curve is drawn through these exact values)."""
    if len(g) <= max_points:
        return g
    return g.iloc[np.unique(np.linspace(0, len(g) - 1, max_points).round().astype(int))]


def rejection_figure(curves: pd.DataFrame, colors: dict[str, str] | None = None) -> go.Figure:
    colors = {**method_colors(first_seen(curves["method"])), **(colors or {})}
    fig = go.Figure()
    for method, g in curves.groupby("method", sort=False):
        g = thinned(g)
        dash = "dot" if method in ("oracle", "random") else None
        fig.add_trace(go.Scatter(x=g["fraction_rejected"], y=g["accuracy"], mode="lines",
                                 name=_name(method),
                                 line=dict(dash=dash, color=colors[str(method)])))
    fig.update_layout(title="Accuracy–rejection", xaxis_title="fraction rejected (most "
                      "uncertain first)", yaxis_title="accuracy of kept answers", height=420,
                      margin=dict(l=10, r=10, t=40))
    return fig


def reliability_figure(bins: pd.DataFrame, method: str, ece_value) -> go.Figure:
    b = bins[bins["n"] > 0]
    fig = go.Figure([
        go.Bar(x=(b["lo"] + b["hi"]) / 2, y=b["accuracy"], width=b["hi"] - b["lo"],
               name="accuracy", text=b["n"], hovertemplate="n=%{text}"),
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                   line=dict(dash="dot", color="grey")),
    ])
    ece_txt = "undefined" if ece_value is None else f"{ece_value:.3f}"
    fig.update_layout(title=f"Reliability: {_name(method)} (ECE {ece_txt})",
                      xaxis_title="confidence = 1 − uncertainty", yaxis_title="accuracy",
                      height=380, margin=dict(l=10, r=10, t=40))
    return fig


def set_size_figure(results: dict) -> go.Figure:
    """:func:`set_size_bars` of conformal results (``{method: ConformalResult}``)."""
    return set_size_bars({name: r.size_distribution() for name, r in results.items()})


def set_size_bars(sizes: dict) -> go.Figure:
    """Grouped bars of each method's set-size shares (``{method: ConformalResult
    .size_distribution()}``)."""
    colors = method_colors(sizes)
    fig = go.Figure()
    for name, d in sizes.items():
        fig.add_trace(go.Bar(x=d["set_size"], y=d["share"], name=_name(name),
                             marker_color=colors[str(name)]))
    fig.update_layout(title="Conformal set sizes (test questions, pooled over splits)",
                      xaxis_title="clusters in the set", yaxis_title="share", barmode="group",
                      height=400, margin=dict(l=10, r=10, t=40))
    fig.update_xaxes(tickmode="linear", dtick=1)  # a set holds a whole number of clusters
    return fig


def judge_sweep_figure(curve: pd.DataFrame, judge: str, reference,
                       colors: dict[str, str] | None = None) -> go.Figure:
    fig = curve_figure(curve, f"AUROC as {_name(judge)} is re-thresholded",
                       f"{_name(judge)} threshold τ", colors=colors)
    fig.add_vline(x=reference, line_dash="dash", line_color="black")
    return fig
