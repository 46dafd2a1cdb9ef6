"""Writing uqlens data for other tools: canonical datasets and built runs.

:func:`write_dataset` writes a :class:`~uqlens.data.schema.Dataset` (e.g. an import) as nested
JSONL or Parquet, the shape :func:`uqlens.data.loaders.load` and ``uqlens build`` read.

:func:`export_run` writes a built run's generations with their clusters, scores and
correctness:

``jsonl``
    one question per line, in the nested canonical shape (so ``uqlens validate``/``build``
    read it back), plus ``scores`` ``{rule: {method: uncertainty}}`` on the question and
    ``clusters`` ``{rule: cluster_id}`` and ``correctness`` ``{judge: {"value", "label"}}``
    on each answer. Undefined scores are ``null``.
``parquet``
    one row per answer (the flat canonical shape) plus a column per rule
    (``cluster:<rule>``), per judge (``correct:<judge>``, the label; ``correct_value:<judge>``,
    the score) and per method and rule (``uncertainty:<method>@<rule>``, repeated on each
    answer of the question).
``luq``
    luq's JSON sample format (``{"llm", "raw_dataset", "parameters", "data": {"test":
    [{"question", "samples", "answer", "gt_answer", ...}]}}``, as luq's scripts write it),
    with uqlens' results under each record's ``uqlens`` key.

Files are written to a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pandas as pd

from uqlens.data.schema import GENERATION_OPTIONAL, QUESTION_OPTIONAL, Dataset

EXPORT_FORMATS = ("jsonl", "luq", "parquet")


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


def _run_parts(run_dir: str | os.PathLike):
    from uqlens.run.folder import load_run

    run = load_run(run_dir)
    questions = run.table("questions")
    gens = run.table("generations")
    clusters = run.table("clusters")
    scores = run.table("scores")
    correct = run.built_table("correctness")  # the built verdicts, not human+ judges
    return run, questions, gens, clusters, scores, correct


def export_run(run_dir: str | os.PathLike, format: str = "jsonl",  # noqa: A002
               out: str | os.PathLike | None = None) -> Path:
    """Write a built run's answers with clusters, scores and correctness; returns the path.

    Raises :class:`uqlens.run.folder.RunError` for a folder that is not a run, ``ValueError`` for
    an unknown format.
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {format!r}; expected {', '.join(EXPORT_FORMATS)}")
    run, questions, gens, clusters, scores, correct = _run_parts(run_dir)
    if out is None:
        suffix = {"jsonl": ".jsonl", "luq": ".luq.json", "parquet": ".parquet"}[format]
        out = Path(run_dir) / f"export{suffix}"
    out = Path(out)

    cluster_of: dict[tuple[str, str], dict[str, int]] = {}
    for row in clusters.to_dict("records"):
        cluster_of.setdefault((row["question_id"], row["sample_id"]), {})[row["rule"]] = int(
            row["cluster_id"])
    judged: dict[tuple[str, str], dict[str, dict]] = {}
    for row in correct.to_dict("records"):
        judged.setdefault((row["question_id"], row["sample_id"]), {})[row["judge"]] = {
            "value": _clean(row.get("value")),
            "label": _clean(row.get("label")),
        }
    scored: dict[str, dict[str, dict[str, float | None]]] = {}
    for row in scores.to_dict("records"):
        scored.setdefault(row["question_id"], {}).setdefault(row["rule"], {})[row["method"]] = (
            _clean(row["uncertainty"]))

    keep = [c for c in gens.columns if c != "text_id"]
    gens = gens[keep]
    if format == "parquet":
        frame = gens.merge(questions, on="question_id", how="left")
        for rule in sorted(clusters["rule"].unique()) if len(clusters) else []:
            frame[f"cluster:{rule}"] = [
                cluster_of.get((q, s), {}).get(rule)
                for q, s in zip(frame["question_id"], frame["sample_id"], strict=True)
            ]
            frame[f"cluster:{rule}"] = frame[f"cluster:{rule}"].astype("Int64")
        for judge in sorted(correct["judge"].unique()) if len(correct) else []:
            cells = [judged.get((q, s), {}).get(judge, {})
                     for q, s in zip(frame["question_id"], frame["sample_id"], strict=True)]
            frame[f"correct:{judge}"] = pd.Series([c.get("label") for c in cells],
                                                  dtype="boolean")
            frame[f"correct_value:{judge}"] = pd.Series([c.get("value") for c in cells],
                                                        dtype="float64")
        pairs = sorted({(m, r) for r, ms in
                        ((r, ms) for sc in scored.values() for r, ms in sc.items())
                        for m in ms})
        for method, rule in pairs:
            frame[f"uncertainty:{method}@{rule}"] = pd.Series(
                [scored.get(q, {}).get(rule, {}).get(method) for q in frame["question_id"]],
                dtype="float64")
        _write_parquet(frame, out)
        return out

    records = []
    by_question: dict[str, list[dict]] = {}
    for row in gens.to_dict("records"):
        by_question.setdefault(row["question_id"], []).append(row)
    for q in questions.to_dict("records"):
        qid = q["question_id"]
        record = {k: _clean(v) for k, v in q.items() if _clean(v) is not None}
        samples, greedy = [], None
        for row in by_question.get(qid, []):
            item = {k: _clean(v) for k, v in row.items()
                    if k not in ("question_id", "is_greedy") and _clean(v) is not None}
            item["clusters"] = cluster_of.get((qid, row["sample_id"]), {})
            item["correctness"] = judged.get((qid, row["sample_id"]), {})
            if row["is_greedy"]:
                greedy = item
            else:
                samples.append(item)
        record["scores"] = scored.get(qid, {})
        record["samples"] = samples
        if greedy is not None:
            record["greedy"] = greedy
        records.append(record)
    if format == "jsonl":
        _write_jsonl(records, out)
        return out

    # luq's sample format
    manifest = run.manifest
    data = []
    for record in records:
        greedy = record.get("greedy")
        data.append({
            "question_id": record["question_id"],
            "question": record["question"],
            "samples": [s["text"] for s in record["samples"]],
            "answer": greedy["text"] if greedy else None,
            "gt_answer": record.get("references", []),
            "uqlens": {
                "scores": record["scores"],
                "clusters": {s["sample_id"]: s["clusters"] for s in record["samples"]},
                "correctness": {
                    **{s["sample_id"]: s["correctness"] for s in record["samples"]},
                    **({greedy["sample_id"]: greedy["correctness"]} if greedy else {}),
                },
            },
        })
    temps = gens.loc[~gens["is_greedy"], "temperature"].dropna() if "temperature" in gens else []
    doc = {
        "llm": _one(manifest.get("model")),
        "raw_dataset": _one(manifest.get("dataset")),
        "parameters": {
            "temperature": float(temps.iloc[0]) if len(temps) else None,
            "source": "uqlens export",
            "run": run.name,
        },
        "data": {"test": data},
    }

    def write(tmp: Path) -> None:
        tmp.write_text(json.dumps(_clean(doc), ensure_ascii=False, indent=1, allow_nan=False),
                       encoding="utf-8")

    _atomic_write(out, write)
    return out
