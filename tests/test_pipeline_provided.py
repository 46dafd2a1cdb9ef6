"""A peer tool's own scores and clusters reach the built run.

Fixtures are written into tmp_path in the tools' own structures (as in test_importers.py),
imported with ``uqlens.data.importers.import_any``, written as canonical JSONL (the file
``uqlens import`` writes), then built with the real embedding model and a PCA projection.
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from uqlens.build.pipeline import PROVIDED_RULE, BuildConfig, build, provided_clusters
from uqlens.cli import main
from uqlens.data.export import write_dataset
from uqlens.data.importers import import_any
from uqlens.data.loaders import load
from uqlens.data.schema import ORIENTATION_META_KEY
from uqlens.run.folder import load_run

pytestmark = [pytest.mark.model,
              pytest.mark.filterwarnings("ignore:.*opening a pickle:UserWarning")]

SEMANTIC_IDS = [[0, 0, 1, 0], [2, 2, 2, 5]]  # tool ids need not start at 0 or be contiguous


def write_semantic_uncertainty(folder):
    """jlko/semantic_uncertainty's run files: validation_generations.pkl and
    uncertainty_measures.pkl (semantic_ids per example, measures per example)."""
    folder.mkdir()
    gens = {}
    for i, (q, refs, best, samples) in enumerate([
        ("Capital of France?", ["Paris"], "Paris", ["Paris", "Paris", "Lyon", "paris"]),
        ("Who wrote Emma?", ["Jane Austen"], "Bronte", ["Bronte", "Bronte", "Bronte", "Eliot"]),
    ]):
        gens[f"id{i}"] = {
            "question": q, "context": "",
            "reference": {"answers": {"text": refs, "answer_start": []}, "id": f"id{i}"},
            "most_likely_answer": {"response": best, "token_log_likelihoods": [-0.1],
                                   "embedding": [[0.1, 0.2]], "accuracy": float(i == 0)},
            "responses": [(s, [-0.5], [[0.0, 1.0]], 0.0) for s in samples],
        }
    with open(folder / "validation_generations.pkl", "wb") as handle:
        pickle.dump(gens, handle)
    measures = {"uncertainty_measures": {"semantic_entropy": [0.56, 0.45]},
                "semantic_ids": SEMANTIC_IDS}
    with open(folder / "uncertainty_measures.pkl", "wb") as handle:
        pickle.dump(measures, handle)
    return folder


def write_uqlm(path):
    """``UQResult.to_df()`` saved as CSV, with a user-added answer column."""
    pd.DataFrame({
        "prompt": ["Capital of Italy?", "Largest planet?"],
        "response": ["Rome", "Saturn"],
        "sampled_responses": [json.dumps(["Rome", "Rome", "Milan"]),
                              json.dumps(["Jupiter", "Saturn", "Saturn"])],
        "semantic_negentropy": [0.8, 0.3],  # a confidence: becomes 1 - c
        "num_semantic_sets": [2, 2],  # an uncertainty already: kept
        "answer": ["Rome", "Jupiter"],
    }).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def import_and_build(src, out_dir, cache_dir, **kw):
    result = import_any(src, **kw)
    data = write_dataset(result.dataset, out_dir / "data.jsonl")
    build(data, out_dir / "run", BuildConfig(projection="pca"), cache_dir=cache_dir,
          progress=False, log=lambda _: None)
    return result, data, load_run(out_dir / "run")


@pytest.fixture(scope="module")
def su(tmp_path_factory, cache_dir):
    base = tmp_path_factory.mktemp("su")
    return import_and_build(write_semantic_uncertainty(base / "files"), base, cache_dir,
                            allow_pickle=True)


@pytest.fixture(scope="module")
def uq(tmp_path_factory, cache_dir):
    base = tmp_path_factory.mktemp("uqlm")
    return import_and_build(write_uqlm(base / "uqlm.csv"), base, cache_dir)


def score(run, qid, method, rule):
    s = run.scores
    row = s[(s.question_id == qid) & (s.method == method) & (s.rule == rule)]
    assert len(row) == 1, (qid, method, rule)
    return float(row.uncertainty.iloc[0])


def test_orientation_survives_the_written_file(uq):
    _, data, _ = uq
    reloaded = load(data)
    assert reloaded.score_orientation["uqlm:semantic_negentropy"] == "flipped: 1 - confidence"
    assert reloaded.score_orientation["uqlm:num_semantic_sets"].startswith("as provided")
    meta = json.loads(reloaded.questions["meta"].iloc[0])
    assert ORIENTATION_META_KEY in meta


def test_uqlm_scores_arrive_flipped_under_every_rule(uq):
    _, _, run = uq
    method = "uqlm:semantic_negentropy"
    assert method in run.methods and "uqlm:num_semantic_sets" in run.methods
    for rule in run.rules:
        assert score(run, "0", method, rule) == pytest.approx(0.2)  # confidence 0.8
        assert score(run, "1", method, rule) == pytest.approx(0.7)
        assert score(run, "0", "uqlm:num_semantic_sets", rule) == 2
    info = run.manifest["method_info"][method]
    assert info["flipped"] is True and info["orientation"] == "flipped: 1 - confidence"
    assert info["citation"] == "uqlm" and info["needs"] == []
    assert run.manifest["method_info"]["uqlm:num_semantic_sets"]["flipped"] is False
    params = run.scores.loc[run.scores.method == method, "params"].unique().tolist()
    assert params == ["{}"]
    assert PROVIDED_RULE not in run.rules  # uqlm saves no clusters
    # the computed methods are there too
    assert "discrete_semantic_entropy" in run.methods


def test_semantic_uncertainty_clusters_become_the_provided_rule(su):
    _, _, run = su
    assert run.rules[-1] == PROVIDED_RULE
    spec = run.manifest["rules"][-1]
    assert spec["affinity_backend"] == "cosine" and spec["backend"] is None
    c = run.clusters[run.clusters.rule == PROVIDED_RULE]
    for i, ids in enumerate(SEMANTIC_IDS):
        got = c[(c.question_id == f"id{i}") & (c.sample_id != "greedy")]
        got = got.set_index("sample_id").loc[[f"s{k}" for k in range(len(ids))], "cluster_id"]
        assert got.tolist() == ids
    # the judged answer takes the cluster of an identical sampled text
    greedy = c[c.sample_id == "greedy"].set_index("question_id")["cluster_id"]
    assert greedy["id0"] == 0 and greedy["id1"] == 2
    # methods are scored under it from the tool's clusters
    assert score(run, "id0", "num_semantic_sets", PROVIDED_RULE) == 2
    assert score(run, "id1", "num_semantic_sets", PROVIDED_RULE) == 2
    assert score(run, "id0", "self_consistency", PROVIDED_RULE) == pytest.approx(0.25)
    assert score(run, "id1", "semantic_uncertainty:semantic_entropy", PROVIDED_RULE) == \
        pytest.approx(0.45)
    info = run.manifest["method_info"]["semantic_uncertainty:semantic_entropy"]
    assert info["flipped"] is False and info["orientation"].startswith("as provided")


def test_provided_clusters_for_unclustered_answers():
    group = pd.DataFrame({
        "sample_id": ["greedy", "s0", "s1", "s2", "s3"],
        "text": ["Lyon", "Paris", "Lyon", "Nice", "Nice"],
        "provided_cluster": pd.Series([pd.NA, 4, 7, pd.NA, pd.NA], dtype="Int64"),
    })
    # greedy: same text as s1 -> 7; Nice (unclustered, twice) -> one new id above the tool's
    assert provided_clusters(group).tolist() == [7, 4, 7, 8, 8]
    lone = group.assign(text=["Marseille", "Paris", "Lyon", "Nice", "Nice"])
    assert provided_clusters(lone).tolist()[0] == 8  # a new cluster of its own
    assert np.unique(provided_clusters(lone)).size == 4


def test_validate_mentions_provided_scores_and_clusters(su, uq, capsys):
    assert main(["validate", str(su[1]), str(uq[1])]) == 0
    out = capsys.readouterr().out
    assert "provided scores: 1 method" in out
    assert "semantic_uncertainty:semantic_entropy (as provided (uncertainty)): 2 of 2" in out
    assert "provided clusters: 2 of 2 questions" in out
    assert "uqlm:semantic_negentropy (flipped: 1 - confidence): 2 of 2 questions" in out
