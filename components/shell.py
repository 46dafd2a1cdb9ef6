"""What every page does first: page config, the links to the other pages, the shared
sidebar, and the URL. ``view = shell.start("Answer map")`` at the top of each page script.

The app uses Streamlit's plain ``pages/`` folder (app.py is the Overview, no
``st.navigation``): every page is its own entry point, so a link such as
``/question?q=q03`` works as the first request to a new server. Streamlit's own page list
is hidden (``client.showSidebarNavigation``) because it would title pages after their file
names ("app", "answer map"); :data:`PAGES` lists them with titles and icons instead.
"""

from __future__ import annotations

import streamlit as st

from components import sidebar, url
from components.sidebar import View
from uqlens.run.folder import correctness_off, unreferenced_note

# (script, title, icon) in sidebar order; a script's file name is its URL path
PAGES: tuple[tuple[str, str, str], ...] = (
    ("app.py", "Overview", ":material/dashboard:"),
    ("pages/answer_map.py", "Answer map", ":material/scatter_plot:"),
    ("pages/question.py", "Question", ":material/help:"),
    ("pages/hallucinations.py", "Confident hallucinations", ":material/report:"),
    ("pages/review.py", "Review queue", ":material/rate_review:"),
    ("pages/agreement.py", "Method agreement", ":material/join:"),
    ("pages/sensitivity.py", "Sensitivity", ":material/tune:"),
    ("pages/judges.py", "Judge audit", ":material/gavel:"),
    ("pages/tail.py", "Tail metrics", ":material/show_chart:"),
    ("pages/conformal.py", "Conformal sets", ":material/filter_alt:"),
    ("pages/confidence_region.py", "Confidence region", ":material/target:"),
    ("pages/data.py", "Data", ":material/table:"),
)


def _links() -> None:
    if st.get_option("client.showSidebarNavigation") is not False:
        # .streamlit/config.toml sets it when the server starts in this folder; elsewhere
        # the first page of a new server shows Streamlit's list too, later pages do not.
        st.set_option("client.showSidebarNavigation", False)
    with st.sidebar.container(gap=None):
        for script, title, icon in PAGES:
            st.page_link(script, label=title, icon=icon)
    st.sidebar.divider()


def require_correctness(view: View) -> None:
    """Stop a page that needs correctness labels, saying why the run has none."""
    why = correctness_off(view.run)
    if why:
        st.info(why, icon=":material/rule:")
        st.stop()
    note = unreferenced_note(view.run)
    if note:
        st.caption(note)


def slice_note(view: View) -> None:
    """Say on the page that the "Non-LLM ground truth only" filter is on, and what is left."""
    if view.question_ids is None:
        return
    st.info(f"**Non-LLM ground truth only**: this page shows the {len(view.question_ids)} of "
            f"{view.total_questions} questions whose judged answer a program checked or exact "
            "gold labels. Turn the filter off in the sidebar to see all.",
            icon=":material/verified:")


FLASH = "uq.flash"


def flash(message: str) -> None:
    """A warning for the next page drawn (from a callback, whose own output is not kept)."""
    st.session_state.setdefault(FLASH, []).append(message)


def start(title: str, write_url: bool = True) -> View:
    """Set the page up and return the current view (stops the page when there is none).

    ``write_url=False``: the page writes the query string itself (``url.sync(view, q=...)``)
    once it knows its own parameters."""
    st.set_page_config(layout="wide", page_title=f"{title} · uqlens",
                       page_icon=":material/blur_on:")
    _links()
    view = sidebar.choose()
    for message in st.session_state.pop(FLASH, []):
        st.warning(message, icon=":material/warning:")
    if view is None:
        st.stop()
    st.sidebar.caption(f"Run: `{view.path}`")
    slice_note(view)
    if write_url:
        url.sync(view)
    return view
