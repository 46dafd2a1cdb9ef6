"""Writing uqlens data: canonical datasets, and the file helpers run exports share.

:func:`write_dataset` writes a :class:`~uqlens.data.schema.Dataset` (e.g. an import) as nested
JSONL or Parquet, the shape :func:`uqlens.data.loaders.load` and ``uqlens build`` read.

:func:`uqlens.run.export.export_run` writes built runs with these helpers.

Files are written to a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pandas as pd

from uqlens.data.schema import GENERATION_OPTIONAL, QUESTION_OPTIONAL, Dataset


def _clean(value: object) -> object:
    """JSON/Parquet-safe plain values: NaN/NA -> None, NumPy -> Python."""
    if value is None or value is pd.NA:
        return None
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    return value


def _one(value: object) -> str | None:
    """A manifest's model/dataset: a name, or a list of names (joined)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    return None


def _atomic_write(out: Path, write) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_jsonl(records: list[dict], out: Path) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")

    _atomic_write(out, write)


def _write_parquet(frame: pd.DataFrame, out: Path) -> None:
    _atomic_write(out, lambda tmp: frame.to_parquet(tmp, index=False))


def _sample_record(row: dict, fields: tuple[str, ...]) -> dict:
    record = {}
    for name in fields:
        value = _clean(row.get(name))
        if value is not None and name != "is_greedy":
            record[name] = value
    return record


def dataset_records(dataset: Dataset) -> list[dict]:
    """One nested canonical record per question (samples and greedy answer inside)."""
    sample_fields = ("sample_id", "text", "is_greedy", *GENERATION_OPTIONAL)
    by_question: dict[str, list[dict]] = {}
    for row in dataset.generations.to_dict("records"):
        by_question.setdefault(row["question_id"], []).append(row)
    records = []
    for q in dataset.questions.to_dict("records"):
        record: dict = {"question_id": q["question_id"], "question": q["question"],
                        "references": _clean(q["references"])}
        for name in QUESTION_OPTIONAL:
            value = _clean(q.get(name))
            if value is not None and value != []:
                record[name] = value
        samples, greedy = [], None
        for row in by_question.get(q["question_id"], []):
            item = _sample_record(row, sample_fields)
            if row["is_greedy"]:
                greedy = item
            else:
                samples.append(item)
        record["samples"] = samples
        if greedy is not None:
            record["greedy"] = greedy
        records.append(record)
    return records


def write_dataset(dataset: Dataset, out: str | os.PathLike) -> Path:
    """Write canonical nested JSONL (``.jsonl``/``.json``) or Parquet (``.parquet``)."""
    out = Path(out)
    records = dataset_records(dataset)
    if out.suffix.lower() in (".parquet", ".pq"):
        for record in records:  # nested structs need one shape: keep lists of floats as is
            record.setdefault("greedy", None)
        _write_parquet(pd.DataFrame(records), out)
    else:
        _write_jsonl(records, out)
    return out


# ---- built runs -------------------------------------------------------------------------------
