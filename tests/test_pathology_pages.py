"""The pathology pages under AppTest, opened through app.py as a link would open them. Runs on a
real built run and on the fixture."""

from __future__ import annotations

from pathlib import Path

import pytest
from _built_run import built_run

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PAGES = ("agreement", "sensitivity", "judges", "tail", "conformal")


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("which", [pytest.param("built", marks=pytest.mark.model), "fixture"])
def test_page_renders(page, which, tmp_path_factory):
    from streamlit.testing.v1 import AppTest

    run = built_run(tmp_path_factory) if which == "built" else ROOT / "tests/fixtures/tiny_run"
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["uq.run"] = str(run)
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title and at.title[0].value  # the page rendered its content
