"""Every page under Streamlit's AppTest, on the tiny fixture run with seeded state.

AppTest cannot drive chart selections; the selection logic is tested in test_analysis.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")
FIXTURE = "tests/fixtures/tiny_run"


def make_app(page: str | None = None, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["uq.run"] = FIXTURE
    for key, value in query.items():
        at.query_params[key] = value
    if page:
        at.switch_page(page)  # before the first run, as a deep link would
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_overview():
    at = make_app()
    assert at.title[0].value == "Overview"
    m = metrics(at)
    assert m["Questions"] == "8" and m["Sampled answers"] == "40"
    assert m["Judged-answer accuracy"] == "50.0%"
    assert any("consistency, not correctness" in i.value for i in at.info)
    assert any("test fixture" in i.value for i in at.info)
    # method table and hallucination counts
    assert len(at.dataframe) >= 2
    counts = at.dataframe[1].value
    assert counts["confident_hallucinations"].tolist() == [1, 1, 1]
    assert at.query_params["method"] in ("semantic_entropy", ["semantic_entropy"])


def test_overview_metric_table_has_every_method():
    at = make_app()
    table = at.dataframe[0].value
    assert table["method"].tolist() == ["semantic_entropy", "num_sets", "lexical_similarity"]
    assert {"AUROC", "AUPRC", "PRR", "TPR@1%FPR"} <= set(table.columns)


def test_sidebar_choices_follow_the_url():
    at = make_app(rule="exact", method="num_sets", judge="contains")
    assert at.sidebar.selectbox(key="w.uq.rule").value == "exact"
    assert at.sidebar.selectbox(key="w.uq.method").value == "num_sets"
    assert at.sidebar.selectbox(key="w.uq.judge").value == "contains"


def test_unknown_url_values_warn_not_crash():
    at = make_app("pages/question.py", method="nope", q="q99", run="does/not/exist")
    warnings = " ".join(w.value for w in at.warning)
    assert "nope" in warnings and "q99" in warnings and "does/not/exist" in warnings
    assert at.sidebar.selectbox(key="w.uq.method").value == "semantic_entropy"


def test_answer_map_has_one_point_per_answer():
    at = make_app("pages/answer_map.py")
    assert at.title[0].value == "Answer map"
    chart = at.get("plotly_chart")[0]
    spec = json.loads(chart.proto.spec)
    ids = [i for trace in spec["data"] for i in trace["customdata"]]
    assert len(ids) == 47 and len(set(ids)) == 47 and "q01|greedy" in ids
    hover = " ".join(t for trace in spec["data"] for t in trace["text"])
    assert "<script>" not in hover and "&lt;script&gt;" in hover
    assert any("Select answers" in i.value for i in at.info)


def test_answer_map_cap():
    at = make_app("pages/answer_map.py")
    at.number_input(key="w.map.cap").set_value(100).run()
    assert not at.warning
    at.session_state["uq.map.cap"] = 20
    at.switch_page("app.py").run()
    at.switch_page("pages/answer_map.py").run()
    assert any("random sample of 20 of 47" in w.value for w in at.warning)


def test_question_view_from_url():
    at = make_app("pages/question.py", q="q04")
    texts = [t.value for t in at.text]
    assert "<script>alert(1)</script>" in texts  # shown as plain text
    assert "<img src=x onerror=alert(2)>" in texts
    assert metrics(at)["Clusters"] == "3"
    assert at.selectbox(key="w.q").value == "q04"
    assert at.query_params["q"] in ("q04", ["q04"])


def test_question_next_and_previous():
    at = make_app("pages/question.py", q="q01")
    assert metrics(at)["Dominant share"] == "100%"
    at.button[1].click().run()  # Next
    assert at.selectbox(key="w.q").value == "q02"
    assert at.session_state["uq.q"] == "q02"
    at.button[0].click().run()  # Previous
    assert at.selectbox(key="w.q").value == "q01"


def test_question_state_survives_page_switch():
    at = make_app("pages/question.py", q="q03")
    at.switch_page("pages/data.py").run()
    at.switch_page("pages/question.py").run()
    assert at.selectbox(key="w.q").value == "q03"


@pytest.mark.parametrize("rule", ["strict", "exact"])
def test_confident_hallucinations_page(rule):
    at = make_app("pages/hallucinations.py", rule=rule)
    table = at.dataframe[0].value
    assert table["question_id"].tolist()[0] == "q01"
    assert table["open"].iloc[0].startswith("question?")
    assert "q=q01" in table["open"].iloc[0]
    outvoted = at.dataframe[-1].value
    assert "q03" in outvoted["question_id"].tolist()


def test_confident_hallucinations_dominance_slider():
    at = make_app("pages/hallucinations.py")
    at.slider(key="w.ch.dom").set_value(0.6).run()
    assert at.dataframe[0].value["question_id"].tolist() == ["q01", "q03", "q04"]
    assert at.session_state["uq.dom"] == 0.6


def test_data_page_search_and_filters():
    at = make_app("pages/data.py")
    assert len(at.dataframe[0].value) == 8
    at.text_input(key="w.data.search").input("sydney").run()
    assert at.dataframe[0].value["question_id"].tolist() == ["q01"]
    assert len(at.dataframe[1].value) == 6
    at.text_input(key="w.data.search").input("").run()
    at.multiselect(key="w.data.dataset").select("math").run()
    assert at.dataframe[0].value["question_id"].tolist() == ["q07", "q08"]


def _copy_of_fixture(tmp_path: Path, name: str) -> Path:
    import shutil

    copy = tmp_path / "other_run"
    shutil.copytree(Path(APP).parent / FIXTURE, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest.update(name=name, fixture=False)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


def _fixture_notes(at: AppTest) -> list[str]:
    return [i.value for i in at.info if "test fixture" in i.value]


def test_fixture_note_only_while_the_fixture_run_is_current(tmp_path):
    other = _copy_of_fixture(tmp_path, "another run")
    at = make_app()
    assert len(_fixture_notes(at)) == 1
    at.session_state["uq.extra_runs"] = [str(other)]
    at.run()
    at.sidebar.selectbox(key="w.uq.run").set_value(str(other)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["uq.run"] == str(other)
    assert _fixture_notes(at) == []
    at.switch_page("pages/question.py").run()  # and on other pages, after a rerun
    assert _fixture_notes(at) == []
    at.sidebar.selectbox(key="w.uq.run").set_value(FIXTURE).run()
    assert len(_fixture_notes(at)) == 1
