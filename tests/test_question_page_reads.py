"""The question-level pages read little at 1,000,000 answers: one rule's scores, the summary
columns a page shows, row counts from the Parquet footer, a human judge without labels
without its merge. Every result is checked against a plain pandas formulation written here
from the definitions, on the tiny fixture and the demo run (copied; summaries written into
the copy)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_summaries import with_summaries

from uqlens.analysis import evaluation
from uqlens.analysis import overview as o
from uqlens.run import labels, summaries
from uqlens.run.folder import load_run

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "fixtures" / "tiny_run"
DEMO = ROOT / "data" / "demo"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return with_summaries(DEMO, tmp_path_factory.mktemp("reads") / "demo")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return with_summaries(TINY, tmp_path_factory.mktemp("reads") / "tiny")


def test_select_reads_one_rule_from_the_file(tiny):
    run = load_run(tiny)
    rule = run.rules[1]
    got = run.select("scores", ["question_id", "method", "uncertainty"], ("rule", rule))
    assert "scores" not in run._tables  # only three columns were read, not the table
    whole = pd.read_parquet(tiny / "scores.parquet")
    expected = whole[whole["rule"] == rule][["question_id", "method", "uncertainty"]]
    pd.testing.assert_frame_equal(got, expected.reset_index(drop=True))
    # a table replaced in memory is filtered again, not served from the kept read
    run._tables["scores"] = whole.iloc[:5]
    again = run.select("scores", ["question_id", "method", "uncertainty"], ("rule", rule))
    first5 = whole.iloc[:5]
    assert len(again) == int((first5["rule"] == rule).sum())


def test_dominant_clusters_read_no_whole_table(demo):
    run = load_run(demo)
    rule, judge = run.manifest["default_rule"], run.manifest["default_judge"]
    dom = o.dominant_clusters(run, rule, judge)
    # the summary columns and the per-question judge table: no clusters or scores table
    assert "clusters" not in run._tables and "scores" not in run._tables
    # the largest cluster's share of the scored samples, from the raw tables
    gen = pd.read_parquet(demo / "generations.parquet")
    cl = pd.read_parquet(demo / "clusters.parquet")
    samples = gen[~gen["is_greedy"].astype(bool)]
    t = (run.manifest.get("params") or {}).get("sample_temperature")
    if t is not None:  # the samples the methods score: those drawn at the build's temperature
        samples = samples[np.isclose(samples["temperature"].astype(float), float(t))]
    samples = samples[["question_id", "sample_id"]]
    cl = cl[cl["rule"] == rule].merge(samples, on=["question_id", "sample_id"])
    sizes = cl.groupby(["question_id", "cluster_id"]).size()
    share = (sizes.groupby("question_id").max() / sizes.groupby("question_id").sum())
    got = dom.set_index("question_id")["dominant_share"].reindex(share.index)
    np.testing.assert_allclose(got.to_numpy(), share.to_numpy(), rtol=0, atol=1e-12)


def test_summary_columns_equal_the_whole_summary(demo):
    run = load_run(demo)
    rule, judge = run.manifest["default_rule"], run.manifest["default_judge"]
    cols = ("question_id", "cluster_id", "rank", "size", "share_correct", "holds_judged")
    part = summaries.read(run, "clusters", rule, judge, columns=cols)
    whole = summaries.read(load_run(demo), "clusters", rule, judge)
    pd.testing.assert_frame_equal(part, whole[list(cols)])
    judge_part = summaries.read(run, "judge", judge=judge, columns=("question_id", "any_correct"))
    assert list(judge_part.columns) == ["question_id", "any_correct"]


def _human_rows_by_definition(gen: pd.DataFrame, corr: pd.DataFrame, base: str) -> pd.DataFrame:
    """No person labelled anything: the base judge's rows, in generation order, renamed."""
    auto = corr[corr["judge"] == base]
    key = dict(zip(zip(auto["question_id"], auto["sample_id"], strict=True), range(len(auto)),
                   strict=True))
    at = [key[k] for k in zip(gen["question_id"], gen["sample_id"], strict=True) if k in key]
    out = auto.iloc[at]
    out = out[out["label"].notna() | out["value"].notna()]
    return out.assign(judge=labels.human_judge(base)).reset_index(drop=True)


