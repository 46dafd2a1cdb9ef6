"""Adding data from the app: validate → (import) → build, with the checks a web upload needs.

The Data page calls :func:`add_data` with a local file or folder (an upload is first saved
with :func:`save_upload`). Everything a user can get wrong is refused *before* any work with
an :class:`AddDataError` whose message says why and what to do:

- an upload over the size limit (:func:`max_upload_mb`: ``$UQLENS_MAX_UPLOAD_MB``, default
  50 MB; Streamlit's own ``server.maxUploadSize`` caps it too);
- a pickle format without the explicit trust opt-in (loading a pickle can run code; the
  importers rebuild plain data only even then, see :mod:`uqlens.data.importers._safe`);
- a run name that is not a plain folder name.

Then: the format is resolved (``auto`` tries the peer-tool detector, which never unpickles,
then the canonical loader), the data are validated (a peer tool's output is imported and
written as canonical JSONL next to the runs, in a hidden ``.inputs`` folder), and the run is
built with :func:`uqlens.build.pipeline.build` into ``ROOT/NAME``. No Streamlit here.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from uqlens.data.importers import FORMATS, PICKLE_WHY, PICKLED, detect, import_any
from uqlens.data.importers._safe import is_pickle_bytes, is_torch_zip
from uqlens.data.schema import DataError

ENV_MAX_UPLOAD_MB = "UQLENS_MAX_UPLOAD_MB"
DEFAULT_MAX_UPLOAD_MB = 50
CANONICAL = "uqlens"
"""Format id of uqlens' own input (nested JSONL, flat JSONL/CSV/Parquet)."""
FORMAT_CHOICES = ("auto", CANONICAL, *FORMATS)
TRUST_LABEL = "I trust this file: loading a pickle can run code"
STAGES = ("validate", "import", "build")
INPUTS = ".inputs"
UPLOADS = ".uploads"

_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_CANONICAL_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet", ".pq")


class AddDataError(ValueError):
    """A refusal or failure to show the user as it is (one plain sentence or a few lines)."""


@dataclass
class AddDataResult:
    run_path: Path
    format: str
    data_path: Path
    summary: list[str] = field(default_factory=list)
    manifest: dict = field(default_factory=dict)


def max_upload_mb(env: Mapping[str, str] = os.environ) -> int:
    """The upload limit in MB: ``$UQLENS_MAX_UPLOAD_MB`` when it is a positive integer, else
    :data:`DEFAULT_MAX_UPLOAD_MB`."""
    raw = str(env.get(ENV_MAX_UPLOAD_MB, "")).strip()
    try:
        value = int(raw)
    except ValueError:
        return DEFAULT_MAX_UPLOAD_MB
    return value if value > 0 else DEFAULT_MAX_UPLOAD_MB


def check_upload_size(n_bytes: int, limit_mb: int) -> None:
    """Refuse a file larger than ``limit_mb`` megabytes (1 MB = 2**20 bytes, as Streamlit)."""
    if n_bytes > limit_mb * 2**20:
        raise AddDataError(
            f"The file is {n_bytes / 2**20:.1f} MB; the upload limit is {limit_mb} MB. "
            f"Type its local path instead, or raise the limit with {ENV_MAX_UPLOAD_MB} "
            "(and Streamlit's server.maxUploadSize)."
        )


def safe_name(text: str, fallback: str = "") -> str:
    """A plain folder name from user text: letters, digits, ``.``, ``_``, ``-``; no leading
    dot (hidden folders are never runs), at most 64 characters."""
    name = _NAME.sub("-", str(text or "").strip()).strip(".-_")[:64].strip(".-_")
    if not name and fallback:
        name = safe_name(fallback)
    if not name:
        raise AddDataError("Give the run a name (letters, digits, '.', '_' or '-').")
    return name


def default_name(source: str | os.PathLike) -> str:
    """A run name suggested by a file or folder (its stem; a tool's fixed file name is
    replaced by its folder's name)."""
    path = Path(str(source).strip())
    stem = path.stem if path.suffix else path.name
    if stem in ("validation_generations", "uncertainty_measures", "experiment_details"):
        stem = path.parent.name
    try:
        return safe_name(stem)
    except AddDataError:
        return "my-run"


def save_upload(data: bytes, filename: str, name: str, root: str | os.PathLike,
                limit_mb: int) -> Path:
    """Write uploaded bytes to ``ROOT/.uploads/NAME/FILENAME`` after the size check; the file
    name is kept (made safe), because peer formats are told apart by it."""
    check_upload_size(len(data), limit_mb)
    folder = Path(root) / UPLOADS / safe_name(name)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / safe_name(Path(filename).name, fallback="upload")
    tmp = target.with_name(f".{target.name}.part")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target


