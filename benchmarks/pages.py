"""Benchmark the dashboard: server time to first render of every page on a run.

    python benchmarks/pages.py data/demo
    python benchmarks/pages.py /tmp/synthetic-run        # e.g. kept by benchmarks/build.py --keep

Each page is rendered twice in one AppTest session (Streamlit's script runner, no browser):
"first" includes loading the run and filling the app's caches, "again" is a rerun with warm
caches, which is what a user waits for when changing a widget. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a built run folder")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--page", action="append", default=[],
                        help="only pages whose title or script contains this (repeatable)")
    args = parser.parse_args()
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    from streamlit.testing.v1 import AppTest

    from components.shell import PAGES
    from uqlens.run.folder import load_run

    run = load_run(args.run)
    answers = len(run.table("generations"))
    print(f"run {args.run}: {len(run.table('questions')):,} questions, {answers:,} answers")
    sys.argv = ["app.py", "--run", str(Path(args.run).resolve())]
    for script, title, _icon in PAGES:
        if args.page and not any(p.lower() in f"{title} {script}".lower() for p in args.page):
            continue
        # an absolute path: AppTest resolves a relative one against this file's folder
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=args.timeout)
        start = time.perf_counter()
        at.run()
        if script != "app.py":  # app.py is the Overview itself
            at.switch_page(script)
            at.run()
        first = time.perf_counter() - start
        start = time.perf_counter()
        at.run()
        again = time.perf_counter() - start
        errors = len(at.exception)
        print(f"{title:28s} first {first:7.2f} s   again {again:6.2f} s"
              + (f"   EXCEPTIONS: {errors}" if errors else ""))


if __name__ == "__main__":
    main()
