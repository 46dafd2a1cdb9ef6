"""Figures of answers: the answer map, one question's similarity graph, and the
uncertainty-against-correctness quadrants. Model text passes through
:func:`uqlens.viz.common.escape`."""

from __future__ import annotations

import json

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


MARK_MAX_PX = 36  # a mark's diameter grows with √count up to this (area ∝ count, capped)


def mark_sizes(count, base: float = 6.0, cap: float = MARK_MAX_PX) -> np.ndarray:
    """Marker diameters in px: area proportional to ``count`` (``base`` px for one answer),
    diameters capped at ``cap`` (36 px: 36 answers and more look alike)."""
    return np.minimum(base * np.sqrt(np.asarray(count, dtype=float)), cap)


def mark_customdata(ids: pd.Series) -> np.ndarray:
    """Each mark's answer ids as one JSON list string: a flat string array passes Plotly's
    validation in milliseconds where nested lists take seconds at 100,000 answers.
    :func:`uqlens.analysis.marks.selected_ids` reads them back."""
    lists = [list(i) for i in ids]
    try:
        plain = "".join(i for part in lists for i in part)
    except TypeError:  # ids that are not strings
        plain = None
    if plain is not None and plain.isascii() and plain.isprintable() and '"' not in plain \
            and "\\" not in plain:
        # what json.dumps writes for plain ASCII strings, without its per-list overhead
        return np.asarray(['["' + '", "'.join(part) + '"]' if part else "[]"
                           for part in lists], dtype=object)
    return np.asarray([json.dumps(part) for part in lists], dtype=object)


def _mark_hover(marks: pd.DataFrame, method: str) -> list[str]:
    """Each mark's hover text: :func:`uqlens.viz.common.answer_hover` with the tag
    ``"{count}× · {n_correct} correct, {n_incorrect} incorrect · {cluster} cluster"``."""
    n, nc, ni = (marks[c].to_numpy(np.int64) for c in ("count", "n_correct", "n_incorrect"))
    cl_code, cl_values = pd.factorize(marks["cluster"].to_numpy(object), use_na_sentinel=False)
    # each distinct tag written and escaped once (a map has few: counts are small); the
    # key of (count, correct, incorrect, cluster) factorised one column at a time, so that
    # it stays below (rows × largest value)
    at = np.zeros(len(marks), dtype=np.int64)
    for column in (n, nc, ni, cl_code):
        at, _ = pd.factorize(at * (int(column.max(initial=0)) + 1) + column)
    first = np.full(int(at.max(initial=-1)) + 1, len(at), dtype=np.int64)
    np.minimum.at(first, at, np.arange(len(at)))
    tags = np.asarray([escape(f"{a}× · {b} correct, {c} incorrect · {cl_values[d]} cluster",
                              width=200)
                       for a, b, c, d in zip(n[first].tolist(), nc[first].tolist(),
                                             ni[first].tolist(), cl_code[first].tolist(),
                                             strict=True)], dtype=object)
    return _answer_hover(marks, method, tags[at], tags_escaped=True)


