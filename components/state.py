"""App state: which run, rule, method, judge, question and cluster are current.

The state lives in the app's own session keys (``uq.*``) because widget state is dropped when
a widget is not rendered (a page switch). It starts from the URL query string (so a link
reproduces a view), then from ``streamlit run app.py -- --run PATH``, and is written back to
the URL on every run. Runs are loaded through Streamlit's caches here, at the I/O edge only.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from uqlens.run.folder import (
    Run,
    RunError,
    correctness_off,
    find_runs,
    is_run,
    load_run,
    unreferenced_note,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
DEMO = DATA / "demo"
FIXTURE = ROOT / "tests" / "fixtures" / "tiny_run"

RUN, RULE, METHOD, JUDGE = "uq.run", "uq.rule", "uq.method", "uq.judge"
QUESTION, CLUSTER, EXTRA, INIT = "uq.q", "uq.cluster", "uq.extra_runs", "uq.init"
NOTES = "uq.notes"
FIXTURE_NOTE = "This is the tiny synthetic **test fixture**, not real model output."
URL_KEYS = ("run", "rule", "method", "judge")


@dataclass(frozen=True)
class View:
    """The current choices, read by every page."""

    run: Run
    rule: str
    method: str
    judge: str | None  # None: the run has no correctness labels (see require_correctness)

    @property
    def path(self) -> str:
        return display_path(self.run.path)


def display_path(path: str | Path) -> str:
    """A path relative to the app folder when it lies inside it."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


