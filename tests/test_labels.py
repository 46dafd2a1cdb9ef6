"""Human labels (uqlens.run.labels): the append-only store, its keys, concurrent writers and
the ``human+<judge>`` judge."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import shutil

import pytest

from uqlens.run import labels as L
from uqlens.run.folder import load_run
from uqlens.run.rescore import judged_labels


@pytest.fixture()
def run_copy(tiny_run_path, tmp_path):
    dest = tmp_path / "run"
    shutil.copytree(tiny_run_path, dest)
    return dest


def test_records_round_trip_with_defaults(tmp_path):
    stored = L.append(tmp_path, [L.answer_label("q1", "Paris", "correct", note="checked")],
                      who="ana")
    back = L.read(tmp_path)
    assert back == stored
    rec = back[0]
    assert (rec["who"], rec["kind"], rec["value"], rec["note"]) == ("ana", "answer", "correct",
                                                                    "checked")
    assert rec["id"] and rec["when"].endswith("+00:00")


def test_answer_key_is_question_and_casefolded_stripped_text():
    a = L.answer_label("q1", "  Sydney ", "correct")
    assert L.key_of(a) == L.key_of(L.answer_label("q1", "SYDNEY", "correct"))
    assert L.key_of(a) != L.key_of(L.answer_label("q1", "Sydney.", "correct"))  # meaning may differ
    assert L.key_of(a) != L.key_of(L.answer_label("q2", "Sydney", "correct"))


def test_latest_label_wins_and_clear_withdraws(tmp_path):
    first = L.answer_label("q1", "Paris", "correct", when="2026-01-01T00:00:00+00:00")
    later = L.answer_label("q1", "paris", "incorrect", when="2026-01-02T00:00:00+00:00")
    # appended in the other order (an import of older labels): time decides, not file order
    L.append(tmp_path, [later])
    L.append(tmp_path, [first])
    v = L.answer_verdicts(L.read(tmp_path))
    assert v[["question_id", "key", "value"]].values.tolist() == [["q1", "paris", "incorrect"]]
    L.append(tmp_path, [L.answer_label("q1", "PARIS", L.CLEAR)])
    assert L.answer_verdicts(L.read(tmp_path)).empty


def test_cluster_label_expands_to_its_distinct_texts():
    recs = L.cluster_labels("q1", ["Sydney", "sydney", "It's Sydney"], "incorrect",
                            rule="strict", cluster_id=0)
    assert [r["text"] for r in recs] == ["Sydney", "It's Sydney"]
    assert {r["scope"] for r in recs} == {"cluster"}
    assert {(r["rule"], r["cluster_id"]) for r in recs} == {("strict", 0)}


def test_merge_and_split_keys_ignore_order_and_case():
    m1 = L.merge_error("q1", ["Paris", "Lyon"])
    m2 = L.merge_error("q1", ["lyon", "paris"])
    assert L.key_of(m1) == L.key_of(m2)
    s1 = L.split_error("q1", ["Paris"], ["paris, France", "Paris (France)"])
    s2 = L.split_error("q1", ["Paris (France)", "Paris, France"], ["PARIS"])
    assert L.key_of(s1) == L.key_of(s2)
    marks = L.cluster_marks([L.validate(m1), L.validate(s1)])
    assert sorted(marks["kind"]) == ["merge_error", "split_error"]
    assert L.doubtful_references([L.validate(L.reference_label("q1", "disputed")),
                                  L.validate(L.reference_label("q2", "ok"))]) == {"q1": "disputed"}


@pytest.mark.parametrize("record, field", [
    ({"kind": "answer", "question_id": "q1", "value": "correct"}, "'text'"),
    ({"kind": "answer", "question_id": "q1", "text": "x", "value": "right"}, "'value'"),
    ({"kind": "verdict", "question_id": "q1", "value": "correct"}, "'kind'"),
    ({"kind": "merge_error", "question_id": "q1", "value": "mixed"}, "'texts'"),
    ({"kind": "answer", "question_id": "q1", "text": "x", "value": "correct", "colour": 1},
     "colour"),
])
def test_invalid_records_name_the_field(tmp_path, record, field):
    with pytest.raises(L.LabelError, match=field):
        L.append(tmp_path, [record])
    assert not L.labels_path(tmp_path).exists()


def test_bad_line_names_file_and_line_and_partial_tail_is_skipped(tmp_path):
    L.append(tmp_path, [L.answer_label("q1", "a", "correct")])
    path = L.labels_path(tmp_path)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"kind": "answer", "question_id": "q1", "te')  # writer killed mid-line
    assert len(L.read(tmp_path)) == 1
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("\nnot json\n")
    with pytest.raises(L.LabelError, match=r"labels\.jsonl:2"):
        L.read(tmp_path)


def _writer(folder: str, name: str, n: int) -> None:
    for i in range(n):
        batch = [L.answer_label(f"q{i % 7}", f"{name}-{i}-{j}", "correct")
                 for j in range(i % 3 + 1)]
        L.append(folder, batch, who=name)


def test_two_concurrent_writers_lose_nothing(tmp_path):
    n = 300
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), name, n)) for name in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    per_writer = sum(i % 3 + 1 for i in range(n))  # 1, 2, 3, 1, 2, 3, ... records per batch
    recs = L.read(tmp_path)
    assert len(recs) == 2 * per_writer
    assert len({r["id"] for r in recs}) == 2 * per_writer
    for name in ("a", "b"):
        mine = [r["text"] for r in recs if r["who"] == name]
        expected = [f"{name}-{i}-{j}" for i in range(n) for j in range(i % 3 + 1)]
        assert mine == expected  # each writer's batches whole and in its own order
    raw = L.labels_path(tmp_path).read_text(encoding="utf-8").splitlines()
    assert all(json.loads(line)["kind"] == "answer" for line in raw)


# --------------------------------------------------------------------------- the human judge


def test_human_judge_equals_base_without_labels(run_copy):
    run = load_run(run_copy)
    assert run.human_judges == ["human+exact_match"]
    assert judged_labels(run, "human+exact_match").equals(judged_labels(run, "exact_match"))
    assert L.human_counts(run, "human+exact_match")["answers"] == 0


def test_human_label_wins_for_every_sample_with_that_text(run_copy):
    built = hashlib.sha256((run_copy / "correctness.parquet").read_bytes()).hexdigest()
    run = load_run(run_copy)
    assert not judged_labels(run, "exact_match")["q01"]
    # q01's greedy answer "Sydney" is wrong (Canberra); a reviewer says so for "sydney" too,
    # and says the exact-match judge is wrong on q02's "Paris." (it counts it correct already)
    L.append(run_copy, [L.answer_label("q01", "sydney", "correct"),
                        L.answer_label("q02", "Paris", "incorrect")], who="t")
    human = judged_labels(run, "human+exact_match")  # same Run object: sees the new file
    auto = judged_labels(run, "exact_match")
    assert bool(human["q01"]) and not bool(human["q02"])
    assert (human.drop(["q01", "q02"]) == auto.drop(["q01", "q02"])).all()
    corr = run.table("correctness")
    h = corr[(corr["judge"] == "human+exact_match") & (corr["question_id"] == "q01")]
    # "Sydney" (s0, s3, greedy) and "sydney" (s4) take the label; "Sydney." and "It's Sydney" not
    assert sorted(h.loc[h["provenance"] == "human", "sample_id"]) == ["greedy", "s0", "s3", "s4"]
    assert sorted(h.loc[h["label"] == True, "sample_id"]) == ["greedy", "s0", "s3", "s4"]  # noqa: E712
    counts = L.human_counts(run, "human+exact_match")
    assert counts["judged"] == 2 and counts["labels"] == 2 and counts["records"] == 2
    assert counts["answers"] == 4 + 5  # q02: s0, s1, s3, greedy "Paris" and s4 "paris"
    assert hashlib.sha256((run_copy / "correctness.parquet").read_bytes()).hexdigest() == built


def test_unclear_leaves_the_answer_uncounted(run_copy):
    run = load_run(run_copy)
    L.append(run_copy, [L.answer_label("q01", "Sydney", "unclear")])
    assert "q01" not in judged_labels(run, "human+exact_match").index
    assert "q01" in judged_labels(run, "exact_match").index


def test_labels_survive_a_rebuild_with_rows_in_another_order(run_copy):
    L.append(run_copy, [L.answer_label("q01", "Sydney", "correct")])
    run = load_run(run_copy)
    first = judged_labels(run, "human+exact_match")
    rebuilt = load_run(run_copy)
    gen = rebuilt.table("generations")
    # other row numbers, same first answer per question (the judged one when none is greedy)
    rebuilt._tables["generations"] = gen.sort_values(
        "question_id", ascending=False, kind="stable").reset_index(drop=True)
    corr = rebuilt.built_table("correctness")
    rebuilt._tables["correctness"] = corr.iloc[::-1].reset_index(drop=True)
    assert judged_labels(rebuilt, "human+exact_match").equals(first)


def test_a_human_judge_over_another_base_can_be_offered(run_copy):
    run = load_run(run_copy)
    run.offer_human("human+contains")
    assert run.human_judges == ["human+exact_match", "human+contains"]
    L.append(run_copy, [L.answer_label("q01", "Sydney", "correct")])
    assert bool(judged_labels(run, "human+contains")["q01"])
    with pytest.raises(ValueError, match="not a judge"):
        run.offer_human("human+nope")


def test_times_in_other_zones_compare_as_utc(tmp_path):
    # 10:00 at +02:00 is 08:00 UTC: earlier than 09:00 UTC although its text sorts later
    L.append(tmp_path, [L.answer_label("q1", "a", "incorrect", when="2026-01-01T09:00:00+00:00"),
                        L.answer_label("q1", "a", "correct", when="2026-01-01T10:00:00+02:00")])
    assert L.answer_verdicts(L.read(tmp_path))["value"].tolist() == ["incorrect"]
    assert L.read(tmp_path)[1]["when"] == "2026-01-01T08:00:00.000000+00:00"
    with pytest.raises(L.LabelError, match="'when'"):
        L.validate(L.answer_label("q1", "a", "correct", when="yesterday"))
