"""The answer map in headless Chromium: every answer of a 110,027-answer run drawn as
distinct-answer marks, and a lasso selection returning the ids of the answers inside it;
screenshots of the map and the Question page on data/demo at 1440×900.

Run with ``pytest -m browser tests/test_e2e_map.py``; skipped without Playwright/Chromium.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser
pytest.importorskip("playwright.sync_api")

from _big_run import replicate_run  # noqa: E402
from conftest import ROOT, serve  # noqa: E402
from test_e2e import SHOTS, browser, settle  # noqa: E402,F401  (browser: the Chromium fixture)

COPIES = 2341  # × 47 answers of the tiny fixture = 110,027 answers
N_ANSWERS = COPIES * 47
SLOW = 150_000  # ms: first render of a 110,000-answer run on a busy 2-core machine

# the page's marks: [x pixel, y pixel, answers it stands for] for every mark
MARKS_JS = """() => {
    const el = document.querySelector('.js-plotly-plot');
    const xa = el._fullLayout.xaxis, ya = el._fullLayout.yaxis;
    const r = el.querySelector('.nsewdrag').getBoundingClientRect();
    return el._fullData.flatMap(t => Array.from(t.customdata).map((c, i) =>
        [r.left + xa.l2p(t.x[i]), r.top + ya.l2p(t.y[i]), JSON.parse(c).length]));
}"""


@pytest.fixture(scope="module")
def big_server(tmp_path_factory):
    run = replicate_run(tmp_path_factory.mktemp("big") / "run", COPIES)
    with serve(run, "streamlit-big-map.log") as url:
        yield url


SELECTED_JS = """() => {
    const el = document.querySelector('.js-plotly-plot');
    let n = 0, traces = 0;
    el.data.forEach(t => {
        if (!t.selectedpoints) return;
        traces += 1;
        Array.from(t.selectedpoints).forEach(i => { n += JSON.parse(t.customdata[i]).length; });
    });
    return [n, traces];
}"""


def test_map_of_110k_answers_selects_ids(big_server, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(f"{big_server}/answer_map")
    settle(page, "to list them here", timeout=SLOW)
    page.wait_for_selector(".js-plotly-plot .nsewdrag", timeout=SLOW)
    marks = page.evaluate(MARKS_JS)
    caption = page.get_by_text(f"{N_ANSWERS:,} answers", exact=False).count()
    # the modebar is always shown (Plotly adds "modebar--hover" when it shows on hover only)
    lasso_button = page.locator('.modebar-btn[data-val="lasso"]').count()
    hover_only = page.locator(".modebar--hover").count()
    box = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
    x0, y0 = box["x"] + 3, box["y"] + 3
    x1, y1 = box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.4
    inside = sum(m[2] for m in marks if x0 < m[0] < x1 and y0 < m[1] < y1)
    page.mouse.move(x0, y0)
    page.mouse.down()
    for x, y in [(x1, y0), (x1, y1), (x0, y1), (x0, y0 + 1)]:
        page.mouse.move(x, y, steps=6)
    page.mouse.up()
    settle(page, "Selected clusters", timeout=SLOW)
    selected, traces = page.evaluate(SELECTED_JS)
    metric = page.locator('[data-testid="stMetric"]').first.inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "answer_map_110k_selection.png"))
    page.close()
    facts = dict(marks=len(marks), answers=sum(m[2] for m in marks), caption=caption,
                 lasso_button=lasso_button, hover_only=hover_only, inside=inside,
                 selected=selected, traces=traces, metric=metric)
    print(facts)
    assert facts["answers"] == N_ANSWERS, facts  # every answer, no sample
    assert facts["marks"] < N_ANSWERS and caption >= 1, facts  # identical answers share a mark
    assert lasso_button >= 1 and hover_only == 0, facts
    # the page lists exactly the answers of the marks Plotly selected (ids from customdata);
    # a mark within a pixel of the lasso's edge may fall either way, so the estimate from
    # pixel positions is only close
    assert 0 < selected < N_ANSWERS, facts
    assert metric.split()[-1].replace(",", "") == str(selected), facts
    assert abs(selected - inside) <= 0.05 * inside, facts


DEMO = ROOT / "data" / "demo"


@pytest.mark.skipif(not (DEMO / "manifest.json").is_file(), reason="no data/demo run")
def test_demo_screenshots_1440(browser):  # noqa: F811
    """Screenshots for a person to look at (the map and a Question page's map)."""
    with serve(DEMO, "streamlit-demo-map.log") as url:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(f"{url}/answer_map")
        settle(page, "to list them here", timeout=SLOW)
        page.wait_for_timeout(2000)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "demo_answer_map_1440.png"))
        page.screenshot(path=str(SHOTS / "demo_answer_map_1440_full.png"), full_page=True)
        page.goto(f"{url}/question?q=tqa-001")
        settle(page, "This question's answers on the map", timeout=SLOW)
        page.get_by_text("This question's answers on the map").first.scroll_into_view_if_needed()
        page.wait_for_timeout(2000)
        page.screenshot(path=str(SHOTS / "demo_question_map_1440.png"))
        page.screenshot(path=str(SHOTS / "demo_question_1440_full.png"), full_page=True)
        page.close()
