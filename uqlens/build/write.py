"""Writing a run folder atomically: :func:`write_run` swaps a complete temporary folder into
place, :func:`prepare_out_dir` refuses to replace what is not a run and tidies what killed
builds left behind."""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from uqlens.build.config import BuildError
from uqlens.run.folder import MANIFEST


def write_run(out_dir: Path, tables: dict[str, pd.DataFrame], manifest: dict,
              finish: Callable[[Path, dict], None] | None = None) -> None:
    """Write into a temporary sibling folder, then swap it into place: a crash at any point
    leaves either the previous run or the new one, never a half-written folder.

    ``finish(folder, manifest)``, when given, runs once the tables are in the temporary
    folder and before the manifest is written: it may add files computed from the tables as
    written (the build's summaries, :func:`uqlens.run.summaries.write_summaries`) and record
    them in ``manifest``.

    On Linux the swap is one atomic ``renameat2(RENAME_EXCHANGE)``, so ``out_dir`` never
    disappears, even for an instant; elsewhere it is two renames, and a crash between them
    leaves the previous run as ``.NAME.old-PID@HOST``, which the next build puts back.
    Temporary folders are hidden (``.NAME.building-PID@HOST-*``), so
    :func:`uqlens.run.folder.find_runs` never lists them; the next build removes those whose
    process is gone.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    prepare_out_dir(out_dir)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.building-{_owner()}-",
                                dir=out_dir.parent))
    try:
        for name, frame in tables.items():
            frame.to_parquet(tmp / f"{name}.parquet", index=False)
        if finish is not None:
            finish(tmp, manifest)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
        if out_dir.exists() and _exchange(tmp, out_dir):
            shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the previous run
            return
        old = None
        if out_dir.exists():
            old = out_dir.parent / f".{out_dir.name}.old-{_owner()}"
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _owner() -> str:
    """``PID@HOST`` of this process, in the names of its temporary folders."""
    host = "".join(c for c in platform.node() if c.isalnum() or c == ".") or "host"
    return f"{os.getpid()}@{host}"


def _owner_alive(owner: str) -> bool:
    """Whether the process named by ``PID@HOST`` may still run (unknown counts as alive)."""
    pid, _, host = owner.partition("@")
    if not pid.isdigit() or host != _owner().partition("@")[2]:
        return True
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True


def prepare_out_dir(out_dir: Path) -> None:
    """Refuse to replace a folder that is not a run; tidy what killed builds left behind.

    A build killed with SIGKILL leaves ``.NAME.building-PID@HOST-*`` (removed here once that
    process is gone) or, between the two renames of the non-Linux swap,
    ``.NAME.old-PID@HOST`` holding the previous run (put back here when ``out_dir`` is
    missing). Folders of live processes, including concurrent builds, are left alone.
    """
    from glob import escape

    from uqlens.run.folder import is_run

    out_dir = Path(out_dir)
    if out_dir.exists() and not is_run(out_dir):
        if not out_dir.is_dir() or any(out_dir.iterdir()):
            raise BuildError(
                f"{out_dir} exists and is not a uqlens run; refusing to replace it "
                "(choose a new folder, or remove it yourself)"
            )
    if not out_dir.parent.is_dir():
        return
    for kind in ("old", "building"):
        for leftover in sorted(out_dir.parent.glob(f".{escape(out_dir.name)}.{kind}-*")):
            owner = leftover.name[len(f".{out_dir.name}.{kind}-"):]
            if kind == "building":
                owner = owner.rpartition("-")[0]
            if not leftover.is_dir() or _owner_alive(owner):
                continue
            if kind == "old" and not out_dir.exists() and is_run(leftover):
                os.replace(leftover, out_dir)  # the previous run, back where it belongs
            else:
                shutil.rmtree(leftover, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2`` with ``RENAME_EXCHANGE``). False when
    the platform or file system cannot, so the caller falls back to two renames."""
    import sys

    if not sys.platform.startswith("linux"):
        return False
    import ctypes
    import errno

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))
