import math

import numpy as np
import pytest

from uqlens.core.clustering import Rule, cluster, parse_rule, renumber, representatives

# Hand-made NLI table for three different answers: TABLE[(i, j)] = P(i entails j) as
# (p_entail, p_neutral, p_contradict).
TABLE = {
    (0, 1): (0.60, 0.30, 0.10),  # argmax entail
    (1, 0): (0.30, 0.60, 0.10),  # argmax neutral
    (0, 2): (0.10, 0.20, 0.70),  # argmax contradict
    (2, 0): (0.50, 0.40, 0.10),  # argmax entail
    (1, 2): (0.80, 0.10, 0.10),  # argmax entail
    (2, 1): (0.90, 0.05, 0.05),  # argmax entail
}
TEXTS = ["A", "B", "C"]


class Recorder:
    def __init__(self, table):
        self.table = table
        self.calls = []

    def __call__(self, i, j):
        self.calls.append((i, j))
        return self.table[(i, j)]


# Expected partitions and exact pair requests, worked by hand:
# strict: 1 vs rep0: (0,1)=E, (1,0)=N -> new cluster 1.  2 vs rep0: (0,2)=C -> stop.
#         2 vs rep1: (1,2)=E, (2,1)=E -> joins 1.                         => [0, 1, 1]
# lenient: 1 vs rep0: (0,1)=E not C, (1,0)=N not C -> joins 0. 2 vs rep0: (0,2)=C -> new.
#                                                                         => [0, 0, 1]
# either: 1 vs rep0: (0,1)=E -> joins (no reverse call). 2 vs rep0: (0,2)=C, (2,0)=E -> joins.
#                                                                         => [0, 0, 0]
# threshold 0.85: 1 vs 0: 0.60 < .85 stop -> new. 2 vs 0: 0.10 < .85 stop.
#                 2 vs 1: 0.80 < .85 stop -> new.                          => [0, 1, 2]
# threshold 0.25: 1 vs 0: 0.60, 0.30 >= .25 -> joins. 2 vs 0: 0.10 stop -> new. => [0, 0, 1]
CASES = [
    ("strict", [0, 1, 1], [(0, 1), (1, 0), (0, 2), (1, 2), (2, 1)]),
    ("lenient", [0, 0, 1], [(0, 1), (1, 0), (0, 2)]),
    ("either", [0, 0, 0], [(0, 1), (0, 2), (2, 0)]),
    ("threshold:0.85", [0, 1, 2], [(0, 1), (0, 2), (1, 2)]),
    ("threshold:0.25", [0, 0, 1], [(0, 1), (1, 0), (0, 2)]),
]


@pytest.mark.parametrize(("key", "expected", "calls"), CASES)
def test_entailment_rules_partitions_and_exact_calls(key, expected, calls):
    rec = Recorder(TABLE)
    ids = cluster(parse_rule(key), TEXTS, pair=rec)
    assert ids.tolist() == expected
    # the set of requests is the contract; batching asks them in steps, not in this order
    assert sorted(rec.calls) == sorted(calls)
    assert len(rec.calls) == len(set(rec.calls))


def test_rule_string_accepted():
    assert cluster("strict", TEXTS, pair=Recorder(TABLE)).tolist() == [0, 1, 1]


def test_identical_texts_need_no_pair_call():
    always_contradict = Recorder({(0, 2): (0.0, 0.0, 1.0)})
    ids = cluster(Rule.strict(), ["Paris", "Paris", "London", "Paris", "London"],
                  pair=always_contradict)
    assert ids.tolist() == [0, 0, 1, 0, 1]
    assert always_contradict.calls == [(0, 2)]


def test_identical_text_follows_earlier_copy_not_only_representative():
    # 0 "A", 1 "B" joins A (lenient, neutral both ways), 2 "B" copies 1 without calls.
    table = {(0, 1): (0.2, 0.7, 0.1), (1, 0): (0.2, 0.7, 0.1)}
    rec = Recorder(table)
    assert cluster("lenient", ["A", "B", "B"], pair=rec).tolist() == [0, 0, 0]
    assert rec.calls == [(0, 1), (1, 0)]


def test_single_and_empty():
    assert cluster("strict", ["x"], pair=Recorder({})).tolist() == [0]
    assert cluster("exact", []).tolist() == []


def test_entailment_rule_requires_pair():
    with pytest.raises(ValueError, match="pair"):
        cluster("strict", ["a", "b"])


def test_exact_rule_uses_squad_normalisation():
    assert cluster("exact", ["The Paris.", "paris", "London", "an  London!"]).tolist() == [
        0, 0, 1, 1]


def _unit(deg):
    return [math.cos(math.radians(deg)), math.sin(math.radians(deg))]


def test_embedding_average_vs_complete_linkage():
    # angles 0, 18, 40 degrees. cosine distances: d01 = 1-cos18 = 0.04894,
    # d12 = 1-cos22 = 0.07282, d02 = 1-cos40 = 0.23396. First merge {0,1} at 0.04894.
    # {0,1} to 2: average = (0.23396+0.07282)/2 = 0.15339; complete = 0.23396.
    # tau = 0.84 -> cut at distance 0.16: average merges all, complete keeps 2 apart.
    emb = np.array([_unit(0), _unit(18), _unit(40)])
    texts = ["a", "b", "c"]
    assert cluster(Rule.embedding(0.84, "average"), texts, embeddings=emb).tolist() == [0, 0, 0]
    assert cluster(Rule.embedding(0.84, "complete"), texts, embeddings=emb).tolist() == [0, 0, 1]
    # tau = 0.96 -> cut 0.04 < d01: all separate
    assert cluster("embedding:0.96:average", texts, embeddings=emb).tolist() == [0, 1, 2]


def test_embedding_ids_in_order_of_first_appearance():
    emb = np.array([_unit(90), _unit(0), _unit(91), _unit(1)])
    assert cluster(Rule.embedding(0.9), list("abcd"), embeddings=emb).tolist() == [0, 1, 0, 1]


def test_keys_needs_and_round_trip():
    assert Rule.strict().key == "strict"
    assert Rule.threshold(0.5).key == "threshold:0.5"
    assert Rule.embedding(0.9, "average").key == "embedding:0.9:average"
    assert Rule.exact().key == "exact"
    for r in [Rule.strict(), Rule.lenient(), Rule.either(), Rule.exact(), Rule.threshold(0.7),
              Rule.embedding(0.85, "complete")]:
        assert parse_rule(r.key) == r
        assert hash(parse_rule(r.key)) == hash(r)
    assert Rule.strict().needs == "entailment"
    assert Rule.threshold(0.3).needs == "entailment"
    assert Rule.embedding().needs == "embeddings"
    assert Rule.exact().needs is None
    assert parse_rule("threshold:0.7").param("tau") == 0.7


@pytest.mark.parametrize("bad", ["nope", "threshold", "threshold:x", "threshold:1.5",
                                 "embedding:0.9:single", "strict:1"])
def test_bad_keys(bad):
    with pytest.raises(ValueError):
        parse_rule(bad)


def test_representatives_and_renumber():
    assert representatives([0, 0, 1, 0, 2, 1]).tolist() == [True, False, True, False, True, False]
    assert renumber([5, 5, 2, 9, 2]).tolist() == [0, 0, 1, 2, 1]
