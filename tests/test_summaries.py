"""The run's precomputed summaries (uqlens.run.summaries, served by uqlens.analysis.stored)
give exactly what the analyses compute from the tables: on the tiny fixture, on the demo run
(read-only: copied before the summaries are added), through a slice and a human judge. Hand
values come from tests/fixtures/make_tiny_run.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from uqlens.analysis import overview as o
from uqlens.analysis import stored
from uqlens.run import labels, summaries
from uqlens.run.folder import load_run

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "fixtures" / "tiny_run"
DEMO = ROOT / "data" / "demo"


def with_summaries(src: Path, dest: Path) -> Path:
    """A copy of the run at ``src`` with its summaries written (the build's last step)."""
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("labels.jsonl", "summaries"))
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest.pop("summaries", None)
    summaries.write_summaries(dest, manifest)
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return dest


def without_summaries(src: Path, dest: Path) -> Path:
    """A copy of the run at ``src`` as a run built before summaries existed."""
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("labels.jsonl", "summaries"))
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest.pop("summaries", None)
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return dest


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    base = tmp_path_factory.mktemp("summaries")
    return with_summaries(TINY, base / "with"), without_summaries(TINY, base / "without")


def assert_stored_equals_computed(with_path: Path, without_path: Path, pages=None) -> int:
    """Every stored table equals the reference computation, and every page-level function
    gives the same frame on the run with summaries as on the run without (for the (rule,
    judge) pairs in ``pages``; None: all). Returns how many frames were compared."""
    run, old = load_run(with_path), load_run(without_path)
    assert "summaries" not in old.manifest
    n = 0
    for rule in run.rules:
        got = stored.scores(run, rule)
        assert got is not None
        pd.testing.assert_frame_equal(got, o._question_scores(old, rule))
        n += 1
        for judge in run.judges:
            got = stored.clusters(run, rule, judge, None)
            assert got is not None
            pd.testing.assert_frame_equal(got, o._cluster_summary(old, rule, judge))
            n += 1
            if pages is None or (rule, judge) in pages:
                n += _same_pages(run, old, rule, judge)
    for judge in run.judges:
        got = stored.judge_table(run, judge, None)
        assert got is not None
        pd.testing.assert_frame_equal(got, o._sample_correctness(old, judge))
        n += 1
    return n


def _same_pages(run, old, rule: str, judge: str) -> int:
    method = o.run_methods(old, rule)[0]
    calls = [(o.cluster_summary, (rule, judge)), (o.dominant_clusters, (rule, judge)),
             (o.question_scores, (rule, method)), (o.hallucination_counts, (rule, judge)),
             (o.confident_hallucinations, (rule, method, judge)),
             (o.quadrant_table, (rule, judge)), (o.correct_but_outvoted, (rule, judge)),
             (o.map_points, (rule, method, judge)), (o.sample_correctness, (judge,))]
    for fn, args in calls:
        pd.testing.assert_frame_equal(fn(run, *args), fn(old, *args), obj=fn.__name__)
    return len(calls)


def test_tiny_run_stored_equals_computed(tiny):
    assert assert_stored_equals_computed(*tiny) > 0


def test_an_old_run_without_summaries_computes(tiny):
    _, without = tiny
    old = load_run(without)
    assert summaries.read(old, "clusters", "strict", "exact_match") is None
    assert stored.scores(old, "strict") is None
    # still the fixture's hand values (q03: 3 x Charlotte Brontë, 2 x Jane Austen)
    cs = o.cluster_summary(old, "strict", "exact_match", "q03")
    assert cs["size"].tolist() == [3, 2] and cs["mass"].tolist() == [0.6, 0.4]


def test_stored_values_worked_out_by_hand(tiny):
    run = load_run(tiny[0])
    cs = summaries.read(run, "clusters", "strict", "exact_match").set_index(
        ["question_id", "cluster_id"])
    # q01: five samples, all "Sydney" in meaning, none matches "Canberra"
    q01 = cs.loc[("q01", 0)]
    assert (q01["size"], q01["mass"], q01["representative"]) == (5, 1.0, "Sydney")
    assert q01["members"] == ["Sydney", "Sydney.", "It's Sydney", "Sydney", "sydney"]
    assert q01["member_ids"] == ["s0", "s1", "s2", "s3", "s4"]
    assert not q01["correct"] and q01["share_correct"] == 0.0 and q01["holds_judged"]
    # q03: Jane Austen (2 of 5) is right and outvoted by Charlotte Brontë (3 of 5)
    jane = cs.loc[("q03", 1)]
    assert (jane["rank"], jane["correct"], jane["holds_judged"]) == (2, True, False)
    per_q = summaries.read(run, "judge", judge="exact_match").set_index("question_id")
    assert per_q.loc["q03", "share_correct"] == 0.4
    assert per_q.loc["q03", "correct_answers"] == ["Jane Austen"]
    assert per_q.loc["q01", "correct_answers"] == [] and not per_q.loc["q01", "any_correct"]
    # lexical_similarity under strict: q06 and q08 tie at 0.7, ranks 5 and 6 of 8 -> mid-rank
    # 5.5, percentile 100 * 4.5 / 7
    sc = summaries.read(run, "scores", "strict")
    sc = sc[sc["method"] == "lexical_similarity"].set_index("question_id")
    assert sc.loc["q06", "shared_rank"] == 5.5 and sc.loc["q08", "certainty_rank"] == 6
    assert sc.loc["q06", "percentile"] == pytest.approx(100 * 4.5 / 7)
    assert sc.loc["q06", "tie"] == "tied with 1 other" and sc.loc["q02", "tie"] == ""


