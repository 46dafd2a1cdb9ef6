"""One view assembly (uqlens.core.views): re-scoring a built run reproduces every stored score,
the rule spec round-trips through the manifest, and one NaN policy holds everywhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _built_run import built_run

from uqlens.core import views
from uqlens.core.methods import REGISTRY, Method
from uqlens.core.views import SAME_TEXT, SQUAD_NORMALISED, RuleSpec, shortcut_entails
from uqlens.run.folder import load_run
from uqlens.run.rescore import Replay, rescore, split_recomputable

ROOT = Path(__file__).resolve().parents[1]
# the larger demo's whole re-scoring is a `slow` sweep (make test); the smaller demo keeps the
# reproduction check in the fast lane
DEMOS = [ROOT / "data" / "demo", ROOT / "data" / "demo-llm-judge"]
DEMO_PARAMS = [pytest.param(DEMOS[0], marks=pytest.mark.slow, id="demo"),
               pytest.param(DEMOS[1], id="demo-llm-judge")]


def _compare(run) -> tuple[int, float]:
    """(values compared, max abs difference); fails on any NaN mismatch or missing row."""
    stored = run.table("scores")[["question_id", "rule", "method", "uncertainty"]]
    stored = stored[stored["method"].isin(split_recomputable(run, run.methods)[0])]
    got = rescore(run)
    both = stored.merge(got, on=["question_id", "rule", "method"], how="outer",
                        suffixes=("_stored", "_replayed"), indicator=True)
    assert (both["_merge"] == "both").all(), both[both["_merge"] != "both"].head()
    a = both["uncertainty_stored"].to_numpy(float)
    b = both["uncertainty_replayed"].to_numpy(float)
    assert (np.isnan(a) == np.isnan(b)).all()
    ok = ~np.isnan(a)
    assert set(both["rule"]) == set(run.rules)
    return len(both), float(np.max(np.abs(a[ok] - b[ok]), initial=0.0))


@pytest.mark.parametrize("path", DEMO_PARAMS)
def test_rescoring_a_demo_run_reproduces_every_stored_score(path):
    """Every method under every rule, exactly. The demo runs predate the recorded shortcut:
    their builds skipped the model for SQuAD-equal answers and never stored those pairs; a
    replay that only knew identical texts changed EigV/Ecc on 39 questions of data/demo."""
    run = load_run(path)
    n, diff = _compare(run)
    recomputable, skipped = split_recomputable(run, run.methods)
    # supervised probes are fitted across questions, not re-scored per question
    assert set(skipped) == {m for m in run.methods if run.manifest["method_info"].get(
        m, {}).get("supervised")}
    scores = run.table("scores")
    assert n == scores["method"].isin(recomputable).sum() and diff == 0.0


def test_demo_rules_recluster_to_the_stored_clusters():
    """Re-forming each rule's clusters from the run's pairs and embeddings gives the stored
    ones: the pairs the build used (shortcut ones included) are all recoverable."""
    rp = Replay(load_run(DEMOS[1]))
    for spec in rp.rules.values():
        for qid in rp.question_ids[:60]:
            assert rp.cluster_text_ids(spec, qid, range(len(rp.texts(qid)))) == \
                rp.clusters(spec, qid), (spec.key, qid)


def test_old_runs_replay_the_squad_shortcut():
    """data/demo-llm-judge's manifest records no shortcut (built before it was recorded): its
    rules replay the policy of their build. wd-19116 has answers equal only after SQuAD
    normalisation; treating them as entailing gives the stored Ecc (1.4143), not the 1.0001
    of a replay that asks the pairs table."""
    run = load_run(DEMOS[1])
    rp = Replay(run)
    assert {s.shortcut for s in rp.rules.values()} == {SQUAD_NORMALISED}
    texts = rp.texts("wd-19116")
    assert any(shortcut_entails(SQUAD_NORMALISED, a, b) and not shortcut_entails(SAME_TEXT, a, b)
               for a in texts for b in texts)
    samples = rp.scored()
    view = rp.view("wd-19116", "exact", samples[samples["question_id"] == "wd-19116"])
    got = views.score_view(view, ["ecc"], {"ecc": {}})["ecc"]
    s = run.table("scores")
    stored = s[(s.question_id == "wd-19116") & (s.rule == "exact") & (s.method == "ecc")]
    assert got == stored["uncertainty"].item() == pytest.approx(1.4143, abs=1e-4)


@pytest.mark.model
def test_fresh_build_round_trip(tmp_path_factory):
    """A build with the current code records its shortcut and re-scores to itself."""
    run = load_run(built_run(tmp_path_factory))
    assert {r["shortcut"] for r in run.manifest["rules"]} == {SAME_TEXT}
    n, diff = _compare(run)
    assert n == len(run.table("scores")) and diff == 0.0
    rp = Replay(run)
    for spec in rp.rules.values():
        for qid in rp.question_ids:
            assert rp.cluster_text_ids(spec, qid, range(len(rp.texts(qid)))) == \
                rp.clusters(spec, qid)


# ---- the parts ------------------------------------------------------------------------------


def test_shortcut_policies_by_hand():
    assert shortcut_entails(SAME_TEXT, " Paris", "paris")
    assert not shortcut_entails(SAME_TEXT, "Paris.", "paris")
    assert shortcut_entails(SQUAD_NORMALISED, "Paris.", "the paris")
    assert not shortcut_entails(SQUAD_NORMALISED, "!", "?")  # empty after normalising
    assert shortcut_entails(SQUAD_NORMALISED, "!", "!")  # identical strings always
    with pytest.raises(ValueError, match="unknown pair shortcut"):
        shortcut_entails("fuzzy", "a", "b")


@pytest.mark.parametrize("key", ["exact", "embedding:0.8:complete", "threshold:0.7@cosine",
                                 "strict@llm", "provided"])
def test_rule_spec_round_trips_through_the_manifest(key):
    spec = RuleSpec.parse(key, shortcut=SAME_TEXT)
    entry = spec.to_manifest()
    assert set(entry) >= {"key", "rule", "rule_key", "backend", "affinity_backend",
                          "backend_id", "params", "shortcut"}
    assert RuleSpec.from_manifest(entry) == spec


def test_manifest_entry_without_shortcut_is_squad_normalised():
    old = {"key": "threshold:0.9@cosine", "rule": "threshold", "rule_key": "threshold:0.9",
           "backend": "cosine", "affinity_backend": "cosine", "params": {"tau": 0.9}}
    spec = RuleSpec.from_manifest(old)
    assert (spec.rule_key, spec.backend, spec.shortcut) == ("threshold:0.9", "cosine",
                                                            SQUAD_NORMALISED)


def test_entailment_rule_without_backend_is_refused():
    with pytest.raises(ValueError, match="needs an entailment backend"):
        RuleSpec.parse("strict")


@pytest.fixture
def fake_methods(monkeypatch):
    """Two fake methods: one raising ValueError (an unscorable question), one TypeError."""
    def unscorable(view):
        raise ValueError("one sample")

    def buggy(view):
        raise TypeError("bad argument")

    for name, fn in (("fake_unscorable", unscorable), ("fake_buggy", buggy)):
        monkeypatch.setitem(REGISTRY, name, Method(name, name, frozenset(), "test", fn))


def test_one_nan_policy(fake_methods):
    from uqlens.core.methods import QuestionView

    view = QuestionView("q", "?", ("a",))
    assert np.isnan(views.score_view(view, ["fake_unscorable"], {})["fake_unscorable"])
    with pytest.raises(TypeError):
        views.score_view(view, ["fake_buggy"], {})
    with pytest.raises(views.NotRecomputable):
        views.score_view(view, ["tool:method"], {})


def test_opt_treats_every_missing_value_alike():
    row = pd.Series({"a": np.nan, "b": pd.NA, "c": None, "d": 2.0})
    assert [views.opt(row, k) for k in "abcde"] == [None, None, None, 2.0, None]
    assert views.opt(None, "a") is None


def test_runs_between_the_two_policies_replay_same_text():
    """Builds that wrote ``stages`` (same change as the same-text shortcut) but no shortcut
    per rule short-cut only same-text pairs; older ones SQuAD-equal pairs."""
    assert views.unrecorded_shortcut({"stages": {"embed": "ran"}}) == SAME_TEXT
    assert views.unrecorded_shortcut({}) == SQUAD_NORMALISED
    run = load_run(DEMOS[1])

    class Between:  # the demo's tables under a manifest of such a build
        manifest = {**run.manifest, "stages": {}}
        table = staticmethod(run.table)

    assert {s.shortcut for s in Replay(Between()).rules.values()} == {SAME_TEXT}


def test_a_sweep_at_the_runs_own_threshold_starts_from_the_stored_scores():
    """The Sensitivity page's threshold curve at the run's own τ is the Overview's AUROC:
    re-clustering every answer of a question, as the build does (not only the scored ones)."""
    from uqlens.analysis import sensitivity as S

    run = load_run(DEMOS[0])
    judge = run.manifest["default_judge"]
    methods = ["semantic_entropy", "discrete_semantic_entropy", "num_semantic_sets",
               "self_consistency"]
    swept = S.threshold_sweep(run, judge, taus=(0.9,), backend="cosine", methods=methods,
                              n_boot=10).curve
    stored = S.rule_sweep(run, judge, rules=["threshold:0.9@cosine"], methods=methods,
                          n_boot=10).curve
    got = swept[swept["value"] == 0.9].set_index("method")["auroc"]
    assert got.to_dict() == stored.set_index("method")["auroc"].to_dict()
