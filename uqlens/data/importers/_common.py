"""Shared pieces of the peer-tool importers: value conversion, a row collector that ends in
:func:`uqlens.data.schema.normalise`, and the report of what was mapped, missing and flipped."""

from __future__ import annotations

import ast
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from uqlens.data.schema import (
    CORRECTNESS_VIEWS,
    QUESTION_ROW,
    RECORD,
    DataError,
    Dataset,
    RecordError,
    missing_references,
    normalise,
    with_score_orientation,
)


@dataclass
class Report:
    """What an importer did, in words a user can act on."""

    mapped: list[str] = field(default_factory=list)
    """``"source field -> canonical field"`` lines."""
    missing: list[str] = field(default_factory=list)
    """Canonical fields or tool outputs that the file did not have."""
    flipped: dict[str, str] = field(default_factory=dict)
    """method id -> how the tool's value became an uncertainty (every provided method)."""
    notes: list[str] = field(default_factory=list)

    def map(self, source: str, target: str) -> None:
        line = f"{source} -> {target}"
        if line not in self.mapped:
            self.mapped.append(line)

    def lack(self, what: str) -> None:
        if what not in self.missing:
            self.missing.append(what)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def confirm(self, dataset: Dataset) -> None:
        """Keep a ``source -> target`` line only if the target holds a value after
        validation; a field that was read but entirely dropped moves to ``missing``."""
        kept = []
        for line in self.mapped:
            source, _, target = line.partition(" -> ")
            if all(_target_has_values(dataset, t.strip()) for t in target.split(",")):
                kept.append(line)
            else:
                self.lack(f"{source} (read, but no value was usable: not mapped to {target})")
        self.mapped = kept


def _target_has_values(dataset: Dataset, target: str) -> bool:
    """Whether a report target such as ``generations.provided_correct (greedy)``,
    ``generations (samples)`` or ``questions.references`` holds any value. Targets this
    cannot check (no table prefix) count as holding values."""
    table, _, rest = target.partition(".")
    frame = {"questions": dataset.questions, "generations": dataset.generations}.get(
        table.split(" ")[0])
    if frame is None:
        return True
    if table == "generations" or table.startswith("generations "):
        if "(samples)" in target:
            frame = frame[~frame["is_greedy"]]
        elif "(greedy)" in target or "(is_greedy)" in target:
            frame = frame[frame["is_greedy"]]
    if not rest:  # "generations (samples)": rows are the values
        return len(frame) > 0
    column = rest.split(" ")[0]
    if column not in frame:
        return column in ("question_id", "question", "text") and len(frame) > 0
    values = frame[column].dropna()
    return any(not isinstance(v, list | tuple) or len(v) for v in values)


