"""The build's faster table assembly gives what the per-question code it replaced gave: the
clusters rows of a rule, the views of flat sample arrays, the judges' reference look-ups."""

from __future__ import annotations

import numpy as np
import pandas as pd

from uqlens.build.pipeline import _rule_cluster_rows
from uqlens.core import clustering
from uqlens.core.correctness import reference_list, reference_lists


def per_question_rows(key, gens, text_cluster):
    """The clusters rows as the build formed them before, one frame per question."""
    rows = []
    for qid, group in gens.groupby("question_id", sort=False):
        ids = text_cluster[(key, qid)][group["text_id"].to_numpy()]
        rows.append(pd.DataFrame({
            "question_id": qid, "sample_id": group["sample_id"].to_numpy(), "rule": key,
            "cluster_id": ids, "is_representative": clustering.representatives(ids)}))
    return pd.concat(rows, ignore_index=True)


def test_rule_cluster_rows_equal_the_per_question_rows():
    rng = np.random.default_rng(3)
    gens, text_cluster = [], {}
    for q in range(40):
        n, k = int(rng.integers(1, 12)), int(rng.integers(1, 5))
        tids = rng.integers(0, k, size=n)
        text_cluster[("r", f"q{q:02d}")] = rng.permutation(k)[:k] * 2  # sparse ids
        gens.append(pd.DataFrame({"question_id": f"q{q:02d}", "sample_id":
                                  [f"s{i}" for i in range(n)], "text_id": tids}))
    gens = pd.concat(gens, ignore_index=True)
    got = _rule_cluster_rows("r", gens, text_cluster)
    want = per_question_rows("r", gens, text_cluster)
    for col in want:
        assert got[col].tolist() == want[col].tolist(), col
    # by hand: the first sample of every question represents its cluster
    first = ~gens["question_id"].duplicated()
    assert got.loc[first, "is_representative"].all()


def test_reference_lists_equal_reference_list():
    q = pd.DataFrame({"question_id": ["a", "b", "c", "d"],
                      "incorrect_references": [["x", 1], None, [], np.array(["y"])]})
    assert reference_lists(q, "incorrect_references") == [
        reference_list(q, i, "incorrect_references") for i in q["question_id"]]
    assert reference_lists(q, "incorrect_references") == [["x", "1"], [], [], ["y"]]
    assert reference_lists(q, "references") == [[], [], [], []]


def test_flat_clusters_equal_scipy_fcluster():
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    rng = np.random.default_rng(5)
    for _ in range(400):
        n = int(rng.integers(2, 14))
        x = rng.normal(size=(n, 4)) + rng.normal(size=(1, 4)) * rng.uniform(0, 3)
        x = np.round(x, int(rng.choice([1, 6])))  # equal distances (ties) now and then
        dist = np.clip(pdist(x, metric="cosine"), 0.0, 2.0)
        for method in ("average", "complete", "single", "centroid"):
            z = linkage(dist, method=method) if method != "centroid" else linkage(x, method)
            for cut in (0.0, 0.05, 0.1, 0.3, 1.0, float(rng.choice(z[:, 2]))):
                want = clustering.renumber(fcluster(z, t=cut, criterion="distance"))
                got = clustering.renumber(clustering.flat_clusters(z, cut))
                assert got.tolist() == want.tolist(), (method, cut)


def loop_texts_table(gens):
    """The texts table as the build formed it before: a dictionary per question."""
    gens = gens.copy()
    text_ids, rows = [], []
    for qid, group in gens.groupby("question_id", sort=False):
        seen = {}
        for text in group["text"]:
            if text not in seen:
                seen[text] = len(seen)
                rows.append({"question_id": qid, "text_id": seen[text], "text": text})
            text_ids.append(seen[text])
    gens["text_id"] = np.asarray(text_ids, dtype=np.int64)
    texts = pd.DataFrame(rows, columns=["question_id", "text_id", "text"])
    counts = gens.groupby(["question_id", "text_id"]).size().rename("n_samples").reset_index()
    return gens, texts.merge(counts, on=["question_id", "text_id"], how="left")


