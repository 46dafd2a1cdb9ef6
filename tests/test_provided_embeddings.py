"""``--embedder provided``: a build from the input's own per-answer vectors loads no model,
clusters by their cosine, and writes summaries equal to what the analyses compute."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from _built_run import no_model_check

from uqlens.build.errors import BuildError

# Unit vectors: Paris (1, 0) and "City of Paris" (0.96, 0.28) have cosine 0.96 (>= 0.9),
# Lyon (0, 1) has cosine 0 with Paris and 0.28 with "City of Paris". Scaled copies (x3) must
# give the same cosine: the build scales vectors to unit length.
PARIS, CITY, LYON = [1.0, 0.0], [0.96, 0.28], [0.0, 1.0]
RECORDS = [
    {"question_id": "q1", "question": "Capital of France?", "references": ["Paris"],
     "greedy": {"text": "Paris", "embedding": PARIS, "logprob_sum": -0.1, "num_tokens": 1},
     "samples": [{"text": t, "embedding": v, "logprob_sum": -0.5, "num_tokens": 2}
                 for t, v in [("Paris", PARIS), ("City of Paris", [3 * x for x in CITY]),
                              ("Lyon", LYON), ("Paris", PARIS)]]},
    {"question_id": "q2", "question": "Largest city of France?", "references": ["Paris"],
     "greedy": {"text": "Lyon", "embedding": LYON, "logprob_sum": -0.2, "num_tokens": 1},
     "samples": [{"text": t, "embedding": v, "logprob_sum": -0.5, "num_tokens": 1}
                 for t, v in [("Lyon", LYON), ("Lyon", LYON), ("Paris", PARIS),
                              ("Lyon", LYON)]]},
]
RULES = ("exact", "threshold:0.9@cosine", "embedding:0.9:average")


def write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("provided")
    src = write(base / "in.jsonl", RECORDS)
    code = (f"from uqlens.build.pipeline import BuildConfig, build\n"
            f"build({str(src)!r}, {str(base / 'run')!r}, BuildConfig(embedder='provided', "
            f"rules={RULES!r}, projection='pca'), cache_dir={str(base / 'cache')!r}, "
            f"progress=False, log=lambda _: None)\n")
    done = no_model_check(code)
    assert "NO_MODEL_OK" in done.stdout, done.stderr[-2000:]
    from uqlens.run.folder import load_run

    return load_run(base / "run")


def clusters_of(run, rule, qid):
    cl = run.table("clusters")
    cl = cl[(cl["rule"] == rule) & (cl["question_id"] == qid)]
    gen = run.table("generations")[["question_id", "sample_id", "text"]]
    got = cl.merge(gen, on=["question_id", "sample_id"])
    return sorted({frozenset(g["text"]) for _, g in got.groupby("cluster_id")}, key=sorted)


def test_clusters_follow_the_given_vectors(built):
    both = frozenset({"Paris", "City of Paris"})
    assert clusters_of(built, "threshold:0.9@cosine", "q1") == [both, frozenset({"Lyon"})]
    assert clusters_of(built, "embedding:0.9:average", "q1") == [both, frozenset({"Lyon"})]
    assert clusters_of(built, "exact", "q1") == [
        frozenset({"City of Paris"}), frozenset({"Lyon"}), frozenset({"Paris"})]


def test_graph_pairs_are_the_cosine_of_unit_vectors(built):
    # deg with the contra affinity at temperature 1 would be simple; the stored pairs are the
    # direct evidence: p_entail(Paris, City of Paris) = 0.96, (City of Paris, Lyon) = 0.28
    pairs = built.table("pairs")
    texts = built.table("texts")
    q1 = dict(zip(texts.loc[texts["question_id"] == "q1", "text"],
                  texts.loc[texts["question_id"] == "q1", "text_id"], strict=True))
    p = pairs[(pairs["question_id"] == "q1") & (pairs["backend"] == "cosine")].set_index(
        ["text_a", "text_b"])["p_entail"]
    assert p[(q1["Paris"], q1["City of Paris"])] == pytest.approx(0.96, abs=1e-6)
    assert p[(q1["City of Paris"], q1["Lyon"])] == pytest.approx(0.28, abs=1e-6)
    assert p[(q1["Paris"], q1["Lyon"])] == pytest.approx(0.0, abs=1e-6)


def test_manifest_names_the_vectors_and_skips_the_embedding_judge(built):
    m = built.manifest
    assert m["embedder"].startswith("provided:")
    assert "embedding_similarity" not in m["judges"]
    assert "references" in m["skipped_judges"]["embedding_similarity"]
    assert len(built.table("projection")) == 10
    assert np.isfinite(built.table("projection")[["x", "y"]].to_numpy()).all()


def test_build_writes_summaries_equal_to_the_computed_ones(built):
    from uqlens.analysis import overview as o
    from uqlens.analysis import stored

    assert built.manifest["summaries"]["format"] == "uqlens-summaries/1"
    for rule in RULES:
        pd.testing.assert_frame_equal(stored.scores(built, rule), o._question_scores(built, rule))
        for judge in built.judges:
            pd.testing.assert_frame_equal(stored.clusters(built, rule, judge, None),
                                          o._cluster_summary(built, rule, judge))
    # q2 by hand: 3 x Lyon, 1 x Paris; the judged answer Lyon is wrong under exact_match
    cs = o.cluster_summary(built, "exact", "exact_match", "q2")
    assert cs["size"].tolist() == [3, 1] and cs["mass"].tolist() == [0.75, 0.25]
    assert cs["correct"].tolist() == [False, True] and cs["holds_judged"].tolist() == [True,
                                                                                        False]
    dse = o.question_scores(built, "exact", "discrete_semantic_entropy").set_index(
        "question_id")["uncertainty"]
    assert dse["q2"] == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))


@pytest.mark.parametrize("change, message", [
    (lambda r: r[0]["samples"][2].pop("embedding"), "question 'q1', sample 's2' has no"),
    (lambda r: r[1]["samples"][0].update(embedding=[1.0, 0.0, 0.0]), "has 3 numbers"),
    (lambda r: r[1]["samples"][0].update(embedding=[0.0, 0.0]), "all zeros"),
])
def test_bad_vectors_are_clear_errors(tmp_path, change, message):
    from uqlens.build.pipeline import BuildConfig, build

    records = json.loads(json.dumps(RECORDS))
    change(records)
    src = write(tmp_path / "in.jsonl", records)
    with pytest.raises(BuildError, match=message):
        build(src, tmp_path / "run", BuildConfig(embedder="provided", rules=("exact",),
                                                 projection="pca"),
              cache_dir=tmp_path / "cache", progress=False, log=lambda _: None)