def _escaped_each(values: np.ndarray, **kwargs) -> np.ndarray:
    """``escape(v, **kwargs)`` of every value, each distinct value escaped once."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    kinds = {type(u) for u in uniques}
    if not kinds <= {str, float, type(None)}:  # factorize would merge e.g. 1, 1.0 and True
        escaped = _escaper(**kwargs)
        return np.asarray([escaped(v) for v in values], dtype=object)
    return np.asarray([escape(u, **kwargs) for u in uniques], dtype=object)[codes]


def _scores_text(u: np.ndarray) -> np.ndarray:
    """``f"{u:.3f}"`` of every score ("undefined" when NaN), each distinct value once."""
    codes, uniques = pd.factorize(np.ascontiguousarray(u, dtype=float).view(np.int64))
    shown = [("undefined" if np.isnan(v) else f"{v:.3f}")
             for v in uniques.view(np.float64).tolist()]
    return np.asarray(shown, dtype=object)[codes]


def _escaper(**kwargs):
    """:func:`uqlens.viz.common.escape` remembering every value it saw: a map repeats each
    question on every mark and each tag on many, more values than ``escape``'s own cache
    holds at a million answers."""
    seen: dict = {}

    def escaped(value) -> str:
        key = (type(value), value)
        try:
            return seen[key]
        except (KeyError, TypeError):  # TypeError: an unhashable value
            out = escape(value, **kwargs)
            try:
                seen[key] = out
            except TypeError:
                pass
            return out
    return escaped


def _answer_hover(points: pd.DataFrame, method: str, tags, tags_escaped: bool = False
                  ) -> list[str]:
    """:func:`uqlens.viz.common.answer_hover`, each distinct text escaped once and the
    strings joined column by column (numpy adds object arrays element by element in C).
    ``tags_escaped``: ``tags`` are already escaped (width 200)."""
    if not len(points):
        return []
    tags = np.asarray(tags, dtype=object)
    judged = points["is_judged"].to_numpy()
    judged = judged if judged.dtype == bool else np.asarray([bool(j) for j in judged])
    out = ("<b>Q</b> " + _escaped_each(points["question"].to_numpy(object))
           + "<br><b>A</b> " + _escaped_each(points["text"].to_numpy(object))
           + "<br>" + (tags if tags_escaped else _escaped_each(tags, width=200))
           + f" · {escape(method)} " + _scores_text(points["uncertainty"].to_numpy(float))
           + np.where(judged, " · judged answer", "").astype(object))
    return out.tolist()


def map_marks_drawn(run, rule: str, method: str, judge: str) -> pd.DataFrame:
    """:func:`uqlens.analysis.marks.map_marks` with each mark's hover text (``hover``) and
    ids (``customdata``) made once, so that the page caches them with the marks and
    :func:`mark_map` only picks them up when a widget changes (a second at 40,000 marks)."""
    from uqlens.analysis.marks import map_marks

    marks = map_marks(run, rule, method, judge)
    return marks.assign(
        hover=pd.Series(_mark_hover(marks, method), index=marks.index, dtype=object),
        customdata=pd.Series(mark_customdata(marks["ids"]), index=marks.index, dtype=object))


def map_marks_shown(run, rule: str, method: str, judge: str) -> pd.DataFrame:
    """:func:`map_marks_drawn` without the ``ids`` lists, which the map carries in
    ``customdata``: what the Answer map page keeps in its cache and reads back on every
    rerun (lists of ids cost seconds to copy out of the cache at a million answers)."""
    from uqlens.analysis.marks import distinct_answers
    from uqlens.analysis.overview import map_points

    marks = distinct_answers(map_points(run, rule, method, judge), ids_json=True)
    # object columns: pandas would copy a million strings into Arrow and the map back out
    hover = pd.Series(_mark_hover(marks, method), index=marks.index, dtype=object)
    customdata = marks.pop("ids").astype(object)
    return marks.assign(hover=hover, customdata=customdata)


_PLACEHOLDER = np.asarray([""], dtype=object)


def _mark_traces(marks: pd.DataFrame, method: str, name: str, opacity: float,
                 **marker) -> list[tuple[go.Scattergl, dict]]:
    """The circles of ``marks`` and, as a second trace in the same legend entry, the
    diamonds of judged answers. One symbol per trace: a per-mark symbol array costs Plotly
    about a second of validation at 50,000 marks. Array values in ``marker`` (colours)
    follow ``marks``' rows. Each trace comes with its ``customdata`` and ``text`` arrays,
    for :meth:`SharedArraysFigure.add_traces_sharing` (the trace holds placeholders)."""
    judged = marks["is_judged"].to_numpy(bool)
    traces = []
    for mask, symbol, first in ((~judged, "circle", True), (judged, "diamond", False)):
        if not mask.any():
            continue
        part = marks[mask]
        extra = {k: (np.asarray(v)[mask] if isinstance(v, (pd.Series, np.ndarray)) else v)
                 for k, v in marker.items()}
        if not first:
            extra.pop("showscale", None)
        arrays = {
            "customdata": (part["customdata"].to_numpy(object) if "customdata" in part
                           else mark_customdata(part["ids"])),
            "text": (part["hover"].to_numpy(object) if "hover" in part
                     else np.asarray(_mark_hover(part, method), dtype=object)),
        }
        traces.append((go.Scattergl(
            x=part["x"], y=part["y"], mode="markers", name=name, legendgroup=name,
            showlegend=first or not (~judged).any(),
            customdata=_PLACEHOLDER, text=_PLACEHOLDER,
            hovertemplate="%{text}<extra></extra>",
            marker={"size": mark_sizes(part["count"]), "symbol": symbol, "opacity": opacity,
                    "line": {"width": 0.5, "color": "white"}, **extra},
        ), arrays))
    return traces


def class_order(marks: pd.DataFrame, column: str) -> list[str]:
    """The classes of ``column`` by the number of answers they hold, largest first: drawn in
    this order, the smaller classes lie on top and stay visible."""
    totals = marks.groupby(column, sort=False)["count"].sum()
    return sorted(totals.index, key=lambda k: (-int(totals[k]), str(k)))


def _tree(value):
    """A copy of a figure's nested dicts and lists that shares their arrays."""
    if isinstance(value, dict):
        return {k: _tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_tree(v) for v in value)
    return value


