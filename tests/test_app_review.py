"""The review UI under AppTest on a copy of the tiny fixture run (labels are written there):
the review queue's buttons and command box, and the Question page's review panel feeding the
``human+exact_match`` judge of the Overview."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from uqlens.run import labels as L

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture()
def run_copy(tiny_run_path, tmp_path):
    dest = tmp_path / "run"
    shutil.copytree(tiny_run_path, dest)
    return dest


def make_app(run: Path, page: str, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["uq.run"] = str(run)
    for key, value in query.items():
        at.query_params[key] = value
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def caption_text(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def test_queue_labels_the_judged_answers_cluster_and_moves_on(run_copy):
    at = make_app(run_copy, "pages/review.py")
    assert at.title[0].value == "Review queue"
    assert "Item 1 of 2" in caption_text(at) and "`q01`" in caption_text(at)
    at.button(key="review.incorrect").click().run()
    assert not at.exception
    recs = L.read(run_copy)
    # q01's cluster: Sydney, Sydney., It's Sydney, Sydney, sydney → three distinct keys
    assert sorted(r["text"] for r in recs) == ["It's Sydney", "Sydney", "Sydney."]
    assert {(r["question_id"], r["value"], r["scope"]) for r in recs} == {
        ("q01", "incorrect", "cluster")}
    # q01 was only an unreviewed hallucination: it leaves the queue, q08 is current
    assert "Item 1 of 1" in caption_text(at) and "`q08`" in caption_text(at)


def test_queue_command_box(run_copy):
    at = make_app(run_copy, "pages/review.py")
    at.text_input(key="w.review.cmd").input("n").run()
    assert "Item 2 of 2" in caption_text(at)
    at.text_input(key="w.review.cmd").input("u").run()
    assert [(r["question_id"], r["value"]) for r in L.read(run_copy)][0] == ("q08", "unclear")


def test_question_page_label_changes_the_overview_under_the_human_judge(run_copy):
    judge = "human+exact_match"
    at = make_app(run_copy, "app.py", judge=judge)
    assert {m.label: m.value for m in at.metric}["Judged-answer accuracy"] == "50.0%"
    at.switch_page("pages/question.py")
    at.session_state["uq.q"] = "q01"
    at.run()
    at.selectbox(key="lab.target").select(("cluster", 0)).run()  # cluster 1: all "Sydney"
    at.text_input(key="lab.note").input("testing the judge").run()
    at.button(key="lab.correct").click().run()
    assert not at.exception
    assert {r["note"] for r in L.read(run_copy)} == {"testing the judge"}
    at.switch_page("app.py").run()
    # q01's judged answer is now correct: 5 of 8 instead of 4 of 8
    assert {m.label: m.value for m in at.metric}["Judged-answer accuracy"] == "62.5%"
    assert "1 judged answers" in caption_text(at)


def test_agreement_heatmap_under_random_ties(run_copy):
    at = make_app(run_copy, "pages/agreement.py")
    assert at.segmented_control(key="w.agr.ties").value == "jaccard_expected"
    long = at.dataframe[1].value
    assert {"jaccard", "jaccard_expected", "jaccard_expected_how"} <= set(long.columns)
    at.segmented_control(key="w.agr.ties").set_value("jaccard").run()
    assert not at.exception


def test_a_typed_plus_in_the_judge_link_is_understood(run_copy):
    at = make_app(run_copy, "app.py", judge="human exact_match")  # "+" decoded
    assert at.sidebar.selectbox(key="w.uq.judge").value == "human+exact_match"
    assert not at.warning


def test_queue_shows_the_chosen_methods_score_first(run_copy):
    # q01 heads the queue; its answers are one meaning, so semantic entropy is 0, tied with q02
    at = make_app(run_copy, "pages/review.py")
    shown = {m.label: m.value for m in at.metric}
    assert shown["semantic_entropy"] == "0.000"
    assert shown["Ties"] == "tied with 1 other"
