"""Confidence is a region, not the truth: where a method's confident band lies among the
answers, and how far it is from the set of correct answers.

A UQ method scores questions; a gate trusts the least uncertain ones. Here every answer
inherits its question's score, the answers are split into a *confident* and an *uncertain*
band, and the confident set ``C`` is compared with the set ``R`` of answers the judge labels
correct. Clustering-based methods reward consistency, so ``C`` holds answers the model
gives consistently, right or wrong, and misses correct answers it gives hesitantly.

Pure functions over a built run's tables (see :mod:`uqlens.analysis.overview`); no Streamlit, no
model. Orientation as everywhere: higher uncertainty = less confident.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from uqlens.analysis import overview as analysis
from uqlens.core.projection import project

BANDS = ("confident", "uncertain", "undefined")
SPACES = ("auto", "hidden_state", "projection")
SPACE_LABELS = {
    "hidden_state": "hidden states of the generating model, PCA",
    "projection": "answer embeddings, the run's 2-D projection",
}
"""What each space is, for captions and axis titles: a view must say which one it shows."""


def confidence_bands(uncertainty: pd.Series, split: float) -> pd.Series:
    """The band of each entry of ``uncertainty`` (indexed by question id).

    With ``n`` defined scores and ``k = ceil(split * n)``, the threshold ``t`` is the
    ``k``-th smallest score; entries with ``uncertainty <= t`` are "confident" (so ties at the
    threshold join the band, which can then hold more than ``split`` of the questions), the
    other defined ones "uncertain", NaN scores "undefined". ``split`` 0 makes no entry
    confident, 1 makes every defined entry confident.
    """
    if not 0.0 <= split <= 1.0:
        raise ValueError(f"split must be within [0, 1], got {split}")
    u = uncertainty.astype(float)
    defined = u.dropna().sort_values()
    out = pd.Series("undefined", index=u.index, dtype=object)
    k = min(len(defined), math.ceil(split * len(defined) - 1e-9))
    out[u.notna()] = "uncertain"
    if k > 0:
        threshold = defined.iloc[k - 1]
        out[u <= threshold] = "confident"
    return out


def band_threshold(uncertainty: pd.Series, split: float) -> float:
    """The score ``t`` of :func:`confidence_bands` (NaN when no entry is confident)."""
    defined = uncertainty.astype(float).dropna().sort_values()
    k = min(len(defined), math.ceil(split * len(defined) - 1e-9))
    return float(defined.iloc[k - 1]) if k > 0 else float("nan")


def hidden_state_coords(generations: pd.DataFrame) -> pd.DataFrame | None:
    """A 2-D PCA of the generations' ``hidden_state`` vectors.

    Returns ``question_id, sample_id, x, y`` for the rows whose vector has the most common
    length, or None when the table has no such column or fewer than 3 usable vectors.
    PCA (not UMAP) keeps it deterministic and fast enough to compute on a page load.
    """
    if "hidden_state" not in generations:
        return None
    vec = generations["hidden_state"]
    ok = vec.map(lambda v: v is not None and not isinstance(v, float) and len(v) > 0)
    rows = generations[ok]
    if len(rows) < 3:
        return None
    lengths = rows["hidden_state"].map(len)
    rows = rows[lengths == lengths.mode().iloc[0]]
    if len(rows) < 3:
        return None
    coords = project(np.stack([np.asarray(v, dtype=np.float64) for v in rows["hidden_state"]]),
                     "pca")
    out = rows[["question_id", "sample_id"]].reset_index(drop=True)
    out["x"], out["y"] = coords[:, 0], coords[:, 1]
    return out


def hidden_states_of(run) -> pd.DataFrame | None:
    """``question_id, sample_id, hidden_state`` of the run: its ``hidden_states`` table
    (written by the build when the generations carried them), else a ``hidden_state``
    column on ``generations`` (runs built before the table existed); None without either."""
    try:
        table = run.table("hidden_states")
    except (KeyError, ValueError):  # a run type that does not know the table
        table = None
    if table is not None and not table.empty and "hidden_state" in table:
        return table
    gens = run.table("generations")
    return gens if "hidden_state" in gens else None


def space_label(run, used: str) -> str:
    """:data:`SPACE_LABELS` of ``used``, with how the hidden states were made when the run's
    manifest says (``"hidden states of the generating model (final, after the output norm;
    last pooling), PCA"``)."""
    made = ((getattr(run, "manifest", None) or {}).get("hidden_states") or {}).get("made")
    if used != "hidden_state" or not made:
        return SPACE_LABELS[used]
    parts = [str(made[k]) for k in ("layer", "pooling") if made.get(k)]
    how = f" ({'; '.join(parts)} pooling)" if "pooling" in made else (
        f" ({'; '.join(parts)})" if parts else "")
    return f"hidden states of the generating model{how}, PCA"


