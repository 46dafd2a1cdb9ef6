"""Write the hostile-input corpus (``tests/hostile/*``) and its manifest ``EXPECTED.json``.

Run from anywhere: ``python tests/hostile/make_corpus.py``. The output is committed; rerun
after editing a case and commit the result. Every file is small: where size is the point
(a 1 MB answer), the case is listed under ``"generated"`` in the manifest and the test
writes it into a temporary folder instead.

Each case states what ``uqlens validate`` and ``uqlens build`` must exit with
(0 success, 1 invalid input) and either

- ``errors``: problems that must be reported, each naming the ``record`` (``"line 3"``,
  ``"row 2"``, ``"line 1, sample 2"``; ``null`` for a whole-file problem) and the ``field``
  (``""`` when the whole record is at fault), plus an optional ``message`` substring; or
- ``handling``: the documented safe handling of an input that is valid, and ``verbatim``:
  strings that must come out of the loader exactly as they went in.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import pickle
from pathlib import Path

HERE = Path(__file__).resolve().parent

CASES: dict[str, dict] = {}
FILES: dict[str, bytes] = {}


def _q(qid: str = "q1", **over) -> dict:
    """A valid nested record; ``over`` replaces or adds keys (value ``...`` removes one)."""
    base = {
        "question_id": qid,
        "question": f"Question {qid}: what is the capital of France?",
        "references": ["Paris"],
        "samples": [
            {"text": "Paris", "logprob_sum": -0.2, "num_tokens": 1, "temperature": 1.0},
            {"text": "Lyon", "logprob_sum": -1.5, "num_tokens": 1, "temperature": 1.0},
            {"text": "Paris", "logprob_sum": -0.3, "num_tokens": 1, "temperature": 1.0},
        ],
        "greedy": {"text": "Paris", "logprob_sum": -0.1, "num_tokens": 1, "temperature": 0.0},
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not ...}


def _jsonl(*records, allow_nan: bool = False) -> bytes:
    lines = [r if isinstance(r, str) else json.dumps(r, allow_nan=allow_nan) for r in records]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _csv(header: list[str] | None, rows: list[list[str]]) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _parquet(columns: dict) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table(columns), buf)
    return buf.getvalue()


def _sample(text, **kw) -> dict:
    return {"text": text, "logprob_sum": -0.5, "num_tokens": 1, "temperature": 1.0, **kw}


def invalid(name: str, data: bytes, *errors: tuple, note: str = "") -> None:
    """A file that must be refused (exit 1) with every listed (record, field[, message])."""
    FILES[name] = data
    CASES[name] = {
        "validate": 1,
        "build": 1,
        "errors": [
            {"record": e[0], "field": e[1], **({"message": e[2]} if len(e) > 2 else {})}
            for e in errors
        ],
        **({"note": note} if note else {}),
    }


def valid(name: str, data: bytes | None, handling: str, verbatim=(), build: int = 0) -> None:
    """A file that must load (exit 0) with the stated handling."""
    if data is not None:
        FILES[name] = data
    CASES[name] = {
        "validate": 0,
        "build": build,
        "handling": handling,
        "verbatim": list(verbatim),
    }


# ---- broken JSON lines -------------------------------------------------------------------
good_line = json.dumps(_q("q1"))
invalid("truncated.jsonl", _jsonl(_q("q1"), _q("q2"), json.dumps(_q("q3"))[:57]),
        ("line 3", "", "invalid JSON"), note="a write cut off mid-record")
invalid("truncated_no_newline.jsonl",
        _jsonl(_q("q1")) + json.dumps(_q("q2")).encode()[:-1],
        ("line 2", "", "invalid JSON"))
invalid("not_json.jsonl", b"question,answer\nWhat?,Paris\n", ("line 1", "", "invalid JSON"))
invalid("jsonl_line_is_array.jsonl", _jsonl(_q("q1"), json.dumps([_q("q2")])),
        ("line 2", "", "expected a JSON object"))
invalid("json_array_of_scalars.json", json.dumps([_q("q1"), 1, "two", None]).encode(),
        ("item 2", "", "expected a JSON object"), ("item 3", "", "expected a JSON object"),
        ("item 4", "", "expected a JSON object"))
valid("json_array_of_objects.json", json.dumps([_q("q1"), _q("q2")]).encode(),
      "a .json file holding one array of question objects is read item by item")
valid("pretty_printed.json",
      json.dumps(_q("q1"), indent=2).encode(),
      "a .json file holding one pretty-printed question object is read as one record")
invalid("pretty_printed.jsonl", json.dumps(_q("q1"), indent=2).encode(),
        ("line 1", "", "invalid JSON"), ("line 2", "", "invalid JSON"),
        note="JSONL is one object per line; .json would accept the same text")
invalid("empty.jsonl", b"", (None, "", "empty"))
invalid("whitespace_only.jsonl", b"  \n\n\t\n", (None, "", "empty"))
invalid("bom_only.jsonl", codecs.BOM_UTF8 + b"\n", (None, "", "empty"))
invalid("deeply_nested.jsonl",
        _jsonl(_q("q1"), '{"question_id": "q2", "meta": ' + "[" * 20_000 + "]" * 20_000 + "}"),
        ("line 2", "", "nested too deeply"))
invalid("deeply_nested_question.jsonl", _jsonl(_q("q1", question=[[[[[[["deep"]]]]]]])),
        ("line 1", "question", "expected text"))
valid("nested_meta_ok.jsonl", _jsonl(_q("q1", meta={"a": {"b": {"c": [1, {"d": None}]}}})),
      "a nested 'meta' object is kept as JSON text")
invalid("huge_int_id.jsonl", _jsonl(_q("q1"), '{"question_id": ' + "9" * 5000 + "}"),
        ("line 2", "", "invalid JSON"),
        note="more digits than Python's int parser accepts")
invalid("huge_num_tokens.jsonl",
        _jsonl(_q("q1", samples=[_sample("Paris", num_tokens=10**30), _sample("Lyon")])),
        ("line 1, sample 1", "num_tokens"))
valid("big_int_id.jsonl", _jsonl(_q(10**40), _q(-3)),
      "integer ids become their decimal digits", verbatim=[str(10**40), "-3"])
invalid("duplicate_json_keys.jsonl",
        _jsonl(good_line[:-1] + ', "question_id": "q-other"}'),
        ("line 1", "question_id", "more than once"),
        note="JSON leaves duplicate keys undefined; which value the writer meant is unknown")
invalid("duplicate_keys_in_sample.jsonl",
        _jsonl('{"question_id": "q1", "question": "Q?", "references": ["a"], '
               '"samples": [{"text": "a", "text": "b"}, "c"]}'),
        ("line 1", "text", "more than once"))

# ---- encodings and raw bytes ------------------------------------------------------------
invalid("invalid_utf8.jsonl",
        _jsonl(_q("q1")) + b'{"question_id": "q2", "question": "caf\xff\xfe?"}\n'
        + _jsonl(_q("q3")),
        ("line 2", "", "invalid UTF-8"))
latin1 = json.dumps(_q("q2", question="Où est Zürich ?"), ensure_ascii=False).encode("latin-1")
invalid("mixed_latin1.jsonl", _jsonl(_q("q1")) + latin1 + b"\n" + _jsonl(_q("q3")),
        ("line 2", "", "invalid UTF-8"), note="one latin-1 line in a UTF-8 file")
invalid("mixed_latin1.csv",
        _csv(["question_id", "question", "references", "text"],
             [["q1", "Capital?", '["Paris"]', "Paris"]])
        + "q2,Où est Zürich ?,[\"Zürich\"],Zürich\n".encode("latin-1"),
        ("line 3", "question", "invalid UTF-8"))
invalid("utf16.jsonl", good_line.encode("utf-16"), ("line 1", "", "invalid UTF-8"))
invalid("lone_surrogates.jsonl",
        _jsonl('{"question_id": "q1", "question": "Q\\ud800?", "references": ["a\\udfff"], '
               '"samples": ["ok", "b\\udc80"]}'),
        ("line 1", "question", "unpaired surrogate"), ("line 1", "references", "surrogate"),
        ("line 1, sample 2", "text", "unpaired surrogate"),
        note="valid JSON escapes that are not valid Unicode; they cannot be stored as UTF-8")
valid("surrogate_keys.jsonl",
      _jsonl('{"question_id": "q1", "question": "Q?", "references": ["a"], '
             '"samples": [{"text": "a", "\\ud800k": 1}, "b"], "x\\udc00": 1}'),
      "unknown keys are ignored and listed (escaped), even keys that are not valid Unicode")
invalid("non_ascii_in_errors.jsonl",
        _jsonl(_q("q1", samples=[_sample("a", logprob_sum="Zürich → ∞"), _sample("b")])),
        ("line 1, sample 1", "logprob_sum", "expected a number"),
        note="the message quotes the value; a console that cannot show it gets escapes")
valid("bom.jsonl", codecs.BOM_UTF8 + _jsonl(_q("q1"), _q("q2")),
      "a UTF-8 byte-order mark before the first line is skipped", verbatim=["q1"])
valid("bom.csv",
      codecs.BOM_UTF8 + _csv(["question_id", "question", "references", "text"],
                             [["q1", "Capital?", '["Paris"]', "Paris"],
                              ["q1", "", "", "Lyon"]]),
      "a UTF-8 byte-order mark before the header is skipped", verbatim=["q1"])
invalid("raw_nul_byte.jsonl",
        _jsonl(_q("q1")) + json.dumps(_q("q2")).replace("Paris", "Par\x00is", 1).encode() + b"\n",
        ("line 2", "", "invalid JSON"), note="a raw NUL is a control character JSON forbids")
valid("escaped_nul.jsonl",
      _jsonl(_q("q1", samples=["Par\x00is", "Paris", "Lyon\x00"], greedy="Paris")),
      "an escaped \\u0000 inside a JSON string is ordinary text and kept", verbatim=["Par\x00is"])
valid("nul_in_csv.csv",
      _csv(["question_id", "question", "references", "text"],
           [["q1", "Capital?", '["Paris"]', "Pa\x00ris"], ["q1", "", "", "Paris"]]),
      "a NUL byte inside a CSV cell is kept as text", verbatim=["Pa\x00ris"])
class _Tripwire:
    """Unpickling this calls print(): harmless, but visible if anything ever unpickles."""

    def __reduce__(self):
        return (print, ("UQLENS-PICKLE-EXECUTED",))


pickled_payload = pickle.dumps([_q("q1"), _Tripwire()], protocol=4)
invalid("records.pkl", pickled_payload, (None, "", "pickle"),
        note="pickles can run code when loaded; the loaders never unpickle")
invalid("records_pickle_disguised.jsonl", pickled_payload, ("line 1", ""),
        note="a pickle renamed to .jsonl is read as (broken) text, never unpickled")
invalid("unknown_extension.txt", b"question_id\tquestion\nq1\tWhat?\n",
        (None, "", "unrecognised file type"))

# ---- wrong types, nulls, numbers where text belongs -------------------------------------
invalid("null_question.jsonl", _jsonl(_q("q1"), _q("q2", question=None)),
        ("line 2", "question", "missing"))
invalid("null_sample_text.jsonl",
        _jsonl(_q("q1", samples=[{"text": None}, "Paris", None])),
        ("line 1, sample 1", "text", "missing"), ("line 1, sample 3", "text", "missing"))
invalid("null_question_id.jsonl", _jsonl(_q("q1"), _q(None)),
        ("line 2", "question_id", "missing"))
invalid("numbers_as_text.jsonl",
        _jsonl(_q("q1", question=42, references=[1, 2],
                  samples=[3.14, {"text": 7}, "Paris"], greedy={"text": True})),
        ("line 1", "question", "expected text"), ("line 1", "references", "item 1"),
        ("line 1, sample 1", "text", "expected text"), ("line 1, sample 2", "text"),
        ("line 1, greedy", "text", "expected text"))
invalid("bool_and_float_ids.jsonl", _jsonl(_q(True), _q(1.5), _q([1])),
        ("line 1", "question_id"), ("line 2", "question_id"), ("line 3", "question_id"))
invalid("greedy_is_a_list.jsonl", _jsonl(_q("q1", greedy=["Paris", "Lyon"])),
        ("line 1, greedy", "text", "expected text"))
invalid("json_array_duplicate_keys.json",
        b'[{"question_id": "q1", "question": "Q?", "question": "R?", "references": ["a"], '
        b'"samples": ["a", "b"]}]',
        (None, "question", "more than once"))
invalid("samples_not_a_list.jsonl", _jsonl(_q("q1", samples=42)),
        ("line 1", "samples", "expected a list"))
invalid("wrong_number_types.jsonl",
        _jsonl(_q("q1", samples=[_sample("a", logprob_sum="-0.5x"), _sample("b", num_tokens=2.5),
                                 _sample("c", temperature="hot"), _sample("d", is_greedy="maybe"),
                                 _sample("e", token_logprobs="not a list"),
                                 _sample("f", embedding=["x", "y"])])),
        ("line 1, sample 1", "logprob_sum"), ("line 1, sample 2", "num_tokens"),
        ("line 1, sample 3", "temperature"), ("line 1, sample 4", "is_greedy"),
        ("line 1, sample 5", "token_logprobs"), ("line 1, sample 6", "embedding"))
invalid("references_wrong_type.jsonl",
        _jsonl(_q("q1", references={"answer": "Paris"}), _q("q2", references=12)),
        ("line 1", "references"), ("line 2", "references"))

# ---- ids, references, samples -----------------------------------------------------------
invalid("duplicate_question_ids.jsonl", _jsonl(_q("q1"), _q("q2"), _q("q1")),
        ("line 3", "question_id", "duplicate"))
invalid("duplicate_sample_ids.jsonl",
        _jsonl(_q("q1", samples=[{"sample_id": "s", "text": "a"},
                                 {"sample_id": "s", "text": "b"}])),
        ("line 1, sample 2", "sample_id", "duplicate"))
invalid("two_greedy_flat.jsonl",
        _jsonl({"question_id": "q1", "question": "Q?", "references": ["a"], "text": "a",
                "is_greedy": True},
               {"question_id": "q1", "text": "b", "is_greedy": True},
               {"question_id": "q1", "text": "c"}),
        ("line 2", "is_greedy", "more than one greedy"))
invalid("flat_conflicting_question.jsonl",
        _jsonl({"question_id": "q1", "question": "Q?", "references": ["a"], "text": "a"},
               {"question_id": "q1", "question": "Another Q?", "references": ["a"], "text": "b"}),
        ("line 2", "question", "differs"))
valid("missing_references.jsonl", _jsonl(_q("q1"), _q("q2", references=...)),
      "a question without references loads and builds; its answers are not judged "
      "(correctness views say why they are off)")
valid("no_references_column.jsonl", _jsonl(_q("q1", references=...)),
      "no references at all loads and builds; judges that need references are skipped "
      "with the reason in the manifest")
valid("empty_references.jsonl", _jsonl(_q("q1", references=[]), _q("q2", references=["", "  "])),
      "empty or blank-only references mean no references: loads and builds unjudged")
invalid("zero_samples.jsonl", _jsonl(_q("q1"), _q("q2", samples=[], greedy=...)),
        ("line 2", "samples", "no answers"))
valid("one_sample.jsonl", _jsonl(_q("q1"), _q("q2", samples=["Paris"], greedy=...)),
      "a question with one sample loads; methods that need two samples score it as "
      "undefined (NaN in scores.parquet, None in metrics)")
valid("greedy_only.jsonl", _jsonl(_q("q1"), _q("q2", samples=..., greedy="Paris")),
      "a question with only a judged answer loads; sample-based methods are undefined for it")
invalid("empty_question.jsonl", _jsonl(_q("q1", question=""), _q("q2", question=" \n\t ")),
        ("line 1", "question", "empty"), ("line 2", "question", "empty"))
invalid("empty_id.jsonl", _jsonl(_q(""), _q("   ")),
        ("line 1", "question_id", "empty"), ("line 2", "question_id", "empty"))
valid("empty_and_whitespace_answers.jsonl",
      _jsonl(_q("q1", samples=["", "   ", "\t\n", "Paris"], greedy=" ")),
      "an empty or whitespace-only answer is an answer (a model can say nothing); it is "
      "kept verbatim and judged incorrect", verbatim=["", "   ", "\t\n", " "])
valid("long_id.jsonl", _jsonl(_q("q" * 20_000), _q("q2", samples=[
    {"sample_id": "s" * 5_000, "text": "Paris"}, {"sample_id": "t", "text": "Lyon"}])),
      "ids of any length are kept verbatim; no id is ever used as a file name",
      verbatim=["q" * 20_000])

# ---- numbers out of range ----------------------------------------------------------------
invalid("nan_logprob.jsonl",
        _jsonl(_q("q1", samples=[_sample("a", logprob_sum=float("nan")), _sample("b")]),
               allow_nan=True),
        ("line 1, sample 1", "logprob_sum", "NaN"))
invalid("infinite_logprob.jsonl",
        _jsonl(_q("q1", samples=[_sample("a", logprob_sum=float("-inf")),
                                 _sample("b", logprob_sum=float("inf"))]), allow_nan=True),
        ("line 1, sample 1", "logprob_sum", "infinite"),
        ("line 1, sample 2", "logprob_sum", "infinite"))
invalid("nan_token_logprobs.jsonl",
        _jsonl(_q("q1", samples=[_sample("a", token_logprobs=[-0.1, float("nan")]),
                                 _sample("b", token_logprobs=[-0.1, float("-inf")])]),
               allow_nan=True),
        ("line 1, sample 1", "token_logprobs", "NaN"),
        ("line 1, sample 2", "token_logprobs", "infinite"))
invalid("positive_logprob.jsonl",
        _jsonl(_q("q1", samples=[_sample("a", logprob_sum=3.2), _sample("b")])),
        ("line 1, sample 1", "logprob_sum", "<= 0"),
        note="a log-probability is never positive; a negative log-likelihood in its place "
             "would silently flip every likelihood-based score")
invalid("positive_token_logprobs.jsonl",
        _jsonl(_q("q1", samples=[_sample("a", token_logprobs=[-0.1, 0.7]), _sample("b")])),
        ("line 1, sample 1", "token_logprobs", "<= 0"))
invalid("huge_numbers.jsonl", (
        '{"question_id": "q1", "question": "Q?", "references": ["a"], "samples": ['
        '{"text": "a", "logprob_sum": -1' + "0" * 400 + '}, '
        '{"text": "b", "logprob_sum": -1e400}, {"text": "c", "temperature": 1' + "0" * 400
        + '}]}\n').encode(),
        ("line 1, sample 1", "logprob_sum", "too large"),
        ("line 1, sample 2", "logprob_sum", "infinite"),
        ("line 1, sample 3", "temperature", "too large"))
invalid("negative_temperature.jsonl",
        _jsonl(_q("q1", samples=[_sample("a", temperature=-0.7), _sample("b")])),
        ("line 1, sample 1", "temperature", ">= 0"))
invalid("p_true_out_of_range.jsonl",
        _jsonl(_q("q1", samples=[_sample("a", p_true=1.5), _sample("b", p_true=-0.01),
                                 _sample("c", verbalized_confidence=100)])),
        ("line 1, sample 1", "p_true", "between 0 and 1"),
        ("line 1, sample 2", "p_true", "between 0 and 1"),
        ("line 1, sample 3", "verbalized_confidence", "between 0 and 1"))
invalid("negative_num_tokens.jsonl",
        _jsonl(_q("q1", samples=[_sample("a", num_tokens=-1), _sample("b")])),
        ("line 1, sample 1", "num_tokens"))

# ---- CSV ----------------------------------------------------------------------------------
HEADER = ["question_id", "question", "references", "text", "logprob_sum"]
valid("csv_embedded_newlines_quotes.csv",
      _csv(HEADER, [["q1", 'Say "hi"\nover two lines, please', '["hi", "\\"hi\\""]',
                     'hi,\n"there"\r\n', "-0.5"],
                    ["q1", "", "", 'He said ""no""', "-1"]]),
      "quoted cells keep embedded newlines, commas and doubled quotes verbatim",
      verbatim=['Say "hi"\nover two lines, please', 'hi,\n"there"\r\n', 'He said ""no""'])
invalid("csv_missing_header.csv",
        _csv(None, [["q1", "Capital?", '["Paris"]', "Paris", "-0.5"]]),
        ("line 1", "question_id", "header"), ("line 1", "text", "header"),
        note="the only row is taken as the header, which lacks the required columns")
invalid("csv_missing_header_many_rows.csv",
        _csv(None, [["q1", "Capital?", '["Paris"]', "Paris", "-0.5"],
                    ["q1", "Capital?", '["Paris"]', "Lyon", "-1.5"],
                    ["q2", "Other?", '["x"]', "x", "-0.1"]]),
        (None, "question", "missing"), (None, "text", "missing"),
        note="the first data row is taken as the header, so the required columns are missing")
invalid("csv_ragged_rows.csv",
        _csv(HEADER, [["q1", "Capital?", '["Paris"]', "Paris", "-0.5"],
                      ["q1", "", "", "Lyon"],
                      ["q1", "", "", "Nice", "-1", "extra"]]),
        ("line 3", "", "expected 5 fields"), ("line 4", "", "expected 5 fields"))
invalid("csv_unclosed_quote.csv",
        _csv(HEADER, [["q1", "Capital?", '["Paris"]', "Paris", "-0.5"]])
        + b'q1,,,"Lyon,-1\nq1,,,Nice,-1\n',
        ("line 3", ""))
invalid("csv_bad_references_json.csv",
        _csv(HEADER, [["q1", "Capital?", '["Paris"', "Paris", "-0.5"],
                      ["q2", "Capital?", "[" * 5_000, "Paris", "-0.5"]]),
        ("line 2", "references", "not valid JSON"), ("line 3", "references", "nested too deeply"))
invalid("csv_duplicate_header.csv",
        _csv(["question_id", "question", "references", "text", "text"],
             [["q1", "Q?", '["a"]', "a", "b"]]),
        ("line 1", "text", "more than once"))
invalid("csv_nan_text_values.csv",
        _csv(HEADER, [["q1", "Capital?", '["Paris"]', "Paris", "nan"],
                      ["q1", "", "", "Lyon", "-inf"]]),
        ("line 2", "logprob_sum", "NaN"), ("line 3", "logprob_sum", "infinite"))
invalid("tsv_with_commas.tsv",
        _csv(HEADER, [["q1", "Capital?", '["Paris"]', "Paris", "-0.5"]]),
        (None, "question", "missing"), note="a comma-separated file named .tsv")

# ---- Parquet ------------------------------------------------------------------------------
invalid("parquet_wrong_schema.parquet", _parquet({"foo": [1, 2], "bar": ["x", "y"]}),
        (None, "question", "missing"), (None, "text", "missing"))
invalid("parquet_wrong_types.parquet",
        _parquet({"question_id": ["q1", "q1"], "question": [1, 2], "references": [3, 4],
                  "text": [1.5, 2.5], "logprob_sum": ["low", "high"]}),
        ("row 1", "question", "expected text"), ("row 1", "references"),
        ("row 1", "text", "expected text"), ("row 1", "logprob_sum", "expected a number"))
invalid("parquet_nan_values.parquet",
        _parquet({"question_id": ["q1", "q1"], "question": ["Q?", "Q?"],
                  "references": [["a"], ["a"]], "text": ["a", "b"],
                  "logprob_sum": [float("nan"), -1.0], "p_true": [0.5, float("inf")]}),
        ("row 1", "logprob_sum", "NaN"), ("row 2", "p_true", "infinite"))
invalid("parquet_truncated.parquet", _parquet({"question_id": ["q1"], "text": ["a"]})[:40],
        (None, "", "Parquet"))
invalid("parquet_is_json.parquet", _jsonl(_q("q1")), (None, "", "Parquet"),
        note="the extension is trusted: a JSON file named .parquet is not read as JSON")

# ---- untrusted text: VALID, loaded and kept verbatim ---------------------------------------
HTML = [
    "<script>window.__uqlens_xss = 1; alert('xss')</script>",
    '<img src=x onerror="window.__uqlens_xss=2">',
    "<svg/onload=alert(1)>",
    '"><iframe src="javascript:alert(1)"></iframe>',
    "</textarea></div></table><b>bold?</b>",
    "<style>body{display:none}</style>",
    "{{7*7}} ${7*7} <%= 7*7 %> %s %d",
]
valid("html_js_payloads.jsonl",
      _jsonl(_q("q1", question=HTML[0] + " What is the capital of France?",
                references=["Paris", HTML[4]],
                samples=HTML[:4] + ["Paris"], greedy=HTML[1]),
             _q("q2", question=HTML[5], samples=HTML[4:] + ["Paris"], greedy="Paris")),
      "HTML and JavaScript are text: loaded and kept verbatim; the app must render them "
      "as plain text", verbatim=HTML)
MARKDOWN = [
    "**bold** _italic_ ~~strike~~ `code`",
    "# Heading\n\n- list\n- items\n\n> quote",
    "[click me](javascript:alert(1)) ![img](http://127.0.0.1:1/x.png)",
    "$$\\int_0^1 x\\,dx$$ and $x^2$",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "```python\nimport os; os.system('id')\n```",
    "line one  \nline two\\\n<br>",
]
STREAMLIT = [
    ":red[red text] :blue-background[bg] :rainbow[rainbow]",
    ":material/home: :streamlit: :smile:",
    "st.write('hi'); st.markdown('<b>x</b>', unsafe_allow_html=True)",
    ":orange-badge[badge] :small[tiny] :violet[**x**]",
]
valid("markdown_streamlit_payloads.jsonl",
      _jsonl(_q("q1", question=MARKDOWN[1], samples=MARKDOWN[:4] + ["Paris"],
                greedy=MARKDOWN[0]),
             _q("q2", question=STREAMLIT[0], references=[MARKDOWN[2]],
                samples=MARKDOWN[4:] + STREAMLIT[1:], greedy=STREAMLIT[2])),
      "Markdown and Streamlit directives are text: kept verbatim, rendered as plain text",
      verbatim=MARKDOWN + STREAMLIT)
UNICODE = [
    "\u202eParis\u202c",  # right-to-left override
    "Pa\u200bris",  # zero-width space
    "Par\u200d\u200cis\ufeff",  # zero-width joiner / non-joiner / inner BOM
    "باريس",
    "פריז",
    "e\u0301\u0301\u0301\u0301",  # stacked combining marks
    "👩‍👩‍👧‍👦 🇫🇷",
    "\U0001f4a9" * 3,
]
valid("rtl_zero_width.jsonl",
      _jsonl(_q("q\u200b1", question="\u202eWhat is the capital of France?",
                samples=UNICODE[:5] + ["Paris"], greedy=UNICODE[1]),
             _q("q1", samples=UNICODE[5:] + ["Paris"], greedy="Paris")),
      "bidi controls and zero-width characters are kept verbatim; 'q\\u200b1' and 'q1' are "
      "different ids", verbatim=UNICODE + ["q\u200b1"])
def _big(size: int = 1_000_000) -> str:
    return ("Paris is the capital. " * (size // 22 + 1))[:size]


def huge_answer_jsonl() -> bytes:
    return _jsonl(_q("q1", samples=[_big(), "Paris", "Lyon"], greedy=_big()))


def huge_answer_csv() -> bytes:
    return _csv(HEADER, [["q1", "Capital?", '["Paris"]', _big(), "-0.5"],
                         ["q1", "", "", "Paris", "-0.1"]])


GENERATED = {"huge_answer.jsonl": huge_answer_jsonl, "huge_answer.csv": huge_answer_csv}
"""Cases whose size is the point: written at test time (``GENERATED[name]()``), not committed."""
for _name in GENERATED:
    valid(_name, None, "a 1 MB answer loads and is kept verbatim (generated at test time; "
          "a CSV cell may be larger than the csv module's default 128 kB limit)")
    CASES[_name]["generated"] = True


def main() -> None:
    for old in HERE.iterdir():
        if old.is_file() and old.name not in ("make_corpus.py", "EXPECTED.json", "README.md"):
            old.unlink()
    for name, data in FILES.items():
        (HERE / name).write_bytes(data)
    manifest = {
        "about": "Expected outcome per hostile input; generated by make_corpus.py, do not edit.",
        "exit_codes": {"0": "success", "1": "invalid input data", "2": "usage", "3": "internal"},
        "cases": dict(sorted(CASES.items())),
    }
    (HERE / "EXPECTED.json").write_text(
        json.dumps(manifest, indent=1, ensure_ascii=True) + "\n", encoding="utf-8"
    )
    print(f"wrote {len(FILES)} files and EXPECTED.json ({len(CASES)} cases) into {HERE}")


if __name__ == "__main__":
    main()
