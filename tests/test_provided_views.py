"""The pathology views, the report and the pages on a run with a peer tool's own scores (a
provided method) and clusters (the ``provided`` rule).

The run is built once per module from the jlko/semantic_uncertainty fixture of
test_pipeline_provided.py (PCA projection). Provided scores are only read: they show where a
view reads stored scores and are listed as skipped where a sweep recomputes; the ``provided``
rule's clusters are read, never re-formed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_pipeline_provided import import_and_build, write_semantic_uncertainty

from uqlens.analysis import agreement, conformal, judge_audit, sensitivity, tail
from uqlens.analysis import overview as analysis
from uqlens.build.pipeline import PROVIDED_RULE
from uqlens.report import write_report
from uqlens.run.rescore import PROVIDED_RULE as RESCORE_PROVIDED_RULE
from uqlens.run.rescore import (
    NotRecomputable,
    Replay,
    method_params,
    score_methods,
    score_view,
    split_recomputable,
)

pytestmark = [pytest.mark.model,
              pytest.mark.filterwarnings("ignore:.*opening a pickle:UserWarning")]

PROVIDED = "semantic_uncertainty:semantic_entropy"
APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("provided_views")
    _, _, built = import_and_build(write_semantic_uncertainty(base / "files"), base,
                                   tmp_path_factory.mktemp("cache"), allow_pickle=True)
    assert PROVIDED in built.methods and PROVIDED_RULE in built.rules
    assert built.manifest["method_info"][PROVIDED]["provided"] is True
    return built


@pytest.fixture(scope="module")
def judge(run):
    return run.manifest["default_judge"]


def rules_of(run):
    return [run.manifest["default_rule"], PROVIDED_RULE]


def test_the_rule_constant_matches_the_pipeline():
    assert RESCORE_PROVIDED_RULE == PROVIDED_RULE


def test_split_recomputable(run):
    kept, skipped = split_recomputable(run, ["semantic_entropy", PROVIDED, "no_such_method"])
    assert kept == ["semantic_entropy"]
    assert set(skipped) == {PROVIDED, "no_such_method"}


@pytest.mark.parametrize("which", [0, 1])
def test_all_sweeps_skip_provided_methods(run, judge, which):
    rule = rules_of(run)[which]
    sweeps, skipped = sensitivity.all_sweeps(run, judge, n_boot=20, n_draws=1, rule=rule)
    by = {s.name: s for s in sweeps}
    for name in ("rule", "threshold", "embedding_threshold"):
        assert PROVIDED in by[name].skipped_methods, name
        assert PROVIDED not in set(by[name].curve["method"])
        assert any(PROVIDED in n for n in by[name].notes)
    # the graph sweeps read the provided rule's stored clusters, they do not re-form them
    assert "graph_temperature" in by and "ecc_threshold" in by
    if rule == PROVIDED_RULE:
        assert "n_samples" not in by
        assert "cannot be re-formed" in skipped["n_samples"]
    else:
        assert PROVIDED in by["n_samples"].skipped_methods


def test_explicit_provided_methods_are_left_out_of_a_resweep(run, judge):
    sw = sensitivity.threshold_sweep(run, judge, methods=[PROVIDED, "num_semantic_sets"],
                                     n_boot=20)
    assert set(sw.curve["method"]) == {"num_semantic_sets"}
    assert list(sw.skipped_methods) == [PROVIDED]
    with pytest.raises(NotRecomputable, match="cannot be re-formed"):
        sensitivity.sample_count_sweep(run, judge, rule=PROVIDED_RULE, n_boot=20)


def test_replay_reads_the_provided_rule_and_refuses_to_recluster(run):
    rp = Replay(run)
    spec = rp.resolve(PROVIDED_RULE)
    methods = ["num_semantic_sets", "self_consistency", "discrete_semantic_entropy"]
    params = {m: method_params(run, m) for m in methods}
    s = run.scores[run.scores["rule"] == PROVIDED_RULE]
    for qid, g in rp.scored().groupby("question_id", sort=False):
        got = score_view(rp.view(qid, spec, g), methods, params)
        for m in methods:
            stored = s[(s["question_id"] == qid) & (s["method"] == m)]["uncertainty"]
            assert got[m] == pytest.approx(float(stored.iloc[0])), (qid, m)
        with pytest.raises(NotRecomputable):
            rp.cluster_text_ids(spec, qid, g["text_id"])
        with pytest.raises(NotRecomputable):
            score_view(rp.view(qid, spec, g), [PROVIDED], {})


@pytest.mark.parametrize("which", [0, 1])
def test_score_reading_views_show_provided_methods(run, judge, which):
    rule = rules_of(run)[which]
    methods = score_methods(run, rule)
    assert PROVIDED in methods
    agr = agreement.run_agreement(run, rule, methods=methods)
    assert PROVIDED in set(agr["method_a"]) | set(agr["method_b"])
    assert PROVIDED in set(tail.tail_table(run, rule, judge, methods=methods)["method"])
    assert PROVIDED in set(analysis.method_metrics(run, rule, judge, n_boot=20)["method"])
    assert PROVIDED in set(analysis.run_methods(run, rule))
    by_judge = judge_audit.method_auroc_by_judge(run, rule, methods=methods)
    assert PROVIDED in set(by_judge.index) | set(by_judge.columns)
    res = conformal.run_conformal(run, rule, judge, methods, n_splits=3)
    assert res and all(np.isfinite(r.target) for r in res.values())


@pytest.mark.parametrize("which", [0, 1])
def test_report_renders(run, tmp_path, which):
    rule = rules_of(run)[which]
    html, md = write_report(run.path, tmp_path / "report.html", rule=rule, n_boot=20,
                            n_draws=1, n_splits=3)
    text = md.read_text(encoding="utf-8")
    assert PROVIDED in text and "Not swept" in text
    assert html.read_text(encoding="utf-8").count(PROVIDED) > 0


def app(run, page: str | None, **query: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["uq.run"] = str(run.path)
    for key, value in query.items():
        at.query_params[key] = value
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_overview_page_lists_the_provided_method(run):
    at = app(run, None, rule=PROVIDED_RULE, method=PROVIDED)
    assert at.title[0].value == "Overview"
    assert PROVIDED in at.dataframe[0].value["method"].tolist()


def test_question_page_with_a_provided_method(run):
    at = app(run, "pages/question.py", rule=PROVIDED_RULE, method=PROVIDED, q="id1")
    assert any(m.label == PROVIDED for m in at.metric)
    scores = next(d.value for d in at.dataframe if "percentile" in d.value)
    assert PROVIDED in scores["method"].tolist()


def test_sensitivity_page_under_the_provided_rule(run):
    at = app(run, "pages/sensitivity.py", rule=PROVIDED_RULE, method=PROVIDED)
    assert at.title[0].value == "Hyperparameter sensitivity"
    assert any(PROVIDED in c.value for c in at.caption)