def test_texts_table_equals_the_per_question_loop():
    from uqlens.build.stages import _texts_table

    rng = np.random.default_rng(9)
    words = ["Paris", "paris", "Lyon", " Paris", "Nice", "é", ""]
    gens = pd.DataFrame({
        "question_id": np.repeat([f"q{i:02d}" for i in range(30)], 7),
        "text": rng.choice(words, size=210)})
    got_gens, got = _texts_table(gens)
    want_gens, want = loop_texts_table(gens)
    pd.testing.assert_frame_equal(got_gens, want_gens)
    pd.testing.assert_frame_equal(got, want)


def test_flat_samples_from_one_frame_equal_the_glued_groups():
    from uqlens.build.scoring import flatten

    frame = pd.DataFrame({
        "question_id": ["b", "b", "a", "a", "a", "c"], "sample_id": list("xyxyzx"),
        "text_id": [0, 1, 0, 0, 1, 0],
        "logprob_sum": [-1.0, -2.0, np.nan, -1.0, -0.5, -3.0],
        "num_tokens": pd.array([1, 2, 1, None, 3, 1], dtype="Int64")})
    groups = {q: g for q, g in frame.groupby("question_id", sort=False)}
    glued, direct = flatten(groups), flatten(groups, frame)
    for name in ("start", "text_id", "sample_id", "logprob_sum", "num_tokens", "has_logprob",
                 "has_tokens"):
        np.testing.assert_array_equal(getattr(direct, name), getattr(glued, name), name)
    # by hand: b has every value; a misses a log-prob (so its tokens do not count); c has all
    assert direct.has_logprob.tolist() == [True, False, True]
    assert direct.has_tokens.tolist() == [True, False, True]
    shuffled = frame.iloc[[0, 2, 1, 3, 4, 5]]  # b's rows apart: glued from the groups instead
    np.testing.assert_array_equal(flatten(groups, shuffled).text_id, glued.text_id)


def test_replay_indexes_equal_the_per_group_ones():
    """Replay's look-ups (texts, pairs, vectors, stored clusters) built from one sort equal
    what a frame per group gave; on the demo run when present, else the tiny fixture."""
    from pathlib import Path

    from uqlens.run.folder import load_run
    from uqlens.run.rescore import Replay

    root = Path(__file__).resolve().parent.parent
    demo = root / "data" / "demo"
    run = load_run(demo if (demo / "manifest.json").is_file() else
                   root / "tests" / "fixtures" / "tiny_run")
    rp = Replay(run)
    texts = run.table("texts").sort_values(["question_id", "text_id"])
    assert rp._texts == {q: g["text"].tolist() for q, g in texts.groupby("question_id",
                                                                        sort=False)}
    pairs = run.table("pairs")
    cols = ["p_entail", "p_neutral", "p_contradict"]
    want = {(str(b), q): g for (b, q), g in pairs.groupby(["backend", "question_id"],
                                                          sort=False)}
    assert list(rp._pairs) == list(want)
    for key, g in want.items():
        a, b, p = rp._pairs[key]
        assert a.tolist() == g["text_a"].tolist() and b.tolist() == g["text_b"].tolist()
        np.testing.assert_array_equal(p, g[cols].to_numpy(float))
    cl = run.table("clusters")
    for (r, q), g in cl.groupby(["rule", "question_id"], sort=False):
        assert rp.stored_clusters(r, q) == dict(zip(g["sample_id"],
                                                    g["cluster_id"].astype(int), strict=True))
    emb = run.table("embeddings")
    if len(emb):
        e = emb.merge(run.table("generations")[["question_id", "sample_id", "text_id"]],
                      on=["question_id", "sample_id"])
        first = {}
        for q, t, v in zip(e["question_id"], e["text_id"], e["embedding"], strict=True):
            first.setdefault((q, int(t)), np.asarray(v, dtype=float))
        assert rp._vectors.keys() == first.keys()
        assert all(np.array_equal(rp._vectors[k], v) for k, v in first.items())
