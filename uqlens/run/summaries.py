"""Query-ready summaries of a built run, written by the build into ``summaries/`` beside the
tables, so that a page reads and filters instead of recomputing.

What is stored (format :data:`FORMAT`, listed in ``manifest["summaries"]``):

- per rule, ``rule-R-clusters``: every column of
  :func:`uqlens.analysis.overview.cluster_summary` except the judge's (``correct``,
  ``share_correct``), in its row order;
- per (rule, judge), ``rule-R-judge-J``: those two columns, row for row;
- per rule, ``rule-R-scores``: :func:`uqlens.analysis.overview.question_scores` (all methods);
- per judge, ``judge-J``: :func:`uqlens.analysis.overview.sample_correctness` (per question:
  any sample correct, share correct, the distinct correct texts).

Every table is computed here from the run's tables with grouped array operations over all
questions at once (the analyses' own functions, the reference, loop per method or build a
list per group in Python); tests check that both give identical frames. Only the judges the
build ran are stored: a ``human+`` judge (:mod:`uqlens.run.labels`) changes with every label
and is served from its base judge's tables by :mod:`uqlens.analysis.stored`, the labelled
questions recomputed.

A stored table is used only when the manifest lists it under this module's :data:`FORMAT`,
the file carries the manifest's summaries ``id`` and the tables it was computed from still
have the row counts recorded with it: an old run (no summaries), a run of another summaries
format or a run whose tables were replaced is computed as before. Change :data:`FORMAT`
whenever what a table holds or how it is computed changes.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

FORMAT = "uqlens-summaries/1"
FOLDER = "summaries"
ID_KEY = b"uqlens.summaries_id"
LIST_COLUMNS = {"clusters": ("members", "member_ids"), "judge": ("correct_answers",)}
SOURCES = ("questions", "generations", "clusters", "scores", "correctness")
"""The tables the summaries are computed from; their row counts are recorded and checked."""
STRUCTURE = ["question_id", "cluster_id", "rank", "size", "mass", "representative", "members",
             "member_ids", "holds_judged"]


# --------------------------------------------------------------------------- computing


@dataclass
class _Answers:
    """The run's generations in table order, with what every summary shares."""

    gen: pd.DataFrame  # question_id, sample_id, text, [text_id], is_greedy (bool)
    in_samples: np.ndarray  # the answers counts and shares are over (the analyses' samples)
    is_judged: np.ndarray  # each question's judged answer


def _answers(run) -> _Answers:
    from uqlens.run.rescore import judged_rows, scored_sample_mask, scored_temperature

    gen = run.table("generations")
    cols = [c for c in ("question_id", "sample_id", "text", "text_id", "is_greedy") if c in gen]
    out = gen[cols].reset_index(drop=True)
    out["is_greedy"] = out["is_greedy"].astype(bool) if "is_greedy" in out else False
    scored = scored_sample_mask(gen, scored_temperature(run)).to_numpy()
    q = out["question_id"]
    sampled = ~out["is_greedy"].to_numpy()
    # A question with no scored sample counts its other samples, one with none its greedy.
    has_scored = pd.Series(scored).groupby(q.to_numpy()).transform("any").to_numpy()
    has_sampled = pd.Series(sampled).groupby(q.to_numpy()).transform("any").to_numpy()
    in_samples = np.where(has_scored, scored, np.where(has_sampled, sampled, True))
    judged = pd.MultiIndex.from_frame(judged_rows(run)[["question_id", "sample_id"]])
    is_judged = pd.MultiIndex.from_arrays([q, out["sample_id"]]).isin(judged)
    return _Answers(out, in_samples.astype(bool), np.asarray(is_judged, dtype=bool))


def _built(run, name: str) -> pd.DataFrame:
    """A table as built (the ``correctness`` table without human judges)."""
    return run.built_table(name) if hasattr(run, "built_table") else run.table(name)


def _correct(run, answers: _Answers, judge: str) -> pd.Series:
    """``judge``'s label of every generation (nullable boolean, generation order)."""
    corr = _built(run, "correctness")
    corr = corr[corr["judge"] == judge][["question_id", "sample_id", "label"]]
    got = answers.gen[["question_id", "sample_id"]].merge(
        corr, on=["question_id", "sample_id"], how="left")
    return got["label"].astype("boolean").reset_index(drop=True)


