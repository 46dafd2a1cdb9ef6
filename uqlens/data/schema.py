"""The canonical data model: a ``questions`` table and a ``generations`` table.

Every input format (JSONL, CSV, Parquet, a peer tool's output) is normalised into these two
pandas frames before anything else touches it. Ids are strings and cross every boundary;
row positions never do.

questions
    ``question_id`` (str, unique), ``question`` (str), ``references`` (list[str], correct
    reference answers; may be empty or missing: a question without references builds, and
    only the views that need correctness are off, see :func:`missing_references`),
    optional ``incorrect_references`` (list[str], known wrong answers, e.g. TruthfulQA's
    false answers), ``context`` (str), ``dataset`` (str),
    ``model`` (str), ``meta`` (str, JSON text of anything else), ``provided_scores`` (str,
    JSON object text ``{method_id: uncertainty}``: scores a peer tool computed itself, already
    oriented "higher = more uncertain"; a dict is accepted and stored as sorted JSON text).
    How each provided score was oriented travels with the data in ``meta`` under
    :data:`ORIENTATION_META_KEY` (``{method_id: "flipped: 1 - confidence"}``, written by the
    importers), so it survives JSONL/Parquet; :func:`provided_score_orientation` reads it.

generations
    ``question_id`` (str), ``sample_id`` (str, unique within a question), ``text`` (str),
    ``is_greedy`` (bool: the answer that is judged, e.g. a low-temperature answer; at most
    one per question), optional ``logprob_sum`` (float, sum of token log-probabilities),
    ``num_tokens`` (int), ``token_logprobs`` (list[float]), ``temperature`` (float >= 0),
    ``verbalized_confidence`` (float in [0, 1]), ``p_true`` (float in [0, 1], the model's
    P("True") for this answer, Kadavath et al. 2022), ``provided_correct`` (bool, a
    correctness label that came with the data), ``provided_correct_value`` (float in [0, 1],
    the graded score that label was cut from when the source's correctness is soft, e.g.
    luq's classifier accuracies; the importer states the threshold), ``embedding`` /
    ``hidden_state`` (list[float]), ``provided_cluster`` (int >= 0: the cluster a peer
    tool put this answer in, e.g. semantic_uncertainty's ``semantic_ids``; comparable within
    a question only).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

QUESTION_REQUIRED = ("question_id", "question")
QUESTION_OPTIONAL = (
    "references",
    "incorrect_references",
    "context",
    "dataset",
    "model",
    "meta",
    "provided_scores",
)

ORIENTATION_META_KEY = "provided_score_orientation"
"""Key in a question's ``meta`` object: ``{method_id: how the source value became an
uncertainty}`` for the methods in its ``provided_scores``."""

GENERATION_REQUIRED = ("question_id", "sample_id", "text")
GENERATION_OPTIONAL = (
    "is_greedy",
    "logprob_sum",
    "num_tokens",
    "token_logprobs",
    "temperature",
    "verbalized_confidence",
    "p_true",
    "provided_correct",
    "provided_correct_value",
    "embedding",
    "hidden_state",
    "provided_cluster",
)


@dataclass(frozen=True)
class RecordError:
    """One problem in one record of one input file.

    ``record`` is a human-readable locator such as ``"line 12"`` or ``"row 7"``;
    ``field`` is the offending field (``""`` when the problem is the whole record).
    """

    file: str
    record: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.record}" if self.record else self.file
        if self.field:
            where += f", field '{self.field}'"
        return f"{where}: {self.message}"


class DataError(ValueError):
    """Input that cannot be normalised. Carries every :class:`RecordError` found."""

    def __init__(self, errors: list[RecordError]):
        self.errors = list(errors)
        shown = "\n".join(str(e) for e in self.errors[:20])
        more = len(self.errors) - 20
        if more > 0:
            shown += f"\n... and {more} more"
        super().__init__(shown)


@dataclass
class Dataset:
    """Validated canonical tables plus what was skipped on the way in."""

    questions: pd.DataFrame
    generations: pd.DataFrame
    source: str = ""
    skipped: list[RecordError] = field(default_factory=list)
    ignored_fields: list[str] = field(default_factory=list)
    """Input columns/keys that are not part of the canonical model and were dropped."""
    score_orientation: dict[str, str] = field(default_factory=dict)
    """For each method in ``questions.provided_scores``: how the source value was turned into
    an uncertainty (e.g. ``"flipped: 1 - confidence"``, ``"as provided (uncertainty)"``)."""

    @property
    def n_skipped_records(self) -> int:
        """How many input records (lines, rows) lost something to ``skip_invalid``."""
        return len({(e.file, e.record.split(",")[0]) for e in self.skipped})

    @property
    def n_questions(self) -> int:
        return len(self.questions)

    @property
    def n_samples(self) -> int:
        return len(self.generations)

    def optional_fields(self) -> list[str]:
        """Optional generation/question fields that hold at least one value."""
        present = []
        for frame, names in (
            (self.questions, QUESTION_OPTIONAL),
            (self.generations, GENERATION_OPTIONAL),
        ):
            for name in names:
                if name == "references":  # a list, often empty: see missing_references
                    continue
                if name in frame.columns and frame[name].notna().any():
                    present.append(name)
        return present


CORRECTNESS_VIEWS = (
    "Overview metrics (AUROC, AUPRC, calibration, hallucination counts)",
    "Confident hallucinations",
    "Tail & calibration",
    "Conformal",
    "Confidence region",
    "Judge audit",
    "Sensitivity",
    "correct/wrong colours and filters (Answer map, Question, Data)",
)
"""The views that need a correctness label per answer (a judge against references, or
labels that came with the data); without one they say why they are off."""


def missing_references(questions: pd.DataFrame) -> list[str]:
    """Ids of the questions that have no reference answer (nothing to judge them against)."""
    if "references" not in questions:
        return questions["question_id"].astype(str).tolist()
    return [
        str(qid)
        for qid, refs in zip(questions["question_id"], questions["references"], strict=True)
        if refs is None or _is_nan(refs) or len(refs) == 0
    ]


# --------------------------------------------------------------------------------------------
# Normalisation: the one place where input frames are validated and made canonical.
# --------------------------------------------------------------------------------------------

RECORD = "_record"
"""Hidden column: where a row came from (``"line 12"``, ``"row 7"``), for error messages."""

QUESTION_ROW = "_qrow"
"""Hidden generations column (optional): position of the row's question in the questions
frame. Loaders set it so that a rejected question takes exactly its own answers with it,
even when another question carries the same id."""

_STR_OPTIONAL = ("context", "dataset", "model")
_FLOAT_FIELDS = ("logprob_sum", "temperature", "verbalized_confidence", "p_true",
                 "provided_correct_value")
_UNIT_INTERVAL = ("verbalized_confidence", "p_true", "provided_correct_value")
_VECTOR_FIELDS = ("token_logprobs", "embedding", "hidden_state")
_LOGPROB_SLACK = 1e-6  # rounding in the producer may push log(1) a hair above 0
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})
GREEDY_SAMPLE_ID = "greedy"


class _Bad(Exception):
    """A value that cannot be converted; the message says what was expected."""


class _ExplicitNaN:
    """A NaN written out in the input (JSON ``NaN``, a Parquet NaN), as opposed to a missing
    value. Plain float NaN in a frame means "missing" (the pandas convention); loaders put
    this marker where the file itself said NaN, so that it is reported, not ignored."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NaN"

    def __reduce__(self):
        return (_ExplicitNaN, ())