class SharedArraysFigure(go.Figure):
    """A figure whose :meth:`to_dict` shares the trace arrays instead of deep-copying them.
    Streamlit turns a figure into ``to_dict()`` once, serialises it and drops it; a deep copy
    copies every hover string and id list one by one (about 5 s for the 270,000 marks of a
    million answers). The dictionary, and so the JSON sent, is the same."""

    def to_dict(self):
        from _plotly_utils.utils import convert_to_base64

        res = {"data": _tree(self._data), "layout": _tree(self._layout)}
        frames = _tree([frame._props for frame in self._frame_objs])
        if frames:
            res["frames"] = frames
        convert_to_base64(res)  # replaces arrays in the copied dicts, never in the figure
        return res

    def add_traces_sharing(self, traces: list[tuple[go.Scattergl, dict]]) -> None:
        """Add each trace, then put its large arrays (a dict of property → numpy array, as
        Plotly's validation would leave them) in place of the trace's placeholders:
        ``add_traces`` deep-copies every trace, one Python call per string of an object
        array (seconds for the hover texts and ids of a million answers)."""
        start = len(self._data)
        self.add_traces([trace for trace, _ in traces])
        for props, (_, arrays) in zip(self._data[start:], traces, strict=True):
            props.update(arrays)  # same keys: their places in the trace stay


def mark_map(marks: pd.DataFrame, color_by: str = "correctness", method: str = "",
             opacity: float = 0.7, height: int = 620) -> go.Figure:
    """The answer map over distinct answers (:func:`uqlens.analysis.marks.distinct_answers`).

    One WebGL mark per distinct answer of a question, area ∝ its count; ``customdata`` is the
    list of answer ids the mark stands for. Classes (correctness, cluster) are separate
    traces drawn largest first; within a trace big marks are drawn first, small on top.
    Diamonds are judged answers. Lasso is the default drag mode.
    """
    marks = marks.sort_values("count", ascending=False, kind="stable")
    fig = SharedArraysFigure()
    if color_by in ("correctness", "cluster"):
        colors = CORRECTNESS_COLORS if color_by == "correctness" else CLUSTER_COLORS
        for name in class_order(marks, color_by):
            part = marks[marks[color_by] == name]
            fig.add_traces_sharing(_mark_traces(part, method, str(name), opacity,
                                        color=colors.get(name, "#9aa0a6")))
    elif color_by == "uncertainty":
        known = marks[marks["uncertainty"].notna()]
        unknown = marks[marks["uncertainty"].isna()]
        if len(unknown):
            fig.add_traces_sharing(_mark_traces(unknown, method, "undefined", opacity,
                                        color="#9aa0a6"))
        if len(known):
            u = known["uncertainty"].to_numpy(float)
            fig.add_traces_sharing(_mark_traces(
                known, method, f"{method} uncertainty", opacity, color=u, cmin=u.min(),
                cmax=u.max(), colorscale="Viridis", showscale=True,
                colorbar={"title": {"text": "uncertainty"}, "thickness": 12},
            ))
    elif color_by == "question":
        codes = pd.Categorical(marks["question_id"]).codes
        fig.add_traces_sharing(_mark_traces(marks, method, "answers", opacity, color=codes, cmin=0,
                                    cmax=max(int(codes.max()), 1), colorscale="Turbo"))
    else:
        raise ValueError(f"unknown colouring {color_by!r}; expected one of {COLOR_BY}")
    _map_layout(fig, height, showlegend=color_by in ("correctness", "cluster"))
    return fig


