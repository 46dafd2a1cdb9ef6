"""Exporting a built run (the committed tiny fixture run) for other tools."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from uqlens.cli import main
from uqlens.data.export import write_dataset
from uqlens.data.importers import import_any
from uqlens.data.loaders import load
from uqlens.run.export import export_run


def test_export_jsonl_round_trips_through_the_loader(tiny_run, tiny_run_path, tmp_path):
    out = export_run(tiny_run_path, "jsonl", tmp_path / "run.jsonl")
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == len(tiny_run.questions)
    first = records[0]
    scores = tiny_run.scores
    expected = scores[(scores.question_id == first["question_id"]) & (scores.rule == "strict")]
    for method, value in zip(expected.method, expected.uncertainty, strict=True):
        assert first["scores"]["strict"][method] == pytest.approx(value)
    sample = first["samples"][0]
    clusters = tiny_run.clusters.set_index(["question_id", "sample_id", "rule"])
    assert sample["clusters"]["strict"] == clusters.loc[
        (first["question_id"], sample["sample_id"], "strict"), "cluster_id"]
    assert set(sample["correctness"]) == set(tiny_run.judges)
    again = load(out)  # the canonical loader reads it (extra keys are ignored)
    assert again.n_questions == len(tiny_run.questions)
    assert again.n_samples == len(tiny_run.generations)


def test_export_parquet_has_one_row_per_answer(tiny_run, tiny_run_path, tmp_path):
    out = export_run(tiny_run_path, "parquet", tmp_path / "run.parquet")
    frame = pd.read_parquet(out)
    assert len(frame) == len(tiny_run.generations)
    assert {"cluster:strict", "cluster:exact", "correct:exact_match",
            "uncertainty:semantic_entropy@strict"} <= set(frame.columns)
    assert load(out).n_samples == len(tiny_run.generations)


def test_export_luq_is_luq_shaped_and_reimports(tiny_run, tiny_run_path, tmp_path):
    out = export_run(tiny_run_path, "luq", tmp_path / "run.luq.json")
    doc = json.loads(out.read_text())
    items = doc["data"]["test"]
    assert len(items) == len(tiny_run.questions)
    assert {"question", "samples", "answer", "gt_answer", "uqlens"} <= set(items[0])
    result = import_any(out, "luq")
    n_sampled = int((~tiny_run.generations["is_greedy"]).sum())
    assert result.dataset.n_questions == len(items)
    assert int((~result.dataset.generations["is_greedy"]).sum()) == n_sampled


def test_write_dataset_keeps_provided_scores_and_clusters(tmp_path):
    doc = {"data": [{"question": "Q?", "samples": ["a", "b"], "answer": "a",
                     "gt_answer": "a"}]}
    (tmp_path / "l.json").write_text(json.dumps(doc))
    ds = import_any(tmp_path / "l.json", "luq").dataset
    ds.questions["provided_scores"] = ['{"x:y": 0.5}']
    ds.generations["provided_cluster"] = pd.array([0, 1, None], dtype="Int64")
    for name in ("d.jsonl", "d.parquet"):
        again = load(write_dataset(ds, tmp_path / name))
        assert json.loads(again.questions["provided_scores"][0]) == {"x:y": 0.5}
        assert again.generations["provided_cluster"].tolist()[:2] == [0, 1]


def test_cli_export(tiny_run_path, tmp_path, capsys):
    out = tmp_path / "e.jsonl"
    assert main(["export", str(tiny_run_path), "--format", "jsonl", "--out", str(out)]) == 0
    assert out.is_file()
    assert main(["export", str(tmp_path), "--out", str(tmp_path / "x.jsonl")]) == 1
    assert "not a built run" in capsys.readouterr().err
