"""Benchmark the dashboard: server time to first render of every page on a run, the time from
a selection to its detail, and the peak memory of the process serving them.

    python benchmarks/pages.py data/demo
    python benchmarks/pages.py /tmp/synthetic-run        # e.g. kept by benchmarks/build.py --keep
    python benchmarks/pages.py --answers 110000          # builds a synthetic run first

``--answers N`` builds (in a subprocess, no model: the synthetic answers carry their own
vectors, see ``benchmarks/build.py --embedded``) a run of about N answers, kept at ``--keep``
or in a temporary folder, then benchmarks it.

Each page is rendered twice in one AppTest session (Streamlit's script runner, no browser):
"first" includes loading the run and filling the app's caches, "again" is a rerun with warm
caches, which is what a user waits for when changing a widget; each with the CPU seconds the
process spent (all threads), which a busy machine does not inflate. A new session renders
the Overview before switching, so "first" of another page includes the Overview's; "page
alone" is the switch to the page and its first render. Then, with warm caches:
"selection → detail" is the library call behind the Answer map's list of a lasso of 1,000
answers (``selection_summary``), and "question → question" the Question page's rerun after
moving to another question. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _build_bench():
    """benchmarks/build.py as a module (its name would clash with the `build` package)."""
    spec = importlib.util.spec_from_file_location("uqlens_build_bench",
                                                  Path(__file__).with_name("build.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def synthetic_run(answers: int, out: Path, samples: int = 10) -> Path:
    """Build a synthetic run of about ``answers`` answers (own embeddings, PCA map) at
    ``out``; prints the build's time and peak memory."""
    bench = _build_bench()
    out.parent.mkdir(parents=True, exist_ok=True)
    src = out.parent / f"{out.name}.jsonl"
    bench.synthetic(src, max(1, answers // (samples + 1)), samples, embedded=True)
    result = bench.run_build([src], out, out.parent / f"{out.name}-cache",
                             {"projection": "pca", "embedder": "provided"})
    print(f"built {out}: {result['wall']:.1f} s, peak {result['peak_mb']:.0f} MB")
    return out


def page_times(run_path: Path, pages, timeout: float) -> None:
    from streamlit.testing.v1 import AppTest

    from components.shell import PAGES

    for script, title, _icon in PAGES:
        if pages and not any(p.lower() in f"{title} {script}".lower() for p in pages):
            continue
        # an absolute path: AppTest resolves a relative one against this file's folder
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
        start, cpu = time.perf_counter(), time.process_time()
        at.run()
        alone = ""
        if script != "app.py":  # app.py is the Overview itself
            # the Overview renders first in a new session; what the page itself adds:
            page, page_cpu = time.perf_counter(), time.process_time()
            at.switch_page(script)
            at.run()
            alone = (f"   (page alone {time.perf_counter() - page:6.2f} s, "
                     f"{time.process_time() - page_cpu:5.2f} cpu)")
        first, first_cpu = time.perf_counter() - start, time.process_time() - cpu
        start, cpu = time.perf_counter(), time.process_time()
        at.run()
        again, again_cpu = time.perf_counter() - start, time.process_time() - cpu
        errors = len(at.exception)
        # CPU seconds of this process (all its threads): what the page costs whatever else
        # runs on the machine
        print(f"{title:28s} first {first:7.2f} s ({first_cpu:5.2f} cpu)   again {again:6.2f} s "
              f"({again_cpu:5.2f} cpu)" + alone + (f"   EXCEPTIONS: {errors}" if errors else ""))


def detail_times(run_path: Path, timeout: float) -> None:
    """Selection → detail on the Answer map, question → question on the Question page."""
    import numpy as np
    from streamlit.testing.v1 import AppTest

    from components import url
    from uqlens.analysis import overview
    from uqlens.run.folder import load_run

    run = load_run(run_path)
    m = run.manifest
    rule, judge = m.get("default_rule") or run.rules[0], m.get("default_judge") or run.judges[0]
    method = m.get("default_method") or overview.run_methods(run, rule)[0]
    points = overview.map_points(run, rule, method, judge)  # the page has it already
    ids = tuple(np.random.default_rng(0).choice(points["id"].to_numpy(), size=min(
        1000, len(points)), replace=False))
    start, cpu = time.perf_counter(), time.process_time()
    answers, clusters = overview.selection_summary(run, rule, method, judge, ids)
    print(f"{'selection → detail':28s} {time.perf_counter() - start:7.2f} s "
          f"({time.process_time() - cpu:5.2f} cpu)   "
          f"({len(answers):,} answers in {len(clusters):,} clusters)")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    at.run()
    at.switch_page("pages/question.py")
    at.run()
    questions = run.table("questions")["question_id"]
    at.session_state[url.QUESTION] = questions.iloc[len(questions) // 2]
    start, cpu = time.perf_counter(), time.process_time()
    at.run()
    print(f"{'question → question':28s} {time.perf_counter() - start:7.2f} s "
          f"({time.process_time() - cpu:5.2f} cpu)"
          + (f"   EXCEPTIONS: {len(at.exception)}" if len(at.exception) else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", help="a built run folder")
    parser.add_argument("--answers", type=int, default=None,
                        help="build a synthetic run of about this many answers first")
    parser.add_argument("--keep", type=Path, default=None,
                        help="with --answers: build the run here (else a temporary folder)")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--page", action="append", default=[],
                        help="only pages whose title or script contains this (repeatable)")
    args = parser.parse_args()
    if (args.run is None) == (args.answers is None):
        parser.error("give a run folder or --answers N")
    given = Path(args.run).resolve() if args.run else None  # before leaving the caller's cwd
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        run_path = given if given else synthetic_run(
            args.answers, (args.keep or Path(tmp) / "synthetic-run").resolve())
        from uqlens.run.folder import load_run

        run = load_run(run_path)
        answers = len(run.table("generations"))
        print(f"run {run_path}: {len(run.table('questions')):,} questions, {answers:,} answers"
              + ("" if "summaries" in run.manifest else " (no precomputed summaries)"))
        del run
        sys.argv = ["app.py", "--run", str(run_path.resolve())]
        page_times(run_path, args.page, args.timeout)
        detail_times(run_path, args.timeout)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process (app and benchmark): {peak:,.0f} MB")


if __name__ == "__main__":
    main()