def to_python(value: object) -> object:
    """NumPy arrays/scalars and torch tensors as plain Python lists and numbers."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if hasattr(value, "detach") and hasattr(value, "tolist"):  # torch.Tensor
        return value.detach().cpu().tolist()
    if hasattr(value, "tolist"):  # numpy array or scalar
        return value.tolist()
    if isinstance(value, list | tuple):
        return [to_python(v) for v in value]
    return value


def parse_list(value: object) -> list | None:
    """A list from a list/tuple/array, or from text holding a JSON list or a Python literal
    list (how ``DataFrame.to_csv`` writes list cells). ``None`` when it is not a list."""
    value = to_python(value)
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text.startswith("["):
            return None
        try:
            parsed = json.loads(text)
        except ValueError:
            try:
                parsed = ast.literal_eval(text)  # literals only: never evaluates code
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return None
        return list(parsed) if isinstance(parsed, list | tuple) else None
    return None


def flat_floats(value: object) -> list[float] | None:
    """A flat list of floats from a (possibly nested, e.g. ``[1, d]``) array; else None."""
    value = to_python(value)
    if not isinstance(value, list):
        return None
    out: list[float] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, int | float) and not isinstance(item, bool):
            out.append(float(item))
        else:
            return None
    return out


def finite(value: object) -> float | None:
    """A finite float, or None (missing, NaN, infinite, not a number)."""
    value = to_python(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def as_bool01(value: object) -> bool | None:
    """True/False for booleans and the numbers 0/1; None otherwise (e.g. -1, 0.37)."""
    value = to_python(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    return None


def str_list(value: object) -> list[str]:
    """Reference answers as a flat list of strings (nested lists flattened, None dropped)."""
    value = to_python(value)
    if value is None:
        return []
    if isinstance(value, str):
        parsed = parse_list(value)
        if parsed is None:
            return [value]
        value = parsed
    if isinstance(value, dict):
        for key in ("text", "answers", "aliases", "value"):
            if key in value:
                return str_list(value[key])
        return []
    if isinstance(value, list):
        out: list[str] = []
        for item in value:
            out.extend(str_list(item))
        return out
    return [str(value)]


@dataclass
class QuestionsFile:
    """A ``--questions`` dataset: per row an optional id, an optional question text and the
    reference answers, in file order (so rows can be matched by id, text or position)."""

    path: str
    rows: list[dict] = field(default_factory=list)


_PLACEHOLDER = "[question {}: text not saved by the tool]"


def placeholder(question_id: object) -> str:
    """The question text of a question whose tool saved none (uqlm without prompts)."""
    return _PLACEHOLDER.format(question_id)


def is_placeholder(text: object, question_id: object) -> bool:
    return text == placeholder(question_id)


def match_questions(rows: list[dict], given: QuestionsFile, source: str, report: Report) -> None:
    """Fill references (and missing question texts, ``question`` None) of question ``rows``
    from a ``--questions`` file: by id when it has ids, else by text, else, when the tool saved
    no question texts, by position (the importers keep the tool's question order for this)."""
    by_id = {r["id"]: r for r in given.rows if r.get("id") is not None}
    by_text = {r["question"].strip(): r for r in given.rows if r.get("question")}
    positional = any(row.get("question") is None for row in rows) and not by_id
    if positional and len(given.rows) != len(rows):
        raise bad_file(given.path, f"cannot match by position: it has {len(given.rows)} "
                       f"questions, {source} has {len(rows)} (and no question texts or ids "
                       "to match by)")
    how: dict[str, int] = {}
    texts = unmatched = 0
    for i, row in enumerate(rows):
        text = row.get("question")
        match, kind = by_id.get(str(row.get("question_id"))), "id"
        if match is None and isinstance(text, str):
            match, kind = by_text.get(text.strip()), "text"
        if match is None and positional:
            match, kind = given.rows[i], "position"
        if match is None:
            unmatched += not row.get("references")
            continue
        refs = [r for r in match["references"] if r.strip()]
        if not row.get("references") and refs:
            row["references"] = refs
            how[kind] = how.get(kind, 0) + 1
        if text is None and match.get("question"):
            row["question"] = match["question"]
            texts += 1
    if how:
        kinds = ", ".join(f"{n} by {k}" for k, n in how.items())
        report.map(f"--questions {given.path} ({kinds})", "questions.references")
    if texts:
        report.map(f"--questions {given.path} (question text of {texts})", "questions.question")
    if unmatched:
        report.note(f"{unmatched} questions without references are not in {given.path} "
                    "(matched by id, text or position)")


class Collector:
    """Collects question and answer rows, then validates them through ``normalise``."""

    def __init__(self, source: str, report: Report, references: QuestionsFile | None):
        self.source = source
        self.report = report
        self.given = references
        self.questions: list[dict] = []
        self.generations: list[dict] = []

    def question(self, record: str, **fields) -> int:
        """Add a question; returns its position (used to tie its answers to it).

        ``question=None`` means the tool saved no question text: it is taken from the
        ``--questions`` file (matched by id or position) or left as a placeholder.
        """
        row = {RECORD: record, **{k: v for k, v in fields.items() if v is not None}}
        self.questions.append(row)
        return len(self.questions) - 1

    def answer(self, qpos: int, record: str, **fields) -> None:
        row = {
            RECORD: record,
            QUESTION_ROW: qpos,
            "question_id": self.questions[qpos].get("question_id"),
            **{k: v for k, v in fields.items() if v is not None},
        }
        self.generations.append(row)

    def _match_questions_file(self) -> None:
        if self.given is not None:
            match_questions(self.questions, self.given, self.source, self.report)

    def finish(self, *, skip_invalid: bool, errors: list[RecordError] | None = None) -> Dataset:
        if not self.questions:
            raise DataError(
                list(errors or []) + [RecordError(self.source, "", "", "no questions found")]
            )
        self._match_questions_file()
        for row in self.questions:
            if row.get("question") is None:
                row["question"] = placeholder(row.get("question_id"))
        q_cols = sorted({k for row in self.questions for k in row})
        g_cols = sorted({k for row in self.generations for k in row} | {"question_id", "text"})
        questions = pd.DataFrame(
            {c: pd.Series([r.get(c) for r in self.questions], dtype=object) for c in q_cols}
        )
        generations = pd.DataFrame(
            {c: pd.Series([r.get(c) for r in self.generations], dtype=object) for c in g_cols}
        )
        dataset = normalise(
            questions,
            generations,
            source=self.source,
            skip_invalid=skip_invalid,
            read_errors=list(errors or []),
        )
        dataset.score_orientation = dict(self.report.flipped)
        # The orientation travels with the data (in each question's meta), so a build from
        # the written JSONL/Parquet still knows which provided scores were flipped.
        dataset.questions = with_score_orientation(dataset.questions, dataset.score_orientation)
        return dataset


def disabled_views(dataset: Dataset) -> list[str]:
    """Which uqlens views or method families the imported data cannot feed, and why."""
    g = dataset.generations
    q_ids = set(dataset.questions["question_id"])
    sampled = g[~g["is_greedy"]].groupby("question_id").size()
    with_samples = {qid for qid, n in sampled.items() if n >= 2}
    views: list[str] = []
    if not with_samples:
        views.append(
            "Answer map, clusters and sampling-based methods (semantic entropy, number of "
            "semantic sets, EigV/Deg/Ecc, KLE, lexical similarity) and hyperparameter "
            "sensitivity: no question has 2+ sampled answers (the tool's own scores still "
            "feed the Overview and metric views)"
        )
    elif len(with_samples) < len(q_ids):
        views.append(
            f"sampling-based methods on {len(q_ids) - len(with_samples)} of {len(q_ids)} "
            "questions: fewer than 2 sampled answers"
        )
    if "logprob_sum" not in g or g["logprob_sum"].isna().all():
        views.append(
            "likelihood-based methods (semantic entropy with probabilities, predictive "
            "entropy, max sequence probability): no log-probabilities"
        )
    if not g["is_greedy"].any():
        views.append(
            "judged-answer correctness and self_consistency: no judged (low-temperature) "
            "answer; correctness is judged per sample only"
        )
    q = dataset.questions
    unreferenced = missing_references(q)
    if unreferenced:
        labelled = "provided_correct" in g and g["provided_correct"].notna().any()
        views.append(
            f"reference judges on {len(unreferenced)} of {len(q_ids)} questions (no "
            "references; add them with --questions FILE)" + (
                "" if labelled or len(unreferenced) < len(q_ids) else
                ": no correctness at all, so these views are off: " + "; ".join(
                    CORRECTNESS_VIEWS))
        )
    if "provided_scores" not in q or q["provided_scores"].isna().all():
        views.append("comparison with the tool's own scores: the file holds none")
    if "provided_cluster" not in g or g["provided_cluster"].isna().all():
        views.append("comparison with the tool's own clusters: the file holds none")
    return views


def read_json(path: Path) -> object:
    """A JSON document (NaN/Infinity allowed, as Python's json writes them)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            [RecordError(str(path), "", "", f"invalid UTF-8 at byte offset {exc.start}")]
        ) from None
    try:
        return json.loads(text)
    except RecursionError:
        raise DataError([RecordError(str(path), "", "", "JSON nested too deeply")]) from None
    except json.JSONDecodeError as exc:
        raise DataError(
            [RecordError(str(path), f"line {exc.lineno}", "", f"invalid JSON: {exc.msg}")]
        ) from None


def bad_file(path: str | Path, message: str) -> DataError:
    return DataError([RecordError(str(path), "", "", message)])
