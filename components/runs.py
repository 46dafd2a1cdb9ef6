"""Which runs exist, which one the app starts on, and loading them (cached per manifest
time, so a rebuilt run is read again)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import streamlit as st

from uqlens.run.folder import MANIFEST, Run, find_runs, is_run, load_run

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
FIXTURE = ROOT / "tests" / "fixtures" / "tiny_run"
FIXTURE_NOTE = "This is the tiny synthetic **test fixture**, not real model output."

RUN, EXTRA, DEFAULT = "uq.run", "uq.extra_runs", "uq.default_run"


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


def stamp(path: str | Path) -> float:
    """The run's build: its manifest's modification time (a build rewrites it last)."""
    return (Path(path) / MANIFEST).stat().st_mtime


def version(path: str | Path) -> tuple:
    """What a result computed from the run depends on: its build (:func:`stamp`) and its
    human labels file (size and time: a new label changes every ``human+`` judge)."""
    from uqlens.run.labels import labels_stamp

    return stamp(path), labels_stamp(Path(path))


@st.cache_resource(show_spinner="Loading run…", max_entries=8)
def _load(path: str, version: float) -> Run:
    run = load_run(path)
    # tables are read when a page first needs them (at 1,000,000 answers a question-level
    # page needs no whole clusters or scores table); the object is shared by every session
    run.table("questions")
    return run


def load(path: str | Path, version: float | None = None) -> Run:
    """The run at ``path``, one object per run version shared by every session."""
    p = resolve(path)
    return _load(str(p), stamp(p) if version is None else version)


def cli_run() -> str | None:
    """``--run PATH`` after ``--`` on the ``streamlit run`` command line (or $UQLENS_RUN)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--run")
    args, _ = parser.parse_known_args(sys.argv[1:])
    return args.run or os.environ.get("UQLENS_RUN")


def is_fixture(run_path: str | Path | None) -> bool:
    return run_path is not None and resolve(run_path).resolve() == FIXTURE.resolve()


def default_run() -> tuple[str, str | None]:
    """The initial run and a note to show about how it was chosen (None when nothing to say)."""
    asked = cli_run()
    if asked and is_run(resolve(asked)):
        return display_path(resolve(asked)), (FIXTURE_NOTE if is_fixture(asked) else None)
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
    """The runs the picker offers: those under data/ and the user-runs folder, then any run
    this session opened, started with or had current (they stay selectable)."""
    runs = [display_path(p) for p in find_runs(DATA, user_runs_dir())]
    for extra in (*st.session_state.get(EXTRA, []), st.session_state.get(DEFAULT),
                  st.session_state.get(RUN)):
        if extra and extra not in runs:
            runs.append(extra)
            if extra not in st.session_state.get(EXTRA, []):
                st.session_state[EXTRA] = [*st.session_state.get(EXTRA, []), extra]
    return runs