def resolve(path: str | Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else ROOT / p


@st.cache_resource(show_spinner="Loading run…")
def _load(path: str, stamp: float) -> Run:
    run = load_run(path)
    for name in ("questions", "generations", "clusters", "scores", "correctness"):
        run.table(name)  # read the small tables once, shared by every session
    return run


def load(path: str | Path) -> Run:
    """A cached run; a rebuilt run (newer manifest) is read again."""
    p = resolve(path)
    return _load(str(p), (p / "manifest.json").stat().st_mtime)


def cli_run() -> str | None:
    """``--run PATH`` after ``--`` on the ``streamlit run`` command line (or $UQLENS_RUN)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--run")
    args, _ = parser.parse_known_args(sys.argv[1:])
    return args.run or os.environ.get("UQLENS_RUN")


def default_run() -> tuple[str, str | None]:
    """The initial run and a note to show about how it was chosen (None when nothing to say)."""
    asked = cli_run()
    if asked and is_run(resolve(asked)):
        note = None
        if resolve(asked).resolve() == FIXTURE.resolve():
            note = FIXTURE_NOTE
        return display_path(resolve(asked)), note
    found = find_runs(DATA)
    prefix = f"Run `{asked}` was not found; " if asked else ""
    if found:
        first = display_path(found[0])
        return first, (f"{prefix}showing `{first}`." if asked else None)
    return display_path(FIXTURE), (
        f"{prefix}no built run under `data/` yet, so this shows the tiny synthetic "
        "**test fixture** (`tests/fixtures/tiny_run`), not real model output. "
        "Build one with `uqlens build` or open a run folder in the sidebar."
    )


def user_runs_dir() -> Path:
    """Where runs added from the app are built: ``data/user-runs`` (git-ignored), or
    ``$UQLENS_USER_RUNS``."""
    return resolve(os.environ.get("UQLENS_USER_RUNS") or DATA / "user-runs")


def open_run(path: str | Path) -> str:
    """Add a run folder to the picker and make it current (takes effect on the next rerun)."""
    shown = display_path(resolve(path))
    extra = st.session_state.setdefault(EXTRA, [])
    if shown not in extra:
        extra.append(shown)
    st.session_state[RUN] = shown
    return shown


def known_runs() -> list[str]:
    runs = [display_path(p) for p in find_runs(DATA, user_runs_dir())]
    for extra in st.session_state.get(EXTRA, []):
        if extra not in runs:
            runs.append(extra)
    for extra in (st.session_state.get("uq.default_run"), st.session_state.get(RUN)):
        if extra and extra not in runs:
            # The run the app started with, and any run that was current in this session,
            # stay selectable after the user switches away from them.
            runs.append(extra)
            st.session_state[EXTRA] = [*st.session_state.get(EXTRA, []), extra]
    return runs


def _first_valid(value, options: list[str], default: str | None) -> str | None:
    if value in options:
        return value
    if default in options:
        return default
    return options[0] if options else None


def init_from_url() -> None:
    """Once per session: seed the state from the URL and the command line."""
    if st.session_state.get(INIT):
        return
    st.session_state[INIT] = True
    notes: list[tuple[str, str, str]] = []  # (kind, text, the run it is about)
    qp = st.query_params
    run_path, note = default_run()
    st.session_state["uq.default_run"] = run_path
    if note:
        notes.append(("info", note, run_path))
    asked = qp.get("run")
    if asked:
        if is_run(resolve(asked)):
            run_path = display_path(resolve(asked))
        else:
            flash(f"Unknown run in the link: {asked!r}; showing {run_path!r}.")
    st.session_state.setdefault(RUN, run_path)
    for key, state_key in (("rule", RULE), ("method", METHOD), ("judge", JUDGE),
                           ("q", QUESTION), ("cluster", CLUSTER)):
        if key in qp:
            st.session_state[state_key] = qp.get(key)
    if JUDGE in st.session_state:  # a typed "judge=human+squad_f1" arrives with a space
        st.session_state[JUDGE] = str(st.session_state[JUDGE]).replace(" ", "+")
    st.session_state[NOTES] = notes


def _choice(label: str, state_key: str, options: list[str], default: str | None,
            url_name: str) -> str | None:
    """A sidebar selectbox bound to an app-state key, warning about unknown URL values."""
    current = st.session_state.get(state_key)
    if current is not None and current not in options:
        fallback = _first_valid(None, options, default)
        flash(f"Unknown {url_name} {current!r} for this run; using {fallback!r}.")
    value = _first_valid(current, options, default)
    widget = f"w.{state_key}"
    if st.session_state.get(widget) not in options or st.session_state.get(widget) != value:
        st.session_state[widget] = value
    if not options:
        return None
    chosen = st.sidebar.selectbox(label, options, key=widget,
                                  on_change=_copy, args=(widget, state_key))
    st.session_state[state_key] = chosen
    return chosen


def flash(message: str) -> None:
    """A warning shown once, on the next page that renders (survives a bootstrap rerun)."""
    st.session_state.setdefault("uq.flash", []).append(message)


def show_flash() -> None:
    for message in st.session_state.pop("uq.flash", []):
        st.warning(message, icon=":material/warning:")


def _copy(src: str, dst: str) -> None:
    st.session_state[dst] = st.session_state[src]


def _open_typed() -> None:
    typed = st.session_state.get("w.typed_run", "").strip()
    if not typed:
        return
    if is_run(resolve(typed)):
        open_run(typed)
        st.session_state["w.typed_run"] = ""
        st.session_state["uq.typed_error"] = None
    else:
        st.session_state["uq.typed_error"] = f"Not a built run (no manifest.json): {typed}"


def sidebar() -> View | None:
    """Render the run picker and the rule/method/judge choices; return the current view."""
    init_from_url()
    runs = known_runs()
    run_path = _choice("Run", RUN, runs, st.session_state.get("uq.default_run"), "run")
    show_notes(run_path)
    st.sidebar.text_input("Open a run folder", key="w.typed_run", on_change=_open_typed,
                          placeholder="path/to/run", help="A folder written by `uqlens build`.")
    if st.session_state.get("uq.typed_error"):
        st.sidebar.error(st.session_state["uq.typed_error"])
    if st.session_state.get("uq.loaded_run") not in (None, run_path):
        for key in (RULE, METHOD, JUDGE, QUESTION, CLUSTER):  # the old run's choices
            st.session_state.pop(key, None)
    st.session_state["uq.loaded_run"] = run_path
    try:
        run = load(run_path)
    except (RunError, OSError) as exc:
        st.error(f"Cannot read run {run_path!r}: {exc}")
        return None
    m = run.manifest
    rules = run.rules or sorted(run.table("scores")["rule"].unique())
    rule = _choice("Clustering rule", RULE, rules, m.get("default_rule"), "rule")
    from uqlens.analysis.overview import run_methods

    methods = run_methods(run, rule)
    method = _choice("UQ method", METHOD, methods, m.get("default_method"), "method")
    judges = [*(run.judges or sorted(run.built_table("correctness")["judge"].unique())),
              *run.human_judges]  # human+<judge>: a person's label where there is one
    judge = _choice("Correctness judge", JUDGE, judges, m.get("default_judge"), "judge")
    if m.get("fixture") and is_fixture(run_path):
        st.sidebar.caption("Showing the synthetic test fixture.")
    if judge is None and correctness_off(run):
        st.sidebar.caption("No correctness judge: the run has no correctness labels.")
    elif judge is None:
        rule = None  # judges listed but none resolvable: a broken run
    if rule is None or method is None:
        st.error("This run has no rules, methods or judges to show.")
        return None
    return View(run=run, rule=rule, method=method, judge=judge)


def require_correctness(view: View) -> None:
    """Stop a page that needs correctness labels, saying why the run has none."""
    why = correctness_off(view.run)
    if why:
        st.info(why, icon=":material/rule:")
        st.stop()
    note = unreferenced_note(view.run)
    if note:
        st.caption(note)


def is_fixture(run_path: str | Path | None) -> bool:
    return run_path is not None and resolve(run_path).resolve() == FIXTURE.resolve()


def show_notes(run_path: str | None) -> None:
    """The notes about how the first run was chosen, only while the run they describe is
    current; the fixture warning whenever the fixture run is current."""
    shown = False
    for kind, text, about in st.session_state.get(NOTES, []):
        if about == run_path:
            getattr(st, kind)(text)
            shown = shown or "test fixture" in text
    if is_fixture(run_path) and not shown:
        st.info(FIXTURE_NOTE)


def finish_bootstrap() -> None:
    """Nothing left to do: :func:`current` does app.py's work itself when needed.

    Kept so that entry scripts written against the older bootstrap keep working.
    """
    st.session_state.pop("uq.boot_page", None)


def sync_url(view: View | None, **extra: str | None) -> None:
    """Write the current choices (and page extras such as ``q``) into the query string."""
    params: dict[str, str] = {}
    if view is not None:
        if view.path != st.session_state.get("uq.default_run"):
            params["run"] = view.path
        params.update(rule=view.rule, method=view.method, judge=view.judge)
    params.update({k: str(v) for k, v in extra.items() if v is not None})
    if dict(st.query_params) != params:
        st.query_params.from_dict(params)


def url_for(page: str, view: View, **extra: str) -> str:
    """A relative link to ``page`` that reproduces ``view`` plus ``extra`` parameters."""
    from urllib.parse import urlencode

    params: dict[str, str] = {}
    if view.path != st.session_state.get("uq.default_run"):
        params["run"] = view.path
    params.update(rule=view.rule, method=view.method, judge=view.judge, **extra)
    return f"{page}?{urlencode(params)}"


def version(path: str | Path) -> tuple:
    """What a cached result depends on: the manifest's time (a rebuild) and the human
    labels file's size and time (a new label changes every ``human+`` judge)."""
    from uqlens.run.labels import labels_stamp

    p = resolve(path)
    return (p / "manifest.json").stat().st_mtime, labels_stamp(p)


@st.cache_data(show_spinner=False, max_entries=128)
def _compute(fn: str, path: str, stamp: tuple, args: tuple):
    from uqlens.analysis import overview as analysis

    return getattr(analysis, fn)(_load(path, stamp[0]), *args)


def compute(fn: str, view: View, *args):
    """``uqlens.analysis.overview.<fn>(run, *args)``, cached per run version and arguments."""
    p = resolve(view.run.path)
    return _compute(fn, str(p), version(p), tuple(args))


def _run_by_entry_script() -> bool:
    """Whether the calling page was started by the entry script's ``page.run()`` (its frame is
    on the stack), rather than directly by Streamlit's legacy ``pages/`` folder mode."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None:  # bare mode: nothing to bootstrap
        return True
    main = os.path.realpath(ctx.main_script_path)
    frame = sys._getframe(1)
    while frame is not None:
        if os.path.realpath(frame.f_code.co_filename) == main:
            return True
        frame = frame.f_back
    return False


def current() -> View:
    """The view app.py resolved for this run of the script (stops the page if none)."""
    if not _run_by_entry_script():
        # Until some script calls st.navigation, Streamlit treats pages/ as a legacy (v1)
        # pages folder and runs the page named by the URL *without* app.py: the first
        # request after a server start that lands on a sub-page (and every AppTest run).
        # Do app.py's work here. Its pages' url paths equal their file names, so their page
        # hashes equal the legacy ones: the asked url path resolves to this very page (no
        # "Page not found"), and the server switches to app.py's navigation for good. The
        # sidebar resolves a fresh view, so a stale ``uq.view`` from an earlier run is never
        # used, and no rerun is needed (a button click in this run is not lost).
        from components import nav

        nav.start()
    view = st.session_state.get("uq.view")
    if view is None:
        st.stop()
    return view
