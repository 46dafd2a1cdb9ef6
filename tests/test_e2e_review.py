"""End to end in headless Chromium: label a cluster on the Question page, see the Overview's
accuracy change under the ``human+exact_match`` judge, restart the server and still see it;
and drive the review queue from the keyboard. Runs on a copy of the tiny fixture run (the
labels file is written there). Launch recipe as in test_e2e.py."""

from __future__ import annotations

import shutil

import pytest
from conftest import serve
from test_e2e import IDLE, SHOTS, browser  # noqa: F401,F811  (the Chromium fixture; fails in CI)

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api")

HUMAN = "human%2Bexact_match"  # "+" must be escaped in a query string


@pytest.fixture
def page(browser):  # noqa: F811  (the imported fixture)
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    pg = context.new_page()
    yield pg
    context.close()


def settle(page, text: str | None = None, timeout: float = 30_000) -> None:
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
    if text:
        page.get_by_text(text, exact=False).first.wait_for(timeout=timeout)
    page.wait_for_selector(IDLE, timeout=timeout)
    page.wait_for_timeout(400)
    page.wait_for_selector(IDLE, timeout=timeout)


def main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def accuracy(page, url: str, judge: str) -> str:
    page.goto(f"{url}/?judge={judge}")
    settle(page, "Judged-answer accuracy")
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="Judged-answer accuracy")
    return metric.locator('[data-testid="stMetricValue"]').inner_text().strip()


@pytest.fixture()
def run_copy(tiny_run_path, tmp_path):
    dest = tmp_path / "run"
    shutil.copytree(tiny_run_path, dest)
    return dest


def test_label_a_cluster_changes_the_overview_and_survives_a_restart(page, run_copy):
    with serve(run_copy, "streamlit-review-1.log") as url:
        assert accuracy(page, url, HUMAN) == "50.0%"
        page.goto(f"{url}/question?q=q01&judge={HUMAN}")
        settle(page, "What is the capital of Australia?")
        # the Answers tab of the review panel: its first note field and "Correct" button
        note = page.get_by_role("textbox", name="Note (optional)").first
        note.fill("Sydney is right here")
        note.press("Enter")
        settle(page)
        page.get_by_role("button", name="Correct", exact=True).click()
        settle(page, "Saved: cluster 1 correct")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "review_question_labelled.png"))
        assert accuracy(page, url, HUMAN) == "62.5%"  # q01 now right: 5 of 8
        assert "1 judged answers" in main_text(page)
        assert accuracy(page, url, "exact_match") == "50.0%"  # the automatic judge: unchanged
    assert (run_copy / "labels.jsonl").is_file()
    with serve(run_copy, "streamlit-review-2.log") as url:  # a new server process
        assert accuracy(page, url, HUMAN) == "62.5%"
        page.goto(f"{url}/question?q=q01&judge={HUMAN}")
        settle(page, "What is the capital of Australia?")
        assert "1 judged answers" in main_text(page)


def test_review_queue_from_the_keyboard(page, run_copy):
    with serve(run_copy, "streamlit-review-3.log") as url:
        page.goto(f"{url}/review")
        settle(page, "Review queue")
        assert "Item 1 of 2" in main_text(page)
        page.locator("h1").first.click()  # focus on the page, not in a text field
        page.keyboard.press("n")
        settle(page, "Item 2 of 2")
        page.keyboard.press("p")
        settle(page, "Item 1 of 2")
        page.keyboard.press("i")  # q01's cluster incorrect; q01 leaves the queue
        settle(page, "Item 1 of 1")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "review_queue.png"))
    text = (run_copy / "labels.jsonl").read_text()
    assert '"value": "incorrect"' in text and '"question_id": "q01"' in text
