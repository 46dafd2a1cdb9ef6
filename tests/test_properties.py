"""Property-based tests (hypothesis): the loaders never crash on JSON-ish records, CSV cells
or raw bytes (they return a Dataset or raise DataError), and the metrics and entropies keep
their documented ranges on any input."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from uqlens.analysis import evaluation as ev
from uqlens.core.methods import REGISTRY, QuestionView
from uqlens.data.loaders import load
from uqlens.data.schema import DataError, Dataset

FAST = settings(max_examples=100, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ---- loaders -----------------------------------------------------------------------------

KEYS = ["question_id", "id", "question", "references", "answers", "reference", "samples",
        "greedy", "text", "sample_id", "is_greedy", "logprob_sum", "num_tokens",
        "token_logprobs", "temperature", "p_true", "verbalized_confidence", "provided_correct",
        "embedding", "meta", "context", "dataset", "model", "incorrect_references", "extra"]

TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["", " ", "Paris", "q1", "q2", "greedy", "s0", "<script>x</script>", "NaN", "1", "true",
     "[\"Paris\"]", "[", "\u202e", "\x00"]
)
SCALARS = (st.none() | st.booleans() | st.integers(-(10**30), 10**30)
           | st.floats(allow_nan=True, allow_infinity=True) | TEXT)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS) | TEXT, inner, max_size=4),
    max_leaves=12,
)
SAMPLE = st.one_of(TEXT, st.dictionaries(st.sampled_from(KEYS), JSONISH, max_size=6))
RECORD = st.fixed_dictionaries(
    {},
    optional={
        "question_id": st.sampled_from(["q1", "q2", "q3", "", 1, 2]) | JSONISH,
        "question": TEXT | JSONISH,
        "references": st.lists(TEXT, max_size=3) | JSONISH,
        "samples": st.lists(SAMPLE, max_size=4) | JSONISH,
        "greedy": SAMPLE | JSONISH,
        "text": TEXT | JSONISH,
        "logprob_sum": SCALARS,
        "num_tokens": SCALARS,
        "temperature": SCALARS,
        "p_true": SCALARS,
        "meta": JSONISH,
    },
)



@st.composite
def near_valid(draw):
    """A valid nested record with a few fields replaced by hostile values: reaches the
    validation of every field, not just the JSON parser."""
    n = draw(st.integers(0, 4))
    record = {
        "question_id": draw(st.sampled_from(["q1", "q2", "q3", 7])),
        "question": draw(st.sampled_from(["Capital of France?", "<b>Q</b>", "\u202eQ?"])),
        "references": ["Paris"],
        "samples": [
            {"text": draw(TEXT), "logprob_sum": draw(st.floats(-50, 0)),
             "num_tokens": draw(st.integers(1, 9)), "temperature": 1.0}
            for _ in range(n)
        ],
    }
    if draw(st.booleans()):
        record["greedy"] = {"text": draw(TEXT), "p_true": draw(st.floats(0, 1))}
    for _ in range(draw(st.integers(0, 2))):
        samples = record.get("samples")
        nested = isinstance(samples, list) and samples and isinstance(samples[0], dict)
        target = samples[0] if nested and draw(st.booleans()) else record
        target[draw(st.sampled_from(KEYS))] = draw(JSONISH)
    return record


RECORD = near_valid() | near_valid() | RECORD


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory(prefix="uqlens-props-") as tmp:
        yield Path(tmp)


def _check(path: Path) -> None:
    """load() returns a consistent Dataset or raises DataError; nothing else."""
    for skip in (False, True):
        try:
            ds = load(path, skip_invalid=skip)
        except DataError as exc:
            assert exc.errors and all(e.file == str(path) for e in exc.errors)
            event(f"skip={skip}: DataError")
            continue
        assert isinstance(ds, Dataset)
        event(f"skip={skip}: Dataset")
        q, g = ds.questions, ds.generations
        assert len(q) > 0 and q["question_id"].is_unique
        assert set(g["question_id"]) == set(q["question_id"])
        assert not g.duplicated(["question_id", "sample_id"]).any()
        assert (g.groupby("question_id")["is_greedy"].sum() <= 1).all()
        for name in ("logprob_sum", "temperature", "p_true"):
            values = g[name].dropna().to_numpy(dtype=float)
            assert np.isfinite(values).all()
        assert all(isinstance(t, str) for t in g["text"])
        # references are optional (a peer tool's file may carry none), but never non-strings
        assert all(all(isinstance(r, str) and r.strip() for r in refs)
                   for refs in q["references"])


@FAST
@given(records=st.lists(RECORD, min_size=1, max_size=5),
       garbage=st.lists(st.binary(max_size=20), max_size=2))
def test_jsonl_never_crashes(scratch, records, garbage):
    lines = [json.dumps(r, allow_nan=True).encode() for r in records] + garbage
    path = scratch / "fuzz.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    _check(path)


@FAST
@given(records=st.lists(RECORD, min_size=1, max_size=5))
def test_json_array_never_crashes(scratch, records):
    path = scratch / "fuzz.json"
    path.write_text(json.dumps(records, allow_nan=True), encoding="utf-8")
    _check(path)


CSV_CELL = TEXT | st.sampled_from(['["Paris"]', '["a", "b"]', "-0.5", "0.3", "1e999", "nan"])


@st.composite
def csv_tables(draw):
    """Mostly the required columns plus extras; rows mostly of the right width."""
    header = draw(st.just(["question_id", "question", "references", "text"])
                  | st.lists(st.sampled_from(KEYS[:14]) | TEXT, min_size=1, max_size=6))
    header = header + draw(st.lists(st.sampled_from(KEYS[9:16]), max_size=2))
    width = st.just(len(header)) | st.integers(0, len(header) + 2)
    rows = draw(st.lists(width.flatmap(lambda w: st.lists(CSV_CELL, min_size=w, max_size=w)),
                         max_size=5))
    return header, rows


@FAST
@given(table=csv_tables(), raw=st.binary(max_size=30) | st.just(b""))
def test_csv_never_crashes(scratch, table, raw):
    header, rows = table
    import csv
    import io

    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    path = scratch / "fuzz.csv"
    path.write_bytes(buf.getvalue().encode("utf-8", errors="surrogatepass") + raw)
    _check(path)


@FAST
@given(data=st.binary(max_size=200), suffix=st.sampled_from(
    [".jsonl", ".json", ".csv", ".tsv", ".parquet", ".pkl", ".txt", ""]))
def test_random_bytes_never_crash(scratch, data, suffix):
    path = scratch / f"fuzz{suffix}"
    path.write_bytes(data)
    _check(path)


@settings(max_examples=30, deadline=None)
@given(records=st.lists(st.fixed_dictionaries({
    "question_id": st.sampled_from(["q1", "q2"]),
    "question": TEXT,
    "references": st.lists(TEXT, max_size=2),
    "text": TEXT,
    "logprob_sum": st.floats(allow_nan=True, allow_infinity=True) | st.none(),
    "p_true": st.floats(allow_nan=True, allow_infinity=True) | st.none(),
}), min_size=1, max_size=4))
def test_parquet_never_crashes(scratch, records):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = scratch / "fuzz.parquet"
    cleaned = [{k: (v.encode("utf-8", "replace").decode() if isinstance(v, str) else v)
                for k, v in r.items()} for r in records]
    for r in cleaned:
        r["references"] = [x.encode("utf-8", "replace").decode() for x in r["references"]]
    pq.write_table(pa.Table.from_pylist(cleaned), path)
    _check(path)


# ---- metrics -----------------------------------------------------------------------------

SCORE = st.floats(-1e6, 1e6, allow_nan=False)
SCORES_LABELS = st.integers(1, 40).flatmap(
    lambda n: st.tuples(
        st.lists(SCORE | st.just(float("nan")), min_size=n, max_size=n),
        st.lists(st.booleans(), min_size=n, max_size=n),
    )
)


@FAST
@given(u=st.lists(SCORE, max_size=30), label=st.booleans())
def test_one_class_metrics_are_undefined_not_nan(u, label):
    y = [label] * len(u)
    for metric in (ev.auroc, ev.auprc, ev.prr):
        assert metric(u, y) is None
    assert ev.tpr_at_fpr(u, y, 0.05)[0] is None


@FAST
@given(data=SCORES_LABELS)
def test_auroc_auprc_in_unit_interval(data):
    u, y = data
    for metric in (ev.auroc, ev.auprc):
        value = metric(u, y)
        kept = np.asarray(y)[~np.isnan(u)]
        if 0 < kept.sum() < len(kept):
            assert value is not None and 0.0 <= value <= 1.0
        else:
            assert value is None


@FAST
@given(data=SCORES_LABELS)
def test_auroc_is_symmetric_under_flipping_the_score(data):
    u, y = data
    a, b = ev.auroc(u, y), ev.auroc([-x for x in u], y)
    assert (a is None) == (b is None)
    if a is not None:
        assert math.isclose(a + b, 1.0, abs_tol=1e-9)


@FAST
@given(y=st.lists(st.booleans(), min_size=2, max_size=60), noise=st.randoms(use_true_random=False))
def test_prr_of_the_oracle_ordering_is_one(y, noise):
    assume(0 < sum(y) < len(y))
    # any score that puts every wrong answer above every right one is an oracle ordering
    u = [(2.0 if wrong else 0.0) + noise.random() for wrong in y]
    assert math.isclose(ev.prr(u, y), 1.0, abs_tol=1e-9)
    assert math.isclose(ev.prr([1.0 if w else 0.0 for w in y], y), 1.0, abs_tol=1e-9)
    assert ev.prr([-x for x in u], y) < 0  # the reversed oracle
    assert math.isclose(ev.prr([0.5] * len(y), y), 0.0, abs_tol=1e-9)


@FAST
@given(n=st.integers(1, 30), k=st.floats(0.01, 1.0), seed=st.integers(0, 2**16))
def test_top_k_jaccard_in_unit_interval(n, k, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = rng.normal(size=n)
    b[rng.random(n) < 0.2] = np.nan
    value = ev.top_k_jaccard(a, b, k)
    if np.isnan(b).all():
        assert value is None
    else:
        assert 0.0 <= value <= 1.0
    assert ev.top_k_jaccard(a, a, k) == 1.0


@FAST
@given(data=SCORES_LABELS)
def test_ece_and_kendall_ranges(data):
    u, y = data
    conf = ev.uncertainty_to_confidence(u)
    finite = ~np.isnan(conf)
    assert ((conf[finite] >= 0) & (conf[finite] <= 1)).all()
    value = ev.ece(conf, [not w for w in y])
    assert value is None or 0.0 <= value <= 1.0
    tau = ev.kendall_tau(u, [float(w) for w in y])
    assert tau is None or -1.0 - 1e-12 <= tau <= 1.0 + 1e-12


# ---- entropies ---------------------------------------------------------------------------

LOGPROB = st.floats(-1e4, 0.0, allow_nan=False)


@st.composite
def views(draw, min_n=1):
    n = draw(st.integers(min_n, 12))
    ids = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    return QuestionView(
        question_id="q",
        question="Q?",
        texts=tuple(f"a{i}" for i in range(n)),
        cluster_ids=np.asarray(ids),
        logprob_sum=np.asarray(draw(st.lists(LOGPROB, min_size=n, max_size=n))),
        num_tokens=np.asarray(draw(st.lists(st.integers(0, 200), min_size=n, max_size=n))),
    )


ENTROPIES = ["semantic_entropy", "discrete_semantic_entropy", "predictive_entropy",
             "ln_predictive_entropy"]


@FAST
@given(view=views())
def test_entropies_are_non_negative_for_any_clustering_and_logprobs(view):
    for method in ENTROPIES:
        value = REGISTRY[method].score(view)
        if view.n < 2:
            assert math.isnan(value), method
        else:
            assert math.isfinite(value) and value >= 0.0, (method, value)


@FAST
@given(view=views(min_n=2), shift=st.floats(-50, 50))
def test_semantic_entropy_bounds(view, shift):
    """0 <= SE <= log(#clusters); it ignores a common shift of the log-likelihoods (only
    relative mass matters), and one cluster gives exactly 0."""
    se = REGISTRY["semantic_entropy"].score(view, length_normalized=False)
    k = len(np.unique(view.cluster_ids))
    assert 0.0 <= se <= math.log(k) + 1e-9
    shifted = QuestionView(**{**view.__dict__, "logprob_sum": view.logprob_sum + shift})
    assert math.isclose(REGISTRY["semantic_entropy"].score(shifted, length_normalized=False),
                        se, abs_tol=1e-6)
    one = QuestionView(**{**view.__dict__, "cluster_ids": np.zeros(view.n, dtype=int)})
    assert REGISTRY["semantic_entropy"].score(one) == 0.0
    assert REGISTRY["discrete_semantic_entropy"].score(one) == 0.0
