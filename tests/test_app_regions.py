"""The confidence-region page under AppTest, on the tiny fixture run.

Expected numbers (semantic entropy, strict rule, exact_match judge) are worked out by hand in
tests/test_regions.py: at split 0.5 the confident band is q01, q02, q07, q08.
"""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")
FIXTURE = "tests/fixtures/tiny_run"
PAGE = "pages/confidence_region.py"


def make_app(**query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["uq.run"] = FIXTURE
    for key, value in query.items():
        at.query_params[key] = value
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def traces(at: AppTest) -> list[dict]:
    return json.loads(at.get("plotly_chart")[0].proto.spec)["data"]


def test_page_shows_how_far_confidence_is_from_correctness():
    at = make_app()
    assert at.title[0].value == "Confidence region"
    m = metrics(at)
    # 23 confident answers, 14 of them correct; 20 correct answers in all
    assert m["Confident answers that are wrong"] == "39%"   # 9 / 23
    assert m["Correct answers outside the band"] == "30%"   # 6 / 20
    assert m["Overlap (Jaccard)"] == "0.48"                 # 14 / 29
    assert m["Accuracy in band / outside"] == "61% / 25%"   # 14/23, 6/24
    data = traces(at)
    assert sum(len(t["customdata"]) for t in data) == 47
    assert {t["name"] for t in data} == {"confident · correct", "confident · incorrect",
                                         "uncertain · correct", "uncertain · incorrect"}
    hover = " ".join(h for t in data for h in t["text"])
    assert "<script>" not in hover and "&lt;script&gt;" in hover
    assert any("Space: **answer embeddings, the run's 2-D projection (the generations carry "
               "no hidden states)**" in c.value for c in at.caption)
    assert "AUROC of semantic_entropy for wrong answers" in m
    assert "Centroid distance, confident vs correct" in m
    wrong = at.dataframe[-1].value  # the confident-but-wrong answers
    assert set(wrong["question_id"]) == {"q01", "q07", "q08"} and len(wrong) == 9


def test_split_colour_and_judged_toggle():
    at = make_app()
    at.slider(key="w.region.split").set_value(0.25).run()  # band = q01, q02 (score 0)
    m = metrics(at)
    assert m["Confident answers that are wrong"] == "50%"   # 6 / 12
    assert m["Correct answers outside the band"] == "70%"   # 14 / 20
    assert at.session_state["uq.region.split"] == 0.25
    at.button_group(key="w.region.color").set_value("correctness").run()
    assert {t["name"] for t in traces(at)} >= {"correct · confident", "incorrect · uncertain"}
    at.slider(key="w.region.split").set_value(0.5).run()
    at.toggle(key="w.region.judged").set_value(True).run()
    m = metrics(at)
    assert m["Overlap (Jaccard)"] == "0.60"                 # 3 / 5 judged answers
    assert m["Confident answers that are wrong"] == "25%"   # q01 of 4
    assert sum(len(t["customdata"]) for t in traces(at)) == 8


def test_page_follows_the_sidebar_method():
    at = make_app(method="num_sets")
    assert at.sidebar.selectbox(key="w.uq.method").value == "num_sets"
    assert not at.exception
    assert "Overlap (Jaccard)" in metrics(at)