@pytest.mark.parametrize("shuffled", [False, True])
def test_human_judge_without_labels(demo, shuffled):
    gen = pd.read_parquet(demo / "generations.parquet")
    corr = pd.read_parquet(demo / "correctness.parquet")
    if shuffled:  # rows not in generation order: the merge path
        corr = corr.sample(frac=1.0, random_state=3).reset_index(drop=True)
    base = "rouge_l"
    got = labels.human_rows(gen, corr, [], base)
    expected = _human_rows_by_definition(gen, corr, base)
    pd.testing.assert_frame_equal(got, expected[list(corr.columns)])


def test_a_label_still_changes_the_human_judge(tmp_path):
    path = shutil.copytree(TINY, tmp_path / "run")
    run = load_run(path)
    judge = "human+" + run.manifest["default_judge"]
    before = o.run_summary(run, judge)["accuracy"]
    judged = o.judged_answers(run, run.manifest["default_judge"])
    row = judged[judged["correct"].fillna(False).astype(bool)].iloc[0]
    labels.append(path, [labels.answer_label(row["question_id"], row["text"], "incorrect")],
                  who="t")
    after = o.run_summary(load_run(path), judge)
    n = after["labelled"]
    assert math.isclose(after["accuracy"], before - 1 / n)


def _gate_by_definition(scores: pd.DataFrame, p: float) -> set[str]:
    """The ceil(p * n) least uncertain scored questions, ties by question id."""
    s = scores.dropna(subset=["uncertainty"])
    ranked = sorted(zip(np.round(s["uncertainty"].to_numpy(float), 9) + 0.0, s["question_id"],
                        strict=True))
    k = min(len(ranked), math.ceil(p * len(ranked) - 1e-9)) if p > 0 else 0
    return {q for _, q in ranked[:k]}


@pytest.mark.parametrize("dominance, point", [(0.7, 0.2), (0.5, 0.55), (0.9, 1.0)])
def test_hallucination_counts_by_definition(demo, dominance, point):
    run = load_run(demo)
    rule, judge = run.manifest["default_rule"], run.manifest["default_judge"]
    got = o.hallucination_counts(run, rule, judge, dominance, point).set_index("method")
    dom = o.dominant_clusters(run, rule, judge)
    wrong = dom["dominant_correct"].astype(object)
    confident = set(dom.loc[(dom["dominant_share"] >= dominance - 1e-12)
                            & wrong.map(lambda v: v is False or v == False),  # noqa: E712
                            "question_id"])
    scores = pd.read_parquet(demo / "scores.parquet")
    scores = scores[scores["rule"] == rule]
    for method, part in scores.groupby("method"):
        accepted = _gate_by_definition(part, point)
        assert got.loc[method, "accepted"] == len(accepted), method
        assert got.loc[method, "confident_hallucinations"] == len(accepted & confident), method
        assert got.loc[method, "total_confident_hallucinations"] == len(confident)


def test_quadrant_table_order_and_columns(demo):
    run = load_run(demo)
    rule, judge = run.manifest["default_rule"], run.manifest["default_judge"]
    quad = o.quadrant_table(run, rule, judge, 0.7, 0.35)
    order = {m: i for i, m in enumerate(o.run_methods(run, rule))}
    keys = list(zip(quad["method"].map(order), quad["question_id"], strict=True))
    assert keys == sorted(keys)
    questions = pd.read_parquet(demo / "questions.parquet").set_index("question_id")["question"]
    assert quad["question"].tolist() == [questions[q] for q in quad["question_id"]]
    for method, part in quad.groupby("method"):
        scores = pd.read_parquet(demo / "scores.parquet")
        scores = scores[(scores["rule"] == rule) & (scores["method"] == method)]
        accepted = _gate_by_definition(scores, 0.35)
        assert set(part.loc[part["accepted"], "question_id"]) == accepted, method


