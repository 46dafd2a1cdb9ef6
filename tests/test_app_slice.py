"""The verifiable slice in the app: the sidebar's "Non-LLM ground truth only" filter, the
Overview's slice metrics, and the LLM judge against the text judges (Judge audit), on a copy
of the tiny fixture with three program-judged questions (tests/_program_run.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _program_run import STUB_LLM, program_run
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")
FIXTURE = "tests/fixtures/tiny_run"
SLICE = ["q05", "q07", "q08"]  # the integer-answer questions (see tests/_program_run.py)


@pytest.fixture(scope="module")
def run_path(tmp_path_factory) -> str:
    return str(program_run(tmp_path_factory.mktemp("slice")))


def make_app(run: str, page: str | None = None, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["uq.run"] = run
    for key, value in query.items():
        at.query_params[key] = value
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def frame_with(at: AppTest, column: str):
    """The first data frame shown with ``column`` (AppTest does not expose their keys)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def slice_notes(at: AppTest) -> list[str]:
    return [i.value for i in at.info if "Non-LLM ground truth only" in i.value]


def test_restricted_run_keeps_only_the_slice(run_path):
    from uqlens.run.folder import load_run

    run = load_run(run_path).restricted(SLICE)
    assert run.table("questions")["question_id"].tolist() == SLICE
    # q05 and q07: 5 samples + greedy each; q08: 5 samples, no greedy
    assert len(run.table("generations")) == 17
    assert set(run.table("correctness")["question_id"]) == set(SLICE)
    assert set(run.table("scores")["question_id"]) == set(SLICE)


def test_toggle_is_disabled_with_the_reason_when_nothing_is_verifiable():
    at = make_app(FIXTURE)
    toggle = at.sidebar.toggle(key="w.uq.slice.off")
    assert toggle.disabled and toggle.value is False
    assert any("program judge" in c.value for c in at.sidebar.caption)
    assert not slice_notes(at)


def test_toggle_restricts_the_overview_and_writes_the_url(run_path):
    at = make_app(run_path)
    assert metrics(at)["Questions"] == "8" and not slice_notes(at)
    at.sidebar.toggle(key="w.uq.slice").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    assert metrics(at)["Questions"] == "3"
    # judged answers under the default judge (exact_match): q05 "1815" wrong, q07 "$x$ = 1"
    # and q08 "42" against references "1" / "42"
    assert slice_notes(at) and "3 of 8 questions" in slice_notes(at)[0]
    assert at.query_params["slice"] in ("verifiable", ["verifiable"])
    main_table = at.dataframe[0].value
    assert main_table["questions"].tolist() == ["3", "3", "3"]


def test_overview_reports_the_verifiable_slice(run_path):
    at = make_app(run_path)
    assert any("Verifiable slice" in h.value for h in at.subheader)
    table = frame_with(at, "TPR@0.1%FPR").set_index("method")
    # slice: q05 wrong, q07 and q08 right; every method scores q05 above both (strict rule:
    # semantic_entropy 1.609 vs 0.500, num_sets 5 vs 2, lexical 1.0 vs 0.53/0.70), so AUROC is
    # 1 and a threshold at q05's score flags it with no false positive: TPR 1 at any FPR.
    assert table["questions"].tolist() == ["3"] * 3 and table["wrong"].tolist() == ["1"] * 3
    assert all(v.startswith("1.000") for v in table["AUROC"])
    assert all(v.startswith("1.000") for v in table["TPR@0.1%FPR"])
    assert any("only 2 correct answers" in w.value for w in at.warning)
    assert any("only 1 incorrect answers" in w.value for w in at.warning)


def test_the_url_opens_the_question_page_on_the_slice(run_path):
    at = make_app(run_path, "pages/question.py", slice="verifiable")
    assert at.sidebar.toggle(key="w.uq.slice").value is True
    assert at.selectbox(key="w.q").options[0].startswith("q05")
    assert len(at.selectbox(key="w.q").options) == 3
    assert slice_notes(at)


def test_judge_audit_compares_the_llm_judge_with_the_text_judges(run_path):
    at = make_app(run_path, "pages/judges.py")
    # the LLM-judge table: every row pairs the LLM judge with a text judge (the all-pairs κ
    # table above it also has judge_a / judge_b columns)
    pairs = next(d.value for d in at.dataframe if "judge_a" in d.value.columns
                 and set(d.value["judge_a"]) == {STUB_LLM})
    assert set(pairs["judge_b"]) == {"exact_match", "contains"}
    row = pairs[(pairs["judge_a"] == STUB_LLM) & (pairs["judge_b"] == "contains")].iloc[0]
    # judged answers, contains: q02 q06 q07 q08 right (4 of 8); the stub also calls q01 right.
    # agreement 7/8; p_e = 5/8·4/8 + 3/8·4/8 = 1/2; κ = (7/8 − 1/2) / (1/2) = 0.75
    assert row["agreement"] == pytest.approx(0.875) and row["kappa"] == pytest.approx(0.75)
    at.selectbox(key="w.j.text").set_value("contains").run()
    diff = frame_with(at, "answer")
    assert diff["question_id"].tolist() == ["q01"] and diff["answer"].tolist() == ["Sydney"]


@pytest.mark.parametrize("page", [
    "pages/answer_map.py", "pages/hallucinations.py", "pages/review.py", "pages/agreement.py",
    "pages/sensitivity.py", "pages/tail.py", "pages/conformal.py",
    "pages/confidence_region.py", "pages/data.py"])
def test_every_page_says_the_filter_is_on(run_path, page):
    at = make_app(run_path, page, slice="verifiable")
    assert slice_notes(at) and "3 of 8 questions" in slice_notes(at)[0]


def test_data_page_lists_only_the_slice(run_path):
    at = make_app(run_path, "pages/data.py", slice="verifiable")
    listed = frame_with(at, "question_id")
    assert sorted(listed["question_id"]) == SLICE


def test_sensitivity_intervals_can_be_turned_off(run_path):
    at = make_app(run_path, "pages/sensitivity.py")
    assert at.select_slider(key="w.sens.b").value == 200  # 8 questions: intervals by default
    at.select_slider(key="w.sens.b").set_value(0).run()
    assert not at.exception, [e.value for e in at.exception]
    captions = [c.value for c in at.caption]
    assert any(c.startswith("No intervals: 8 questions") for c in captions), captions
