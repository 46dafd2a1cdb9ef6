"""The query string: where a session's choices start (a shared link) and where they are
written back, so that a link reproduces a view."""

from __future__ import annotations

from urllib.parse import quote_plus, urlencode

import streamlit as st

from components import runs

RULE, METHOD, JUDGE = "uq.rule", "uq.method", "uq.judge"
QUESTION, CLUSTER = "uq.q", "uq.cluster"
SLICE = "uq.slice"  # "verifiable": only questions with non-LLM ground truth (sidebar toggle)
NOTES, INIT = "uq.notes", "uq.init"
# URL parameter → app-state key
FROM_URL = {"rule": RULE, "method": METHOD, "judge": JUDGE, "q": QUESTION, "cluster": CLUSTER,
            "slice": SLICE}


def init_once() -> None:
    """Once per session: seed the state from the URL and the command line."""
    if st.session_state.get(INIT):
        return
    st.session_state[INIT] = True
    notes: list[tuple[str, str, str]] = []  # (kind, text, the run it is about)
    qp = st.query_params
    run_path, note = runs.default_run()
    st.session_state[runs.DEFAULT] = run_path
    if note:
        notes.append(("info", note, run_path))
    asked = qp.get("run")
    if asked:
        if runs.is_run(runs.resolve(asked)):
            run_path = runs.display_path(runs.resolve(asked))
        else:
            st.warning(f"Unknown run in the link: {asked!r}; showing {run_path!r}.",
                       icon=":material/warning:")
    st.session_state.setdefault(runs.RUN, run_path)
    for name, key in FROM_URL.items():
        if name in qp:
            st.session_state[key] = qp.get(name)
    if JUDGE in st.session_state:  # a typed "judge=human+squad_f1" arrives with a space
        st.session_state[JUDGE] = str(st.session_state[JUDGE]).replace(" ", "+")
    st.session_state[NOTES] = notes


def _params(view, extra: dict) -> dict[str, str]:
    params: dict[str, str] = {}
    if view.path != st.session_state.get(runs.DEFAULT):
        params["run"] = view.path
    chosen = {"rule": view.rule, "method": view.method, "judge": view.judge,
              "slice": "verifiable" if view.question_ids is not None else None, **extra}
    params.update({k: str(v) for k, v in chosen.items() if v is not None})
    return params


def sync(view, **extra: str | None) -> None:
    """Write the current choices (and page extras such as ``q``) into the query string."""
    params = _params(view, extra)
    if dict(st.query_params) != params:
        st.query_params.from_dict(params)


def link(page: str, view, **extra: str) -> str:
    """A relative link to ``page`` (its url path) that reproduces ``view`` plus ``extra``."""
    return f"{page}?{urlencode(_params(view, extra))}"


def question_links(view, question_ids) -> list[str]:
    """``link("question", view, q=q)`` for every id, the view's part worked out once (a
    table of 10,000 questions would resolve the run's path 10,000 times)."""
    base = _params(view, {})
    base.pop("q", None)
    prefix = f"question?{urlencode(base)}&q=" if base else "question?q="
    return [prefix + quote_plus(str(q)) for q in question_ids]  # what urlencode writes