MODEBAR = {"displayModeBar": True, "displaylogo": False,
           "modeBarButtonsToRemove": ["autoScale2d", "toggleSpikelines"]}
"""``st.plotly_chart(..., config=MODEBAR)``: the lasso/box tools shown without hovering."""


def _map_layout(fig: go.Figure, height: int, showlegend: bool) -> None:
    fig.update_layout(
        height=height, margin={"l": 10, "r": 10, "t": 30, "b": 10}, dragmode="lasso",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0,
                "itemsizing": "constant"},
        hoverlabel={"align": "left"}, showlegend=showlegend,
    )
    fig.update_xaxes(showticklabels=False, title=None, zeroline=False, showgrid=False)
    fig.update_yaxes(showticklabels=False, title=None, zeroline=False, showgrid=False)


CORRECTNESS_SYMBOLS = {"correct": "circle", "incorrect": "x", "unknown": "circle-open"}
JUDGED_SYMBOLS = {"circle": "diamond", "x": "diamond-x", "circle-open": "diamond-open"}


def question_map(marks: pd.DataFrame, cluster_labels: dict | None = None,
                 method: str = "", height: int = 380) -> go.Figure:
    """One question's distinct answers, coloured by cluster, with the correctness as the
    symbol (circle correct, x incorrect, open circle unknown; diamonds of the same kind for
    the judged answer); area ∝ count.

    ``cluster_labels``: cluster id → legend label (e.g. its representative)."""
    from uqlens.viz.common import method_colors

    marks = marks.sort_values("count", ascending=False, kind="stable")
    ids = sorted(set(int(c) for c in marks["cluster_id"]))
    palette = method_colors([str(c) for c in ids if c >= 0])
    fig = go.Figure()
    for cid in ids:
        part = marks[marks["cluster_id"] == cid]
        label = "no cluster" if cid < 0 else f"cluster {cid}"
        if cluster_labels and cid in cluster_labels:
            label = f"{label}: {escape(cluster_labels[cid], width=200, limit=30)}"
        symbols = [CORRECTNESS_SYMBOLS.get(c, "circle") for c in part["correctness"]]
        symbols = [JUDGED_SYMBOLS[s] if j else s
                   for s, j in zip(symbols, part["is_judged"], strict=True)]
        fig.add_trace(go.Scattergl(
            x=part["x"], y=part["y"], mode="markers", name=label,
            customdata=mark_customdata(part["ids"]),
            text=np.asarray(_mark_hover(part, method), dtype=object),
            hovertemplate="%{text}<extra></extra>",
            marker={"size": mark_sizes(part["count"]), "symbol": symbols, "opacity": 0.8,
                    "color": "#9aa0a6" if cid < 0 else palette[str(cid)],
                    "line": {"width": 1.5, "color": "#333"}},
        ))
    _map_layout(fig, height, showlegend=True)
    fig.update_layout(dragmode="pan")
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


WEBGL_POINTS = 5_000
"""Above this many points in all panels the quadrant panels draw with WebGL (SVG markers by
the ten thousand make a browser crawl)."""


QUADRANT_QUESTIONS = 2_000
"""At most this many questions per panel of :func:`quadrant_figure` (the same random ones in
every panel): 10,000 questions × 13 methods are 12 MB of points for the browser."""


