"""Load generations with ground truth from JSONL, CSV or Parquet into a :class:`Dataset`.

Two shapes are understood, told apart by the records themselves:

nested (JSONL, JSON, Parquet): one question per record::

    {"question_id": "q1", "question": "...", "references": ["Paris"],
     "samples": ["Paris", {"text": "Lyon", "logprob_sum": -3.2}],
     "greedy": {"text": "Paris", "logprob_sum": -0.4}}

    ``id`` may stand for ``question_id``; ``answers`` or ``reference`` for ``references``.
    Samples are strings or objects with ``text`` and optional generation fields; ``greedy``
    (a string or an object) is the judged answer. Missing sample ids become ``s0``, ``s1``,
    ... in order, and ``greedy`` for the judged answer.

flat (JSONL, CSV, Parquet): one answer per record, the question's fields repeated on each
    record (later records may leave them empty). CSV carries lists as JSON text.

Every problem is reported with the file, the record (``line N`` for text files, ``row N``
for Parquet, ``item N`` for a JSON array), the field and what was expected. Text is decoded
line by line (CSV: row by row), so one bad line never hides the valid ones around it.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from uqlens.data.schema import (
    EXPLICIT_NAN,
    GENERATION_OPTIONAL,
    GENERATION_REQUIRED,
    QUESTION_OPTIONAL,
    QUESTION_REQUIRED,
    QUESTION_ROW,
    RECORD,
    DataError,
    Dataset,
    RecordError,
    _Bad,
    normalise,
    to_id,
)

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
CSV_SUFFIXES = {".csv": ",", ".tsv": "\t"}
PARQUET_SUFFIXES = (".parquet", ".pq")

_QUESTION_FIELDS = QUESTION_REQUIRED + QUESTION_OPTIONAL
_SAMPLE_FIELDS = tuple(f for f in GENERATION_REQUIRED + GENERATION_OPTIONAL if f != "question_id")
_REFERENCE_ALIASES = ("answers", "reference")
_NESTED_KEYS = frozenset({"id", "samples", "greedy", *_REFERENCE_ALIASES, *_QUESTION_FIELDS})

_ALWAYS = frozenset({RECORD, QUESTION_ROW, "question_id"})

Record = tuple[str, dict]  # (locator such as "line 3", the record's fields)


def load(path: str | os.PathLike, *, skip_invalid: bool = False) -> Dataset:
    """Read one file into the canonical tables.

    The format comes from the extension (``.jsonl``/``.ndjson``/``.json``, ``.csv``/``.tsv``,
    ``.parquet``/``.pq``), or from the content when the extension says nothing.

    Raises
    ------
    DataError
        Listing every problem found (or, with ``skip_invalid``, only when nothing valid is
        left or the file as a whole is unreadable).
    OSError
        When the file cannot be read at all.
    """
    path = Path(path)
    source = str(path)
    data = path.read_bytes()
    if not data.strip() or data.strip() == codecs.BOM_UTF8:
        raise DataError([RecordError(source, "", "", "file is empty")])
    kind = _detect(path, data, source)
    if kind == "parquet":
        records, errors = _read_parquet(path, source)
        flat_only = False
    elif kind in CSV_SUFFIXES:
        records, errors = _read_csv(data, source, CSV_SUFFIXES[kind])
        flat_only = True
    elif kind == "json-array":
        records, errors = _read_json_array(data, source)
        flat_only = False
    else:
        records, errors = _read_jsonl(data, source)
        flat_only = False
        if errors and path.suffix.lower() == ".json":  # one pretty-printed object?
            try:
                whole = _parse_object(data.decode("utf-8-sig"), source, "item 1")
            except UnicodeDecodeError:
                whole = None
            if isinstance(whole, dict):
                records, errors = [("item 1", whole)], []
    if not records:  # nothing readable: the read errors say why; no column noise after them
        raise DataError(errors or [RecordError(source, "", "", "file holds no records")])
    return from_records(
        records,
        source=source,
        skip_invalid=skip_invalid,
        read_errors=errors,
        flat_only=flat_only,
    )


def load_many(paths: Iterable[str | os.PathLike], *, skip_invalid: bool = False) -> Dataset:
    """Load several files as one dataset; question ids must be unique across files.

    Raises :class:`DataError` with the problems of every file (not just the first).
    """
    datasets: list[Dataset] = []
    errors: list[RecordError] = []
    for path in paths:
        try:
            datasets.append(load(path, skip_invalid=skip_invalid))
        except DataError as exc:
            errors.extend(exc.errors)
    owner: dict[str, str] = {}
    for ds in datasets:
        for qid in ds.questions["question_id"]:
            if qid in owner:
                errors.append(
                    RecordError(
                        ds.source,
                        f"question {qid!r}",
                        "question_id",
                        f"duplicate question_id {qid!r} (also in {owner[qid]})",
                    )
                )
            else:
                owner[qid] = ds.source
    if errors or not datasets:
        raise DataError(errors or [RecordError("", "", "", "no files given")])
    return Dataset(
        questions=pd.concat([d.questions for d in datasets], ignore_index=True),
        generations=pd.concat([d.generations for d in datasets], ignore_index=True),
        source=", ".join(d.source for d in datasets),
        skipped=[e for d in datasets for e in d.skipped],
        ignored_fields=sorted({f for d in datasets for f in d.ignored_fields}),
    )


# ---- reading -------------------------------------------------------------------------------


PICKLE_SUFFIXES = (".pkl", ".pickle", ".pt", ".pth", ".joblib")


def _detect(path: Path, data: bytes, source: str) -> str:
    suffix = path.suffix.lower()
    known = (*JSONL_SUFFIXES, *CSV_SUFFIXES, *PARQUET_SUFFIXES)
    if suffix in PICKLE_SUFFIXES or (suffix not in known and data[:1] == b"\x80"):
        raise DataError([RecordError(
            source, "", "",
            "refusing to read a pickle: loading one can execute arbitrary code; convert a "
            "peer tool's pickle with `uqlens import --allow-pickle` (trusted files only), or "
            "export the generations as JSONL, CSV or Parquet",
        )])
    head = data.lstrip(codecs.BOM_UTF8 + b" \t\r\n")[:1]
    if suffix in PARQUET_SUFFIXES or (suffix not in CSV_SUFFIXES and data[:4] == b"PAR1"):
        return "parquet"
    if suffix in CSV_SUFFIXES:
        return suffix
    if suffix == ".json" and head == b"[":
        return "json-array"
    if suffix in JSONL_SUFFIXES or head == b"{":
        return "jsonl"
    raise DataError(
        [
            RecordError(
                source,
                "",
                "",
                "unrecognised file type; expected .jsonl, .json, .csv, .tsv or .parquet",
            )
        ]
    )


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def _json_constant(name: str) -> object:
    """JSON's non-standard NaN/Infinity: NaN is kept apart from null so it is reported."""
    return EXPLICIT_NAN if name == "NaN" else float(name)


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """JSON leaves a repeated key undefined; which value the writer meant is unknown, so it
    is an error rather than last-one-wins."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def _parse_object(text: str, source: str, rec: str) -> dict | RecordError:
    try:
        value = json.loads(text, parse_constant=_json_constant, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        return RecordError(source, rec, exc.key, "key appears more than once in one object")
    except RecursionError:
        return RecordError(source, rec, "", "JSON nested too deeply")
    except json.JSONDecodeError as exc:
        return RecordError(
            source, rec, "", f"invalid JSON: {exc.msg} (column {exc.colno}); truncated line?"
        )
    except ValueError as exc:  # e.g. an integer with too many digits
        return RecordError(source, rec, "", f"invalid JSON: {exc}")
    if not isinstance(value, dict):
        return RecordError(source, rec, "", f"expected a JSON object, got {_json_type(value)}")
    return value


def _read_jsonl(data: bytes, source: str) -> tuple[list[Record], list[RecordError]]:
    records: list[Record] = []
    errors: list[RecordError] = []
    offset = 0
    for number, raw in enumerate(data.split(b"\n"), start=1):
        start, offset = offset, offset + len(raw) + 1
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw, start = raw[len(codecs.BOM_UTF8) :], start + len(codecs.BOM_UTF8)
        if not raw.strip():
            continue
        rec = f"line {number}"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            errors.append(
                RecordError(source, rec, "", f"invalid UTF-8 at byte offset {start + exc.start}")
            )
            continue
        parsed = _parse_object(text, source, rec)
        if isinstance(parsed, RecordError):
            errors.append(parsed)
        else:
            records.append((rec, parsed))
    return records, errors


def _read_json_array(data: bytes, source: str) -> tuple[list[Record], list[RecordError]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            [RecordError(source, "", "", f"invalid UTF-8 at byte offset {exc.start}")]
        ) from None
    try:
        items = json.loads(text, parse_constant=_json_constant, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise DataError(
            [RecordError(source, "", exc.key, "key appears more than once in one object")]
        ) from None
    except RecursionError:
        raise DataError([RecordError(source, "", "", "JSON nested too deeply")]) from None
    except json.JSONDecodeError as exc:
        raise DataError(
            [RecordError(source, f"line {exc.lineno}", "", f"invalid JSON: {exc.msg}")]
        ) from None
    except ValueError as exc:
        raise DataError([RecordError(source, "", "", f"invalid JSON: {exc}")]) from None
    records: list[Record] = []
    errors: list[RecordError] = []
    for number, item in enumerate(items, start=1):
        rec = f"item {number}"
        if isinstance(item, dict):
            records.append((rec, item))
        else:
            errors.append(
                RecordError(source, rec, "", f"expected a JSON object, got {_json_type(item)}")
            )
    return records, errors


def _has_bad_bytes(text: str) -> bool:
    """True when surrogate-escaped (undecodable) bytes are in the text."""
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _read_csv(data: bytes, source: str, delimiter: str) -> tuple[list[Record], list[RecordError]]:
    text = data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))  # 1 MB answers are answers
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records: list[Record] = []
    errors: list[RecordError] = []
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise DataError([RecordError(source, "line 1", "", f"no CSV header: {exc}")]) from None
    names = [h.strip() for h in header]
    if any(_has_bad_bytes(n) for n in names):
        raise DataError([RecordError(source, "line 1", "", "invalid UTF-8 in the header")])
    doubled = sorted({n for n in names if n and names.count(n) > 1})
    if doubled:
        raise DataError(
            [RecordError(source, "line 1", n, "column appears more than once") for n in doubled]
        )
    previous = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RecordError(source, f"line {previous + 1}", "", f"bad CSV: {exc}"))
            break  # the reader cannot resynchronise after a broken quote
        rec, previous = f"line {previous + 1}", reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(names):
            errors.append(
                RecordError(source, rec, "", f"expected {len(names)} fields, got {len(row)}")
            )
            continue
        bad = [n for n, cell in zip(names, row, strict=True) if _has_bad_bytes(cell)]
        if bad:
            errors.extend(RecordError(source, rec, n, "invalid UTF-8") for n in bad)
            continue
        # An empty cell is a missing value, except for an answer: an empty answer is an answer.
        records.append(
            (
                rec,
                {
                    n: (cell if cell != "" or n == "text" else None)
                    for n, cell in zip(names, row, strict=True)
                    if n
                },
            )
        )
    if not records and not errors:
        lacking = [n for n in ("question_id", "question", "text") if n not in names]
        raise DataError(
            [RecordError(source, "line 1", n, "required column is missing from the header "
                         "(is the header row missing?)") for n in lacking]
            or [RecordError(source, "", "", "CSV file has a header but no rows")]
        )
    return records, errors


def _read_parquet(path: Path, source: str) -> tuple[list[Record], list[RecordError]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise DataError(
            [RecordError(source, "", "", f"not a readable Parquet file: {exc}")]
        ) from None
    rows = [_mark_nan(row) for row in table.to_pylist()]
    return [(f"row {i + 1}", row) for i, row in enumerate(rows)], []


def _mark_nan(record: dict) -> dict:
    """Parquet keeps null and NaN apart; keep a stored NaN visible as :data:`EXPLICIT_NAN`
    (in the record, and in nested answer objects)."""
    out = {}
    for key, value in record.items():
        if isinstance(value, float) and value != value:
            value = EXPLICIT_NAN
        elif isinstance(value, dict):
            value = _mark_nan(value)
        elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
            value = [_mark_nan(v) if isinstance(v, dict) else v for v in value]
        out[key] = value
    return out


# ---- shaping records into the two tables ---------------------------------------------------


def from_records(
    records: list[Record],
    *,
    source: str = "",
    skip_invalid: bool = False,
    read_errors: Iterable[RecordError] = (),
    flat_only: bool = False,
) -> Dataset:
    """Shape ``(locator, fields)`` records (nested or flat, see the module docstring) into
    the canonical tables via :func:`uqlens.data.schema.normalise`."""
    errors = list(read_errors)
    nested = not flat_only and any("samples" in r or "greedy" in r for _, r in records)
    if nested:
        questions, generations = _split_nested(records, source, errors)
    else:
        questions, generations = _split_flat(records, source, errors)
    return normalise(
        questions, generations, source=source, skip_invalid=skip_invalid, read_errors=errors
    )


def _frame(rows: list[dict], columns: Iterable[str]) -> pd.DataFrame:
    """Object columns (values stay as read) for the fields that some record has, so that a
    field no record has is reported once as a missing column, not once per record."""
    columns = [c for c in dict.fromkeys(columns) if c in _ALWAYS or any(c in r for r in rows)]
    return pd.DataFrame({c: pd.Series([r.get(c) for r in rows], dtype=object) for c in columns})


def _sample_row(sample: object, qid: object, rec: str, qpos: int, ignored: set[str]) -> dict:
    row: dict = {RECORD: rec, QUESTION_ROW: qpos, "question_id": qid}
    if isinstance(sample, dict):
        for key, value in sample.items():
            if key in _SAMPLE_FIELDS:
                row[key] = value
            elif key != "question_id":
                ignored.add(key)
    else:  # a string is the answer's text; anything else is reported as non-text
        row["text"] = sample
    return row


def _split_nested(
    records: list[Record], source: str, errors: list[RecordError]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    q_rows: list[dict] = []
    g_rows: list[dict] = []
    ignored: set[str] = set()
    for rec, obj in records:
        samples = obj.get("samples")
        if isinstance(samples, str | dict):
            samples = [samples]
        elif samples is not None and not isinstance(samples, list):
            errors.append(
                RecordError(
                    source,
                    rec,
                    "samples",
                    f"expected a list of answers (strings or objects with 'text'), "
                    f"got {_json_type(samples)}",
                )
            )
            continue
        row = {RECORD: rec}
        row["question_id"] = obj["question_id"] if "question_id" in obj else obj.get("id")
        for name in ("references", *_REFERENCE_ALIASES):
            if name in obj:
                row["references"] = obj[name]
                break
        for name in ("question", *QUESTION_OPTIONAL):
            if name in obj:
                row[name] = obj[name]
        ignored.update(k for k in obj if k not in _NESTED_KEYS)
        qpos = len(q_rows)
        q_rows.append(row)
        for k, sample in enumerate(samples or []):
            g_rows.append(
                _sample_row(sample, row["question_id"], f"{rec}, sample {k + 1}", qpos, ignored)
            )
        greedy = obj.get("greedy")
        if greedy is not None:
            g = _sample_row(greedy, row["question_id"], f"{rec}, greedy", qpos, ignored)
            g["is_greedy"] = True
            g_rows.append(g)
    questions = _frame(q_rows, (RECORD, *_QUESTION_FIELDS))
    generations = _frame(g_rows, (RECORD, QUESTION_ROW, "question_id", *_SAMPLE_FIELDS))
    for name in sorted(ignored):
        questions[_key_name(name)] = None  # reported by normalise as an ignored field
    return questions, generations


def _key_name(key: str) -> str:
    """An unknown key, storable and printable (a lone surrogate such as "\\ud800" is not)."""
    return key.encode("utf-8", "backslashreplace").decode("utf-8")


def _same(a: object, b: object) -> bool:
    try:
        return bool(a == b)
    except (RecursionError, ValueError, TypeError):
        return False


def _split_flat(
    records: list[Record], source: str, errors: list[RecordError]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    q_rows: list[dict] = []
    g_rows: list[dict] = []
    by_id: dict[str, int] = {}
    ignored: set[str] = set()
    for rec, obj in records:
        obj = dict(obj)
        if "references" not in obj:
            for alias in _REFERENCE_ALIASES:
                if alias in obj:
                    obj["references"] = obj.pop(alias)
                    break
        ignored.update(k for k in obj if k not in _QUESTION_FIELDS and k not in _SAMPLE_FIELDS)
        try:
            key = to_id(obj.get("question_id"))
        except _Bad:
            key = None  # normalise reports the bad id on the answer's row
        qpos = by_id.get(key) if key is not None else None
        if key is not None and qpos is None:
            qpos = by_id[key] = len(q_rows)
            q_rows.append({RECORD: rec, **{f: obj[f] for f in _QUESTION_FIELDS if f in obj}})
        elif qpos is not None:
            question = q_rows[qpos]
            conflicts = []
            for name in _QUESTION_FIELDS:
                value = obj.get(name)
                if value is None:
                    continue
                if question.get(name) is None:
                    question[name] = value
                elif not _same(value, question[name]):
                    conflicts.append(name)
            if conflicts:
                errors.extend(
                    RecordError(
                        source,
                        rec,
                        name,
                        f"differs from {question[RECORD]} for the same question_id {key!r}",
                    )
                    for name in conflicts
                )
                continue
        g_rows.append(
            {
                RECORD: rec,
                QUESTION_ROW: qpos,
                "question_id": obj.get("question_id"),
                **{f: obj[f] for f in _SAMPLE_FIELDS if f in obj},
            }
        )
    questions = _frame(q_rows, (RECORD, *_QUESTION_FIELDS))
    generations = _frame(g_rows, (RECORD, QUESTION_ROW, "question_id", *_SAMPLE_FIELDS))
    for name in sorted(ignored):
        questions[_key_name(name)] = None
    return questions, generations