EXPLICIT_NAN = _ExplicitNaN()


def _is_nan(value: object) -> bool:
    try:
        return isinstance(value, float | np.floating) and math.isnan(value)
    except TypeError:  # pragma: no cover - exotic float subclasses
        return False


def _is_missing(value: object) -> bool:
    """None, pandas' NA/NaT and a float NaN are missing; :data:`EXPLICIT_NAN` is not."""
    return value is None or value is pd.NA or value is pd.NaT or _is_nan(value)


def _describe(value: object) -> str:
    """A short, safe description of a value for an error message (no deep repr)."""
    if value is EXPLICIT_NAN:
        return "NaN"
    if isinstance(value, bool | np.bool_):
        return f"boolean {bool(value)}"
    if isinstance(value, int | np.integer):
        return f"number {int(value)}"
    if isinstance(value, float | np.floating):
        return f"number {float(value)!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"string {shown!r}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple | np.ndarray):
        return f"a list of {len(value)} items"
    return f"a value of type {type(value).__name__}"


def _unicode(text: str) -> str:
    """``text`` if it can be stored (UTF-8); a lone surrogate (JSON ``"\\ud800"``) cannot."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _Bad(
            f"is not valid Unicode: unpaired surrogate {text[exc.start]!a} at character "
            f"{exc.start + 1}"
        ) from None
    return text


def to_id(value: object) -> str:
    """An id as a string: strings stay, integers (and integral floats) become their digits."""
    if isinstance(value, bool | np.bool_):
        raise _Bad(f"expected a string or integer id, got {_describe(value)}")
    if isinstance(value, str):
        if not value.strip():
            raise _Bad("is empty")
        return _unicode(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating) and math.isfinite(value) and value == int(value):
        return str(int(value))
    raise _Bad(f"expected a string or integer id, got {_describe(value)}")


def _to_text(value: object, *, non_empty: bool) -> str:
    if not isinstance(value, str):
        raise _Bad(f"expected text, got {_describe(value)}")
    if non_empty and not value.strip():
        raise _Bad("is empty; expected text")
    return _unicode(str(value))


def _parse_json_list(value: str) -> list:
    try:
        parsed = json.loads(value)
    except RecursionError:
        raise _Bad("is nested too deeply") from None
    except ValueError:
        raise _Bad(f"expected a JSON list, got {_describe(value)} that is not valid JSON") from None
    if not isinstance(parsed, list):
        raise _Bad(f"expected a JSON list, got {_describe(parsed)}")
    return parsed


def _to_str_list(value: object, *, required: bool) -> list[str]:
    """References: a list of strings; a single string is one reference; a string that starts
    with ``[`` is read as a JSON list (how CSV carries lists)."""
    if isinstance(value, str):
        stripped = value.strip()
        items: list = _parse_json_list(stripped) if stripped.startswith("[") else [value]
    elif isinstance(value, list | tuple | np.ndarray):
        items = list(value)
    else:
        raise _Bad(f"expected a list of strings, got {_describe(value)}")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise _Bad(f"expected a list of strings, item {i + 1} is {_describe(item)}")
        if item.strip():
            try:
                out.append(_unicode(str(item)))
            except _Bad as exc:
                raise _Bad(f"item {i + 1} {exc}") from None
    if required and not out:
        raise _Bad("is empty; expected at least one non-empty reference answer")
    return out


def _to_float(value: object) -> float:
    if type(value) is float and math.isfinite(value):  # the common case, checked first
        return value
    if value is EXPLICIT_NAN:
        raise _Bad("is NaN; expected a finite number")
    if isinstance(value, bool | np.bool_):
        raise _Bad(f"expected a number, got {_describe(value)}")
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise _Bad(f"expected a number, got {_describe(value)}") from None
    elif isinstance(value, int | float | np.integer | np.floating):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond the float range (10**400)
            raise _Bad("is too large; expected a finite number") from None
    else:
        raise _Bad(f"expected a number, got {_describe(value)}")
    if math.isnan(number):
        raise _Bad("is NaN; expected a finite number")
    if math.isinf(number):
        raise _Bad("is infinite; expected a finite number")
    return number


_MAX_INT = 2**53  # exact in a float, fits the Int64 columns


def _to_int(value: object) -> int:
    number = _to_float(value)
    if number != int(number) or number < 0:
        raise _Bad(f"expected a whole number >= 0, got {_describe(value)}")
    if number > _MAX_INT:
        raise _Bad(f"is too large; expected a whole number <= 2**53, got {_describe(value)}")
    return int(number)


def _to_bool(value: object) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float | np.integer | np.floating) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _Bad(f"expected true or false, got {_describe(value)}")


def _to_float_list(value: object) -> list[float]:
    if isinstance(value, str):
        items = _parse_json_list(value.strip())
    elif isinstance(value, list | tuple | np.ndarray):
        items = list(value)
    else:
        raise _Bad(f"expected a list of numbers, got {_describe(value)}")
    # Fast path for the common case (JSON floats, all finite): no per-item checks needed;
    # embeddings and hidden states make this the bulk of a large input's checks.
    # (a sum of floats is finite exactly when every one is: inf and NaN propagate)
    if items and set(map(type, items)) == {float} and math.isfinite(sum(items)):
        return items
    out = []
    for i, item in enumerate(items):
        try:
            out.append(_to_float(item))
        except _Bad as exc:
            raise _Bad(f"item {i + 1} {exc}") from None
    return out


def _to_meta(value: object) -> str:
    if isinstance(value, str):
        return _unicode(value)
    try:
        return _unicode(json.dumps(value, default=str, ensure_ascii=False))
    except RecursionError:
        raise _Bad("is nested too deeply") from None
    except (TypeError, ValueError) as exc:
        raise _Bad(f"cannot be stored as JSON text: {exc}") from None


def _to_provided_scores(value: object) -> str:
    """``{method_id: uncertainty}`` (a dict, or JSON object text) as sorted JSON text."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except RecursionError:
            raise _Bad("is nested too deeply") from None
        except ValueError:
            raise _Bad("expected a JSON object of method -> number, got invalid JSON") from None
    if not isinstance(value, dict):
        raise _Bad(f"expected an object of method -> number, got {_describe(value)}")
    out = {}
    for key, number in value.items():
        if not isinstance(key, str) or not key.strip():
            raise _Bad(f"method names must be non-empty text, got {_describe(key)}")
        try:
            out[key] = _to_float(number)
        except _Bad as exc:
            raise _Bad(f"method {key!r} {exc}") from None
    return json.dumps(out, sort_keys=True)


def _line_key(error: RecordError) -> tuple[float, str]:
    """Sort key: errors in input order when the record names a line, row or item."""
    match = re.match(r"(?:line|row|item) (\d+)", error.record)
    return (float(match.group(1)) if match else math.inf, error.file)


def _records(frame: pd.DataFrame, label: str) -> list[str]:
    if RECORD in frame.columns:
        return [str(r) for r in frame[RECORD].tolist()]
    return [f"{label} row {i + 1}" for i in range(len(frame))]


def _rows(frame: pd.DataFrame, names: tuple[str, ...]) -> list[dict]:
    """Rows as plain dicts of the given columns."""
    present = [n for n in names if n in frame.columns]
    columns = {n: frame[n].tolist() for n in present}
    return [{n: columns[n][i] for n in present} for i in range(len(frame))]



def _field_converter(source: str, row: dict, rec: str, errs: list[RecordError]):
    """``convert(name, fn, required=False)`` for one input record: the converted value, or
    None with a :class:`RecordError` naming the record and field appended to ``errs``."""

    def convert(name, fn, *, required=False):
        value = row.get(name)
        if value is None or (type(value) is not str and _is_missing(value)):
            if required:
                errs.append(RecordError(source, rec, name, "is missing"))
            return None
        try:
            return fn(value)
        except _Bad as exc:
            errs.append(RecordError(source, rec, name, str(exc)))
        except RecursionError:
            errs.append(RecordError(source, rec, name, "is nested too deeply"))
        return None

    return convert


def normalise(
    questions: pd.DataFrame,
    generations: pd.DataFrame,
    *,
    source: str = "",
    skip_invalid: bool = False,
    read_errors: Sequence[RecordError] = (),
) -> Dataset:
    """Validate two input frames and return the canonical tables.

    Parameters
    ----------
    questions, generations
        Frames with (at least) the required columns of the canonical tables;
        ``generations.sample_id`` may be absent or partly missing: missing ids become
        ``"s0"``, ``"s1"``, ... in input order within a question, and ``"greedy"`` for the
        judged answer. A hidden ``_record`` column in either frame names each row's origin
        for error messages; without it rows are named ``"questions row N"`` /
        ``"generations row N"``. None, NA and NaN mean "missing" (as in pandas);
        :data:`EXPLICIT_NAN` is a NaN the input wrote out, and an error where a number
        belongs. NaN inside a list (``token_logprobs``) is always an error.
    source
        The input's name (usually its path), used in every error.
    skip_invalid
        Drop invalid records (a bad answer drops that answer, a bad question drops the
        question and its answers) and list the problems in ``Dataset.skipped``; otherwise
        raise :class:`DataError` with every problem found.
    read_errors
        Problems a loader already found while reading (unreadable lines...): reported
        together with the problems found here.

    Raises
    ------
    DataError
        On any problem when ``skip_invalid`` is false; on missing required columns or when
        nothing valid is left, always.
    """
    errors: list[RecordError] = list(read_errors)
    _check_columns(questions, generations, source, errors)
    good_q, good_q_pos, first_seen = _question_records(questions, source, errors)
    g_rows = _rows(generations, GENERATION_REQUIRED + GENERATION_OPTIONAL + (QUESTION_ROW,))
    good_g = _generation_records(g_rows, _records(generations, "generations"), source, errors,
                                 good_q_pos, first_seen, {q["question_id"] for q in good_q})
    kept_g = _distinct_answers(good_g, source, errors)
    kept_q = _answered_questions(good_q, kept_g, g_rows, source, errors, skip_invalid)

    errors.sort(key=_line_key)  # stable: equal keys keep discovery order
    if errors and not skip_invalid:
        raise DataError(errors)
    if not kept_q:
        raise DataError(errors or [RecordError(source, "", "", "no questions found")])

    kept_ids = {q["question_id"] for q in kept_q}
    kept_g = [g for g in kept_g if g["question_id"] in kept_ids]
    q_frame = _question_frame(kept_q)
    return Dataset(
        questions=q_frame,
        generations=_generation_frame(kept_g),
        source=source,
        skipped=errors,
        ignored_fields=_ignored_fields(questions, generations),
        score_orientation=provided_score_orientation(q_frame),
    )


def _check_columns(questions: pd.DataFrame, generations: pd.DataFrame, source: str,
                   errors: list[RecordError]) -> None:
    """Raise :class:`DataError` (with ``errors`` so far) when a required column is missing."""
    missing_cols = [
        RecordError(source, "", name, "required question column is missing")
        for name in QUESTION_REQUIRED
        if name not in questions.columns
    ] + [
        RecordError(source, "", name, "required generation column is missing")
        for name in ("question_id", "text")
        if name not in generations.columns
    ]
    if missing_cols:
        raise DataError(errors + missing_cols)


def _ignored_fields(questions: pd.DataFrame, generations: pd.DataFrame) -> list[str]:
    """Input columns the canonical model does not know, questions' first."""
    known_q = set(QUESTION_REQUIRED) | set(QUESTION_OPTIONAL) | {RECORD}
    known_g = set(GENERATION_REQUIRED) | set(GENERATION_OPTIONAL) | {RECORD, QUESTION_ROW}
    ignored = [c for c in questions.columns if c not in known_q]
    return ignored + [c for c in generations.columns if c not in known_g and c not in ignored]


def _question_records(questions: pd.DataFrame, source: str, errors: list[RecordError]):
    """``(valid question rows, {input position: index among them}, {question id: record of
    its first occurrence})``; problems go to ``errors``."""
    q_records = _records(questions, "questions")
    q_rows = _rows(questions, QUESTION_REQUIRED + QUESTION_OPTIONAL)
    good_q: list[dict] = []
    good_q_pos: dict[int, int] = {}
    first_seen: dict[str, str] = {}
    for pos, (row, rec) in enumerate(zip(q_rows, q_records, strict=True)):
        errs: list[RecordError] = []
        out = _question_record(_field_converter(source, row, rec, errs), rec)
        qid = out["question_id"]
        if qid is not None:
            if qid in first_seen:
                errs.append(RecordError(
                    source, rec, "question_id",
                    f"duplicate question_id {qid!r} (first at {first_seen[qid]})"))
            else:
                first_seen[qid] = rec
        if errs:
            errors.extend(errs)
        else:
            good_q_pos[pos] = len(good_q)
            good_q.append(out)
    return good_q, good_q_pos, first_seen


def _question_record(convert, rec: str) -> dict:
    """One question's canonical fields (None where missing or invalid)."""
    out = {"_record": rec}
    out["question_id"] = convert("question_id", to_id, required=True)
    out["question"] = convert("question", lambda v: _to_text(v, non_empty=True), required=True)
    # No references (missing, null, []) is valid: the question builds without correctness.
    out["references"] = convert("references", lambda v: _to_str_list(v, required=False))
    if out["references"] is None:
        out["references"] = []
    out["incorrect_references"] = convert(
        "incorrect_references", lambda v: _to_str_list(v, required=False)
    )
    for name in _STR_OPTIONAL:
        out[name] = convert(name, lambda v: _to_text(v, non_empty=False))
    out["meta"] = convert("meta", _to_meta)
    out["provided_scores"] = convert("provided_scores", _to_provided_scores)
    return out


def _clean_floats(values: list) -> bool:
    # a sum of floats is finite exactly when every one is (inf and NaN propagate)
    return set(map(type, values)) <= {float} and math.isfinite(sum(values))


def _clean_whole(values: list) -> bool:
    return set(map(type, values)) <= {int} and (not values or (
        min(values) >= 0 and max(values) <= _MAX_INT))


def _clean_bools(values: list) -> bool:
    return set(map(type, values)) <= {bool}


# What each check passes comes back unchanged from its conversion: finite floats (_to_float),
# whole numbers in range (_to_int), booleans (_to_bool).
_CLEAN_CHECKS = {**{name: _clean_floats for name in _FLOAT_FIELDS}, "num_tokens": _clean_whole,
                 "provided_cluster": _clean_whole, "provided_correct": _clean_bools}


def _clean_fields(rows: list[dict]) -> frozenset[str]:
    """The optional numeric fields whose every value is missing (None) or already what its
    conversion would return unchanged: one pass over a column instead of a conversion call
    per record (most of a large input's checking time)."""
    clean = []
    for name, ok in _CLEAN_CHECKS.items():
        values = [r.get(name) for r in rows]
        if ok([v for v in values if v is not None]):
            clean.append(name)
    return frozenset(clean)


def _generation_records(g_rows, g_records, source, errors, good_q_pos, first_seen,
                        valid_ids) -> list[dict]:
    """Valid answers to valid questions, sample ids filled in; problems go to ``errors``
    (an answer to a rejected question is still checked, never kept)."""
    good_g: list[dict] = []
    next_index: dict[str, int] = {}  # question id -> next default sample index
    clean = _clean_fields(g_rows)
    for row, rec in zip(g_rows, g_records, strict=True):
        errs: list[RecordError] = []
        convert = _field_converter(source, row, rec, errs)
        qpos = row.get(QUESTION_ROW)
        drop = not _is_missing(qpos) and int(qpos) not in good_q_pos
        qid = convert("question_id", to_id, required=True)
        if qid is not None and qid not in valid_ids:
            if qid in first_seen:
                drop = True
            elif not drop:
                errs.append(RecordError(source, rec, "question_id", f"no question has id {qid!r}"))
        out = {"_record": rec, "question_id": qid}
        out["text"] = convert("text", lambda v: _to_text(v, non_empty=False), required=True)
        _sample_identity(out, row, convert, next_index)
        _answer_numbers(out, convert, source, rec, errs, row, clean)
        errors.extend(errs)
        if not errs and not drop:
            good_g.append(out)
    return good_g


def _sample_identity(out: dict, row: dict, convert, next_index: dict[str, int]) -> None:
    """``sample_id`` and ``is_greedy`` of one answer: a missing sample id becomes ``s0``,
    ``s1``, ... in input order within its question, or ``greedy`` for the judged answer."""
    qid = out["question_id"]
    greedy = convert("is_greedy", _to_bool)
    sample_id = convert("sample_id", to_id)
    sid_given = not _is_missing(row.get("sample_id"))
    if greedy is None:
        greedy = sample_id == GREEDY_SAMPLE_ID
    if qid is not None and not greedy:
        index = next_index.get(qid, 0)
        next_index[qid] = index + 1
        if not sid_given:
            sample_id = f"s{index}"
    if greedy and not sid_given:
        sample_id = GREEDY_SAMPLE_ID
    out["sample_id"] = sample_id
    out["is_greedy"] = bool(greedy)


def _answer_numbers(out: dict, convert, source: str, rec: str, errs: list[RecordError],
                    row: dict | None = None, clean: frozenset[str] = frozenset()) -> None:
    """The numeric fields of one answer, with their range checks; ``token_logprobs`` fill a
    missing ``num_tokens`` and ``logprob_sum``. Fields in ``clean`` are read from ``row``
    as they are (:func:`_clean_fields`)."""
    for name in _FLOAT_FIELDS:
        out[name] = row.get(name) if name in clean else convert(name, _to_float)
    if out["temperature"] is not None and out["temperature"] < 0:
        errs.append(
            RecordError(source, rec, "temperature", f"must be >= 0, got {out['temperature']}")
        )
    # A log-probability is <= 0; a positive one is most likely a negative log-likelihood,
    # which would silently flip every likelihood-based score.
    if out["logprob_sum"] is not None and out["logprob_sum"] > _LOGPROB_SLACK:
        errs.append(
            RecordError(source, rec, "logprob_sum",
                        f"must be <= 0 (a log-probability), got {out['logprob_sum']}")
        )
    for name in _UNIT_INTERVAL:
        if out[name] is not None and not 0.0 <= out[name] <= 1.0:
            errs.append(
                RecordError(source, rec, name, f"must be between 0 and 1, got {out[name]}")
            )
    for name, fn in (("num_tokens", _to_int), ("provided_correct", _to_bool),
                     ("provided_cluster", _to_int)):
        out[name] = row.get(name) if name in clean else convert(name, fn)
    for name in _VECTOR_FIELDS:
        out[name] = convert(name, _to_float_list)
    tokens = out["token_logprobs"]
    if tokens is not None and any(t > _LOGPROB_SLACK for t in tokens):
        errs.append(
            RecordError(source, rec, "token_logprobs",
                        "must all be <= 0 (log-probabilities), got "
                        f"{max(tokens)} at item {tokens.index(max(tokens)) + 1}")
        )
        tokens = out["token_logprobs"] = None
    if tokens is not None:
        if out["num_tokens"] is None and "num_tokens" not in {e.field for e in errs}:
            out["num_tokens"] = len(tokens)
        if out["logprob_sum"] is None and "logprob_sum" not in {e.field for e in errs}:
            out["logprob_sum"] = math.fsum(tokens)


def _distinct_answers(good_g: list[dict], source: str, errors: list[RecordError]) -> list[dict]:
    """Answers without a second greedy answer or a repeated sample id per question."""
    kept_g: list[dict] = []
    seen_sample: dict[tuple[str, str], str] = {}
    greedy_at: dict[str, str] = {}
    for out in good_g:
        qid, sid, rec = out["question_id"], out["sample_id"], out["_record"]
        if out["is_greedy"] and qid in greedy_at:
            errors.append(RecordError(
                source, rec, "is_greedy",
                f"more than one greedy answer for question {qid!r} (first at {greedy_at[qid]})"))
            continue
        if (qid, sid) in seen_sample:
            errors.append(RecordError(
                source, rec, "sample_id",
                f"duplicate sample_id {sid!r} for question {qid!r} "
                f"(first at {seen_sample[(qid, sid)]})"))
            continue
        seen_sample[(qid, sid)] = rec
        if out["is_greedy"]:
            greedy_at[qid] = rec
        kept_g.append(out)
    return kept_g


def _answered_questions(good_q, kept_g, g_rows, source, errors, skip_invalid) -> list[dict]:
    """The valid questions with at least one kept answer; the others are problems."""
    had_rows: set[str] = set()
    for row in g_rows:
        try:
            had_rows.add(to_id(row.get("question_id")))
        except (_Bad, TypeError, ValueError):
            pass
    answered = {g["question_id"] for g in kept_g}
    kept_q = []
    for q in good_q:
        qid = q["question_id"]
        if qid in answered:
            kept_q.append(q)
        elif qid not in had_rows:
            errors.append(
                RecordError(source, q["_record"], "samples", f"question {qid!r} has no answers")
            )
        elif skip_invalid:
            errors.append(RecordError(source, q["_record"], "samples",
                                      f"question {qid!r} has no valid answers left"))
    return kept_q


def _meta_object(text: object) -> dict | None:
    """A question's ``meta`` as a dict (None when absent or not a JSON object)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def provided_score_orientation(questions: pd.DataFrame) -> dict[str, str]:
    """``{method_id: orientation}`` recorded in the questions' ``meta`` (see
    :data:`ORIENTATION_META_KEY`); methods whose orientation is not recorded are absent."""
    out: dict[str, str] = {}
    if "meta" not in questions:
        return out
    for text in questions["meta"].dropna().unique():
        meta = _meta_object(text)
        found = meta.get(ORIENTATION_META_KEY) if meta else None
        if isinstance(found, dict):
            out.update({str(k): str(v) for k, v in found.items() if k not in out})
    return out


def with_score_orientation(questions: pd.DataFrame, orientation: dict[str, str]) -> pd.DataFrame:
    """``questions`` with each question's ``meta`` recording the orientation of the methods in
    its ``provided_scores`` (merged into an existing meta object; a non-object meta is kept
    under ``"meta"``)."""
    if not orientation or "provided_scores" not in questions:
        return questions
    metas = []
    for meta_text, scores_text in zip(questions.get("meta", pd.Series([None] * len(questions))),
                                      questions["provided_scores"], strict=True):
        if not isinstance(scores_text, str):
            metas.append(meta_text)
            continue
        methods = sorted(json.loads(scores_text))
        own = {m: orientation[m] for m in methods if m in orientation}
        if not own:
            metas.append(meta_text)
            continue
        meta = _meta_object(meta_text)
        if meta is None:
            meta = {} if not isinstance(meta_text, str) or not meta_text else {"meta": meta_text}
        meta[ORIENTATION_META_KEY] = own
        metas.append(json.dumps(meta, ensure_ascii=False, default=str))
    out = questions.copy()
    out["meta"] = pd.Series(metas, index=questions.index, dtype=object)
    return out


def _question_frame(rows: list[dict]) -> pd.DataFrame:
    def col(name):
        return [r[name] for r in rows]

    frame = pd.DataFrame(
        {
            "question_id": pd.Series(col("question_id")),
            "question": pd.Series(col("question")),
            "references": pd.Series(col("references"), dtype=object),
            "incorrect_references": pd.Series(col("incorrect_references"), dtype=object),
        }
    )
    for name in (*_STR_OPTIONAL, "meta", "provided_scores"):
        frame[name] = pd.Series(col(name))
    return frame


def _generation_frame(rows: list[dict]) -> pd.DataFrame:
    def col(name):
        return [r[name] for r in rows]

    frame = pd.DataFrame(
        {
            "question_id": pd.Series(col("question_id")),
            "sample_id": pd.Series(col("sample_id")),
            "text": pd.Series(col("text")),
            "is_greedy": pd.Series(col("is_greedy"), dtype=bool),
        }
    )
    frame["logprob_sum"] = pd.Series(col("logprob_sum"), dtype="float64")
    frame["num_tokens"] = pd.Series(col("num_tokens"), dtype="Int64")
    frame["token_logprobs"] = pd.Series(col("token_logprobs"), dtype=object)
    frame["temperature"] = pd.Series(col("temperature"), dtype="float64")
    frame["verbalized_confidence"] = pd.Series(col("verbalized_confidence"), dtype="float64")
    frame["p_true"] = pd.Series(col("p_true"), dtype="float64")
    frame["provided_correct"] = pd.Series(col("provided_correct"), dtype="boolean")
    frame["provided_correct_value"] = pd.Series(col("provided_correct_value"), dtype="float64")
    for name in ("embedding", "hidden_state"):
        frame[name] = pd.Series(col(name), dtype=object)
    frame["provided_cluster"] = pd.Series(col("provided_cluster"), dtype="Int64")
    return frame