def test_method_table_against_sklearn(demo):
    from sklearn.metrics import roc_auc_score

    run = load_run(demo)
    rule, judge = run.manifest["default_rule"], run.manifest["default_judge"]
    table = o.method_metrics(run, rule, judge, 0).set_index("method")
    judged = o.judged_answers(run, judge).dropna(subset=["correct"])
    wrong = dict(zip(judged["question_id"], ~judged["correct"].astype(bool), strict=True))
    scores = pd.read_parquet(demo / "scores.parquet")
    for method, part in scores[scores["rule"] == rule].groupby("method"):
        part = part[part["question_id"].isin(wrong) & part["uncertainty"].notna()]
        y = [bool(wrong[q]) for q in part["question_id"]]
        assert table.loc[method, "n"] == len(y)
        if 0 < sum(y) < len(y):
            expected = roc_auc_score(y, np.round(part["uncertainty"].to_numpy(float), 9))
            assert math.isclose(table.loc[method, "auroc"], expected, abs_tol=1e-12), method


def test_method_table_refuses_duplicate_rows():
    scores = pd.DataFrame({"question_id": ["a", "b", "a"], "method": ["m", "m", "m"],
                           "uncertainty": [0.1, 0.2, 0.3]})
    with pytest.raises(ValueError, match="more than one row"):
        evaluation.method_table(scores, pd.Series({"a": True, "b": False}), n_boot=0)


def _judged_by_definition(gen: pd.DataFrame, corr: pd.DataFrame, judge: str) -> pd.Series:
    """Each question's greedy answer (else its first), labelled by ``judge``; unlabelled left
    out; sorted by question id."""
    judged = {}
    for q, s, greedy in zip(gen["question_id"], gen["sample_id"], gen["is_greedy"],
                            strict=True):
        if q not in judged or (greedy and not judged[q][1]):
            judged[q] = (s, bool(greedy))
    label = {(q, s): v for q, s, j, v in zip(corr["question_id"], corr["sample_id"],
                                             corr["judge"], corr["label"], strict=True)
             if j == judge}
    out = {q: label.get((q, s)) for q, (s, _) in judged.items()}
    out = {q: bool(v) for q, v in out.items() if v is not None and v == v}
    return pd.Series(out, name="correct").sort_index()


@pytest.mark.parametrize("shuffled", [False, True])
def test_judged_labels_by_definition(demo, tmp_path, shuffled):
    from uqlens.run.rescore import judged_labels

    path = demo
    if shuffled:  # correctness rows in another order than the generations: the merge path
        path = shutil.copytree(demo, tmp_path / "shuffled")
        corr = pd.read_parquet(path / "correctness.parquet")
        corr.sample(frac=1.0, random_state=5).to_parquet(path / "correctness.parquet")
    run = load_run(path)
    gen = pd.read_parquet(path / "generations.parquet")
    corr = pd.read_parquet(path / "correctness.parquet")
    for judge in run.judges:
        got = judged_labels(run, judge)
        expected = _judged_by_definition(gen, corr, judge)
        assert got.index.tolist() == expected.index.tolist(), judge
        assert got.tolist() == expected.tolist(), judge


def test_cell_texts_once_per_distinct_value_equal_the_mapped_column():
    from components.tables import cell_text, label_text, visible

    texts = pd.Series(["a\\x07b", "x" * 500, None, "plain", "a\\x07b"] * 400, name="text")
    texts = texts.str.replace("\\\\x07", "\x07", regex=True)
    expected = texts.map(lambda v: cell_text(v, 100))
    pd.testing.assert_series_equal(visible(texts, 100), expected)
    assert visible(texts, 100).iloc[0] != "a\x07b"  # the bell shown, not passed through
    labels = pd.Series([True, False, pd.NA, True] * 300, dtype="boolean")
    expected = labels.map(lambda v: "unjudged" if pd.isna(v)
                          else ("✓ correct" if v else "✗ incorrect"))
    pd.testing.assert_series_equal(label_text(labels), expected)
    lists = pd.Series([["a\x07", "b"], [], ["c"]] * 400)  # a column of lists still works
    pd.testing.assert_series_equal(visible(lists), lists.map(lambda v: cell_text(v)))
