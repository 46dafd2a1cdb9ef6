"""uqlens dashboard: ``streamlit run app.py -- --run PATH``.

Entry point only: page config, navigation over pages/, and the sidebar (run picker, rule,
method, judge). The pages read the resolved choices through ``components.state.current()``.
"""

import streamlit as st

from components import state

st.set_page_config(layout="wide", page_title="uqlens", page_icon=":material/blur_on:")

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("pages/answer_map.py", title="Answer map", icon=":material/scatter_plot:"),
    st.Page("pages/question.py", title="Question", icon=":material/help:"),
    st.Page("pages/hallucinations.py", title="Confident hallucinations",
            icon=":material/report:"),
    st.Page("pages/agreement.py", title="Method agreement", icon=":material/join:"),
    st.Page("pages/sensitivity.py", title="Sensitivity", icon=":material/tune:"),
    st.Page("pages/judges.py", title="Judge audit", icon=":material/gavel:"),
    st.Page("pages/tail.py", title="Tail metrics", icon=":material/show_chart:"),
    st.Page("pages/conformal.py", title="Conformal sets", icon=":material/filter_alt:"),
    st.Page("pages/confidence_region.py", title="Confidence region", icon=":material/target:"),
    st.Page("pages/data.py", title="Data", icon=":material/table:"),
]

page = st.navigation(PAGES)
view = state.sidebar()
state.finish_bootstrap()
state.show_flash()
st.session_state["uq.view"] = view
if view is not None:
    st.sidebar.caption(f"Run: `{view.path}`")
    state.sync_url(view)
page.run()
