"""load(): real files in tmp_path, good ones in every format and each kind of bad input."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from uqlens.data.loaders import load, load_many
from uqlens.data.schema import DataError, RecordError


def _jsonl(path, *records) -> str:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _nested(qid="q1", samples=("Paris", "Paris", "Lyon"), **kw) -> dict:
    return {
        "question_id": qid,
        "question": f"What is {qid}?",
        "references": ["Paris"],
        "samples": list(samples),
        **kw,
    }


def _problems(path, **kw) -> list[RecordError]:
    with pytest.raises(DataError) as info:
        load(path, **kw)
    return info.value.errors


def _where(errors) -> list[tuple[str, str]]:
    return [(e.record, e.field) for e in errors]


# ---- good inputs ----------------------------------------------------------------------------


def test_nested_jsonl(tmp_path):
    path = _jsonl(
        tmp_path / "nested.jsonl",
        {
            "id": 1,
            "question": "Capital of France?",
            "answers": "Paris",
            "samples": [
                "Paris",
                {"text": "Lyon", "token_logprobs": [-1.0, -2.0], "temperature": 0.7},
            ],
            "greedy": {"text": "Paris", "logprob_sum": -0.1},
            "dataset": "demo",
        },
        "",  # blank lines are fine
        {
            "question_id": "q2",
            "question": "2+2?",
            "reference": "4",
            "samples": [{"sample_id": "a", "text": "4"}, {"sample_id": "b", "text": "5"}],
            "greedy": "4",
        },
    )
    ds = load(path)
    assert ds.source == path
    assert ds.questions["question_id"].tolist() == ["1", "q2"]
    assert ds.questions["references"].tolist() == [["Paris"], ["4"]]
    assert ds.questions["dataset"].tolist()[0] == "demo"
    gen = ds.generations
    assert gen[["question_id", "sample_id", "text", "is_greedy"]].values.tolist() == [
        ["1", "s0", "Paris", False],
        ["1", "s1", "Lyon", False],
        ["1", "greedy", "Paris", True],
        ["q2", "a", "4", False],
        ["q2", "b", "5", False],
        ["q2", "greedy", "4", True],
    ]
    assert gen.loc[1, "logprob_sum"] == pytest.approx(-3.0)
    assert gen.loc[1, "num_tokens"] == 2
    assert gen.loc[1, "temperature"] == pytest.approx(0.7)
    assert gen.loc[2, "logprob_sum"] == pytest.approx(-0.1)


def test_flat_jsonl_with_question_fields_repeated_or_left_out(tmp_path):
    path = _jsonl(
        tmp_path / "flat.jsonl",
        {
            "question_id": "q1",
            "question": "Capital?",
            "references": ["Paris"],
            "text": "Paris",
            "p_true": 0.9,
        },
        {
            "question_id": "q1",
            "question": "Capital?",
            "references": ["Paris"],
            "text": "Rome",
            "p_true": 0.2,
        },
        {"question_id": "q1", "text": "Paris", "is_greedy": True},
        {
            "question_id": "q2",
            "question": "Colour of sky?",
            "references": ["blue"],
            "text": "blue",
            "sample_id": "x",
        },
    )
    ds = load(path)
    assert ds.questions["question_id"].tolist() == ["q1", "q2"]
    assert ds.generations["sample_id"].tolist() == ["s0", "s1", "greedy", "x"]
    assert ds.generations["p_true"].tolist()[:2] == [0.9, 0.2]
    assert "p_true" in ds.optional_fields()


def test_csv_with_json_list_references_and_embedded_newline(tmp_path):
    frame = pd.DataFrame(
        {
            "question_id": ["q1", "q1", "q2"],
            "question": ["Who wrote Hamlet?"] * 2 + ["Largest planet?"],
            "references": ['["Shakespeare", "William Shakespeare"]'] * 2 + ["Jupiter"],
            "text": ["Shakespeare", "It was\nMarlowe", "Jupiter"],
            "logprob_sum": ["-1.5", "", "-0.3"],
            "is_greedy": ["false", "false", "true"],
        }
    )
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    ds = load(path)
    assert ds.questions["references"].tolist() == [
        ["Shakespeare", "William Shakespeare"],
        ["Jupiter"],
    ]
    assert ds.generations["text"].tolist()[1] == "It was\nMarlowe"
    assert ds.generations["logprob_sum"].isna().tolist() == [False, True, False]
    assert ds.generations["is_greedy"].tolist() == [False, False, True]
    assert ds.generations["sample_id"].tolist() == ["s0", "s1", "greedy"]


def test_csv_errors_name_the_physical_line_after_an_embedded_newline(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text(
        "question_id,question,references,text,temperature\n"
        'q1,Q?,a,"two\nlines",0.5\n'
        "q1,Q?,a,b,-2\n",
        encoding="utf-8",
    )
    (error,) = _problems(path)
    assert (error.file, error.record, error.field) == (str(path), "line 4", "temperature")


def test_parquet_flat_and_nested(tmp_path):
    flat = pd.DataFrame(
        {
            "question_id": ["q1", "q1", "q2"],
            "question": ["A?", "A?", "B?"],
            "references": [["x", "y"], ["x", "y"], ["z"]],
            "text": ["x", "w", "z"],
            "token_logprobs": [[-0.5, -0.5], [-2.0], None],
        }
    )
    path = tmp_path / "flat.parquet"
    flat.to_parquet(path)
    ds = load(path)
    assert ds.questions["references"].tolist() == [["x", "y"], ["z"]]
    assert ds.generations["logprob_sum"].tolist()[:2] == [-1.0, -2.0]
    assert ds.generations["num_tokens"].tolist()[:2] == [2, 1]

    nested = pd.DataFrame(
        {
            "question_id": ["q1"],
            "question": ["A?"],
            "references": [["x"]],
            "samples": [["x", "x", "y"]],
        }
    )
    path = tmp_path / "nested.parquet"
    nested.to_parquet(path)
    assert load(path).generations["text"].tolist() == ["x", "x", "y"]


def test_parquet_nan_is_an_error_but_null_is_missing(tmp_path):
    frame = pd.DataFrame(
        {
            "question_id": ["q1", "q1"],
            "question": ["A?"] * 2,
            "references": ["x"] * 2,
            "text": ["x", "y"],
        }
    )
    path = tmp_path / "d.parquet"
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False).append_column(
        "logprob_sum", pa.array([None, float("nan")], type=pa.float64())
    )
    pq.write_table(table, path)
    assert _where(_problems(path)) == [("row 2", "logprob_sum")]


def test_load_many_joins_files_and_rejects_shared_ids(tmp_path):
    a = _jsonl(tmp_path / "a.jsonl", _nested("q1"))
    b = _jsonl(tmp_path / "b.jsonl", _nested("q2"))
    ds = load_many([a, b])
    assert ds.questions["question_id"].tolist() == ["q1", "q2"]
    c = _jsonl(tmp_path / "c.jsonl", _nested("q1"))
    with pytest.raises(DataError) as info:
        load_many([a, c])
    assert "duplicate question_id 'q1'" in str(info.value)


# ---- bad inputs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,content", [("e.jsonl", b""), ("e.csv", b"  \n\n"), ("e.parquet", b"")]
)
def test_empty_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    (error,) = _problems(path, skip_invalid=True)
    assert error.file == str(path)
    assert "empty" in error.message


def test_csv_header_only(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("question_id,question,references,text\n", encoding="utf-8")
    assert "no rows" in _problems(path)[0].message


def test_duplicate_question_ids(tmp_path):
    path = _jsonl(tmp_path / "d.jsonl", _nested("q1"), _nested("q2"), _nested("q1"))
    (error,) = _problems(path)
    assert (error.file, error.record, error.field) == (path, "line 3", "question_id")
    assert "line 1" in error.message  # where the first one is
    ds = load(path, skip_invalid=True)
    assert ds.questions["question_id"].tolist() == ["q1", "q2"]
    assert len(ds.generations) == 6  # the duplicate's answers left with it
    assert ds.n_skipped_records == 1


def test_duplicate_sample_ids(tmp_path):
    path = _jsonl(
        tmp_path / "d.jsonl",
        _nested("q1", samples=[{"sample_id": "a", "text": "x"}, {"sample_id": "a", "text": "y"}]),
    )
    (error,) = _problems(path)
    assert (error.record, error.field) == ("line 1, sample 2", "sample_id")
    assert "duplicate sample_id 'a'" in error.message


def test_question_without_samples(tmp_path):
    path = _jsonl(
        tmp_path / "n.jsonl",
        _nested("q1"),
        {"question_id": "q2", "question": "?", "references": ["a"]},
        _nested("q3", samples=[]),
    )
    assert _where(_problems(path)) == [("line 2", "samples"), ("line 3", "samples")]
    assert load(path, skip_invalid=True).questions["question_id"].tolist() == ["q1"]


def test_non_string_answers_are_errors_not_coerced(tmp_path):
    path = _jsonl(tmp_path / "n.jsonl", _nested("q1", samples=["1945", 1945, {"text": 3.5}]))
    errors = _problems(path)
    assert _where(errors) == [("line 1, sample 2", "text"), ("line 1, sample 3", "text")]
    assert "expected text" in errors[0].message
    ds = load(path, skip_invalid=True)
    assert ds.generations["text"].tolist() == ["1945"]
    assert ds.n_skipped_records == 1 and len(ds.skipped) == 2


def test_missing_references_load_as_no_references(tmp_path):
    """Issue 15: a question without references is valid input (only correctness needs
    them); a wrong type is still an error."""
    record = _nested("q2")
    del record["references"]
    path = _jsonl(tmp_path / "r.jsonl", _nested("q1"), record, _nested("q3", references=[""]))
    ds = load(path)
    assert ds.questions["references"].tolist() == [["Paris"], [], []]
    bad = _jsonl(tmp_path / "b.jsonl", _nested("q1", references=[3]))
    assert _where(_problems(bad)) == [("line 1", "references")]


def test_csv_without_a_references_column_loads(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("question_id,question,text\nq1,Q?,a\n", encoding="utf-8")
    ds = load(path)
    assert ds.questions["references"].tolist() == [[]]
    assert ds.generations["text"].tolist() == ["a"]


def test_invalid_utf8_names_the_line_and_keeps_the_rest(tmp_path):
    path = tmp_path / "u.jsonl"
    good = json.dumps(_nested("q1")).encode()
    path.write_bytes(good + b"\n" + b'{"question_id": "q\xff2"}\n' + good.replace(b"q1", b"q3"))
    (error,) = _problems(path)
    assert error.record == "line 2"
    assert "UTF-8" in error.message and f"byte offset {len(good) + 1 + 18}" in error.message
    ds = load(path, skip_invalid=True)
    assert ds.questions["question_id"].tolist() == ["q1", "q3"]


def test_invalid_utf8_in_csv_names_line_and_field(tmp_path):
    path = tmp_path / "u.csv"
    path.write_bytes(b"question_id,question,references,text\nq1,Q?,a,ok\nq1,Q?,a,b\xe9d\n")
    assert _where(_problems(path)) == [("line 3", "text")]
    assert load(path, skip_invalid=True).generations["text"].tolist() == ["ok"]


def test_truncated_json_line(tmp_path):
    full = json.dumps(_nested("q2"))
    path = _jsonl(tmp_path / "t.jsonl", _nested("q1"), full[: len(full) // 2], _nested("q3"))
    (error,) = _problems(path)
    assert (error.file, error.record) == (path, "line 2")
    assert "invalid JSON" in error.message
    ds = load(path, skip_invalid=True)
    assert ds.questions["question_id"].tolist() == ["q1", "q3"]
    assert [e.record for e in ds.skipped] == ["line 2"]


def test_json_line_that_is_not_an_object(tmp_path):
    path = _jsonl(tmp_path / "t.jsonl", _nested("q1"), "[1, 2]", '"text"')
    errors = _problems(path)
    assert _where(errors) == [("line 2", ""), ("line 3", "")]
    assert "expected a JSON object, got a list" in errors[0].message


def test_deeply_nested_json_does_not_crash(tmp_path):
    def meta(depth):
        nested = "[" * depth + "]" * depth
        return (
            f'{{"question_id": "q{depth}", "question": "?", "references": ["a"], '
            f'"samples": ["a"], "meta": {nested}}}'
        )

    path = _jsonl(
        tmp_path / "d.jsonl",
        _nested("q1"),
        "[" * 100_000 + "]" * 100_000,
        meta(5000),
        meta(990),
        meta(20),
    )
    with pytest.raises(DataError) as info:  # a DataError, never a RecursionError
        load(path)
    records = [e.record for e in info.value.errors]
    assert records[:2] == ["line 2", "line 3"]
    assert set(records) <= {"line 2", "line 3", "line 4"}
    assert "nested too deeply" in info.value.errors[0].message
    ds = load(path, skip_invalid=True)
    assert {"q1", "q20"} <= set(ds.questions["question_id"])


def test_nan_log_prob(tmp_path):
    path = _jsonl(
        tmp_path / "n.jsonl",
        '{"question_id": "q1", "question": "?", "references": ["a"], '
        '"samples": [{"text": "a", "logprob_sum": NaN}, {"text": "b", "logprob_sum": -1}]}',
        _nested("q2", samples=[{"text": "c", "token_logprobs": [-1.0, "NaN"]}]),
    )
    errors = _problems(path)
    assert _where(errors) == [
        ("line 1, sample 1", "logprob_sum"),
        ("line 2, sample 1", "token_logprobs"),
    ]
    assert "NaN" in errors[0].message
    ds = load(path, skip_invalid=True)
    assert ds.generations["text"].tolist() == ["b"]
    assert ds.n_skipped_records == 2


def test_negative_temperature(tmp_path):
    path = _jsonl(
        tmp_path / "t.jsonl", _nested("q1", samples=[{"text": "a", "temperature": -0.5}, "b"])
    )
    (error,) = _problems(path)
    assert (error.file, error.record, error.field) == (path, "line 1, sample 1", "temperature")
    assert ">= 0" in error.message


def test_flat_rows_that_disagree_about_their_question(tmp_path):
    path = _jsonl(
        tmp_path / "f.jsonl",
        {"question_id": "q1", "question": "A?", "references": ["x"], "text": "x"},
        {"question_id": "q1", "question": "B?", "references": ["x"], "text": "y"},
    )
    (error,) = _problems(path)
    assert (error.record, error.field) == ("line 2", "question")
    assert "line 1" in error.message


def test_unknown_extension_is_sniffed_or_refused(tmp_path):
    path = _jsonl(tmp_path / "data.txt", _nested("q1"))
    assert load(path).n_questions == 1
    other = tmp_path / "data.bin"
    other.write_bytes(b"hello")
    assert "unrecognised file type" in _problems(other)[0].message


def test_all_errors_reported_together(tmp_path):
    path = _jsonl(
        tmp_path / "many.jsonl",
        _nested("q1", samples=[{"text": "a", "temperature": -1}]),
        "{broken",
        _nested("q2", references=[4]),
        _nested("q3"),
    )
    errors = _problems(path)
    assert [e.record for e in errors] == ["line 1, sample 1", "line 2", "line 3"]
    ds = load(path, skip_invalid=True)
    assert ds.questions["question_id"].tolist() == ["q3"]
    assert ds.n_skipped_records == 3