def region_points(
    run,
    rule: str,
    method: str,
    judge: str,
    split: float,
    space: str = "auto",
    judged_only: bool = False,
) -> tuple[pd.DataFrame, str]:
    """The answers in 2-D with their confidence band under ``method``.

    Returns ``(points, space_used)``. ``points`` has the columns of
    :func:`uqlens.analysis.overview.map_points` plus ``band`` (see :func:`confidence_bands`; every
    answer inherits its question's band). ``space``: "hidden_state" places answers by a PCA
    of the generations' hidden states, "projection" by the run's projection of the answer
    embeddings, "auto" takes hidden states when the run carries them. ``space_used`` is
    "hidden_state" or "projection". ``judged_only`` keeps one judged answer per question.
    """
    if space not in SPACES:
        raise ValueError(f"unknown space {space!r}; expected one of {SPACES}")
    points = analysis.map_points(run, rule, method, judge)
    used = "projection"
    if space != "projection":
        source = hidden_states_of(run)
        hidden = None if source is None else hidden_state_coords(source)
        if hidden is not None:
            points = points.drop(columns=["x", "y"]).merge(
                hidden, on=["question_id", "sample_id"], how="inner")
            used = "hidden_state"
    scores = analysis.question_scores(run, rule, method).set_index("question_id")["uncertainty"]
    bands = confidence_bands(scores, split)
    points["band"] = points["question_id"].map(bands).fillna("undefined").astype(object)
    if judged_only:
        points = points[points["is_judged"].astype(bool)]
    return points.reset_index(drop=True), used


def sample_rows(points: pd.DataFrame, cap: int | None, seed: int = 0) -> pd.DataFrame:
    """``points`` when at most ``cap`` rows, else ``cap`` of them chosen at random (``seed``),
    in their original order."""
    if cap is None or len(points) <= cap:
        return points
    keep = np.random.default_rng(seed).choice(len(points), cap, replace=False)
    return points.iloc[np.sort(keep)]


def region_view(run, rule: str, method: str, judge: str, split: float, space: str = "auto",
                judged_only: bool = False, cap: int | None = 20_000) -> dict:
    """What the Confidence region page shows, from :func:`region_points`: ``used`` (the
    space), ``answers`` (how many points), ``stats`` (:func:`region_stats`), ``table``
    (:func:`contingency`), ``wrong`` (the confident answers judged incorrect) and ``drawn``
    (at most ``cap`` points, :func:`sample_rows`). Small enough
    for the page's cache to hand over on every rerun, where all points of a million answers
    cost seconds to copy out of it."""
    points, used = region_points(run, rule, method, judge, split, space, judged_only)
    drawn = sample_rows(points, cap)
    wrong = points[(points["band"] == "confident") & (points["correctness"] == "incorrect")]
    return {"used": used, "answers": len(points), "stats": region_stats(points),
            "table": contingency(points), "wrong": wrong, "drawn": drawn}


