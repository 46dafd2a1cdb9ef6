"""uqlens.analysis.regions on hand-made frames; every expected value is worked out in comments."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from uqlens.analysis import regions


def test_bands_ties_join_the_confident_band():
    u = pd.Series({"a": 0.1, "b": 0.5, "c": 0.5, "d": 0.9, "e": np.nan})
    # 4 defined scores, split 0.5 -> k = 2, threshold = 2nd smallest = 0.5 -> a, b, c (tie)
    assert regions.confidence_bands(u, 0.5).to_dict() == {
        "a": "confident", "b": "confident", "c": "confident", "d": "uncertain",
        "e": "undefined"}
    assert regions.band_threshold(u, 0.5) == 0.5
    # split 0.25 -> k = 1, threshold 0.1 -> a only
    assert regions.confidence_bands(u, 0.25).tolist() == [
        "confident", "uncertain", "uncertain", "uncertain", "undefined"]
    # split 0.3 -> k = ceil(1.2) = 2 -> same as 0.5
    assert regions.confidence_bands(u, 0.3).equals(regions.confidence_bands(u, 0.5))


def test_bands_edges():
    u = pd.Series({"a": 0.2, "b": 0.4, "c": np.nan})
    assert regions.confidence_bands(u, 0.0).tolist() == ["uncertain", "uncertain", "undefined"]
    assert math.isnan(regions.band_threshold(u, 0.0))
    assert regions.confidence_bands(u, 1.0).tolist() == ["confident", "confident", "undefined"]
    assert regions.confidence_bands(pd.Series([np.nan, np.nan]), 0.5).tolist() == [
        "undefined", "undefined"]
    with pytest.raises(ValueError):
        regions.confidence_bands(u, 1.5)


def frame(rows):
    return pd.DataFrame(rows, columns=["band", "correctness"])


HAND = frame([
    ("confident", "correct"),    # 1: in C and R
    ("confident", "incorrect"),  # 2: C only
    ("confident", "incorrect"),  # 3: C only
    ("uncertain", "correct"),    # 4: R only
    ("uncertain", "correct"),    # 5: R only
    ("uncertain", "incorrect"),  # 6: neither
    ("confident", "unknown"),    # 7: excluded (no label)
    ("undefined", "correct"),    # 8: excluded (no score)
])


def test_region_stats_by_hand():
    s = regions.region_stats(HAND)
    # C = {1,2,3}, R = {1,4,5}, C∩R = {1}, C∪R = {1,2,3,4,5}
    assert (s["answers"], s["excluded"]) == (6, 2)
    assert (s["confident"], s["correct"], s["confident_correct"]) == (3, 3, 1)
    assert s["confident_wrong_share"] == pytest.approx(2 / 3)
    assert s["correct_outside_share"] == pytest.approx(2 / 3)
    assert s["jaccard"] == pytest.approx(1 / 5)
    assert s["accuracy_inside"] == pytest.approx(1 / 3)
    assert s["accuracy_outside"] == pytest.approx(2 / 3)  # 4, 5 of {4, 5, 6}
    assert s["base_accuracy"] == pytest.approx(3 / 6)


def test_region_stats_identical_sets_and_empty_band():
    same = regions.region_stats(frame([("confident", "correct"), ("uncertain", "incorrect")]))
    assert same["jaccard"] == 1.0 and same["confident_wrong_share"] == 0.0
    assert same["correct_outside_share"] == 0.0
    none = regions.region_stats(frame([("uncertain", "correct"), ("uncertain", "incorrect")]))
    assert math.isnan(none["confident_wrong_share"]) and math.isnan(none["accuracy_inside"])
    assert none["correct_outside_share"] == 1.0 and none["jaccard"] == 0.0
    empty = regions.region_stats(frame([]))
    assert empty["answers"] == 0 and math.isnan(empty["jaccard"])


def test_contingency_counts_every_cell():
    t = regions.contingency(HAND)
    assert t.loc["confident"].tolist() == [1, 2, 1]
    assert t.loc["uncertain"].tolist() == [2, 1, 0]
    assert t.loc["undefined"].tolist() == [1, 0, 0]


def test_hidden_state_coords_pca_of_a_line():
    gens = pd.DataFrame({
        "question_id": ["q"] * 5, "sample_id": list("abcde"),
        # four points on a line (x = 0..3) and one vector of another length (dropped)
        "hidden_state": [[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [9.0, 9.0, 9.0]],
    })
    xy = regions.hidden_state_coords(gens)
    assert xy["sample_id"].tolist() == list("abcd")
    # centred positions -1.5, -0.5, 0.5, 1.5 (up to the sign PCA picks); nothing on y
    assert np.allclose(np.abs(xy["x"]), [1.5, 0.5, 0.5, 1.5])
    assert np.allclose(xy["y"], 0.0)
    assert regions.hidden_state_coords(gens.drop(columns="hidden_state")) is None
    assert regions.hidden_state_coords(gens.head(2)) is None


class WithHidden:
    """The fixture run with a ``hidden_state`` column on its generations."""

    def __init__(self, run, vectors):
        self._run, self.manifest = run, run.manifest
        self._gens = run.table("generations").assign(hidden_state=vectors)

    def table(self, name):
        return self._gens if name == "generations" else self._run.table(name)


def test_region_points_on_the_fixture(tiny_run):
    # semantic entropy: q01 0, q02 0, q07 0.50, q08 0.50, q03 0.67, q04 0.95, q06 0.95,
    # q05 1.61; split 0.5 of 8 -> k = 4, threshold 0.50 -> q01, q02, q07, q08 confident
    pts, used = regions.region_points(tiny_run, "strict", "semantic_entropy", "exact_match", 0.5)
    assert used == "projection" and len(pts) == 47
    bands = pts.drop_duplicates("question_id").set_index("question_id")["band"]
    assert sorted(bands[bands == "confident"].index) == ["q01", "q02", "q07", "q08"]
    s = regions.region_stats(pts)
    # confident answers 6+6+6+5 = 23 with 0+6+5+3 = 14 correct; 20 correct in all
    assert (s["confident"], s["confident_correct"], s["correct"]) == (23, 14, 20)
    assert s["jaccard"] == pytest.approx(14 / 29)
    judged, _ = regions.region_points(tiny_run, "strict", "semantic_entropy", "exact_match",
                                      0.5, judged_only=True)
    assert len(judged) == 8
    # judged: confident q01 (wrong), q02, q07, q08 (right); correct q02, q06, q07, q08
    assert regions.region_stats(judged)["jaccard"] == pytest.approx(3 / 5)


def test_region_points_prefers_hidden_states(tiny_run):
    n = len(tiny_run.table("generations"))
    vectors = [[float(i), float(i % 3), 1.0] for i in range(n)]
    vectors[0] = None  # an answer without a hidden state is left out
    run = WithHidden(tiny_run, vectors)
    pts, used = regions.region_points(run, "strict", "semantic_entropy", "exact_match", 0.5)
    assert used == "hidden_state" and len(pts) == n - 1
    expected = regions.hidden_state_coords(run.table("generations"))
    merged = pts.merge(expected, on=["question_id", "sample_id"], suffixes=("", "_h"))
    assert np.allclose(merged["x"], merged["x_h"]) and np.allclose(merged["y"], merged["y_h"])
    proj, used = regions.region_points(run, "strict", "semantic_entropy", "exact_match", 0.5,
                                       space="projection")
    assert used == "projection" and len(proj) == n
    with pytest.raises(ValueError):
        regions.region_points(run, "strict", "semantic_entropy", "exact_match", 0.5, space="x")


def test_region_map_escapes_and_splits_traces(tiny_run):
    from uqlens.viz import regions as region_figures

    pts, _ = regions.region_points(tiny_run, "strict", "semantic_entropy", "exact_match", 0.5)
    fig = region_figures.region_map(pts, color_by="band", method="semantic_entropy")
    assert {t.name for t in fig.data} == {"confident · correct", "confident · incorrect",
                                          "uncertain · correct", "uncertain · incorrect"}
    assert sum(len(t.customdata) for t in fig.data) == 47
    hover = " ".join(h for t in fig.data for h in t.text)
    assert "<script>" not in hover and "&lt;script&gt;" in hover
    wrong = next(t for t in fig.data if t.name == "confident · incorrect")
    assert wrong.marker.symbol == "x"
    by_truth = region_figures.region_map(pts, color_by="correctness")
    assert {t.name for t in by_truth.data} >= {"correct · confident", "incorrect · uncertain"}


def test_separation_numbers_by_hand():
    pts = pd.DataFrame({
        "band": ["confident", "confident", "uncertain", "uncertain"],
        "correctness": ["incorrect", "correct", "correct", "incorrect"],
        "x": [0.0, 2.0, 4.0, 6.0], "y": [0.0, 0.0, 0.0, 0.0],
        "uncertainty": [0.1, 0.2, 0.7, 0.9]})
    s = regions.region_stats(pts)
    # C = answers 1, 2 (centroid x = 1); R = answers 2, 3 (centroid x = 3): distance 2
    assert s["centroid_distance"] == pytest.approx(2.0)
    # all four: centre x = 3, distances 3, 1, 1, 3 -> rms sqrt((9+1+1+9)/4) = sqrt(5)
    assert s["spread"] == pytest.approx(math.sqrt(5))
    assert s["centroid_distance_relative"] == pytest.approx(2 / math.sqrt(5))
    # incorrect at 0.1 and 0.9, correct at 0.2 and 0.7: pairs (0.9 > 0.2, 0.9 > 0.7) win,
    # (0.1 < 0.2, 0.1 < 0.7) lose -> AUROC 2/4
    assert s["auroc"] == pytest.approx(0.5)
    # the hand frames without coordinates keep NaN
    assert math.isnan(regions.region_stats(HAND)["centroid_distance"])


class WithHiddenTable:
    """The fixture run with a built ``hidden_states`` table (only the greedy answers)."""

    def __init__(self, run):
        self._run, self.manifest = run, run.manifest
        gens = run.table("generations")
        greedy = gens[gens["is_greedy"].astype(bool)].reset_index(drop=True)
        self._hidden = greedy[["question_id", "sample_id"]].assign(
            hidden_state=[np.array([float(i), 0.0, 0.0], dtype=np.float16)
                          for i in range(len(greedy))])

    def table(self, name):
        return self._hidden if name == "hidden_states" else self._run.table(name)


def test_region_points_read_the_hidden_states_table(tiny_run):
    run = WithHiddenTable(tiny_run)
    pts, used = regions.region_points(run, "strict", "semantic_entropy", "exact_match", 0.5)
    # the fixture's 7 greedy answers on a line x = 0..6: PCA centres them at -3..3 (sign
    # free); the question without a greedy answer has no hidden state and is left out
    assert used == "hidden_state" and len(run._hidden) == 7 and len(pts) == 7
    order = pts.set_index("question_id").loc[run._hidden["question_id"], "x"].to_numpy()
    assert np.allclose(np.abs(order), np.abs(np.arange(7) - 3.0))
    assert regions.SPACE_LABELS[used] == "hidden states of the generating model, PCA"


def test_space_label_says_how_the_hidden_states_were_made():
    class Manifest:
        manifest = {"hidden_states": {"made": {"layer": "final, after the output norm",
                                               "pooling": "last"}}}

    assert regions.space_label(Manifest(), "hidden_state") == (
        "hidden states of the generating model (final, after the output norm; last pooling), "
        "PCA")
    assert regions.space_label(Manifest(), "projection") == regions.SPACE_LABELS["projection"]

    class Bare:
        manifest = {}

    assert regions.space_label(Bare(), "hidden_state") == regions.SPACE_LABELS["hidden_state"]


def test_region_map_draws_at_most_cap_random_points_in_order():
    from uqlens.viz.regions import drawn_points, region_map

    points = pd.DataFrame({
        "id": [f"q{i}|s" for i in range(50)], "question_id": [f"q{i}" for i in range(50)],
        "x": np.arange(50.0), "y": np.zeros(50), "question": "?", "text": "a",
        "band": "confident", "correctness": "correct", "uncertainty": 0.1,
        "is_judged": False})
    assert drawn_points(points, cap=None) is points and drawn_points(points, 50) is points
    kept = drawn_points(points, cap=10, seed=3)
    assert len(kept) == 10 and kept.index.is_monotonic_increasing
    assert kept["id"].is_unique and set(kept["id"]) <= set(points["id"])
    fig = region_map(points, cap=10)
    assert sum(len(t.x) for t in fig.data) == 10

