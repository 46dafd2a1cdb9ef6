"""Importers for the saved outputs of other LLM uncertainty tools.

Each format has a module with a ``read(path, *, allow_pickle, skip_invalid, report,
references)`` function that ends in :func:`uqlens.data.schema.normalise`, so every import is
validated like any other input. :func:`import_any` picks the reader (``format="auto"``
detects it from names, magic bytes and JSON keys, never by unpickling) and returns an
:class:`ImportResult` saying what was mapped, what was missing and which views that
disables.

The tools' own per-question scores land in ``questions.provided_scores`` as
``{"<tool>:<method>": uncertainty}``, oriented "higher = more uncertain"; how each was
turned into an uncertainty (as provided, ``1 - confidence``, ``-truth value``) is in
``ImportResult.flipped`` and ``Dataset.score_orientation``, and is also written into each
question's ``meta`` (key ``provided_score_orientation``) so that it survives the written
JSONL/Parquet and ``uqlens build`` records it. Their clusters, where the format has them,
land in ``generations.provided_cluster``.

Pickled formats (LM-Polygraph, semantic_uncertainty/KLE, Kuhn/UQ-NLG) are refused unless
``allow_pickle=True``; see :mod:`uqlens.data.importers._safe` for how they are then read.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from uqlens.data.importers import (
    lm_polygraph,
    luq,
    semantic_uncertainty,
    truthtorchlm,
    uq_nlg,
    uqlm,
)
from uqlens.data.importers._common import (
    QuestionsFile,
    Report,
    bad_file,
    disabled_views,
    read_json,
    str_list,
)
from uqlens.data.importers._safe import PICKLE_WHY, PickleRefused, is_pickle_bytes, is_torch_zip
from uqlens.data.schema import DataError, Dataset, missing_references

READERS: dict[str, Callable[..., Dataset]] = {
    lm_polygraph.FORMAT: lm_polygraph.read,
    semantic_uncertainty.FORMAT: semantic_uncertainty.read,
    uqlm.FORMAT: uqlm.read,
    truthtorchlm.FORMAT: truthtorchlm.read,
    luq.FORMAT: luq.read,
    uq_nlg.FORMAT: uq_nlg.read,
}
FORMATS = tuple(READERS)
PICKLED = frozenset({lm_polygraph.FORMAT, semantic_uncertainty.FORMAT, uq_nlg.FORMAT})

__all__ = [
    "FORMATS",
    "PICKLE_WHY",
    "ImportResult",
    "PickleRefused",
    "detect",
    "import_any",
    "read_references",
]


@dataclass
class ImportResult:
    """A validated dataset plus what the import did."""

    dataset: Dataset
    mapped: list[str]
    missing: list[str]
    disabled_views: list[str]
    flipped: dict[str, str]
    format: str = ""
    notes: list[str] = field(default_factory=list)

    def summary(self) -> list[str]:
        """Human-readable lines (what ``uqlens import`` prints)."""
        ds = self.dataset
        sampled = int((~ds.generations["is_greedy"]).sum())
        lines = [
            f"{ds.source}: {self.format}: {ds.n_questions} questions, {sampled} sampled "
            f"answers, {int(ds.generations['is_greedy'].sum())} judged answers"
        ]
        lines.append("  mapped:")
        lines += [f"    {m}" for m in self.mapped] or ["    (nothing)"]
        if self.flipped:
            lines.append("  the tool's scores, as uncertainties (higher = more uncertain):")
            lines += [f"    {m}: {how}" for m, how in sorted(self.flipped.items())]
        if self.missing:
            lines.append("  missing:")
            lines += [f"    {m}" for m in self.missing]
        if self.disabled_views:
            lines.append("  disabled by what is missing:")
            lines += [f"    {v}" for v in self.disabled_views]
        if self.notes:
            lines.append("  notes:")
            lines += [f"    {n}" for n in self.notes]
        if ds.skipped:
            lines.append(f"  skipped: {len(ds.skipped)} problems")
            lines += [f"    {e}" for e in ds.skipped[:20]]
        return lines


def detect(path: str | os.PathLike) -> str:
    """The format of a file or folder, from names, magic bytes and JSON keys.

    Never unpickles anything. Raises :class:`uqlens.data.schema.DataError` when the format cannot
    be told (pass ``format=`` explicitly then).
    """
    path = Path(path)
    if not path.exists():
        raise bad_file(path, "no such file or folder")
    if path.is_dir():
        if (path / semantic_uncertainty.GENERATIONS).is_file():
            return semantic_uncertainty.FORMAT
        if any(path.rglob("ue_manager*")):
            return lm_polygraph.FORMAT
        if any(path.glob("*.pkl")):
            return uq_nlg.FORMAT
        raise bad_file(path, "cannot tell which tool wrote this folder; pass --format")
    name = path.name.lower()
    if name in (semantic_uncertainty.GENERATIONS, semantic_uncertainty.MEASURES,
                semantic_uncertainty.DETAILS):
        return semantic_uncertainty.FORMAT
    if name.startswith("ue_manager") or is_torch_zip(path):
        return lm_polygraph.FORMAT
    suffix = path.suffix.lower()
    with open(path, "rb") as handle:
        head = handle.read(4)
    if suffix in (".pkl", ".pickle") or is_pickle_bytes(head):
        if name.endswith("_generations.pkl") or path.stem.isdigit():
            return uq_nlg.FORMAT
        raise bad_file(path, "a pickle from an unknown tool; pass --format")
    if suffix in (".csv", ".tsv", ".parquet", ".pq"):
        frame, _ = uqlm.load_frame(path)
        columns = {uqlm._RENAME.get(c, c) for c in frame.columns}
        if "response" in columns:
            return uqlm.FORMAT
        if {"input", "output"} <= columns:
            raise bad_file(path, "an HF-style dataset (input/output) without generations: "
                           "pass it with --questions when importing an LM-Polygraph run")
        raise bad_file(path, "cannot tell which tool wrote this table; pass --format")
    if suffix == ".json" or head[:1] in (b"{", b"["):
        doc = read_json(path)
        if truthtorchlm.output_dict(doc) is not None:
            return truthtorchlm.FORMAT
        if luq.splits(doc) is not None:
            return luq.FORMAT
        if isinstance(doc, dict) and isinstance(doc.get("data"), dict) and (
            "responses" in doc["data"] or "response" in doc["data"]
        ):
            return uqlm.FORMAT
        if isinstance(doc, list) and doc and isinstance(doc[0], dict) and (
            "response" in doc[0] or "responses" in doc[0]
        ):
            return uqlm.FORMAT
        raise bad_file(path, "cannot tell which tool wrote this JSON; pass --format")
    raise bad_file(path, "cannot tell which tool wrote this file; pass --format")


def read_references(path: str | os.PathLike) -> QuestionsFile:
    """The rows of a dataset file (CSV/TSV/Parquet/JSON/JSONL) that gives references: a
    reference column (``references``, ``answers``, ``answer``, ``output``, ``gt_answer``,
    ``target``) and a question column (``question``, ``input``, ``prompt``) and/or an id
    column (``question_id``, ``id``), e.g. an LM-Polygraph HF-style dataset with
    ``input``/``output`` columns. Rows keep their order, for matching by position."""
    import pandas as pd

    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif suffix in (".csv", ".tsv"):
            frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",",
                                keep_default_na=False, dtype=str)
        elif suffix == ".jsonl":
            frame = pd.read_json(path, lines=True, dtype=False)
        else:
            doc = read_json(path)
            doc = doc.get("data", doc) if isinstance(doc, dict) else doc
            frame = pd.DataFrame(doc)
    except (ValueError, OSError) as exc:
        raise bad_file(path, f"cannot read the questions file: {exc}") from None
    q_col = next((c for c in ("question", "input", "prompt") if c in frame.columns), None)
    id_col = next((c for c in ("question_id", "id") if c in frame.columns), None)
    r_col = next((c for c in ("references", "answers", "answer", "output", "gt_answer",
                              "target") if c in frame.columns), None)
    if r_col is None or (q_col is None and id_col is None):
        raise bad_file(path, "the questions file needs a references/answers/answer/output "
                       "column and a question/input/prompt or question_id/id column")
    rows = []
    for i, record in enumerate(frame.to_dict("records")):
        question = record.get(q_col) if q_col else None
        qid = record.get(id_col) if id_col else None
        refs: list[str] = []
        for ref in str_list(record.get(r_col)):
            if ref not in refs:
                refs.append(ref)
        rows.append({
            "id": None if qid is None or qid == "" else str(qid),
            "question": question.strip() if isinstance(question, str) and question.strip()
            else None,
            "references": refs,
            "row": i + 1,
        })
    return QuestionsFile(str(path), rows)


CANONICAL = "uqlens"
"""uqlens's own input (JSONL/CSV/Parquet): "imported" only to add references to it."""
_CANONICAL_SUFFIXES = (".jsonl", ".ndjson", ".csv", ".tsv", ".parquet", ".pq")


