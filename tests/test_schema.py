"""normalise(): the one validation/normalisation step, on frames built in the test."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from uqlens.data.schema import (
    EXPLICIT_NAN,
    DataError,
    Dataset,
    RecordError,
    missing_references,
    normalise,
)


def _frames(questions: list[dict], generations: list[dict]):
    return pd.DataFrame(questions), pd.DataFrame(generations)


def _q(qid="q1", **kw):
    return {"question_id": qid, "question": f"question {qid}?", "references": ["a"], **kw}


def _g(qid="q1", text="a", **kw):
    return {"question_id": qid, "text": text, **kw}


def _errors(q, g, **kw) -> list[RecordError]:
    with pytest.raises(DataError) as info:
        normalise(q, g, source="mem", **kw)
    return info.value.errors


def test_normalises_ids_references_and_defaults():
    q, g = _frames(
        [
            {"question_id": 7, "question": "Capital?", "references": "Paris"},
            {"question_id": "b", "question": "2+2?", "references": '["4", "four"]'},
        ],
        [
            _g(7, "Paris"),
            _g(7, "Lyon"),
            _g(7, "Paris", is_greedy=True),
            _g("b", "4", sample_id=3),
        ],
    )
    ds = normalise(q, g, source="mem")
    assert isinstance(ds, Dataset)
    assert ds.questions["question_id"].tolist() == ["7", "b"]
    assert ds.questions["references"].tolist() == [["Paris"], ["4", "four"]]
    assert ds.generations["question_id"].tolist() == ["7", "7", "7", "b"]
    assert ds.generations["sample_id"].tolist() == ["s0", "s1", "greedy", "3"]
    assert ds.generations["is_greedy"].tolist() == [False, False, True, False]
    assert ds.generations["is_greedy"].dtype == bool
    assert "_record" not in ds.generations.columns and "_record" not in ds.questions.columns
    assert ds.skipped == []


def test_derives_num_tokens_and_logprob_sum_from_token_logprobs():
    q, g = _frames([_q()], [_g(token_logprobs=[-0.5, -1.25, -0.25]), _g(text="b")])
    ds = normalise(q, g)
    first = ds.generations.iloc[0]
    assert first["num_tokens"] == 3
    assert first["logprob_sum"] == pytest.approx(-2.0)
    assert first["token_logprobs"] == [-0.5, -1.25, -0.25]
    assert math.isnan(ds.generations.iloc[1]["logprob_sum"])
    assert pd.isna(ds.generations.iloc[1]["num_tokens"])


def test_given_logprob_sum_is_not_overwritten():
    q, g = _frames([_q()], [_g(token_logprobs=[-1.0], logprob_sum=-7.0)])
    assert normalise(q, g).generations["logprob_sum"].tolist() == [-7.0]


def test_nan_means_missing_but_an_explicit_nan_is_an_error():
    typed = pd.DataFrame(
        {"question_id": ["q1", "q1"], "text": ["a", "b"], "logprob_sum": [np.nan, -1.0]}
    )
    ds = normalise(pd.DataFrame([_q()]), typed)
    assert ds.generations["logprob_sum"].isna().tolist() == [True, False]

    explicit = typed.astype({"logprob_sum": object})
    explicit.loc[0, "logprob_sum"] = EXPLICIT_NAN
    errors = _errors(pd.DataFrame([_q()]), explicit)
    assert [(e.record, e.field) for e in errors] == [("generations row 1", "logprob_sum")]
    assert "NaN" in errors[0].message


def test_every_error_is_reported_not_just_the_first():
    q, g = _frames(
        [_q("q1"), _q("q1"), _q("q2", references=[5]), _q("q3")],
        [
            _g("q1", 42),
            _g("q1", "x", temperature=-0.1),
            _g("q1", "y", p_true=1.5),
            _g("q1", "z", token_logprobs=[-1.0, float("inf")]),
            _g("q2", "a"),
            _g("q9", "a"),
        ],
    )
    errors = _errors(q, g)
    got = {(e.record, e.field) for e in errors}
    assert ("questions row 2", "question_id") in got  # duplicate id
    assert ("questions row 3", "references") in got  # a number among the references
    assert ("questions row 4", "samples") in got  # q3 has no answers
    assert ("generations row 1", "text") in got  # a number where text belongs
    assert ("generations row 2", "temperature") in got
    assert ("generations row 3", "p_true") in got
    assert ("generations row 4", "token_logprobs") in got
    assert ("generations row 6", "question_id") in got  # q9 has no question
    assert all(e.file == "mem" for e in errors)
    text_error = next(e for e in errors if e.field == "text")
    assert "expected text" in text_error.message and "42" in text_error.message


def test_duplicate_sample_ids_and_two_greedy_answers():
    q, g = _frames(
        [_q()],
        [
            _g(sample_id="s0"),
            _g(sample_id="s0", text="b"),
            _g(is_greedy=True, sample_id="g1"),
            _g(is_greedy=True, sample_id="g2"),
        ],
    )
    errors = _errors(q, g)
    assert [(e.record, e.field) for e in errors] == [
        ("generations row 2", "sample_id"),
        ("generations row 4", "is_greedy"),
    ]
    assert "duplicate sample_id 's0'" in errors[0].message
    assert "generations row 1" in errors[0].message


def test_missing_required_columns_raise_even_when_skipping():
    q = pd.DataFrame([{"question_id": "q1", "question": "?"}])
    g = pd.DataFrame([{"question_id": "q1"}])
    with pytest.raises(DataError) as info:
        normalise(q, g, source="mem", skip_invalid=True)
    # references are optional (a question without them builds without correctness)
    assert {(e.field, e.record) for e in info.value.errors} == {("text", "")}


def test_skip_invalid_keeps_valid_records_and_lists_skipped():
    q, g = _frames(
        [_q("q1"), _q("q2", references={"a": 1}), _q("q3")],
        [
            _g("q1", "a"),
            _g("q1", 3.5),
            _g("q2", "a"),
            _g("q3", "a", logprob_sum="nan"),
            _g("q3", "b", logprob_sum="-2.5"),
        ],
    )
    ds = normalise(q, g, source="mem", skip_invalid=True)
    assert ds.questions["question_id"].tolist() == ["q1", "q3"]
    assert ds.generations[["question_id", "sample_id", "text"]].values.tolist() == [
        ["q1", "s0", "a"],
        ["q3", "s1", "b"],  # ids stay what they would be without skipping
    ]
    assert ds.generations["logprob_sum"].tolist()[1] == -2.5
    assert {(e.record, e.field) for e in ds.skipped} == {
        ("questions row 2", "references"),
        ("generations row 2", "text"),
        ("generations row 4", "logprob_sum"),
    }
    assert ds.n_skipped_records == 3


def test_skip_invalid_with_nothing_valid_still_raises():
    q, g = _frames([_q("q1", references=[7])], [_g("q1")])
    with pytest.raises(DataError):
        normalise(q, g, skip_invalid=True)


def test_booleans_and_numbers_from_text():
    q, g = _frames(
        [_q()],
        [
            _g(text="a", is_greedy="no", provided_correct="TRUE", temperature="0.7"),
            _g(text="b", is_greedy="yes", provided_correct="0", verbalized_confidence="1"),
        ],
    )
    gen = normalise(q, g).generations
    assert gen["is_greedy"].tolist() == [False, True]
    assert gen["provided_correct"].tolist() == [True, False]
    assert gen["temperature"].tolist()[0] == pytest.approx(0.7)
    assert gen["verbalized_confidence"].tolist()[1] == 1.0

    bad = pd.DataFrame([_g(is_greedy="maybe")])
    errors = _errors(pd.DataFrame([_q()]), bad)
    assert [(e.field, e.record) for e in errors] == [("is_greedy", "generations row 1")]


def test_record_column_names_the_origin_and_str_shows_it():
    q = pd.DataFrame([{**_q(), "_record": "line 4"}])
    g = pd.DataFrame([{**_g(temperature=-1), "_record": "line 4, sample 1"}])
    (error,) = _errors(q, g)
    assert error.record == "line 4, sample 1"
    assert str(error).startswith("mem: line 4, sample 1, field 'temperature': must be >= 0")


def test_optional_fields_and_meta():
    q, g = _frames(
        [_q(meta={"source": "x", "n": 1}, dataset="trivia")],
        [_g(p_true=0.25)],
    )
    ds = normalise(q, g)
    assert ds.questions["meta"].tolist() == ['{"source": "x", "n": 1}']
    present = ds.optional_fields()
    assert "p_true" in present and "dataset" in present and "meta" in present
    assert "logprob_sum" not in present and "context" not in present


def test_unknown_columns_are_reported_as_ignored():
    q, g = _frames([_q(difficulty="hard")], [_g(score=0.3)])
    assert normalise(q, g).ignored_fields == ["difficulty", "score"]


@pytest.mark.parametrize("refs", [None, [], [" "], float("nan")])
def test_questions_without_references_are_valid(refs):
    """Missing, null, empty or blank-only references: the question is kept with no
    references (issue 15); only correctness needs them."""
    q, g = _frames([_q("q1", references=refs), _q("q2")], [_g("q1", "a"), _g("q2", "b")])
    ds = normalise(q, g, source="mem")
    assert ds.questions["references"].tolist() == [[], ["a"]]
    assert missing_references(ds.questions) == ["q1"]


def test_no_references_column_at_all_is_valid():
    q = pd.DataFrame([{"question_id": "q1", "question": "?"}])
    g = pd.DataFrame([{"question_id": "q1", "text": "x"}])
    ds = normalise(q, g, source="mem")
    assert ds.questions["references"].tolist() == [[]]
    assert missing_references(ds.questions) == ["q1"]
