"""`uqlens labels export/import`: share a run's labels as JSONL or CSV and merge them."""

from __future__ import annotations

import shutil

import pytest

from uqlens.cli import main
from uqlens.run import labels as L


@pytest.fixture()
def two_runs(tiny_run_path, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(tiny_run_path, a)
    shutil.copytree(tiny_run_path, b)
    return a, b


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_export_then_import_merges_and_skips_duplicates(two_runs, tmp_path, capsys, suffix):
    a, b = two_runs
    note = 'a, with "quotes"\nand a newline'
    L.append(a, [L.answer_label("q01", "Sydney", "incorrect", note=note),
                 L.merge_error("q08", ["42", "forty-two"], value="ok", rule="strict")],
             who="ana")
    L.append(b, [L.answer_label("q02", "Paris", "correct")], who="ben")
    out = tmp_path / f"shared{suffix}"
    assert main(["labels", "export", str(a), "--out", str(out)]) == 0
    assert "wrote 2 labels" in capsys.readouterr().out
    assert main(["labels", "import", str(b), str(out)]) == 0
    assert "added 2 labels" in capsys.readouterr().out
    merged = L.read(b)
    assert len(merged) == 3
    assert {r["who"] for r in merged} == {"ana", "ben"}
    assert merged[1] == L.read(a)[0]  # the record as written, note and all
    assert merged[2]["texts"] == ["42", "forty-two"]
    assert main(["labels", "import", str(b), str(out)]) == 0  # again: nothing new
    assert "added 0 labels" in capsys.readouterr().out
    assert len(L.read(b)) == 3


def test_import_of_a_bad_record_names_it_and_writes_nothing(two_runs, tmp_path, capsys):
    _, b = two_runs
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "answer", "question_id": "q1", "text": "x", "value": "correct"}\n'
                   '{"kind": "answer", "question_id": "q1", "text": "x", "value": "maybe"}\n')
    assert main(["labels", "import", str(b), str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.jsonl:2" in err and "'value'" in err
    assert L.read(b) == []


def test_labels_of_a_folder_that_is_no_run(tmp_path, capsys):
    assert main(["labels", "export", str(tmp_path), "--out", str(tmp_path / "x.jsonl")]) == 1
    assert "not a built run" in capsys.readouterr().err