def contingency(points: pd.DataFrame) -> pd.DataFrame:
    """Answer counts by band (rows, in :data:`BANDS` order) and correctness (columns
    correct, incorrect, unknown), with zeros for empty cells."""
    table = pd.crosstab(points["band"], points["correctness"])
    return table.reindex(index=list(BANDS), columns=["correct", "incorrect", "unknown"],
                         fill_value=0).astype(int)


def region_stats(points: pd.DataFrame) -> dict:
    """How much the confident set ``C`` and the correct set ``R`` differ.

    Only answers with a band ("confident"/"uncertain") and a label ("correct"/"incorrect")
    count; the others are reported in ``excluded``. Ratios with an empty denominator are NaN.

    Keys: ``answers`` (counted), ``excluded``, ``confident`` (``|C|``), ``correct``
    (``|R|``), ``confident_correct`` (``|C ∩ R|``), ``confident_wrong_share``
    (``|C \\ R| / |C|``: confident answers that are wrong), ``correct_outside_share``
    (``|R \\ C| / |R|``: correct answers the band misses), ``jaccard``
    (``|C ∩ R| / |C ∪ R|``), ``accuracy_inside`` (``|C ∩ R| / |C|``),
    ``accuracy_outside`` (correct share of the uncertain band), ``base_accuracy``
    (``|R| / answers``), and when ``points`` has ``x, y`` and ``uncertainty``:
    ``centroid_distance`` (between the centroids of C and R in the plane shown),
    ``spread`` (root-mean-square distance of the counted answers to their own centroid) and
    ``centroid_distance_relative`` (the ratio: 0 = the two sets are centred alike, 1 = apart
    by a typical answer's distance from the centre), and ``auroc`` (the method's
    uncertainty separating incorrect from correct answers, ties ½).
    """
    counted = points[points["band"].isin(["confident", "uncertain"])
                     & points["correctness"].isin(["correct", "incorrect"])]
    conf = (counted["band"] == "confident").to_numpy()
    right = (counted["correctness"] == "correct").to_numpy()
    n, n_c, n_r = len(counted), int(conf.sum()), int(right.sum())
    both = int((conf & right).sum())
    union = n_c + n_r - both

    def ratio(a: int, b: int) -> float:
        return a / b if b else float("nan")

    return {
        "answers": n,
        "excluded": int(len(points) - n),
        "confident": n_c,
        "correct": n_r,
        "confident_correct": both,
        "confident_wrong_share": ratio(n_c - both, n_c),
        "correct_outside_share": ratio(n_r - both, n_r),
        "jaccard": ratio(both, union),
        "accuracy_inside": ratio(both, n_c),
        "accuracy_outside": ratio(n_r - both, n - n_c),
        "base_accuracy": ratio(n_r, n),
        **_separation(counted, conf, right),
    }


def _separation(counted: pd.DataFrame, conf: np.ndarray, right: np.ndarray) -> dict:
    """Centroid distance of C and R, the spread it is measured against, and the AUROC."""
    from uqlens.analysis.evaluation import auroc

    nan = float("nan")
    out = {"centroid_distance": nan, "spread": nan, "centroid_distance_relative": nan,
           "auroc": nan}
    if {"x", "y"} <= set(counted.columns) and conf.any() and right.any():
        xy = counted[["x", "y"]].to_numpy(dtype=float)
        d = float(np.linalg.norm(xy[conf].mean(axis=0) - xy[right].mean(axis=0)))
        spread = float(np.sqrt(np.mean(np.sum((xy - xy.mean(axis=0)) ** 2, axis=1))))
        out.update(centroid_distance=d, spread=spread,
                   centroid_distance_relative=d / spread if spread > 0 else nan)
    if "uncertainty" in counted.columns and len(counted):
        value = auroc(counted["uncertainty"].to_numpy(dtype=float), ~right)
        out["auroc"] = nan if value is None else value
    return out