def looks_like_pickle(path: Path) -> bool:
    """Whether a file (or a folder's files) is a pickle, by name and magic bytes only."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()][:200]
    for file in files:
        if file.suffix.lower() in (".pkl", ".pickle", ".pt", ".pth", ".joblib"):
            return True
        try:
            with open(file, "rb") as handle:
                if is_pickle_bytes(handle.read(4)):
                    return True
        except OSError:
            continue
        if is_torch_zip(file):
            return True
    return False


def resolve_format(path: Path, fmt: str = "auto") -> str:
    """``fmt`` itself, or for ``auto`` the peer tool that wrote ``path`` (never unpickling),
    else :data:`CANONICAL` when the canonical loader reads this kind of file."""
    if fmt not in FORMAT_CHOICES:
        raise AddDataError(f"Unknown format {fmt!r}; choose one of {', '.join(FORMAT_CHOICES)}.")
    if fmt != "auto":
        return fmt
    try:
        return detect(path)
    except DataError:
        if path.is_file() and path.suffix.lower() in _CANONICAL_SUFFIXES:
            return CANONICAL
        raise


def check_pickle_consent(path: Path, fmt: str, trusted: bool) -> None:
    """Refuse a pickle format (or any file that is a pickle) without the trust opt-in."""
    if trusted:
        return
    if fmt in PICKLED or (fmt != CANONICAL and looks_like_pickle(path)):
        raise AddDataError(
            f"Refused: this is a pickle format ({fmt}). Tick '{TRUST_LABEL}' only for a file "
            f"you trust: {PICKLE_WHY}."
        )


def add_data(
    source: str | os.PathLike,
    name: str,
    root: str | os.PathLike,
    *,
    fmt: str = "auto",
    trusted: bool = False,
    projection: str = "pca",
    cache_dir: str | os.PathLike | None = None,
    log: Callable[[str], None] = print,
    stage: Callable[[str], None] = lambda _stage: None,
    questions: str | os.PathLike | None = None,
) -> AddDataResult:
    """Validate, import when needed, and build ``source`` into the run ``ROOT/NAME``.

    ``stage`` is called with each of :data:`STAGES` as it starts; ``log`` gets every line
    (the build's stage names and skipped methods among them). ``questions``: an optional
    file of reference answers for questions without them (see ``uqlens import --questions``).

    Raises
    ------
    AddDataError
        A refusal (no such path, pickle without trust, bad name) or an import problem.
    uqlens.data.schema.DataError
        The data are invalid (every problem with its file, record and field).
    uqlens.build.pipeline.BuildError
        The build cannot run with these data.
    """
    from uqlens.build.pipeline import BuildConfig, build, prepare_out_dir

    source = Path(str(source).strip()).expanduser()
    name = safe_name(name, fallback=default_name(source))
    root = Path(root)
    out = root / name
    if projection not in ("pca", "umap"):
        raise AddDataError(f"Unknown projection {projection!r} (pca or umap).")
    if not str(source) or not source.exists():
        raise AddDataError(f"No such file or folder: {source}")

    stage("validate")
    fmt = resolve_format(source, fmt)
    check_pickle_consent(source, fmt, trusted)
    prepare_out_dir(out)  # refuses to replace a folder that is not a run, before any work
    log(f"format: {fmt}")
    if questions is not None and not Path(questions).is_file():
        raise AddDataError(f"No such questions file: {questions}")
    if fmt == CANONICAL and questions is None:
        summary, data_path = _canonical_input(source, log)
        stage("import")
        log("import: not needed (already uqlens input)")
    else:
        summary, data_path = _imported_input(source, fmt, trusted, questions,
                                             root / INPUTS / f"{name}.jsonl", log, stage)

    stage("build")
    if out.exists():
        log(f"replacing the existing run {name}")
    manifest = build(data_path, out, BuildConfig(projection=projection, name=name),
                     cache_dir=cache_dir, progress=False, log=log)
    return AddDataResult(run_path=out, format=fmt, data_path=Path(data_path),
                         summary=summary, manifest=manifest)


def _canonical_input(source: Path, log: Callable[[str], None]) -> tuple[list[str], Path]:
    """``(summary lines, path)`` of a uqlens input file, validated."""
    from uqlens.build.summary import summarise
    from uqlens.data.loaders import load

    if source.is_dir():
        raise AddDataError(f"{source} is a folder; uqlens input is one JSONL/CSV/Parquet "
                           "file (choose the tool's format for a tool's run folder).")
    summary = summarise(load(source))
    for line in summary:
        log(line)
    return summary, source


def _imported_input(source: Path, fmt: str, trusted: bool, questions, out: Path,
                    log: Callable[[str], None], stage: Callable[[str], None]):
    """``(summary lines, path)``: a peer tool's output (or uqlens input given extra
    ``questions`` references) imported and written as uqlens input to ``out``."""
    from uqlens.data.export import write_dataset

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = import_any(source, fmt, allow_pickle=trusted, questions=questions)
        except PermissionError as exc:  # PickleRefused
            raise AddDataError(str(exc)) from None
        except (ValueError, OSError) as exc:
            if isinstance(exc, DataError):
                raise
            raise AddDataError(f"Import failed: {exc}") from None
    for warning in caught:
        log(f"warning: {warning.message}")
    summary = result.summary()
    for line in summary:
        log(line)
    stage("import")
    data_path = write_dataset(result.dataset, out)
    log(f"wrote canonical data {data_path}")
    return summary, data_path