def test_a_slice_reads_its_questions_and_ranks_among_them(tiny):
    run, old = load_run(tiny[0]), load_run(tiny[1])
    ids = ["q03", "q01", "q07"]
    view, old_view = run.restricted(ids), old.restricted(ids)
    for rule in run.rules:
        for judge in run.judges:
            pd.testing.assert_frame_equal(o.cluster_summary(view, rule, judge),
                                          o._cluster_summary(old_view, rule, judge))
            pd.testing.assert_frame_equal(o.dominant_clusters(view, rule, judge),
                                          o.dominant_clusters(old_view, rule, judge))
        # percentiles among the three questions, not the run's eight
        assert stored.scores(view, rule) is None
        got = o.question_scores(view, rule)
        assert got["certainty_rank"].max() == 3
        pd.testing.assert_frame_equal(got, o._question_scores(old_view, rule))


def test_human_labels_recompute_only_what_they_change(tmp_path):
    with_path = with_summaries(TINY, tmp_path / "with")
    without_path = without_summaries(TINY, tmp_path / "without")
    for path in (with_path, without_path):
        labels.append(path, [labels.answer_label("q01", "Sydney", "correct")], who="test")
    run, old = load_run(with_path), load_run(without_path)
    judge = "human+exact_match"
    assert stored.labelled_questions(run) == {"q01"}
    for rule in run.rules:
        got = o.cluster_summary(run, rule, judge)
        pd.testing.assert_frame_equal(got, o._cluster_summary(old, rule, judge))
        for fn in (o.dominant_clusters, o.correct_but_outvoted, o.quadrant_table):
            pd.testing.assert_frame_equal(fn(run, rule, judge), fn(old, rule, judge))
    pd.testing.assert_frame_equal(o.sample_correctness(run, judge),
                                  o._sample_correctness(old, judge))
    # "Sydney" and "sydney" (same key) are now correct, "Sydney." and "It's Sydney" are not
    q01 = o.cluster_summary(run, "strict", judge, "q01").iloc[0]
    assert bool(q01["correct"]) and q01["share_correct"] == pytest.approx(3 / 5)
    base = o.cluster_summary(run, "strict", "exact_match", "q01").iloc[0]
    assert not base["correct"]


def test_summaries_of_another_build_are_not_used(tmp_path):
    path = with_summaries(TINY, tmp_path / "run")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["summaries"]["id"] = "0" * 32  # the files carry the id of the build that wrote them
    (path / "manifest.json").write_text(json.dumps(manifest))
    run = load_run(path)
    assert summaries.read(run, "clusters", "strict", "exact_match") is None
    pd.testing.assert_frame_equal(o.cluster_summary(run, "strict", "exact_match"),
                                  o._cluster_summary(run, "strict", "exact_match"))


def test_another_summaries_format_is_not_used(tmp_path):
    path = with_summaries(TINY, tmp_path / "run")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["summaries"]["format"] = "uqlens-summaries/0"
    (path / "manifest.json").write_text(json.dumps(manifest))
    assert summaries.read(load_run(path), "scores", "strict") is None


@pytest.mark.slow
@pytest.mark.skipif(not (DEMO / "manifest.json").is_file(), reason="no demo run")
def test_demo_run_stored_equals_computed(tmp_path):
    # data/demo is read-only here: both runs are copies. Every stored table against its
    # computation; the page functions (which only combine them) for the default view.
    run = load_run(DEMO)
    default = (run.manifest["default_rule"], run.manifest["default_judge"])
    n = assert_stored_equals_computed(with_summaries(DEMO, tmp_path / "with"),
                                      without_summaries(DEMO, tmp_path / "without"), {default})
    assert n == len(run.rules) * (1 + len(run.judges)) + len(run.judges) + 9


def test_summaries_of_replaced_tables_are_not_used(tmp_path):
    path = with_summaries(TINY, tmp_path / "run")
    scores = pd.read_parquet(path / "scores.parquet")
    scores = scores[scores["question_id"] != "q08"]  # e.g. a table edited after the build
    scores.to_parquet(path / "scores.parquet", index=False)
    run = load_run(path)
    assert summaries.read(run, "scores", "strict") is None
    assert summaries.read(run, "clusters", "strict", "exact_match") is None
    got = o.question_scores(run, "strict")
    assert "q08" not in set(got["question_id"])
    pd.testing.assert_frame_equal(got, o._question_scores(run, "strict"))
