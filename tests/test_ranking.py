"""Honest rankings (issue 14, section 2): rounding before ranking, mid-rank ties, secondary
sort keys, top-k Jaccard averaged over random tie-breaks, ECE bin edges. Values worked out
by hand in the comments."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from uqlens.analysis import agreement
from uqlens.analysis import evaluation as E

NOISE_LOW, NOISE_HIGH = 0.9999999999999998, 1.0000000000000002  # Ecc of two cliques


def test_float_noise_is_a_tie_for_auroc():
    # the incorrect answer's score is "lower" only by rounding noise: a tie counts ½
    assert E.auroc([NOISE_LOW, NOISE_HIGH], [True, False]) == 0.5


def test_float_noise_does_not_decide_top_k():
    a = [NOISE_HIGH, NOISE_LOW, 0.0]
    b = [NOISE_LOW, NOISE_HIGH, 0.0]
    # m = ceil(3/3) = 1: noise alone would pick q0 for a and q1 for b (Jaccard 0); as a tie the
    # id rule picks q0 for both, random tie-breaks agree half the time
    assert E.top_k_jaccard(a, b, 1 / 3) == 1.0
    assert E.expected_top_k_jaccard(a, b, 1 / 3).value == pytest.approx(0.5)


@pytest.mark.parametrize("a, b, k, id_rule, expected", [
    # m = 1 from the tie {q0, q1} in both: same pick with probability ½ → E[J] = ½
    ([1, 1, 0, 0], [1, 1, 0, 0], 0.25, 1.0, 1 / 2),
    # m = 2 of the tie {q0, q1, q2} in both: I = 2 w.p. 1/3 (J = 1), I = 1 w.p. 2/3 (J = 1/3)
    ([1, 1, 1, 0], [1, 1, 1, 0], 0.5, 1.0, 1 / 3 + 2 / 3 * 1 / 3),
    # m = 1: a picks from {q0, q1, q2}, b from {q1, q2, q3}; equal w.p. 2/9; id rule q0 vs q1
    ([1, 1, 1, 0], [0, 1, 1, 1], 0.25, 0.0, 2 / 9),
    # m = 2 of 5: a has q0 surely plus one of {q1, q2, q3}; b is {q0, q1} without choice;
    # I = 2 w.p. 1/3 (J = 1), I = 1 w.p. 2/3 (J = 1/3)
    ([5, 1, 1, 1, 0], [1, 1, 0, 0, 0], 0.4, 1.0, 5 / 9),
    # no ties: the random-tie value is the id rule's value (J = 1/3: {q0,q1} vs {q0,q2})
    ([4, 3, 2, 1, 0], [4, 2, 3, 1, 0], 0.4, 1 / 3, 1 / 3),
])
def test_expected_jaccard_under_random_ties_by_hand(a, b, k, id_rule, expected):
    assert E.top_k_jaccard(a, b, k) == pytest.approx(id_rule)
    got = E.expected_top_k_jaccard(a, b, k)
    assert got.how == "exact"
    assert got.value == pytest.approx(expected)


def test_monte_carlo_fallback_states_its_count(monkeypatch):
    monkeypatch.setattr(E, "EXACT_TERMS", 0)
    got = E.expected_top_k_jaccard([1, 1, 1, 0], [1, 1, 1, 0], 0.5, n_draws=4000, seed=3)
    assert got.how == "monte carlo, 4000 draws, seed 3"
    assert got.value == pytest.approx(5 / 9, abs=0.02)  # MC standard error ≈ 0.005


def test_agreement_table_reports_both_rules():
    scores = pd.DataFrame({"question_id": [f"q{i}" for i in range(4)] * 2,
                           "method": ["a"] * 4 + ["b"] * 4,
                           "uncertainty": [1, 1, 0, 0, 1, 1, 0, 0]})
    t = agreement.agreement_table(scores, ks=(0.25,))
    row = t.iloc[0]
    assert (row["jaccard"], row["jaccard_expected"], row["jaccard_expected_how"]) == (
        1.0, pytest.approx(0.5), "exact")
    wide = agreement.paper_table(t)
    assert wide.loc[0, "top25_random_ties"] == pytest.approx(0.5)


def test_mid_ranks_share_rank_and_percentile():
    rank, pct, tied = E.mid_ranks([0.0, 0.0, 0.0, 1.0, np.nan])
    # positions 1-3 share (1 + 2 + 3)/3 = 2; percentile 100·(2 − 1)/(4 − 1) = 33.3
    assert rank[:4].tolist() == [2.0, 2.0, 2.0, 4.0]
    assert pct[:4] == pytest.approx([100 / 3] * 3 + [100.0])
    assert tied[:4].tolist() == [2, 2, 2, 0]
    assert np.isnan(rank[4]) and np.isnan(pct[4]) and np.isnan(tied[4])
    assert E.mid_ranks([1 - 0.9, 0.1])[2].tolist() == [1, 1]  # 0.09999999999999998 is 0.1
    assert E.tie_note(118) == "tied with 118 others"
    assert E.tie_note(1) == "tied with 1 other"
    assert E.tie_note(0) == "" and E.tie_note(float("nan")) == ""


def test_ties_sorted_by_stated_secondary_keys_not_id():
    f = pd.DataFrame({"question_id": ["q1", "q2", "q3", "q4"],
                      "uncertainty": [0.0, 1e-17, 0.0, -0.5],  # 1e-17: noise, a tie
                      "dominant_share": [0.8, 1.0, 0.8, 0.1],
                      "other": [0.3, 0.9, 0.1, 0.0]})
    out = E.order_with_ties(f, then=[("dominant_share", False), ("other", True)])
    # q4 lowest; then the tie at 0: share 1.0 (q2) first, then q3 before q1 by "other"
    assert out["question_id"].tolist() == ["q4", "q2", "q3", "q1"]


def test_ece_bins_put_a_tenth_in_the_second_bin():
    conf = [1 - 0.9, 0.19]  # 0.09999999999999998 is 0.1 up to float noise
    # both in [0.1, 0.2): accuracy ½, mean confidence 0.145 → ECE = 0.355
    assert E.ece(conf, [True, False]) == pytest.approx(0.355)
    assert E.ece_bins([5 / 7], 7).tolist() == [5]  # int(5/7 · 7) = 4
    assert E.ece_bins([0.0, 0.1, 0.2, 0.99, 1.0], 10).tolist() == [0, 1, 2, 9, 9]


class FakeScoresRun:
    """A fake run holding only a scores table (question_scores reads nothing else)."""

    def __init__(self, scores: pd.DataFrame):
        self.scores = scores

    def table(self, name):
        assert name == "scores"
        return self.scores


def test_question_scores_share_percentile_among_ties():
    from uqlens.analysis.overview import question_scores

    run = FakeScoresRun(pd.DataFrame({
        "question_id": ["q1", "q2", "q3", "q4"], "rule": "r", "method": "m",
        "uncertainty": [0.0, 0.0, 1e-17, 1.0]}))
    s = question_scores(run, "r", "m").set_index("question_id")
    # three tied at the lowest score share mid-rank 2 → percentile 100·1/3, not 75 or 25
    assert s["percentile"].tolist() == pytest.approx([100 / 3] * 3 + [100.0])
    assert s.loc["q1", "tie"] == "tied with 2 others" and s.loc["q4", "tie"] == ""


def test_reliability_diagram_uses_the_same_bins_as_ece():
    from uqlens.analysis import tail

    # confidence 1 − u for u = 0.9 is 0.09999999999999998: the bin [0.1, 0.2), not [0, 0.1)
    bins, e = tail.reliability([1 - 0.9, 0.19], [True, False], n_bins=10)
    assert bins["n"].tolist() == [0, 2] + [0] * 8
    assert e == pytest.approx(0.355)


def _enumerated_expected_jaccard(a, b, k):
    """E[J] by listing every way each method can fill its top-m from its tie at the cut
    (the definition, for small inputs)."""
    from itertools import combinations as subsets

    a, b = np.asarray(a, float), np.asarray(b, float)
    m = max(1, math.ceil(k * len(a) - 1e-9))

    def tops(u):
        cut = np.sort(u)[::-1][m - 1]
        forced, tied = set(np.flatnonzero(u > cut)), np.flatnonzero(u == cut)
        return [forced | set(pick) for pick in subsets(tied, m - len(forced))]

    values = [len(x & y) / len(x | y) for x in tops(a) for y in tops(b)]
    return sum(values) / len(values)


def test_exact_expected_jaccard_equals_enumeration_of_every_tie_break():
    rng = np.random.default_rng(11)
    for _ in range(60):
        n = int(rng.integers(2, 11))
        a = rng.integers(0, int(rng.integers(1, 4)), n).astype(float)
        b = rng.integers(0, int(rng.integers(1, 4)), n).astype(float)
        k = float(rng.choice([0.1, 0.25, 0.4, 0.5, 0.8]))
        got = E.expected_top_k_jaccard(a, b, k)
        assert got.how == "exact"
        assert got.value == pytest.approx(_enumerated_expected_jaccard(a, b, k), abs=1e-12)


def test_exact_expected_jaccard_on_large_ties_agrees_with_monte_carlo(monkeypatch):
    # 3,000 questions on 4 score levels: ties of hundreds at every cut. The exact sum (FFT
    # over the shared tie) and a 4,000-draw Monte Carlo must agree within MC error (≈ 0.001).
    rng = np.random.default_rng(2)
    a = rng.integers(0, 4, 3000).astype(float)
    b = np.where(rng.random(3000) < 0.6, a, rng.integers(0, 4, 3000)).astype(float)
    exact = E.expected_top_k_jaccard(a, b, 0.3)
    assert exact.how == "exact"
    monkeypatch.setattr(E, "EXACT_TERMS", 0)
    mc = E.expected_top_k_jaccard(a, b, 0.3, n_draws=4000, seed=1)
    assert mc.how.startswith("monte carlo")
    assert exact.value == pytest.approx(mc.value, abs=0.005)


def test_rankdata_equals_scipy_average_and_ordinal():
    from scipy.stats import rankdata as scipy_rankdata

    from uqlens.core.ranking import rankdata

    # by hand: [3, 1, 3, 2] → 1 is 1st, 2 is 2nd, the two 3s share (3 + 4)/2
    assert rankdata([3.0, 1.0, 3.0, 2.0]).tolist() == [3.5, 1.0, 3.5, 2.0]
    assert rankdata(["b", "a", "b"], method="ordinal").tolist() == [2, 1, 3]
    assert rankdata([]).tolist() == []
    rng = np.random.default_rng(4)
    for _ in range(20):
        v = rng.integers(0, int(rng.integers(1, 30)), int(rng.integers(1, 200))).astype(float)
        assert np.array_equal(rankdata(v), scipy_rankdata(v))
        assert np.array_equal(rankdata(v, "ordinal"), scipy_rankdata(v, method="ordinal"))
