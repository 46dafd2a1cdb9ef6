"""The sidebar every page shares: run picker, clustering rule, UQ method, correctness judge.

The choices live in app-state keys (``uq.*``, see :mod:`components.widgets`), seeded once
per session from the URL (:mod:`components.url`) and the command line.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from components import runs, url
from components.cache import cached
from components.widgets import persist
from uqlens.analysis.ground_truth import non_llm_ground_truth
from uqlens.analysis.overview import run_methods
from uqlens.run.folder import Run, RunError, correctness_off

APPROXIMATE = "approximate: embedding similarity, blind to negation"


@dataclass(frozen=True)
class View:
    """The current choices, read by every page."""

    run: Run
    rule: str
    method: str
    judge: str | None  # None: the run has no correctness labels (shell.require_correctness)
    total_questions: int = 0  # in the whole run, whatever the filter

    @property
    def path(self) -> str:
        return runs.display_path(self.run.path)

    @property
    def question_ids(self) -> tuple[str, ...] | None:
        """The questions every page lists and scores: the verifiable slice when the sidebar's
        "Non-LLM ground truth only" is on (``run`` is then restricted to them), else None."""
        return self.run.subset


def _first_valid(value, options: list[str], default: str | None) -> str | None:
    if value in options:
        return value
    if default in options:
        return default
    return options[0] if options else None


def _choice(label: str, key: str, options: list[str], default: str | None, url_name: str,
            **widget) -> str | None:
    """A sidebar selectbox bound to an app-state key, warning about unknown URL values."""
    current = st.session_state.get(key)
    value = _first_valid(current, options, default)
    if current is not None and current != value:
        st.warning(f"Unknown {url_name} {current!r} for this run; using {value!r}.",
                   icon=":material/warning:")
    st.session_state[key] = value
    if not options:
        return None
    chosen = st.sidebar.selectbox(label, options, **persist("w." + key, value, key), **widget)
    st.session_state[key] = chosen
    return chosen


def is_approximate(run: Run, rule: str) -> bool:
    """A rule that groups answers by embedding cosine: it merges opposites ("legal" /
    "illegal") because short answers to one question embed alike."""
    for entry in run.manifest.get("rules", []):
        if entry.get("key") == rule:
            return entry.get("rule") == "embedding" or entry.get("backend") == "cosine"
    return rule.startswith("embedding") or rule.endswith("@cosine")


def _open_typed() -> None:
    typed = st.session_state.get("w.typed_run", "").strip()
    if not typed:
        return
    if runs.is_run(runs.resolve(typed)):
        runs.open_run(typed)
        st.session_state["w.typed_run"] = ""
        st.session_state["uq.typed_error"] = None
    else:
        st.session_state["uq.typed_error"] = f"Not a built run (no manifest.json): {typed}"


def _show_notes(run_path: str | None) -> None:
    """The notes about how the first run was chosen, only while the run they describe is
    current; the fixture warning whenever the fixture run is current."""
    shown = False
    for kind, text, about in st.session_state.get(url.NOTES, []):
        if about == run_path:
            getattr(st, kind)(text)
            shown = shown or "test fixture" in text
    if runs.is_fixture(run_path) and not shown:
        st.info(runs.FIXTURE_NOTE)


def choose() -> View | None:
    """Render the run picker and the rule/method/judge choices; return the current view."""
    url.init_once()
    run_path = _choice("Run", runs.RUN, runs.known_runs(), st.session_state.get(runs.DEFAULT),
                       "run")
    _show_notes(run_path)
    st.sidebar.text_input("Open a run folder", key="w.typed_run", on_change=_open_typed,
                          placeholder="path/to/run", help="A folder written by `uqlens build`.")
    if st.session_state.get("uq.typed_error"):
        st.sidebar.error(st.session_state["uq.typed_error"])
    if st.session_state.get("uq.loaded_run") not in (None, run_path):
        for key in (url.RULE, url.METHOD, url.JUDGE, url.QUESTION, url.CLUSTER):
            st.session_state.pop(key, None)  # the old run's choices
    st.session_state["uq.loaded_run"] = run_path
    try:
        run = runs.load(run_path)
    except (RunError, OSError) as exc:
        st.error(f"Cannot read run {run_path!r}: {exc}")
        return None
    m = run.manifest
    rules = run.rules or sorted(run.table("scores")["rule"].unique())
    rule = _choice("Clustering rule", url.RULE, rules, m.get("default_rule"), "rule",
                   format_func=lambda r: f"{r} (approximate)" if is_approximate(run, r) else r)
    if rule is not None and is_approximate(run, rule):
        st.sidebar.caption(f"`{rule}` is {APPROXIMATE}: answers such as “legal” and "
                           "“illegal” can share a cluster.")
    methods = cached(run_methods, run, rule)
    method = _choice("UQ method", url.METHOD, methods, m.get("default_method"), "method")
    judges = [*(run.judges or sorted(run.built_table("correctness")["judge"].unique())),
              *run.human_judges]  # human+<judge>: a person's label where there is one
    judge = _choice("Correctness judge", url.JUDGE, judges, m.get("default_judge"), "judge")
    if m.get("fixture") and runs.is_fixture(run_path):
        st.sidebar.caption("Showing the synthetic test fixture.")
    if judge is None and correctness_off(run):
        st.sidebar.caption("No correctness judge: the run has no correctness labels.")
    elif judge is None:
        rule = None  # judges listed but none resolvable: a broken run
    if rule is None or method is None:
        st.error("This run has no rules, methods or judges to show.")
        return None
    total = len(run.table("questions"))
    verifiable = _slice_toggle(run)
    if verifiable is not None:
        run = run.restricted(verifiable)
    return View(run=run, rule=rule, method=method, judge=judge, total_questions=total)


NO_SLICE = ("No question of this run has non-LLM ground truth: no judged answer is labelled "
            "by a program judge (integer answers) or exact gold.")


def _slice_toggle(run: Run) -> list[str] | None:
    """The "Non-LLM ground truth only" toggle; the verifiable question ids when it is on."""
    ids = cached(non_llm_ground_truth, run)
    if not ids:
        st.session_state[url.SLICE] = None
        st.sidebar.toggle("Non-LLM ground truth only", value=False, disabled=True,
                          key="w.uq.slice.off", help=NO_SLICE)
        st.sidebar.caption(NO_SLICE)
        return None
    # the URL brings the string "verifiable"; the toggle keeps a bool (persist copies it back)
    on = st.session_state.get(url.SLICE) in ("verifiable", True)
    st.session_state[url.SLICE] = on
    on = st.sidebar.toggle(
        "Non-LLM ground truth only", **persist("w.uq.slice", on, url.SLICE),
        help=f"Restrict every page to the {len(ids)} questions whose judged answer a program "
             "checked or exact gold labels (no language model decided its correctness).")
    return ids if on else None
