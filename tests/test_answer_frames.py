"""The answer-level frames of uqlens.analysis.overview (judged answers, answer table, map
points), the Question page's one-question detail and the map's hover text, each checked
against a plain pandas formulation written here: merges on the id strings, the way these
frames were first computed, on the demo run, the tiny run (with a human judge) and a small
hand-made run with the awkward cases (no greedy answer, an answer missing from the clusters
table, a question missing from the questions table, answers without map positions)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from uqlens.analysis import overview
from uqlens.run import labels as L
from uqlens.run.folder import load_run

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo"
SLOW_DEMO = pytest.param("demo", marks=pytest.mark.slow)  # whole-demo sweeps: make test only


# --------------------------------------------------------------------------- the reference


def expected_judged(run, judge):
    gen = run.table("generations")
    greedy = gen[gen["is_greedy"].astype(bool)].drop_duplicates("question_id")
    rest = gen[~gen["question_id"].isin(greedy["question_id"])]
    judged = pd.concat([greedy, rest.drop_duplicates("question_id")], ignore_index=True)
    judged = judged[[c for c in ("question_id", "sample_id", "text", "text_id", "is_greedy")
                     if c in judged]]
    corr = run.table("correctness")
    corr = corr[corr["judge"] == judge][["question_id", "sample_id", "label", "value"]]
    out = judged.merge(corr, on=["question_id", "sample_id"], how="left")
    out = out.rename(columns={"label": "correct"})
    out["correct"] = out["correct"].astype("boolean")
    place = {}
    for k, q in enumerate(run.table("questions")["question_id"]):
        place[q] = k  # a repeated id: its last place
    out["_o"] = [place.get(q, np.nan) for q in out["question_id"]]
    return out.sort_values(["_o", "question_id"]).drop(columns="_o").reset_index(drop=True)


def expected_answer_table(run, rule, judge):
    gen = run.table("generations")
    out = gen[[c for c in ("question_id", "sample_id", "text", "text_id", "is_greedy")
               if c in gen]].copy()
    out["is_scored"] = overview.scored_sample_mask(gen, overview.scored_temperature(run)
                                                   ).to_numpy()
    out["is_greedy"] = out["is_greedy"].astype(bool)
    corr = run.table("correctness")
    corr = corr[corr["judge"] == judge][["question_id", "sample_id", "label"]]
    out = out.merge(corr, on=["question_id", "sample_id"], how="left")
    out = out.rename(columns={"label": "correct"})
    out["correct"] = out["correct"].astype("boolean")
    judged = expected_judged(run, judge)
    judged_keys = set(zip(judged["question_id"], judged["sample_id"], strict=True))
    out["is_judged"] = [k in judged_keys
                        for k in zip(out["question_id"], out["sample_id"], strict=True)]
    cl = run.table("clusters")
    cl = cl[cl["rule"] == rule][["question_id", "sample_id", "cluster_id"]]
    out = out.merge(cl, on=["question_id", "sample_id"], how="left")
    # a judged answer missing from the clusters joins the cluster of the same text's sample
    by_text = {}
    for q, t, c, g in zip(out["question_id"], out["text_id"], out["cluster_id"],
                          out["is_greedy"], strict=True):
        if not g and not pd.isna(c):
            by_text.setdefault((q, t), c)
    out["cluster_id"] = [by_text.get((q, t), np.nan) if pd.isna(c) else c
                         for q, t, c in zip(out["question_id"], out["text_id"],
                                            out["cluster_id"], strict=True)]
    out["cluster_id"] = out["cluster_id"].fillna(-1).astype(int)
    cols = [c for c in out if c not in ("correct", "is_judged")]
    return out[[*cols, "correct", "is_judged"]]


def expected_map_points(run, rule, method, judge):
    proj = run.table("projection")[["question_id", "sample_id", "x", "y"]]
    answers = expected_answer_table(run, rule, judge)
    clusters = overview.cluster_summary(run, rule, judge)[["question_id", "cluster_id", "rank"]]
    q = run.table("questions")[["question_id", "question"]]
    scores = overview.question_scores(run, rule, method)[["question_id", "uncertainty"]]
    out = proj.merge(answers, on=["question_id", "sample_id"], how="inner")
    out = out.merge(clusters, on=["question_id", "cluster_id"], how="left")
    out = out.merge(q, on="question_id", how="left").merge(scores, on="question_id", how="left")
    out["correctness"] = ["unknown" if pd.isna(c) else ("correct" if c else "incorrect")
                          for c in out["correct"]]
    out["cluster"] = ["no cluster" if pd.isna(r) else {1: "largest", 2: "2nd largest"}.get(
        int(r), "3rd or smaller") for r in out["rank"]]
    out["id"] = [f"{a}|{b}" for a, b in zip(out["question_id"], out["sample_id"], strict=True)]
    cols = ["id", "question_id", "sample_id", "x", "y", "question", "text", "correctness",
            "cluster", "cluster_id", "uncertainty", "is_judged"]
    return out[cols].reset_index(drop=True)


# --------------------------------------------------------------------------- runs


class FakeRun:
    """A fake run: tables given as frames (no folder), for cases no built run has."""

    def __init__(self, tables: dict, manifest: dict | None = None):
        self.tables, self.manifest = tables, manifest or {}

    def table(self, name):
        return self.tables[name].copy()


def awkward_run() -> FakeRun:
    g = pd.DataFrame({
        "question_id": ["a"] * 4 + ["b"] * 4 + ["c"] * 2,
        "sample_id": ["greedy", "s0", "s1", "s2", "s0", "s1", "s2", "s3", "greedy", "s0"],
        "text": ["Paris", "Paris", "paris ", "Lyon", "7", "8", "7", "9", "x", None],
        "text_id": [0, 0, 1, 2, 0, 1, 0, 2, 0, 1],
        "is_greedy": [True, False, False, False, False, False, False, False, True, False],
    })
    # b has no greedy answer (its first sample is judged); a's greedy is not in the clusters
    # table (it joins the cluster of its text's sample), b's s3 is in none; c is not in the
    # questions table
    clusters = pd.DataFrame({
        "question_id": ["a", "a", "a", "b", "b", "b", "c", "c"] * 1,
        "sample_id": ["s0", "s1", "s2", "s0", "s1", "s2", "greedy", "s0"],
        "rule": "r", "cluster_id": [0, 0, 1, 3, 2, 3, 0, 0],
    })
    corr = pd.DataFrame({
        "question_id": ["a", "a", "a", "a", "b", "b", "c"],
        "sample_id": ["greedy", "s0", "s1", "s2", "s0", "s2", "greedy"],
        "judge": "j", "label": [True, True, True, False, False, False, True],
        "value": [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0],
    })
    proj = pd.DataFrame({"question_id": ["b", "a", "a", "a", "c", "b", "b"],
                         "sample_id": ["s2", "greedy", "s0", "s2", "s0", "s0", "s3"],
                         "x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                         "y": [1.0, 0.5, 0.0, 2.0, 1.5, 3.0, 0.0]})
    questions = pd.DataFrame({"question_id": ["b", "a"], "question": ["Two?", "One?"]})
    scores = pd.DataFrame({"question_id": ["a", "b", "c"], "rule": "r", "method": "m",
                           "uncertainty": [0.2, np.nan, 0.9]})
    return FakeRun({"generations": g, "clusters": clusters, "correctness": corr,
                    "projection": proj, "questions": questions, "scores": scores})


@pytest.fixture(scope="module")
def human_run(tiny_run_path, tmp_path_factory):
    dest = tmp_path_factory.mktemp("human") / "run"
    shutil.copytree(tiny_run_path, dest)
    L.append(dest, [L.answer_label("q01", "sydney", "correct"),
                    L.answer_label("q02", "Paris", "incorrect")], who="t")
    run = load_run(dest)
    run.offer_human("human+exact_match")
    return run


def cases(run):
    m = run.manifest
    method = m.get("default_method") or overview.run_methods(run)[0]
    return [(rule, method, judge) for rule in run.rules for judge in run.judges]


# --------------------------------------------------------------------------- tests


def assert_same(got, want):
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True),
                                  check_exact=True)


def test_the_awkward_run_frames_equal_the_reference():
    run = awkward_run()
    assert_same(overview.judged_answers(run, "j"), expected_judged(run, "j"))
    assert_same(overview.answer_table(run, "r", "j"), expected_answer_table(run, "r", "j"))
    points = overview.map_points(run, "r", "m", "j")
    assert_same(points, expected_map_points(run, "r", "m", "j"))
    # worked out by hand: b's judged answer is its first sample; a's greedy joins cluster 0
    judged = overview.judged_answers(run, "j")
    assert list(zip(judged["question_id"], judged["sample_id"], strict=True)) == [
        ("b", "s0"), ("a", "greedy"), ("c", "greedy")]
    p = points.set_index("id")
    assert p.loc["a|greedy", "cluster_id"] == 0 and p.loc["a|greedy", "cluster"] == "largest"
    assert p.loc["a|s2", "cluster"] == "2nd largest"
    assert p.loc["b|s2", "cluster"] == "largest" and p.loc["b|s0", "correctness"] == "incorrect"
    assert pd.isna(p.loc["c|s0", "question"]) and p.loc["c|s0", "correctness"] == "unknown"
    assert p.loc["b|s3", "cluster_id"] == -1 and p.loc["b|s3", "cluster"] == "no cluster"
    assert len(points) == 7


def test_a_repeated_projection_row_gives_the_merges_answer():
    run = awkward_run()
    proj = run.tables["projection"]
    run.tables["projection"] = pd.concat([proj, proj.iloc[[1]]], ignore_index=True)
    points = overview.map_points(run, "r", "m", "j")
    assert_same(points, expected_map_points(run, "r", "m", "j"))
    assert points["id"].tolist().count("a|greedy") == 2


@pytest.mark.parametrize("which", [SLOW_DEMO, "tiny", "human"])
def test_frames_equal_the_reference_on_built_runs(which, tiny_run, human_run):
    run = {"demo": lambda: load_run(DEMO), "tiny": lambda: tiny_run,
           "human": lambda: human_run}[which]()
    judges = ["human+exact_match"] if which == "human" else run.judges
    method = run.manifest.get("default_method") or overview.run_methods(run)[0]
    # every rule under the first judge and every judge under the first rule (on the demo all
    # 24 pairs take ~25 s and exercise no other code path)
    pairs = dict.fromkeys([(r, judges[0]) for r in run.rules]
                          + [(run.rules[0], j) for j in judges])
    for rule, judge in pairs:
        assert_same(overview.judged_answers(run, judge), expected_judged(run, judge))
        assert_same(overview.answer_table(run, rule, judge),
                    expected_answer_table(run, rule, judge))
        assert_same(overview.map_points(run, rule, method, judge),
                    expected_map_points(run, rule, method, judge))


@pytest.mark.parametrize("which", [SLOW_DEMO, "human"])
def test_question_detail_is_the_whole_run_frames_filtered(which, human_run):
    run = load_run(DEMO) if which == "demo" else human_run
    judge = "human+exact_match" if which == "human" else run.manifest["default_judge"]
    rule = run.rules[0]
    method = run.manifest.get("default_method") or overview.run_methods(run)[0]
    ids = run.table("questions")["question_id"].tolist()
    whole_points = expected_map_points(run, rule, method, judge)
    whole_judged = expected_judged(run, judge)
    whole_clusters = overview._cluster_summary(run, rule, judge)
    whole_scores = overview.question_scores(run, rule)
    for q in ids[:: max(1, len(ids) // 25)] + (["q01", "q02"] if which == "human" else []):
        got = overview.question_detail(run.restricted([q]), rule, method, judge)
        assert_same(got["judged"], whole_judged[whole_judged["question_id"] == q])
        assert_same(got["clusters"], whole_clusters[whole_clusters["question_id"] == q])
        assert_same(got["points"], whole_points[whole_points["question_id"] == q])
        assert_same(overview.question_scores_of(run, rule, q),
                    whole_scores[whole_scores["question_id"] == q])


def test_question_spectrum_of_a_one_question_replay_equals_the_whole_runs():
    from uqlens.analysis.spectrum import question_spectrum
    from uqlens.run.rescore import Replay

    run = load_run(DEMO)
    whole = Replay(run)
    ids = run.table("questions")["question_id"].tolist()
    compared = 0
    for q in ids[::40]:
        for rule in run.rules:
            a = question_spectrum(whole, rule, q)
            b = question_spectrum(Replay(run.restricted([q])), rule, q)
            assert (a is None) == (b is None)
            if a is not None:
                compared += 1
                assert (a.sample_ids, a.texts, a.params, a.eigv) == (
                    b.sample_ids, b.texts, b.params, b.eigv)
                assert np.array_equal(a.affinity, b.affinity)
                assert np.array_equal(a.eigenvalues, b.eigenvalues)
    assert compared > 10


def test_mark_hover_equals_the_shared_answer_hover():
    from uqlens.analysis.marks import map_marks
    from uqlens.viz import answers
    from uqlens.viz.common import answer_hover

    run = load_run(DEMO)
    m = run.manifest
    marks = map_marks(run, m["default_rule"], m["default_method"], m["default_judge"])
    marks.loc[0, "text"] = None  # a missing text, and markup, escaped as before
    marks.loc[1, "question"] = "<b>x</b> & \x07"
    tags = [f"{n}× · {nc} correct, {ni} incorrect · {cl} cluster"
            for n, nc, ni, cl in zip(marks["count"], marks["n_correct"], marks["n_incorrect"],
                                     marks["cluster"], strict=True)]
    assert answers._mark_hover(marks, "se <1>") == answer_hover(marks, "se <1>", tags)
    shown = answers.map_marks_shown(run, m["default_rule"], m["default_method"],
                                    m["default_judge"])
    drawn = answers.map_marks_drawn(run, m["default_rule"], m["default_method"],
                                    m["default_judge"])
    assert_same(shown, drawn.drop(columns="ids"))


def test_restricted_view_reads_only_what_it_uses(tiny_run_path):
    run = load_run(tiny_run_path)
    run.table("generations")
    run.table("scores")
    view = run.restricted(["q03"])
    assert view._tables == {}  # nothing filtered before it is asked for
    gen = view.table("generations")
    assert set(gen["question_id"]) == {"q03"}
    want = run.table("generations")
    assert_same(gen, want[want["question_id"] == "q03"])
    assert list(view._tables) == ["generations"]


def test_merge_on_id_codes_matches_pandas_merge():
    left = pd.DataFrame({"question_id": ["a", "b", "a", "c", "b"],
                         "sample_id": ["1", "1", "2", "1", "9"], "v": range(5)})
    right = pd.DataFrame({"question_id": ["a", "b", "b", "a", "d"],
                          "sample_id": ["1", "1", "1", "2", "1"], "w": [10, 20, 21, 30, 40]})
    on = ["question_id", "sample_id"]
    for how in ("left", "inner"):
        want = left.merge(right, on=on, how=how)
        assert_same(overview._merge_ids(left, right, on, how), want)
    # b|1 matches twice: the left row repeats, right rows in their order
    got = overview._merge_ids(left, right, on, "left")
    assert got["w"].tolist()[:3] == [10, 20, 21]
    assert overview._pair_isin(left, right).tolist() == [True, True, True, False, False]



def expected_selection(run, rule, method, judge, ids):
    sel = pd.DataFrame([i.split("|", 1) for i in ids], columns=["question_id", "sample_id"])
    out = sel.merge(expected_answer_table(run, rule, judge), on=["question_id", "sample_id"])
    out = out.merge(run.table("questions")[["question_id", "question"]], on="question_id",
                    how="left")
    out = out.merge(overview.question_scores(run, rule, method)[["question_id", "uncertainty"]],
                    on="question_id", how="left")
    out = out[["question_id", "sample_id", "question", "text", "cluster_id", "correct",
               "uncertainty"]]
    sizes = overview.cluster_summary(run, rule, judge)[["question_id", "cluster_id", "size",
                                                        "representative"]]
    rows = []
    for (q, c), part in out.groupby(["question_id", "cluster_id"], sort=False):
        labelled = part["correct"].dropna()
        rows.append({"question_id": q, "cluster_id": c, "selected": len(part),
                     "accuracy": labelled.astype(float).mean() if len(labelled) else np.nan,
                     "mean_uncertainty": part["uncertainty"].mean()})
    clusters = pd.DataFrame(rows).merge(sizes, on=["question_id", "cluster_id"], how="left")
    clusters = clusters[["question_id", "cluster_id", "representative", "selected", "size",
                         "accuracy", "mean_uncertainty"]]
    return out, clusters


@pytest.mark.parametrize("which", [SLOW_DEMO, "human"])
def test_selection_summary_equals_the_reference(which, human_run):
    run = load_run(DEMO) if which == "demo" else human_run
    judge = "human+exact_match" if which == "human" else run.manifest["default_judge"]
    rule = run.rules[-1]
    method = run.manifest.get("default_method") or overview.run_methods(run)[0]
    points = overview.map_points(run, rule, method, judge)
    rng = np.random.default_rng(1)
    for n in (1, 7, 60):
        ids = list(rng.choice(points["id"].to_numpy(), size=min(n, len(points)), replace=False))
        ids.append("nowhere|s0")  # an id the run does not have is left out
        got_a, got_c = overview.selection_summary(run, rule, method, judge, ids)
        want_a, want_c = expected_selection(run, rule, method, judge, ids)
        assert_same(got_a, want_a)
        assert_same(got_c, want_c)


@pytest.mark.parametrize("judged_only", [False, True])
def test_region_view_is_what_the_page_computed_from_all_points(judged_only):
    from uqlens.analysis import regions
    from uqlens.viz.regions import drawn_points

    run = load_run(DEMO)
    m = run.manifest
    args = (m["default_rule"], m["default_method"], m["default_judge"], 0.35, "auto",
            judged_only)
    points, used = regions.region_points(run, *args)
    got = regions.region_view(run, *args, cap=100)
    assert got["used"] == used and got["answers"] == len(points) > 100
    want_stats = regions.region_stats(points)
    assert got["stats"].keys() == want_stats.keys()
    for k, v in want_stats.items():
        assert got["stats"][k] == v or (np.isnan(v) and np.isnan(got["stats"][k]))
    assert_same(got["table"], regions.contingency(points))
    wrong = points[(points["band"] == "confident") & (points["correctness"] == "incorrect")]
    assert_same(got["wrong"], wrong)
    assert len(got["drawn"]) == 100
    assert_same(got["drawn"], drawn_points(points, 100))


@pytest.mark.parametrize("color_by", ["correctness", "cluster", "uncertainty", "question"])
def test_the_map_figure_serialises_as_a_plain_figure_would(color_by):
    import plotly.graph_objects as go
    import plotly.io as pio

    from uqlens.viz import answers

    run = load_run(DEMO)
    m = run.manifest
    marks = answers.map_marks_shown(run, m["default_rule"], m["default_method"],
                                    m["default_judge"])
    fig = answers.mark_map(marks, color_by, m["default_method"])
    assert isinstance(fig, answers.SharedArraysFigure)
    plain = go.Figure.to_dict(fig)  # the deep copy plotly makes
    first = pio.to_json(fig.to_dict(), validate=False)
    assert first == pio.to_json(plain, validate=False)
    assert pio.to_json(fig.to_dict(), validate=False) == first  # the figure is unchanged
    assert isinstance(fig.data[0].x, np.ndarray)


def test_json_id_lists_are_what_mark_customdata_writes():
    from uqlens.analysis.marks import _json_lists
    from uqlens.viz.answers import mark_customdata

    for flat in (["q1|s1", "q1|s2", "q2|a"], ['q"x|1', "b|2", "c|3"], ["ü|1", "a|2", "b|3"],
                 ["a\\b|1", "c|2", "d|3"], ["tab\t|1", "a|2", "b|3"], [1, 2, 3]):
        spans = [(0, 2), (2, 3)]
        want = mark_customdata(pd.Series([flat[0:2], flat[2:3]]))
        assert _json_lists(flat, spans) == list(want)


def test_a_one_question_view_takes_the_rows_an_isin_filter_keeps():
    run = load_run(DEMO)
    names = ("generations", "clusters", "correctness", "scores", "projection", "pairs")
    whole = {n: run.table(n) for n in names}
    ids = run.table("questions")["question_id"].tolist()
    for subset in ([ids[0]], [ids[-1]], [ids[5], ids[2]], ["not-a-question"], ids[10:40]):
        view = run.restricted(subset)
        for n in names:
            want = whole[n][whole[n]["question_id"].isin(subset)].reset_index(drop=True)
            assert_same(view.table(n), want)
    assert set(vars(run)["_question_index"]) == set(names)  # the index was used


def test_selection_summary_on_the_awkward_run():
    run = awkward_run()
    ids = ["a|s2", "a|greedy", "b|s3", "b|s0", "c|s0"]
    got_a, got_c = overview.selection_summary(run, "r", "m", "j", ids)
    want_a, want_c = expected_selection(run, "r", "m", "j", ids)
    assert_same(got_a, want_a)
    assert_same(got_c, want_c)
    # by hand: a's cluster 0 holds s0 "Paris" and s1 "paris " (2 samples; "Paris" first seen)
    row = got_c[(got_c["question_id"] == "a") & (got_c["cluster_id"] == 0)].iloc[0]
    assert (row["size"], row["representative"], row["selected"]) == (2, "Paris", 1)


def test_mark_hover_of_awkward_values_equals_the_shared_answer_hover():
    """Values the column-wise hover must not merge or misformat: 1, 1.0, True and "1";
    None and NaN; -0.0 and 0.0; markup; a long text; truthy non-boolean judged flags."""
    from uqlens.viz import answers
    from uqlens.viz.common import answer_hover

    marks = pd.DataFrame({
        "question": pd.Series(["a<b", None, float("nan"), "x & y", "é\x01", "  q  "], dtype=object),
        "text": pd.Series([1, 1.0, True, "1", None, "t " * 200], dtype=object),
        "uncertainty": [np.nan, -0.0, 0.0, 0.12345, 1e9, 0.0005],
        "is_judged": pd.Series([True, False, 1, 0, True, False], dtype=object),
        "count": [3, 1, 1, 12, 3, 3], "n_correct": [1, 0, 1, 0, 1, 1],
        "n_incorrect": [2, 1, 0, 12, 2, 2],
        "cluster": ["largest", "no cluster", "largest", "2nd largest", "largest", "largest"],
    })
    tags = [f"{n}× · {nc} correct, {ni} incorrect · {cl} cluster"
            for n, nc, ni, cl in zip(marks["count"], marks["n_correct"], marks["n_incorrect"],
                                     marks["cluster"], strict=True)]
    assert answers._mark_hover(marks, "m<1>") == answer_hover(marks, "m<1>", tags)
    assert answers._mark_hover(marks.iloc[0:0], "m") == []