def _detect_or_canonical(path: Path) -> str:
    """The peer format; uqlens's own input when no tool's format fits a data file."""
    try:
        return detect(path)
    except DataError:
        if path.is_file() and path.suffix.lower() in _CANONICAL_SUFFIXES:
            return CANONICAL
        raise


def _add_references(path: Path, questions, *, skip_invalid: bool) -> ImportResult:
    """uqlens input with references (and question texts the tool did not save) filled in
    from a ``--questions`` file: references added after an import."""
    from uqlens.data.importers._common import is_placeholder, match_questions
    from uqlens.data.loaders import load

    dataset = load(path, skip_invalid=skip_invalid)
    report = Report()
    if questions is None:
        report.note("uqlens input: nothing to import (pass --questions to add references)")
    else:
        q = dataset.questions
        rows = [{"question_id": qid, "references": list(refs),
                 "question": None if is_placeholder(text, qid) else text}
                for qid, text, refs in zip(q["question_id"], q["question"], q["references"],
                                           strict=True)]
        match_questions(rows, read_references(questions), str(path), report)
        q = q.copy()
        q["references"] = pd.Series([r["references"] for r in rows], index=q.index, dtype=object)
        q["question"] = [r["question"] if r["question"] is not None else text
                         for r, text in zip(rows, q["question"], strict=True)]
        dataset.questions = q
    report.confirm(dataset)
    return ImportResult(dataset=dataset, mapped=report.mapped, missing=report.missing,
                        disabled_views=disabled_views(dataset), flipped={}, format=CANONICAL,
                        notes=report.notes)


