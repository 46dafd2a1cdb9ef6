"""The build's stage memo (uqlens.build.memo): a rebuild that reads unchanged pieces back
writes exactly the tables and summaries a cold build with a fresh cache writes; a change of
code or of one input byte, or an unreadable memo file, is a miss, never a stale result or an
error."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import pandas as pd
import pytest

from uqlens.backends.cache import StageMemo, source_fingerprint
from uqlens.build.pipeline import BuildConfig, build

WORDS = "Paris London Rome Berlin Madrid Vienna Prague Lisbon".split()
COLD_RULES = ("exact", "embedding:0.9:average", "threshold:0.9@cosine")
# reuses two rules (one asks cosine pairs, which must come back into the pairs table), in
# another order, and adds one
NEW_RULES = ("threshold:0.9@cosine", "embedding:0.8:average", "exact")


def write_input(path: Path, n_questions: int = 24, seed: int = 0) -> Path:
    """Short answers with their own 6-number vectors, log-probs and P(true)."""
    rng = random.Random(seed)
    direction = {w: [rng.gauss(0, 1) for _ in range(6)] for w in WORDS}
    with path.open("w", encoding="utf-8") as handle:
        for q in range(n_questions):
            candidates = rng.sample(WORDS, 3)
            answers = rng.choices(candidates, weights=[5, 2, 1], k=6)
            vec = {w: [round(d + 0.3 * rng.gauss(0, 1), 4) for d in direction[w]]
                   for w in candidates}
            handle.write(json.dumps({
                "question_id": f"q{q:03d}", "question": f"Which city, {q}?",
                "references": [candidates[0]],
                "greedy": {"text": answers[0], "logprob_sum": -rng.random(), "num_tokens": 1,
                           "p_true": rng.random(), "embedding": vec[answers[0]]},
                "samples": [{"text": a, "logprob_sum": -3 * rng.random(), "num_tokens": 1,
                             "temperature": 1.0, "embedding": vec[a]} for a in answers[1:]],
            }) + "\n")
    return path


def config(rules) -> BuildConfig:
    return BuildConfig(rules=rules, embedder="provided", projection="pca",
                       judges=("squad_f1", "exact_match", "rouge_l"))


def quiet_build(src, out, rules, cache, log=None):
    return build(src, out, config(rules), cache_dir=cache, progress=False,
                 log=log or (lambda _: None))


def assert_same_run(a: Path, b: Path) -> None:
    """Every table and every summary file of two runs equal, value for value."""
    names = sorted(p.relative_to(a).as_posix() for p in a.rglob("*.parquet"))
    assert names == sorted(p.relative_to(b).as_posix() for p in b.rglob("*.parquet"))
    assert "pairs.parquet" in names and any(n.startswith("summaries/") for n in names)
    for name in names:
        pd.testing.assert_frame_equal(pd.read_parquet(a / name), pd.read_parquet(b / name),
                                      check_exact=True, obj=name)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A cold build (default-like rules) into a cache, then a rebuild with other rules from
    that cache, and a cold build of the new rules with a fresh cache."""
    base = tmp_path_factory.mktemp("memo")
    src = write_input(base / "gens.jsonl")
    quiet_build(src, base / "cold", COLD_RULES, base / "cache")
    rebuilt = quiet_build(src, base / "rebuilt", NEW_RULES, base / "cache")
    fresh = quiet_build(src, base / "fresh", NEW_RULES, base / "fresh-cache")
    return base, src, rebuilt, fresh


def test_rebuild_equals_a_cold_build_with_a_fresh_cache(built):
    base, _, rebuilt, fresh = built
    assert_same_run(base / "rebuilt", base / "fresh")
    # what was reused: the input, two of the three rules, every judge
    stages = rebuilt["stages"]
    assert stages["ingest_memo"] == "reused 1: all"
    assert stages["cluster_memo"].startswith("reused 2:")
    assert "threshold:0.9@cosine" in stages["cluster_memo"] and "exact" in stages[
        "cluster_memo"]
    assert stages["judge_memo"] == "reused 3: squad_f1, exact_match, rouge_l"
    assert rebuilt["counts"]["stage_memo_hits[clusters]"] == 2
    assert rebuilt["counts"]["stage_memo_misses[clusters]"] == 1
    assert "ingest_memo" not in fresh["stages"]


