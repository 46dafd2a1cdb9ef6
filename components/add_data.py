"""The Data page's "Add data" expander: upload a file or type a path, pick the format, build.

The logic (size limit, pickle consent, validate → import → build) is in
:mod:`uqlens.build.add_data`; this module is the UI around it. The build runs in the Streamlit
process (``progress=False``, its log lines shown in an ``st.status``). Every message that
can carry text from the file goes through :func:`components.tables.md_escape` or a code
block: model text is never rendered as Markdown or HTML.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from components import runs
from components.tables import md_escape
from uqlens.build.add_data import (
    CANONICAL,
    ENV_MAX_UPLOAD_MB,
    FORMAT_CHOICES,
    TRUST_LABEL,
    AddDataError,
    add_data,
    check_upload_size,
    default_name,
    max_upload_mb,
    safe_name,
    save_upload,
)

KEY = "add"
DONE = "uq.add.done"
UPLOAD, PATH = "Upload files", "Local path"
# The build's own stages ("[embed]", ...) move the progress bar through the build share.
_BUILD_STEPS = ("ingest", "embed", "cluster", "entailment", "score", "judge", "project")
_FORMAT_LABELS = {
    "auto": "auto-detect",
    CANONICAL: "uqlens input (JSONL / CSV / Parquet)",
    "lm-polygraph": "LM-Polygraph (torch pickle)",
    "semantic-uncertainty": "semantic_uncertainty / KLE (pickle)",
    "uqlm": "uqlm (JSON / CSV / Parquet)",
    "truthtorchlm": "TruthTorchLM (JSON)",
    "luq": "luq (JSON)",
    "uq-nlg": "Kuhn / UQ-NLG (pickle)",
}


def upload_limit_mb() -> int:
    """The limit the page enforces: ``$UQLENS_MAX_UPLOAD_MB`` (default 50), capped by the
    server's own ``server.maxUploadSize`` (``.streamlit/config.toml``)."""
    server = st.get_option("server.maxUploadSize")
    limit = max_upload_mb()
    return min(limit, int(server)) if server else limit


def show(expanded: bool = False) -> None:
    """Render the expander; on a successful build the new run becomes current (rerun)."""
    done = st.session_state.pop(DONE, None)
    with st.expander("Add data", expanded=expanded or done is not None, icon=":material/add:"):
        if done:
            st.success(f"Built run {md_escape(done)}; it is now the current run.",
                       icon=":material/check_circle:")
        limit = upload_limit_mb()
        st.info(
            f"Upload files of up to **{limit} MB** each (set `{ENV_MAX_UPLOAD_MB}` and "
            "Streamlit's `server.maxUploadSize` for more), or type the path of a file or run "
            "folder on this machine. uqlens input (JSONL, CSV, Parquet) and the saved outputs "
            "of LM-Polygraph, semantic_uncertainty/KLE, uqlm, TruthTorchLM, luq and UQ-NLG are "
            "read. Pickle formats are refused unless you say you trust the file.",
            icon=":material/upload_file:",
        )
        source = st.segmented_control("Source", [UPLOAD, PATH], default=UPLOAD,
                                      key=f"w.{KEY}.source")
        uploads, typed = [], ""
        if source == PATH:
            typed = st.text_input("File or folder on this machine", key=f"w.{KEY}.path",
                                  placeholder="path/to/answers.jsonl or a tool's run folder")
        else:
            uploads = st.file_uploader(
                "Files (several files of one tool's run, e.g. validation_generations.pkl and "
                "uncertainty_measures.pkl, are read together)",
                accept_multiple_files=True, key=f"w.{KEY}.upload", max_upload_size=limit,
            ) or []
        c1, c2 = st.columns(2)
        fmt = c1.selectbox("Format", FORMAT_CHOICES, key=f"w.{KEY}.format",
                           format_func=lambda f: _FORMAT_LABELS.get(f, f))
        suggested = default_name(uploads[0].name if uploads else typed) \
            if (uploads or typed.strip()) else ""
        name = c2.text_input("Run name", key=f"w.{KEY}.name", placeholder=suggested or "my-run",
                             help="Built into data/user-runs/NAME; an existing run of that "
                             "name is replaced.")
        refs = st.text_input(
            "References file (optional)", key=f"w.{KEY}.questions",
            placeholder="path/to/questions.csv",
            help="A CSV/JSONL/Parquet file on this machine with an answer/references column "
            "and a question or question_id column, for questions the data have no references "
            "for (matched by id, question text, or position when the tool saved no "
            "questions). Without references the correctness views are off.")
        trusted = st.checkbox(TRUST_LABEL, key=f"w.{KEY}.trust",
                              help="Pickles (LM-Polygraph, semantic_uncertainty, UQ-NLG) can "
                              "execute code when loaded. uqlens rebuilds plain data only, but "
                              "only tick this for files from a source you trust.")
        projection = st.radio("Answer-map projection", ["pca", "umap"], horizontal=True,
                              key=f"w.{KEY}.projection",
                              format_func=lambda p: {"pca": "PCA (fast)",
                                                     "umap": "UMAP (slower)"}[p])
        if st.button("Validate and build", type="primary", key=f"w.{KEY}.go",
                     icon=":material/build:"):
            _go(uploads, typed, fmt, name or suggested, trusted, projection, limit,
                runs.resolve(refs.strip()) if refs.strip() else None)


