"""Exporting a built run for other tools.

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
import os
from pathlib import Path

import pandas as pd

from uqlens.data.export import _atomic_write, _clean, _one, _write_jsonl, _write_parquet

EXPORT_FORMATS = ("jsonl", "luq", "parquet")


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

    cluster_of, judged, scored = _lookups(clusters, correct, scores)
    gens = gens[[c for c in gens.columns if c != "text_id"]]
    if format == "parquet":
        frame = _wide_frame(gens.merge(questions, on="question_id", how="left"), clusters,
                            correct, cluster_of, judged, scored)
        _write_parquet(frame, out)
        return out
    records = _nested_records(questions, gens, cluster_of, judged, scored)
    if format == "jsonl":
        _write_jsonl(records, out)
        return out
    doc = _luq_doc(run, gens, records)

    def write(tmp: Path) -> None:
        tmp.write_text(json.dumps(_clean(doc), ensure_ascii=False, indent=1, allow_nan=False),
                       encoding="utf-8")

    _atomic_write(out, write)
    return out


def _lookups(clusters: pd.DataFrame, correct: pd.DataFrame, scores: pd.DataFrame):
    """``({(qid, sample): {rule: cluster}}, {(qid, sample): {judge: {value, label}}},
    {qid: {rule: {method: uncertainty}}})``."""
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
    return cluster_of, judged, scored


def _wide_frame(frame, clusters, correct, cluster_of, judged, scored) -> pd.DataFrame:
    """One row per answer: ``cluster:RULE``, ``correct[_value]:JUDGE`` and
    ``uncertainty:METHOD@RULE`` columns."""
    keys = list(zip(frame["question_id"], frame["sample_id"], strict=True))
    for rule in sorted(clusters["rule"].unique()) if len(clusters) else []:
        frame[f"cluster:{rule}"] = pd.Series(
            [cluster_of.get(k, {}).get(rule) for k in keys], dtype="Int64", index=frame.index)
    for judge in sorted(correct["judge"].unique()) if len(correct) else []:
        cells = [judged.get(k, {}).get(judge, {}) for k in keys]
        frame[f"correct:{judge}"] = pd.Series([c.get("label") for c in cells],
                                              dtype="boolean")
        frame[f"correct_value:{judge}"] = pd.Series([c.get("value") for c in cells],
                                                    dtype="float64")
    pairs = sorted({(m, r) for sc in scored.values() for r, ms in sc.items() for m in ms})
    for method, rule in pairs:
        frame[f"uncertainty:{method}@{rule}"] = pd.Series(
            [scored.get(q, {}).get(rule, {}).get(method) for q in frame["question_id"]],
            dtype="float64")
    return frame


def _nested_records(questions, gens, cluster_of, judged, scored) -> list[dict]:
    """One record per question with its scores, samples and judged answer (each answer with
    its clusters and correctness)."""
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
    return records


def _luq_doc(run, gens: pd.DataFrame, records: list[dict]) -> dict:
    """luq's sample format, with uqlens' scores, clusters and correctness alongside."""
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
    return {
        "llm": _one(manifest.get("model")),
        "raw_dataset": _one(manifest.get("dataset")),
        "parameters": {
            "temperature": float(temps.iloc[0]) if len(temps) else None,
            "source": "uqlens export",
            "run": run.name,
        },
        "data": {"test": data},
    }
