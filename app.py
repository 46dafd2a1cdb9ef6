"""uqlens dashboard: ``streamlit run app.py -- --run PATH``.

Entry point only: page config, navigation over pages/, and the sidebar (run picker, rule,
method, judge), all in ``components.nav.start()``. The pages read the resolved choices
through ``components.state.current()``.
"""

from components import nav

nav.start().run()
