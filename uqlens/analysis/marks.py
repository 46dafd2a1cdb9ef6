"""Distinct answers of the answer map: one mark per (question, answer text), so the many
identical answers of a question lie in one mark (sized by their count) instead of a stack.

Two answers are the same when :func:`uqlens.core.text.same_text` says so (case and
surrounding whitespace ignored). A question's judged answer keeps its own mark even when a
sample says the same (it is drawn as a diamond and may be labelled differently).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

# On a tie the label listed first wins: a mark half incorrect is shown as incorrect.
LABEL_ORDER = ("incorrect", "correct", "unknown")
CLUSTER_ORDER = ("largest", "2nd largest", "3rd or smaller", "no cluster")

MARK_COLUMNS = [
    "question_id", "question", "text", "x", "y", "count", "ids", "correctness", "n_correct",
    "n_incorrect", "cluster", "cluster_id", "uncertainty", "is_judged",
]


def _majority(codes: np.ndarray, group: np.ndarray, n_groups: int, n_labels: int) -> np.ndarray:
    """Per group the most frequent label code; ties go to the lowest code."""
    counts = np.zeros((n_groups, n_labels), dtype=np.int64)
    np.add.at(counts, (group, codes), 1)
    return counts.argmax(axis=1)


def _label_codes(values: pd.Series, order: tuple[str, ...]) -> np.ndarray:
    """The place of each value in ``order``; each distinct value looked up once."""
    codes, uniques = pd.factorize(values)
    at = pd.Index(list(order)).get_indexer(uniques) if len(uniques) else np.zeros(0, np.int64)
    if (codes < 0).any() or (at < 0).any():
        known = values.isin(order).to_numpy()
        bad = sorted(set(values[~known].astype(str)))
        raise ValueError(f"map points: unknown label(s) {bad}; expected one of {order}")
    return at.astype(np.int8)[codes]


def _text_codes(text: pd.Series) -> tuple[np.ndarray, int]:
    """Codes of the answers' texts up to case and surrounding whitespace (a missing text is
    ""), and how many there are: each distinct text folded once."""
    raw, uniques = pd.factorize(text.fillna("").astype(str))
    folded = pd.Series(uniques).str.strip().str.casefold()  # the same string dtype
    codes, values = pd.factorize(folded)
    return codes[raw], len(values)


def _column(frame: pd.DataFrame, name: str):
    """A column's values for a new frame: a string column as it is, any other as a numpy
    array (which the new frame's constructor infers a dtype for, as before)."""
    col = frame[name]
    return col.array if isinstance(col.dtype, pd.StringDtype) else col.to_numpy()


def _json_lists(flat: list, spans) -> list[str]:
    """Each span of ``flat`` as a JSON list string, what ``json.dumps`` writes; for ids of
    plain ASCII (no quote or backslash) joined directly, without building the lists."""
    try:
        plain = "".join(flat)
    except TypeError:  # ids that are not strings
        plain = None
    if plain is not None and plain.isascii() and plain.isprintable() and '"' not in plain \
            and "\\" not in plain:
        return ['["' + '", "'.join(flat[a:b]) + '"]' for a, b in spans]
    return [json.dumps(flat[a:b]) for a, b in spans]


def distinct_answers(points: pd.DataFrame, ids_json: bool = False) -> pd.DataFrame:
    """One row per distinct answer of a question (module docstring), largest count first.

    ``points``: :func:`uqlens.analysis.overview.map_points` (one row per answer). Columns:
    ``question_id, question, text`` (the first answer's spelling), ``x, y`` (mean position),
    ``count`` (answers), ``ids`` (their point ids, a list), ``correctness`` (majority label,
    ties in :data:`LABEL_ORDER`), ``n_correct, n_incorrect``, ``cluster`` (majority rank
    label), ``cluster_id`` (majority cluster id; -1 when none), ``uncertainty, is_judged``.
    ``ids_json``: ``ids`` holds each mark's ids as one JSON list string (what
    :func:`uqlens.viz.answers.mark_customdata` makes of the lists; the map's customdata), in
    an object column.
    """
    if points.empty:
        return pd.DataFrame(columns=MARK_COLUMNS)
    pts = points.reset_index(drop=True)
    judged = pts["is_judged"].fillna(False).to_numpy(bool)
    # the (question, text, judged) key's groups in order of first appearance, from one
    # integer per row (factorising a MultiIndex builds a Python tuple per row)
    q_code, _ = pd.factorize(pts["question_id"].astype(str))
    t_code, n_texts = _text_codes(pts["text"])
    group, _ = pd.factorize((q_code.astype(np.int64) * (n_texts + 1) + t_code) * 2 + judged)
    n = int(group.max()) + 1
    first = np.full(n, len(pts), dtype=np.int64)
    np.minimum.at(first, group, np.arange(len(pts)))
    count = np.bincount(group, minlength=n)
    corr = _label_codes(pts["correctness"], LABEL_ORDER)
    clus = _label_codes(pts["cluster"], CLUSTER_ORDER)
    cid = (pts["cluster_id"].fillna(-1).astype(np.int64).to_numpy() if "cluster_id" in pts
           else np.full(len(pts), -1, dtype=np.int64))
    cid_codes, cid_values = pd.factorize(cid, sort=True)
    head = pts[["question_id", "question", "text", "uncertainty"]].iloc[first]  # only these
    order = np.argsort(group, kind="stable")
    bounds = np.cumsum(count)[:-1]
    flat = pts["id"].to_numpy(object)[order].tolist()
    starts = np.r_[0, bounds].tolist()
    spans = zip(starts, np.r_[bounds, len(flat)].tolist(), strict=True)
    # JSON strings kept as objects: pandas would copy them into an Arrow column
    ids = (pd.Series(_json_lists(flat, spans), dtype=object) if ids_json
           else [flat[a:b] for a, b in spans])
    out = pd.DataFrame({
        "question_id": _column(head, "question_id"),
        "question": _column(head, "question"),
        "text": _column(head, "text"),
        "x": np.bincount(group, pts["x"].to_numpy(float), n) / count,
        "y": np.bincount(group, pts["y"].to_numpy(float), n) / count,
        "count": count,
        "ids": ids,
        "correctness": np.asarray(LABEL_ORDER, dtype=object)[_majority(corr, group, n, 3)],
        "n_correct": np.bincount(group, corr == 1, n).astype(np.int64),
        "n_incorrect": np.bincount(group, corr == 0, n).astype(np.int64),
        "cluster": np.asarray(CLUSTER_ORDER, dtype=object)[_majority(clus, group, n, 4)],
        "cluster_id": np.asarray(cid_values)[_majority(cid_codes, group, n, len(cid_values))],
        "uncertainty": head["uncertainty"].to_numpy(float),
        "is_judged": judged[first],
    })
    return out.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)


def selected_ids(customdata: list) -> list[str]:
    """The answer ids behind selected marks, in order, each once. A mark's ``customdata`` is
    its ids as a JSON list string (:func:`uqlens.viz.answers.mark_customdata`); a list of
    ids or a single id (a plain answer map) are accepted too."""
    out: list[str] = []
    for item in customdata:
        if item is None:
            continue
        if isinstance(item, str) and item.startswith('["'):
            item = json.loads(item)
        out.extend(str(i) for i in (item if isinstance(item, (list, tuple)) else [item]))
    return list(dict.fromkeys(out))


def map_marks(run, rule: str, method: str, judge: str,
              question_id: str | None = None) -> pd.DataFrame:
    """:func:`distinct_answers` of the run's map points (of one question when given)."""
    from uqlens.analysis.overview import map_points

    points = map_points(run, rule, method, judge)
    if question_id is not None:
        points = points[points["question_id"] == question_id]
    return distinct_answers(points)
