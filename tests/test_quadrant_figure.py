"""The quadrant figure (uqlens.viz.answers.quadrants) from hand-made frames: every panel's
shaded corner, cut line, axes and points where they belong."""

from __future__ import annotations

import pandas as pd

from uqlens.viz.answers import quadrants


def _frame(cut: float) -> pd.DataFrame:
    return pd.DataFrame({
        "question_id": ["q1", "q2", "q3"], "question": ["one?", "two?", "<b>three</b>?"],
        "rank_percentile": [10.0, 50.0, 90.0], "share_correct": [0.2, 0.9, 0.4],
        "flag": ["confident hallucination", "judged correct", "judged incorrect"],
        "cut": cut,
    })


def test_quadrant_panels_by_hand():
    frames = {"alpha": _frame(20.0), "beta": _frame(35.0), "gamma": _frame(5.0),
              "delta": _frame(60.0)}
    fig = quadrants(frames)
    layout = fig.layout.to_plotly_json()
    # 4 methods on a 3-column grid: 2 rows; panel i uses axes x{i+1}/y{i+1} ("x" for the first)
    assert layout["height"] == 60 + 300 * 2
    shapes = layout["shapes"]
    assert len(shapes) == 8
    for i, cut in enumerate([20.0, 35.0, 5.0, 60.0]):
        n = "" if i == 0 else str(i + 1)
        rect, line = shapes[2 * i], shapes[2 * i + 1]
        assert rect == {"type": "rect", "x0": 0, "x1": cut, "y0": -0.05, "y1": 0.5,
                        "xref": f"x{n}", "yref": f"y{n}", "fillcolor": "rgba(209,73,91,0.10)",
                        "line": {"width": 0}, "layer": "below"}
        assert line == {"type": "line", "x0": cut, "x1": cut, "y0": 0, "y1": 1,
                        "xref": f"x{n}", "yref": f"y{n} domain",
                        "line": {"dash": "dot", "color": "#888"}}
        assert list(layout[f"xaxis{n}"]["range"]) == [-2, 102]
        assert list(layout[f"yaxis{n}"]["range"]) == [-0.05, 1.05]
    # x titles on the bottom row (panels 4..6 exist as axes, the 4th holds delta), y on the left
    assert layout["xaxis4"]["title"]["text"] == "certainty rank (percentile)"
    assert "title" not in layout["xaxis"]
    assert layout["yaxis"]["title"]["text"] == "share correct"
    assert layout["yaxis4"]["title"]["text"] == "share correct"
    assert "title" not in layout["yaxis2"]
    traces = [t.to_plotly_json() | {"x": list(t.x), "y": list(t.y),
                                    "customdata": list(t.customdata)} for t in fig.data]
    assert len(traces) == 12  # 3 flags × 4 methods
    first = traces[0]
    assert (first["type"], first["xaxis"], first["yaxis"]) == ("scatter", "x", "y")
    assert first["name"] == "confident hallucination" and first["showlegend"] is True
    assert first["x"] == [10.0] and first["y"] == [0.2]
    assert first["customdata"] == ["q1"] and list(first["text"]) == ["q1: one?"]
    third = traces[2]
    assert list(third["text"]) == ["q3: &lt;b&gt;three&lt;/b&gt;?"]  # model text escaped
    last = traces[-1]
    assert (last["xaxis"], last["yaxis"], last["showlegend"]) == ("x4", "y4", False)
    assert last["marker"] == {"color": "#f0a202", "size": 8, "opacity": 0.8}


def test_quadrant_table_of_some_questions_is_the_whole_table_filtered(tiny_run):
    from pandas.testing import assert_frame_equal

    from uqlens.analysis.overview import quadrant_table

    rule, judge = tiny_run.rules[0], tiny_run.judges[0]
    whole = quadrant_table(tiny_run, rule, judge, 0.7, 0.3)
    some = sorted(whole["question_id"].unique())[::2]
    part = quadrant_table(tiny_run, rule, judge, 0.7, 0.3, question_ids=some)
    expected = whole[whole["question_id"].isin(some)].reset_index(drop=True)
    assert len(expected) and len(expected) < len(whole)
    assert_frame_equal(part, expected, check_exact=True)