def _go(uploads, typed: str, fmt: str, name: str, trusted: bool, projection: str,
        limit: int, questions: Path | None = None) -> None:
    root = runs.user_runs_dir()
    lines: list[str] = []
    with st.status("Adding data…", expanded=True) as status:
        bar = st.progress(0.0, text="validate")
        log_box = st.empty()

        def log(line: str) -> None:
            lines.append(str(line))
            step = str(line).strip("[]")
            if step in _BUILD_STEPS:
                done = 0.35 + 0.65 * _BUILD_STEPS.index(step) / len(_BUILD_STEPS)
                bar.progress(done, text=f"build: {step}")
            log_box.code("\n".join(lines[-40:]), language=None)

        def stage(name_: str) -> None:
            bar.progress({"validate": 0.05, "import": 0.2, "build": 0.35}[name_], text=name_)
            status.update(label=f"Adding data… {name_}")
            log(f"== {name_}")

        try:
            source = _source(uploads, typed, name, root, limit)
            result = add_data(source, name or default_name(source), root, fmt=fmt,
                              trusted=trusted, projection=projection, log=log, stage=stage,
                              questions=questions)
        except Exception as exc:  # noqa: BLE001 - the UI boundary: a message, never a traceback
            status.update(label="Adding data failed", state="error", expanded=True)
            bar.empty()
            st.error(error_text(exc), icon=":material/error:")
            return
        bar.progress(1.0, text="done")
        status.update(label=f"Built {result.run_path.name}", state="complete", expanded=False)
    st.session_state[DONE] = runs.open_run(result.run_path)
    st.rerun()


def _source(uploads, typed: str, name: str, root: Path, limit: int) -> Path:
    """The local file or folder to read: the typed path, or the uploads saved under
    ``ROOT/.uploads/NAME/`` (one file: that file; several: their folder)."""
    if uploads:
        for up in uploads:
            check_upload_size(up.size, limit)  # before reading the bytes into memory
        folder_name = safe_name(name, fallback=default_name(uploads[0].name))
        saved = [save_upload(up.getvalue(), up.name, folder_name, root, limit) for up in uploads]
        return saved[0] if len(saved) == 1 else saved[0].parent
    if not typed.strip():
        raise AddDataError("Upload a file or type a path first.")
    return runs.resolve(typed.strip())


def error_text(exc: BaseException) -> str:
    """The message for a failed add, escaped for Markdown (it can quote the file's text)."""
    from uqlens.build.pipeline import BuildError
    from uqlens.data.schema import DataError

    if isinstance(exc, DataError):
        shown = exc.errors[:20]
        more = len(exc.errors) - len(shown)
        body = "\n".join(f"• {e}" for e in shown) + (f"\n… and {more} more" if more > 0 else "")
        head = f"The data are invalid ({len(exc.errors)} problem" \
            f"{'' if len(exc.errors) == 1 else 's'}):"
        return md_escape(f"{head}\n{body}")
    if isinstance(exc, AddDataError):
        return md_escape(str(exc))
    if isinstance(exc, BuildError):
        return md_escape(f"The build failed: {exc}")
    if isinstance(exc, OSError):
        return md_escape(f"Cannot read or write a file: {exc}")
    return md_escape(f"Unexpected error ({type(exc).__name__}): {exc}")