def test_the_same_rebuild_again_reads_everything(built, tmp_path):
    base, src, _, _ = built
    again = quiet_build(src, tmp_path / "again", NEW_RULES, base / "cache")
    assert again["counts"]["stage_memo_hits[clusters]"] == 3
    assert "stage_memo_misses[scores]" not in again["counts"]
    assert "stage_memo_misses[summary-clusters]" not in again["counts"]
    assert_same_run(tmp_path / "again", base / "fresh")


def test_other_code_misses_the_memo(built, tmp_path, monkeypatch):
    import uqlens.build.memo as memo

    base, src, _, _ = built
    monkeypatch.setattr(memo, "code_fingerprint", lambda: "other code")
    got = quiet_build(src, tmp_path / "run", NEW_RULES, base / "cache")
    assert not any(k.endswith("_memo") for k in got["stages"])
    assert not any(k.startswith("stage_memo_hits") for k in got["counts"])
    assert_same_run(tmp_path / "run", base / "fresh")


def test_source_fingerprint_changes_with_one_byte(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("X = 1\n")
    (tmp_path / "b.py").write_text("Y = 2\n")
    before = source_fingerprint(tmp_path)
    assert source_fingerprint(tmp_path) == before
    (tmp_path / "pkg" / "a.py").write_text("X = 2\n")
    assert source_fingerprint(tmp_path) != before


def test_code_fingerprint_changes_with_a_numeric_library_version(monkeypatch):
    import uqlens.backends.cache as cache

    before = cache.code_fingerprint.__wrapped__()
    versions = cache.library_versions()
    assert set(versions) == {"numpy", "pandas", "pyarrow", "scipy", "scikit-learn"}
    assert versions["numpy"] is not None
    monkeypatch.setattr(cache, "library_versions", lambda: {**versions, "scipy": "0.0.1"})
    assert cache.code_fingerprint.__wrapped__() != before


def test_one_changed_input_byte_misses_the_memo(built, tmp_path):
    base, src, _, _ = built
    changed = tmp_path / "gens.jsonl"
    text = src.read_text(encoding="utf-8")
    changed.write_text(text.replace("Which city, 3?", "Which city, 3!"), encoding="utf-8")
    assert changed.read_bytes() != src.read_bytes()
    got = quiet_build(changed, tmp_path / "run", NEW_RULES, base / "cache")
    assert "ingest_memo" not in got["stages"] and "cluster_memo" not in got["stages"]
    quiet_build(changed, tmp_path / "fresh", NEW_RULES, tmp_path / "fresh-cache")
    assert_same_run(tmp_path / "run", tmp_path / "fresh")
    questions = pd.read_parquet(tmp_path / "run" / "questions.parquet")
    assert "Which city, 3!" in questions["question"].tolist()


def test_unreadable_memo_files_are_misses(built, tmp_path):
    import shutil

    base, src, _, _ = built
    cache = tmp_path / "cache"
    shutil.copytree(base / "cache", cache)
    files = list((cache / "stages").rglob("*.parquet"))
    assert files
    for i, path in enumerate(files):  # torn, empty or not Parquet at all
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2] if i % 3 == 0
                         else b"" if i % 3 == 1 else b"not parquet")
    said: list[str] = []
    got = quiet_build(src, tmp_path / "run", NEW_RULES, cache, log=said.append)
    assert any("stage memo: unreadable" in line for line in said)
    assert not any(k.endswith("_memo") for k in got["stages"])
    assert_same_run(tmp_path / "run", base / "fresh")


