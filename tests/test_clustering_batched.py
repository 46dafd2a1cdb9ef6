"""Batched greedy clustering (issue 12): same partitions and the same pairs as the
one-pair-at-a-time algorithm, asked in few calls."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from uqlens.core.clustering import Rule, cluster, cluster_many

RULES = [Rule.strict(), Rule.lenient(), Rule.either(), Rule.threshold(0.0),
         Rule.threshold(0.5), Rule.threshold(0.9), Rule.threshold(1.0)]


def one_pair_at_a_time(rule, texts, pair):
    """The greedy algorithm as main had it before batching, written out plainly: answers in
    order, each tests the representatives in order, the first direction first and the second
    only when the first does not decide."""

    def argmax(p):
        return int(np.argmax(np.asarray(p, dtype=float)[:3]))

    def same(r, j):
        if rule.name == "threshold":
            tau = float(rule.param("tau"))
            return pair(r, j)[0] >= tau and pair(j, r)[0] >= tau
        first = argmax(pair(r, j))
        if rule.name == "strict":
            return first == 0 and argmax(pair(j, r)) == 0
        if rule.name == "lenient":
            return first != 2 and argmax(pair(j, r)) != 2
        return first == 0 or argmax(pair(j, r)) == 0

    ids, reps, by_text = [], [], {}
    for j, text in enumerate(texts):
        if text in by_text:
            ids.append(by_text[text])
            continue
        for c, r in enumerate(reps):
            if same(r, j):
                ids.append(c)
                break
        else:
            ids.append(len(reps))
            reps.append(j)
        by_text[text] = ids[-1]
    return ids


def memo_pairs(table, log):
    def pair(i, j):
        log.add((i, j))
        return table[(i, j)]
    return pair


probs = st.sampled_from([(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (0.6, 0.3, 0.1),
                         (0.45, 0.1, 0.45), (0.3, 0.4, 0.3), (0.9, 0.05, 0.05), (0.5, 0.5, 0.0)])


@st.composite
def questions(draw):
    n = draw(st.integers(1, 9))
    texts = [draw(st.sampled_from("abcdefghijk")) for _ in range(n)]
    table = {(i, j): draw(probs) for i in range(n) for j in range(n) if i != j}
    return texts, table


@settings(max_examples=300, deadline=None)
@given(st.lists(questions(), min_size=1, max_size=6), st.sampled_from(RULES))
def test_same_partitions_and_pairs_as_one_at_a_time(qs, rule):
    expected, expected_pairs = [], []
    for texts, table in qs:
        log: set = set()
        expected.append(one_pair_at_a_time(rule, texts, memo_pairs(table, log)))
        expected_pairs.append(log)

    asked: list[set] = [set() for _ in qs]

    def pairs(requests):
        out = []
        for q, i, j in requests:
            assert (i, j) not in asked[q], "an ordered pair was asked twice"
            asked[q].add((i, j))
            out.append(qs[q][1][(i, j)])
        return out

    got = cluster_many(rule, [t for t, _ in qs], pairs=pairs)
    assert [g.tolist() for g in got] == expected
    assert asked == expected_pairs  # the minimum the sequential algorithm needs, no more
    for (texts, table), e in zip(qs, expected, strict=True):  # the per-question API agrees
        assert cluster(rule, texts, pair=lambda i, j, t=table: t[(i, j)]).tolist() == e


class FakeCountingBackend:
    """Fake: every pair contradicts; counts calls and rows."""

    def __init__(self):
        self.calls, self.rows = 0, 0

    def __call__(self, requests):
        self.calls += 1
        self.rows += len(requests)
        return [(0.0, 0.0, 1.0)] * len(requests)


def test_batches_gather_all_questions_and_representatives():
    # 3 questions x 5 different answers, every pair contradicts, strict: answer k tests
    # representatives 0..k-1 (first direction only) → 0+1+2+3+4 = 10 rows per question.
    # Step s asks every answer k >= s about representative s-1: 4 steps for all questions.
    fake = FakeCountingBackend()
    got = cluster_many("strict", [list("abcde")] * 3, pairs=fake)
    assert [g.tolist() for g in got] == [[0, 1, 2, 3, 4]] * 3
    assert fake.rows == 30
    assert fake.calls == 4


def test_one_cluster_needs_one_step_per_direction():
    # every pair entails: under strict, step 1 asks (0, k) for k = 1..4 and step 2 (k, 0);
    # all answers join cluster 0 → 2 calls, 8 rows for 4 questions of 3 answers: 4·2·2 = 16.
    calls = []

    def entail(requests):
        calls.append(len(requests))
        return [(1.0, 0.0, 0.0)] * len(requests)

    got = cluster_many(Rule.strict(), [list("xyz")] * 4, pairs=entail)
    assert [g.tolist() for g in got] == [[0, 0, 0]] * 4
    assert calls == [8, 8]
