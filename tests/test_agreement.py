"""Method agreement: hand-worked Jaccard, the tie rule, chance level, and an independent
re-computation from a run's scores table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

from uqlens.analysis import agreement


def _long(scores: dict[str, list[float]], ids: list[str]) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"question_id": ids, "method": m, "uncertainty": u})
                      for m, u in scores.items()], ignore_index=True)


IDS = [f"q{i:02d}" for i in range(10)]


def test_hand_worked_jaccard_and_chance():
    # a ranks q09 > q08 > ... ; b ranks q09, q00, q08, ...
    a = [float(i) for i in range(10)]
    b = [9.5, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 10.0]
    t = agreement.agreement_table(_long({"a": a, "b": b}, IDS), ks=(0.1, 0.2, 0.3))
    row = t.set_index("k")
    # k=0.1: m=1: a {q09}, b {q09} -> 1
    assert row.loc[0.1, "jaccard"] == 1.0
    # k=0.2: m=2: a {q09,q08}, b {q09,q00} -> 1/3
    assert row.loc[0.2, "jaccard"] == pytest.approx(1 / 3)
    # k=0.3: m=3: a {q09,q08,q07}, b {q09,q00,q08} -> 2/4
    assert row.loc[0.3, "jaccard"] == pytest.approx(0.5)
    for k in (0.1, 0.2, 0.3):
        assert row.loc[k, "chance"] == pytest.approx(k / (2 - k))
        assert row.loc[k, "m"] == math.ceil(k * 10)
    assert row.loc[0.1, "kendall_tau"] == pytest.approx(kendalltau(a, b).statistic)


def test_tie_rule_is_question_id_order_and_flagged():
    # a: all tied -> top-2 are the two smallest ids (q00, q01); b: q05, q03 on top
    a = [1.0] * 10
    b = [0.0] * 10
    b[5], b[3] = 2.0, 1.0
    t = agreement.agreement_table(_long({"a": a, "b": b}, IDS), ks=(0.2,))
    r = t.iloc[0]
    assert r["jaccard"] == 0.0  # {q00,q01} vs {q05,q03}
    assert bool(r["ties_at_cut_a"]) and not bool(r["ties_at_cut_b"])
    # the same tie resolved in favour of q03 when b's ids are permuted: still id order
    ids = list(reversed(IDS))
    t2 = agreement.agreement_table(_long({"a": a, "b": b}, ids), ks=(0.2,))
    assert t2.iloc[0]["jaccard"] == 0.0


def test_nan_questions_left_out_and_matrix_symmetric():
    a = [1, 2, 3, np.nan, 5]
    b = [5, 4, 3, 2, np.nan]
    c = [1, 2, 3, 4, 5]
    t = agreement.agreement_table(_long({"a": a, "b": b, "c": c}, IDS[:5]), ks=(0.2,))
    ab = t[(t.method_a == "a") & (t.method_b == "b")].iloc[0]
    assert ab["n"] == 3
    mat = agreement.jaccard_matrix(t, 0.2)
    assert np.allclose(mat.to_numpy(), mat.to_numpy().T, equal_nan=True)
    assert (np.diag(mat.to_numpy()) == 1).all()
    wide = agreement.paper_table(t)
    assert {"top20", "chance20", "kendall_tau"} <= set(wide.columns)


def _independent_top(scores: pd.Series, k: float) -> set:
    s = scores.dropna()
    m = max(1, math.ceil(k * len(s) - 1e-9))
    order = sorted(s.items(), key=lambda kv: (-kv[1], kv[0]))
    return {q for q, _ in order[:m]}


def test_run_agreement_matches_independent_computation(tiny_run):
    rule = tiny_run.rules[0]
    t = agreement.run_agreement(tiny_run, rule)
    s = tiny_run.table("scores")
    s = s[s["rule"] == rule]
    wide = s.pivot(index="question_id", columns="method", values="uncertainty")
    assert len(t) > 0
    for r in t.itertuples():
        both = wide[[r.method_a, r.method_b]].dropna()
        ta = _independent_top(both[r.method_a], r.k)
        tb = _independent_top(both[r.method_b], r.k)
        assert r.jaccard == pytest.approx(len(ta & tb) / len(ta | tb))
