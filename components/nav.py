"""The app's pages, in one place: app.py's navigation and state.py's bootstrap share it.

Every page gets an explicit ``url_path`` equal to its file name. Streamlit identifies a page
by a hash of its url path, both in its legacy ``pages/`` folder mode and under
``st.navigation``; keeping the two equal is what lets a link such as
``/question?q=q03`` open the same page in either mode (see ``state.current``).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

# (script, title, icon); the first one is the default page
SPECS: tuple[tuple[str, str, str], ...] = (
    ("pages/overview.py", "Overview", ":material/dashboard:"),
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


def pages() -> list[st.Page]:
    """Fresh ``st.Page`` objects for ``st.navigation`` (url path = file name)."""
    return [
        st.Page(script, title=title, icon=icon, url_path=Path(script).stem, default=i == 0)
        for i, (script, title, icon) in enumerate(SPECS)
    ]


def start() -> st.Page:
    """Everything app.py does before it runs the page: page config, navigation, sidebar
    (run picker and choices), flash messages, URL sync. Returns the page to run.

    :func:`components.state.current` calls it too when Streamlit ran a page without app.py.
    """
    from components import state

    st.set_page_config(layout="wide", page_title="uqlens", page_icon=":material/blur_on:")
    page = st.navigation(pages())
    view = state.sidebar()
    state.show_flash()
    st.session_state["uq.view"] = view
    if view is not None:
        st.sidebar.caption(f"Run: `{view.path}`")
        state.sync_url(view)
    return page
