"""End to end in headless Chromium (Debian's /usr/bin/chromium) against ``streamlit run``.

Run with ``pytest -m browser``; skipped when Playwright or Chromium is missing.
Screenshots land in ``artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
N_ANSWERS = 47  # 8 questions x 5 samples + 7 greedy answers in the fixture


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("no Chromium at /usr/bin/chromium")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh page that records any JavaScript dialog (an XSS payload firing)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    pg = context.new_page()
    pg.dialogs = []

    def on_dialog(dialog):
        pg.dialogs.append(dialog.message)
        dialog.dismiss()

    pg.on("dialog", on_dialog)
    yield pg
    context.close()


def settle(page, text: str | None = None, timeout: float = 30_000) -> None:
    """Wait until the script has finished (and ``text`` is on screen)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
    if text:
        page.get_by_text(text, exact=False).first.wait_for(timeout=timeout)
    page.wait_for_selector(IDLE, timeout=timeout)
    page.wait_for_timeout(400)
    page.wait_for_selector(IDLE, timeout=timeout)


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(1500)  # let tables and charts finish drawing
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0


def test_deep_link_opens_question(streamlit_server, page):
    """First request after server start lands on a sub-page with state in the URL."""
    page.goto(f"{streamlit_server}/question?q=q03&method=num_sets")
    settle(page, "Who wrote Pride and Prejudice?")
    no_exception(page)
    assert "Question 3 of 8" in page.inner_text("body")
    main = page.locator('[data-testid="stMain"]').inner_text()
    assert "num_sets" in main  # the current method's metric
    assert "q=q03" in page.url and "method=num_sets" in page.url
    shoot(page, "question_deep_link")


@pytest.mark.parametrize(
    ("path", "title", "name"),
    [
        ("", "Overview", "overview"),
        ("answer_map", "Answer map", "answer_map"),
        ("question?q=q04", "Which HTML element runs JavaScript", "question_xss"),
        ("hallucinations", "Confident hallucinations", "hallucinations"),
        ("data", "Data", "data"),
        ("confidence_region", "Overlap (Jaccard)", "confidence_region"),
    ],
)
def test_page_renders(streamlit_server, page, path, title, name):
    page.goto(f"{streamlit_server}/{path}")
    settle(page, title)
    no_exception(page)
    shoot(page, name)
    assert page.dialogs == []


def test_data_table_visible(streamlit_server, page):
    page.goto(f"{streamlit_server}/data")
    settle(page, "Search questions and answers")
    table = page.locator('[data-testid="stDataFrame"]').first
    table.wait_for(state="visible")
    assert table.is_visible()


def _map_ids(page) -> list[str]:
    return page.evaluate(
        """() => {
            const el = document.querySelector('.js-plotly-plot');
            return el.data.flatMap(t => Array.from(t.customdata || []));
        }"""
    )


def test_map_has_one_point_per_answer(streamlit_server, page):
    page.goto(f"{streamlit_server}/answer_map")
    settle(page, "Answer map")
    page.wait_for_selector(".js-plotly-plot .nsewdrag")
    ids = _map_ids(page)
    assert len(ids) == N_ANSWERS and len(set(ids)) == N_ANSWERS


def test_lasso_fills_selection_table(streamlit_server, page):
    page.goto(f"{streamlit_server}/answer_map")
    settle(page, "Select answers on the map")
    drag = page.locator(".js-plotly-plot .nsewdrag").first
    box = drag.bounding_box()
    x0, y0 = box["x"] + 5, box["y"] + 5
    x1, y1 = box["x"] + box["width"] - 5, box["y"] + box["height"] - 5
    page.mouse.move(x0, y0)
    page.mouse.down()
    for x, y in [(x1, y0), (x1, y1), (x0, y1), (x0, y0 + 2)]:
        page.mouse.move(x, y, steps=8)
    page.mouse.up()
    settle(page, "Selected answers")
    no_exception(page)
    assert page.locator('[data-testid="stDataFrame"]').count() >= 2
    metric = page.locator('[data-testid="stMetric"]').first.inner_text()
    assert str(N_ANSWERS) in metric
    shoot(page, "answer_map_selection")


def test_xss_payload_does_not_execute(streamlit_server, page):
    page.goto(f"{streamlit_server}/question?q=q04")
    settle(page, "Which HTML element runs JavaScript")
    assert page.get_by_text("<script>alert(1)</script>", exact=True).first.is_visible()
    assert page.get_by_text("<img src=x onerror=alert(2)>", exact=True).first.is_visible()
    page.goto(f"{streamlit_server}/answer_map")
    settle(page, "Answer map")
    page.wait_for_selector(".js-plotly-plot .nsewdrag")
    # hover over every point of question q04 so its hover labels render
    coords = page.evaluate(
        """() => {
            const el = document.querySelector('.js-plotly-plot');
            const out = [];
            el._fullData.forEach(t => Array.from(t.customdata).forEach((id, i) => {
                if (id.startsWith('q04|')) out.push([t.x[i], t.y[i]]);
            }));
            const xa = el._fullLayout.xaxis, ya = el._fullLayout.yaxis;
            const r = el.querySelector('.nsewdrag').getBoundingClientRect();
            return out.map(([x, y]) => [r.left + xa.l2p(x), r.top + ya.l2p(y)]);
        }"""
    )
    assert coords
    seen = []
    for x, y in coords:
        page.mouse.move(x, y)
        page.wait_for_timeout(200)
        seen.append(page.locator(".hoverlayer").text_content() or "")
    hover = " ".join(seen)
    assert "<script>alert(1)</script>" in hover or "<img src=x onerror=alert(2)>" in hover
    assert page.locator(".hoverlayer img").count() == 0
    assert page.locator(".hoverlayer script").count() == 0
    page.goto(f"{streamlit_server}/data")
    settle(page, "Search questions and answers")
    page.wait_for_timeout(500)
    assert page.dialogs == []