def quadrant_figure(run, rule: str, judge: str, dominance: float, operating_point: float,
                    cap: int | None = QUADRANT_QUESTIONS, seed: int = 0
                    ) -> tuple[go.Figure, int, int]:
    """:func:`quadrants` of :func:`uqlens.analysis.overview.quadrant_table`, drawing at most
    ``cap`` questions chosen at random (``seed``; the gate and shares are those of all
    questions). Returns ``(figure, questions drawn, questions)``."""
    from uqlens.analysis.overview import quadrant_table, question_scores

    # the table's questions are those scored under the rule; only the drawn ones are looked up
    ids = np.sort(question_scores(run, rule)["question_id"].unique().astype(str))
    drawn = None
    if cap is not None and len(ids) > cap:
        drawn = np.random.default_rng(seed).choice(ids, cap, replace=False)
    quad = quadrant_table(run, rule, judge, dominance, operating_point, question_ids=drawn)
    frames = {m: part for m, part in quad.groupby("method", sort=False)}
    return quadrants(frames), min(len(ids), cap or len(ids)), len(ids)


def quadrants(frames: dict[str, pd.DataFrame]) -> go.Figure:
    """Per method: certainty rank as a percentile (x) against the share of correct samples (y).

    Each frame comes from :func:`uqlens.analysis.overview.quadrant_table` (one method): columns
    ``question_id, question, rank_percentile, share_correct, flag, cut``. The shaded corner
    is what the gate (x <= cut) accepts although most samples are wrong.
    """
    methods = list(frames)
    total = sum(len(f) for f in frames.values())
    scatter = go.Scattergl if total > WEBGL_POINTS else go.Scatter
    hover: dict = {}  # every method repeats each question: escape it once
    cols = min(3, max(1, len(methods)))
    rows = int(np.ceil(len(methods) / cols)) or 1
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[escape(m) for m in methods],
                        horizontal_spacing=0.06, vertical_spacing=0.12)
    colors = {"confident hallucination": "#d1495b", "judged correct": "#2a9d5c",
              "judged incorrect": "#f0a202"}
    # Shapes, traces and axes as plain dicts, handed to the figure once each: Plotly validates
    # the whole layout on every add_shape/add_vline, seconds for 13 panels.
    shapes, traces, axes = [], [], {}
    for i, method in enumerate(methods):
        r, c = i // cols + 1, i % cols + 1
        n = "" if i == 0 else str(i + 1)  # make_subplots numbers the cells' axes row by row
        df = frames[method]
        x_cut = float(df["cut"].iloc[0]) if len(df) else 0.0
        shapes.append({"type": "rect", "x0": 0, "x1": x_cut, "y0": -0.05, "y1": 0.5,
                       "xref": f"x{n}", "yref": f"y{n}", "fillcolor": "rgba(209,73,91,0.10)",
                       "line": {"width": 0}, "layer": "below"})
        shapes.append({"type": "line", "x0": x_cut, "x1": x_cut, "y0": 0, "y1": 1,
                       "xref": f"x{n}", "yref": f"y{n} domain",
                       "line": {"dash": "dot", "color": "#888"}})
        for flag, color in colors.items():
            part = df[df["flag"] == flag]
            text = [hover.get(q) or hover.setdefault(q, f"{escape(q)}: {escape(t, limit=120)}")
                    for q, t in zip(part["question_id"], part["question"], strict=True)]
            traces.append({
                "type": scatter.__name__.lower(), "xaxis": f"x{n}", "yaxis": f"y{n}",
                "x": part["rank_percentile"], "y": part["share_correct"], "mode": "markers",
                "name": flag, "legendgroup": flag, "showlegend": i == 0,
                "customdata": part["question_id"], "text": text,
                "hovertemplate": "%{text}<br>percentile %{x:.0f} · correct share %{y:.2f}"
                                 "<extra></extra>",
                "marker": {"color": color, "size": 8, "opacity": 0.8},
            })
        axes[f"xaxis{n}"] = {"range": [-2, 102], **(
            {"title_text": "certainty rank (percentile)"} if r == rows else {})}
        axes[f"yaxis{n}"] = {"range": [-0.05, 1.05],
                             **({"title_text": "share correct"} if c == 1 else {})}
    fig.update_layout(shapes=shapes, **axes)
    fig.add_traces(traces)
    fig.update_layout(height=60 + 300 * rows, margin={"l": 10, "r": 10, "t": 70, "b": 10},
                      legend={"orientation": "h", "yanchor": "top", "y": 0.99, "x": 0,
                              "yref": "container"})
    return fig