def _rule_clusters(run, answers: _Answers, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """``(cluster id per generation, marked representative)`` under ``rule``; an answer the
    clusters table misses takes the cluster of an identical sampled text, else -1."""
    cl = _built(run, "clusters")
    cl = cl[cl["rule"] == rule]
    keep = ["question_id", "sample_id", "cluster_id"] + (
        ["is_representative"] if "is_representative" in cl else [])
    got = answers.gen.merge(cl[keep], on=["question_id", "sample_id"], how="left")
    cid = got["cluster_id"]
    if "text_id" in got and cid.isna().any():
        known = got[~got["is_greedy"] & cid.notna()].drop_duplicates(["question_id", "text_id"])
        fill = got[["question_id", "text_id"]].merge(
            known[["question_id", "text_id", "cluster_id"]], on=["question_id", "text_id"],
            how="left")["cluster_id"]
        cid = cid.fillna(fill)
    rep = (got["is_representative"].fillna(False).astype(bool).to_numpy()
           if "is_representative" in got else np.zeros(len(got), dtype=bool))
    return cid.fillna(-1).astype(int).to_numpy(), rep


@dataclass
class _Structure:
    """The clusters of one rule: ``frame`` (the summary's rule columns, final row order)
    and, per sample row ``rows`` (generation positions), its group; per group its
    representative's row; ``order``: group of each frame row."""

    frame: pd.DataFrame
    rows: np.ndarray
    group: np.ndarray
    rep: np.ndarray
    order: np.ndarray


def _representatives(group: np.ndarray, text: pd.Series, marked: np.ndarray) -> np.ndarray:
    """Per group (0..n-1) the row of its representative: its first row marked
    representative, else the first row of its most frequent text (a missing text last)."""
    if not len(group):
        return np.zeros(0, dtype=np.int64)
    code = pd.factorize(text, use_na_sentinel=True)[0]
    key = pd.Series(group.astype(np.int64) * (code.max() + 2) + code + 1)
    count = key.groupby(key.to_numpy()).transform("size").to_numpy()
    count = np.where(code < 0, -1, count)
    first = ~key.duplicated().to_numpy()
    cand = np.flatnonzero(marked | first)
    p0 = np.where(marked[cand], 0, 1)
    p1 = np.where(marked[cand], 0, -count[cand])
    order = cand[np.lexsort((cand, p1, p0, group[cand]))]
    g = group[order]
    return order[np.r_[True, g[1:] != g[:-1]]]


def _lists(values: np.ndarray, sizes: np.ndarray) -> list[list]:
    """``values`` (already in group order) cut into consecutive lists of ``sizes``."""
    flat = np.asarray(values).tolist()  # one conversion; slicing lists beats np.split
    ends = np.cumsum(sizes).tolist()
    return [flat[a:b] for a, b in zip([0, *ends][:len(ends)], ends, strict=True)]


def _structure(answers: _Answers, cid: np.ndarray, marked: np.ndarray) -> _Structure:
    """The judge-free part of the cluster summary of one rule."""
    rows = np.flatnonzero(answers.in_samples & (cid >= 0))
    gen = answers.gen.iloc[rows].reset_index(drop=True)
    c = cid[rows]
    group = pd.DataFrame({"q": gen["question_id"], "c": c}).groupby(
        ["q", "c"], sort=False).ngroup().to_numpy()
    if len(rows) == 0:
        return _Structure(pd.DataFrame(columns=STRUCTURE), rows, group, group, group)
    size = np.bincount(group)
    rep = _representatives(group, gen["text"], marked[rows])
    by_group = np.argsort(group, kind="stable")  # members in table order
    first = by_group[np.r_[0, np.cumsum(size)[:-1]]]
    qid = gen["question_id"].to_numpy()[first]
    judged = answers.is_judged
    judged_cluster = dict(zip(answers.gen["question_id"].to_numpy()[judged], cid[judged],
                              strict=True))
    n_samples = pd.Series(size).groupby(qid).transform("sum").to_numpy()
    frame = pd.DataFrame({"question_id": qid, "cluster_id": c[first], "size": size,
                          "_g": np.arange(len(size))})
    frame["members"] = _lists(gen["text"].to_numpy()[by_group], size)
    frame["member_ids"] = _lists(gen["sample_id"].to_numpy()[by_group], size)
    frame["representative"] = gen["text"].to_numpy()[rep]
    frame["mass"] = size / n_samples
    held = frame["question_id"].map(judged_cluster)
    frame["holds_judged"] = (held == frame["cluster_id"]).fillna(False).astype(bool)
    frame = frame.sort_values(["question_id", "size", "cluster_id"],
                              ascending=[True, False, True])
    frame["rank"] = frame.groupby("question_id").cumcount() + 1
    order = frame.pop("_g").to_numpy()
    return _Structure(frame[STRUCTURE].reset_index(drop=True), rows, group, rep, order)


def _labels(struct: _Structure, correct: pd.Series) -> pd.DataFrame:
    """``correct`` (the representative's label) and ``share_correct`` per summary row."""
    if len(struct.rows) == 0:
        return pd.DataFrame({"correct": pd.array([], dtype="boolean"),
                             "share_correct": np.array([], dtype=float)})
    label = correct.iloc[struct.rows].reset_index(drop=True)
    known = label.notna().to_numpy()
    right = label.fillna(False).to_numpy(dtype=bool)
    n = len(struct.frame)
    n_known = np.bincount(struct.group, weights=known, minlength=n)
    n_right = np.bincount(struct.group, weights=right, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n_known > 0, n_right / n_known, np.nan)
    rep_label = label.array[struct.rep]
    return pd.DataFrame({"correct": rep_label[struct.order].astype("boolean"),
                         "share_correct": share[struct.order]})


def _grouped_lists(keys: np.ndarray, values: np.ndarray) -> pd.Series:
    """``values`` as one list per key, keys and values in first-seen order (what
    ``groupby(sort=False).agg(list)`` gives), cut by position when each key's values are
    consecutive (a build's tables are in question order)."""
    start = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.zeros(
        0, dtype=np.int64)
    if len(set(keys[start].tolist())) != len(start):
        return pd.Series(values).groupby(keys, sort=False).agg(list)
    return pd.Series(_lists(values, np.diff(np.r_[start, len(keys)])), index=keys[start],
                     dtype=object)


def _sample_correctness(answers: _Answers, correct: pd.Series) -> pd.DataFrame:
    """Per question with samples: ``any_correct``, ``share_correct`` (NaN when none is
    labelled) and ``correct_answers`` (distinct correct sample texts, first seen first)."""
    rows = np.flatnonzero(answers.in_samples)
    qid = answers.gen["question_id"].to_numpy()[rows]
    label = correct.iloc[rows]
    right = label.fillna(False).to_numpy(dtype=bool)
    frame = pd.DataFrame({"question_id": qid, "_right": right,
                          "_known": label.notna().to_numpy()})
    out = frame.groupby("question_id").agg(any_correct=("_right", "any"),
                                           _n_right=("_right", "sum"), _n=("_known", "sum"))
    with np.errstate(invalid="ignore", divide="ignore"):
        out["share_correct"] = np.where(out["_n"] > 0, out["_n_right"] / out["_n"], np.nan)
    good = pd.DataFrame({"question_id": qid[right],
                         "text": answers.gen["text"].to_numpy()[rows][right]}).drop_duplicates()
    texts = _grouped_lists(good["question_id"].to_numpy(), good["text"].to_numpy())
    out["correct_answers"] = texts.reindex(out.index)
    out["correct_answers"] = [v if isinstance(v, list) else [] for v in out["correct_answers"]]
    out = out.drop(columns=["_n_right", "_n"]).reset_index()
    out["any_correct"] = out["any_correct"].astype(bool)
    return out


def _scores(run, rule: str) -> pd.DataFrame:
    """:func:`uqlens.analysis.overview.question_scores` of every method, ranked per method
    with grouped operations."""
    from uqlens.core.ranking import certainty_ranks, rounded

    s = run.table("scores")
    s = s[s["rule"] == rule][["question_id", "method", "uncertainty"]].copy()
    s["uncertainty"] = s["uncertainty"].astype(float)
    s["_u"] = rounded(s["uncertainty"].to_numpy())
    by_method = s.groupby("method")["_u"]
    rank = by_method.rank(method="average").to_numpy()
    n = by_method.transform("count").to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(n == 1, 50.0, 100.0 * (rank - 1.0) / (n - 1.0))
    s["percentile"] = np.where(np.isnan(rank), np.nan, pct)
    tied = s.groupby(["method", "_u"])["_u"].transform("size").to_numpy(dtype=float) - 1.0
    s["n_tied"] = np.where(np.isnan(s["_u"].to_numpy()), np.nan, tied)
    many = np.where(s["n_tied"] > 1, "s", "")
    words = "tied with " + s["n_tied"].fillna(0).astype(int).astype(str) + " other" + many
    s["tie"] = np.where(s["n_tied"] >= 1, words, "")
    return certainty_ranks(s)


def build_summaries(run, memo=None, keys: dict | None = None
                    ) -> tuple[dict[str, pd.DataFrame], dict]:
    """Every summary of ``run``: ``({NAME: frame}, manifest["summaries"] entry)``.

    ``memo`` (a :class:`uqlens.backends.cache.StageMemo`) and ``keys`` (``{(kind, rule,
    judge): key}``, kinds "clusters", "scores", "labels", "judge"; made by the build from
    what each summary is computed from): a summary with a key is read from the memo when
    there, else computed and stored."""
    from uqlens.run.labels import human_base

    judges = [j for j in run.judges if human_base(j) is None]
    cached: dict = {}

    def answers():
        if "answers" not in cached:
            cached["answers"] = _answers(run)
        return cached["answers"]

    def correct(judge):
        if ("correct", judge) not in cached:
            cached[("correct", judge)] = _correct(run, answers(), judge)
        return cached[("correct", judge)]

    def structure(rule):
        if ("structure", rule) not in cached:
            cached[("structure", rule)] = _structure(answers(), *_rule_clusters(
                run, answers(), rule))
        return cached[("structure", rule)]

    def piece(kind, rule, judge, compute):
        key = (keys or {}).get((kind, rule, judge))
        got = memo.get(f"summary-{kind}", key) if memo is not None and key else None
        if got is not None:
            return got[0]
        frame = compute()
        if memo is not None and key:
            memo.put(f"summary-{kind}", key, frame)
        return frame

    rows = {t: _row_count(run, t) for t in SOURCES}
    index: dict = {"format": FORMAT, "id": summaries_id(run.manifest, rows), "rules": {},
                   "judges": {}, "source_rows": rows}
    files: dict[str, pd.DataFrame] = {}
    for j, judge in enumerate(judges):
        files[f"judge-{j}"] = piece("judge", None, judge, lambda judge=judge: (
            _sample_correctness(answers(), correct(judge))))
        index["judges"][judge] = f"judge-{j}"
    for r, rule in enumerate(run.rules):
        entry = {"clusters": f"rule-{r}-clusters", "scores": f"rule-{r}-scores", "judges": {}}
        files[entry["clusters"]] = piece("clusters", rule, None,
                                         lambda rule=rule: structure(rule).frame)
        files[entry["scores"]] = piece("scores", rule, None, lambda rule=rule: _scores(run, rule))
        for j, judge in enumerate(judges):
            entry["judges"][judge] = f"rule-{r}-judge-{j}"
            files[entry["judges"][judge]] = piece("labels", rule, judge, lambda r=rule, j=judge: (
                _labels(structure(r), correct(j))))
        index["rules"][rule] = entry
    return files, index


def _row_count(run, name: str) -> int:
    """Rows of a built table; from the Parquet footer (no read) for a whole run's file."""
    import pyarrow.parquet as pq

    path = getattr(run, "path", None)
    whole = getattr(run, "subset", None) is None and getattr(run, "_parent", None) is None
    file = Path(path) / f"{name}.parquet" if path is not None and whole else None
    if file is not None and file.is_file():
        return pq.read_metadata(file).num_rows
    return len(_built(run, name))


# --------------------------------------------------------------------------- storing, reading


def summaries_id(manifest: dict, source_rows: dict) -> str:
    """What the summaries were computed from: the inputs' hashes, the build's parameters
    (not where it ran), its rules, judges and methods, the package versions and the tables'
    row counts. Builds of the same inputs and settings share it (their summaries are equal);
    any other build's summaries are refused."""
    params = {k: v for k, v in (manifest.get("params") or {}).items()
              if k not in ("engine", "ray_address")}
    basis = {"format": FORMAT, "params": params, "rows": source_rows,
             "input": [i.get("sha256") for i in manifest.get("input") or []
                       if isinstance(i, dict)],
             **{k: manifest.get(k) for k in ("rules", "judges", "methods", "versions")}}
    text = json.dumps(basis, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]



def write_summaries(folder: Path, manifest: dict, memo=None, keys: dict | None = None) -> None:
    """Compute the summaries of the run being written in ``folder`` (its tables as written,
    ``manifest`` not yet) into ``folder/summaries`` and record them in ``manifest``;
    ``memo``, ``keys``: see :func:`build_summaries`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from uqlens.run.folder import Run

    start = time.perf_counter()
    files, index = build_summaries(Run(path=Path(folder), manifest=manifest), memo, keys)
    (Path(folder) / FOLDER).mkdir(exist_ok=True)
    for name, frame in files.items():
        table = pa.Table.from_pandas(frame, preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               ID_KEY: index["id"].encode()})
        pq.write_table(table, Path(folder) / FOLDER / f"{name}.parquet")
    manifest["summaries"] = index
    manifest.setdefault("timings", {})["summaries"] = round(time.perf_counter() - start, 3)


def _file(run, kind: str, rule: str | None, judge: str | None) -> str | None:
    index = (getattr(run, "manifest", None) or {}).get("summaries") or {}
    if index.get("format") != FORMAT or getattr(run, "path", None) is None:
        return None
    if kind == "judge":
        return index.get("judges", {}).get(judge)
    entry = index.get("rules", {}).get(rule) or {}
    return entry.get("judges", {}).get(judge) if kind == "labels" else entry.get(kind)


def read(run, kind: str, rule: str | None = None, judge: str | None = None,
         columns: tuple[str, ...] | None = None) -> pd.DataFrame | None:
    """A stored summary: ``kind`` "clusters" (with ``judge``: the whole cluster summary),
    "scores" or "judge"; None when the run has none that is current (see the module note).
    ``columns``: only those (in that order), read from the files alone: a page that shows no
    member list does not turn a million sample texts into Python lists. Frames are read once
    per run object; callers get a copy."""
    name = _file(run, "judge" if kind == "judge" else kind, rule, judge)
    if name is None:
        return None
    root = run
    while getattr(root, "_parent", None) is not None:  # a restricted view: its whole run
        root = root._parent
    memo = vars(root).setdefault("_summaries", {})
    full = memo.get((kind, rule, judge, None))
    key = (kind, rule, judge, None if columns is None else tuple(columns))
    if key not in memo:
        if full is not None:  # already read whole: its columns
            memo[key] = full[list(columns)]
        else:
            memo[key] = _load(root, kind, rule, judge, key[3])
    got = memo[key]
    return None if got is None else got.copy(deep=False)


def _load(run, kind: str, rule: str | None, judge: str | None,
          columns: tuple[str, ...] | None = None) -> pd.DataFrame | None:
    rows = run.manifest["summaries"].get("source_rows") or {}
    if any(_row_count(run, t) != n for t, n in rows.items()):
        return None  # the tables were changed after the build (copied, edited)
    judged = kind == "clusters" and judge is not None
    label_cols = [c for c in ("correct", "share_correct") if judged and (
        columns is None or c in columns)]
    own = None if columns is None else [c for c in columns if c not in label_cols]
    frame = _read_file(run, _file(run, kind, rule, judge), LIST_COLUMNS.get(kind, ()), own)
    if frame is None or not judged:
        return frame
    labels = _read_file(run, _file(run, "labels", rule, judge), (), label_cols)
    if labels is None or len(labels) != len(frame):
        return None
    out = frame.drop(columns=[c for c in ("holds_judged",) if c in frame])
    if "correct" in label_cols:
        out["correct"] = labels["correct"].astype("boolean")
    if "share_correct" in label_cols:
        out["share_correct"] = labels["share_correct"].astype(float)
    if "holds_judged" in frame:
        out["holds_judged"] = frame["holds_judged"]
    return out if columns is None else out[list(columns)]


def _row_count(run, name: str) -> int:
    """Rows of a table as built: from the Parquet footer while the table is not loaded
    (counting must not read a million-row table a page never uses)."""
    tables = getattr(run, "_tables", None)
    path = getattr(run, "path", None)
    if (tables is None or name in tables or getattr(run, "_parent", None) is not None
            or path is None or not (Path(path) / f"{name}.parquet").is_file()):
        return len(_built(run, name))
    import pyarrow.parquet as pq

    return pq.ParquetFile(Path(path) / f"{name}.parquet").metadata.num_rows


def _read_file(run, name: str | None, list_columns, columns=None) -> pd.DataFrame | None:
    """A stored file as a frame (``columns``: only those; None: all), list columns as
    Python lists; None when it is missing or written by another build."""
    import pyarrow.parquet as pq

    path = run.path / FOLDER / f"{name}.parquet" if name else None
    if path is None or not path.is_file():
        return None
    if columns is not None:
        schema = pq.read_schema(path)
        if (schema.metadata or {}).get(ID_KEY) != run.manifest["summaries"]["id"].encode():
            return None  # written by another build than the manifest's
        table = pq.read_table(path, columns=[c for c in columns if c in schema.names])
    else:
        table = pq.read_table(path)
    wanted = run.manifest["summaries"]["id"].encode()
    if columns is None and (table.schema.metadata or {}).get(ID_KEY) != wanted:
        return None  # written by another build than the manifest's
    lists = {c: table.column(c).to_pylist() for c in list_columns if c in table.column_names}
    frame = table.drop_columns(list(lists)).to_pandas()
    for c, values in lists.items():
        frame[c] = values
    cols = [c for c in table.column_names]
    return frame[cols]
