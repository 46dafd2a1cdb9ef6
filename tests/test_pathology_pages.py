"""The pathology pages under AppTest, through a stand-in entry script that registers them
(app.py's navigation is the lead's to edit). Runs on a real built run and on the fixture."""

from __future__ import annotations

from pathlib import Path

import pytest
from _built_run import built_run

ROOT = Path(__file__).resolve().parent.parent
PAGES = ("agreement", "sensitivity", "judges", "tail", "conformal")
ENTRY = '''
import streamlit as st
from components import state
def home():
    st.write("home")
PAGES = [st.Page(home, title="Home", default=True)] + [
    st.Page("pages/" + p + ".py", title=p) for p in {pages!r}]
page = st.navigation(PAGES)
view = state.sidebar()
state.finish_bootstrap()
st.session_state["uq.view"] = view
page.run()
'''


@pytest.fixture(scope="module")
def entry(tmp_path_factory):
    path = ROOT / f".pathology_entry_{id(tmp_path_factory)}.py"
    path.write_text(ENTRY.format(pages=PAGES), encoding="utf-8")
    yield path
    path.unlink(missing_ok=True)


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("which", [pytest.param("built", marks=pytest.mark.model), "fixture"])
def test_page_renders(entry, page, which, tmp_path_factory):
    from streamlit.testing.v1 import AppTest

    run = built_run(tmp_path_factory) if which == "built" else ROOT / "tests/fixtures/tiny_run"
    at = AppTest.from_file(str(entry), default_timeout=120)
    at.session_state["uq.run"] = str(run)
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title and at.title[0].value  # the page rendered its content