def import_any(
    path: str | os.PathLike,
    format: str = "auto",  # noqa: A002 - the CLI's word
    allow_pickle: bool = False,
    *,
    skip_invalid: bool = False,
    questions: str | os.PathLike | None = None,
) -> ImportResult:
    """Import a peer tool's saved output into the canonical tables.

    Parameters
    ----------
    path
        The tool's file or run folder.
    format
        ``"auto"``, one of :data:`FORMATS`, or ``"uqlens"`` (uqlens's own input, read only
        to add the ``questions`` file's references to it; ``auto`` picks it for a data file
        no tool's format fits).
    allow_pickle
        Open pickled formats (they can run code when loaded; see ``_safe``). Without it,
        :class:`PickleRefused` is raised before the file is read.
    skip_invalid
        Drop invalid records instead of raising :class:`uqlens.data.schema.DataError`.
    questions
        Optional dataset file giving references for questions that lack them, matched by
        id, by question text, or (when the tool saved no question texts) by position; it
        also fills question texts the tool did not save.

    Raises
    ------
    PickleRefused, uqlens.data.schema.DataError, ValueError (unknown format), OSError
    """
    path = Path(path)
    fmt = _detect_or_canonical(path) if format == "auto" else format
    if fmt == CANONICAL:
        return _add_references(path, questions, skip_invalid=skip_invalid)
    if fmt not in READERS:
        raise ValueError(f"unknown format {format!r}; expected auto, {CANONICAL} or one of "
                         f"{', '.join(FORMATS)}")
    if fmt in PICKLED and not allow_pickle:
        raise PickleRefused(path, "torch pickle" if fmt == lm_polygraph.FORMAT else "pickle")
    references = read_references(questions) if questions else None
    report = Report()
    dataset = READERS[fmt](path, allow_pickle=allow_pickle, skip_invalid=skip_invalid,
                           report=report, references=references)
    report.confirm(dataset)
    g = dataset.generations
    if g["provided_correct"].isna().all():
        report.lack("correctness labels (uqlens judges against the references instead)"
                    if len(missing_references(dataset.questions)) < dataset.n_questions
                    else "correctness labels")
    if g["logprob_sum"].isna().all():
        report.lack("log-probabilities")
    return ImportResult(
        dataset=dataset,
        mapped=report.mapped,
        missing=report.missing,
        disabled_views=disabled_views(dataset),
        flipped=dict(report.flipped),
        format=fmt,
        notes=report.notes,
    )