def test_memo_roundtrip_keeps_values_and_types(tmp_path):
    memo = StageMemo(tmp_path)
    frame = pd.DataFrame({
        "question_id": pd.array(["q1", "q2", "q3"], dtype="str"),
        "references": [["a", "b"], [], ["c"]],
        "embedding": [[0.1, 0.2], [0.3, 0.4], [0.5, -0.25]],
        "n": pd.array([1, None, 3], dtype="Int64"),
        "ok": pd.array([True, None, False], dtype="boolean"),
        "nothing": [None, None, None],
    })
    memo.put("kind", "key", frame, {"note": "x"})
    got, meta = memo.get("kind", "key")
    assert meta == {"note": "x"}
    pd.testing.assert_frame_equal(got, frame, check_exact=True)
    assert got["references"].tolist() == [["a", "b"], [], ["c"]]
    assert isinstance(got["embedding"].iloc[0], list)
    assert memo.get("kind", "other") is None


def test_memo_keeps_under_its_size_cap(tmp_path):
    memo = StageMemo(tmp_path, max_mb=1e9)
    frame = pd.DataFrame({"x": range(20000)})
    for i in range(4):
        memo.put("kind", f"k{i}", frame)
        path = tmp_path / "kind" / f"k{i}.parquet"
        os.utime(path, (time.time() - 100 + i, time.time() - 100 + i))
    memo.get("kind", "k0")  # read: now the most recently used
    size = (tmp_path / "kind" / "k1.parquet").stat().st_size
    memo.max_bytes = int(2.5 * size)
    assert memo.trim() == 2
    assert sorted(p.stem for p in (tmp_path / "kind").glob("*.parquet")) == ["k0", "k3"]


def test_a_memo_capped_at_zero_is_off(tmp_path):
    memo = StageMemo(tmp_path, max_mb=0)
    memo.put("kind", "key", pd.DataFrame({"x": [1]}))
    assert memo.get("kind", "key") is None
    assert not (tmp_path / "kind").exists()


def test_ingest_read_back_equals_ingest(tmp_path):
    from uqlens.build.memo import BuildMemo
    from uqlens.build.pipeline import Stats

    src = write_input(tmp_path / "gens.jsonl", n_questions=5)
    memo = BuildMemo(StageMemo(tmp_path / "stages"), ["digest of the input"])
    first = memo.ingest([src], Stats())
    again = memo.ingest([src], Stats())
    assert memo.reused == {"ingest": ["all"]}
    for name in ("questions", "gens", "texts"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(first, name),
                                      check_exact=True)
    assert again.qtext == first.qtext
    assert again.gens["embedding"].tolist() == first.gens["embedding"].tolist()
    assert again.dataset.skipped == [] and again.dataset.score_orientation == {}


def test_a_memo_that_cannot_write_says_so_and_goes_on(tmp_path):
    blocker = tmp_path / "stages"
    blocker.write_text("a file where the memo's folder should be")
    said: list[str] = []
    memo = StageMemo(blocker, log=said.append)
    memo.put("kind", "key", pd.DataFrame({"x": [1]}))
    assert memo.get("kind", "key") is None
    assert said and said[0].startswith("stage memo: could not store kind")


def test_cluster_batch_from_whole_arrays_equals_the_question_loop(tmp_path, monkeypatch):
    import uqlens.build.scoring as scoring

    src = write_input(tmp_path / "gens.jsonl", n_questions=40, seed=3)
    quiet_build(src, tmp_path / "fast", NEW_RULES, tmp_path / "cache-a")
    monkeypatch.setattr(scoring, "_text_cluster_batch", lambda *a: None)
    quiet_build(src, tmp_path / "loop", NEW_RULES, tmp_path / "cache-b")
    fast = pd.read_parquet(tmp_path / "fast" / "scores.parquet")
    pd.testing.assert_frame_equal(fast, pd.read_parquet(tmp_path / "loop" / "scores.parquet"),
                                  check_exact=True)
    # the judged answer's cluster matters here: self-consistency is 1 - its share
    assert fast.query("method == 'self_consistency'")["uncertainty"].notna().all()
