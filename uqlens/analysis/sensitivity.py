"""Hyperparameter sensitivity: how much a method's AUROC moves when a choice it hides moves.

Every sweep is recomputed from the run's own tables (cached entailment pairs, embeddings,
samples; see :class:`uqlens.run.rescore.Replay`). No model is called: a pair the run's cache lacks
is counted in ``missing_pairs`` and the question is left out (NaN) at that value, never
computed. Cosine pairs are recomputed from the run's embeddings.

Swept hyperparameters
---------------------
``rule``                 the clustering rules the run was built with (stored scores)
``threshold``            τ of ``threshold:τ@BACKEND`` (bidirectional P(entail) ≥ τ), re-clustered
                         from cached pair probabilities; the cluster-based methods re-scored
``embedding_threshold``  τ of ``embedding:τ:LINKAGE`` (cosine from the run's embeddings)
``graph_temperature``    the NLI temperature T of EigV/Deg/Ecc (p ∝ p^(1/T))
``ecc_threshold``        the eigenvalue threshold of Ecc
``n_samples``            number of samples m: ``n_draws`` random sub-samples (without
                         replacement, seeded by ``(seed, m, draw)``) of each question's K
                         scored samples, re-clustered and re-scored
``sample_temperature``   which sampling temperature's samples are scored (runs with several)

Per swept value and method: AUROC for detecting an incorrect judged answer with a percentile
bootstrap interval (:func:`uqlens.analysis.evaluation.bootstrap_ci`, resampling questions). For
``n_samples`` the AUROC is the mean over draws, the interval the mean of the draws' bootstrap
bounds, and ``draw_sd`` the standard deviation over draws.

Stability summary (per method)
------------------------------
**AUSC** (area under the stability curve, normalised to the swept range): with the swept values
x_1 < … < x_n at which AUROC a_i is defined, AUSC = (1 / (x_n − x_1)) · Σ_i (x_{i+1} − x_i) ·
(a_i + a_{i+1}) / 2, the trapezoid mean of AUROC over the range; with one defined value it is
that value, and for a categorical sweep (rules) it is the plain mean. ``spread`` = max − min
AUROC over the sweep. A stable method has a small spread; AUSC rewards staying good over the
whole range, not the best single point.

Other outputs: ``clusters`` (per value, the share of questions whose number of clusters among
the scored samples differs from the reference value's), ``ranks`` (methods ranked by AUROC at
each value, 1 = best, for a bump chart) and ``flips`` (per value, the number of method pairs
whose AUROC order is reversed relative to the reference value).

What came with the data is not swept: a provided method (``<tool>:<method>``, see
:func:`uqlens.run.rescore.split_recomputable`) has stored scores only, so every sweep leaves it out
and lists it in ``skipped_methods`` and a note; under the ``provided`` rule (the source tool's
clusters) the graph sweeps read its stored clusters, while the sweeps that re-cluster a
(sub-)sample (``n_samples``, ``sample_temperature``) are not possible and say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from uqlens.analysis.evaluation import auroc, bootstrap_ci
from uqlens.core.frames import isin
from uqlens.core.threads import small_matrix_threads
from uqlens.run.rescore import (
    MissingPair,
    NotRecomputable,
    Replay,
    RuleSpec,
    is_provided_rule,
    judged_labels,
    method_params,
    run_scores,
    score_methods,
    score_view,
    scored_sample_mask,
    scored_temperature,
    split_recomputable,
)

GRAPH_METHODS = ("eigv", "deg", "ecc")
DEFAULT_TAUS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
DEFAULT_GRAPH_TEMPERATURES = (0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
DEFAULT_ECC_THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 1.0, 1.1)
CURVE_COLUMNS = ["value", "method", "auroc", "lo", "hi", "n", "n_incorrect", "draw_sd"]


@dataclass
class Sweep:
    """One swept hyperparameter (see the module docstring for every field's meaning)."""

    name: str
    label: str
    values: list
    numeric: bool
    reference: object
    curve: pd.DataFrame
    summary: pd.DataFrame
    clusters: pd.DataFrame
    ranks: pd.DataFrame
    flips: pd.DataFrame
    missing_pairs: int = 0
    notes: list[str] = field(default_factory=list)
    skipped_methods: dict[str, str] = field(default_factory=dict)  # method -> why not swept


# --------------------------------------------------------------------------- pure metrics


def ausc(values: Sequence[float], aurocs: Sequence[float | None], numeric: bool = True) -> float:
    """Normalised area under the stability curve (module docstring); NaN when undefined."""
    pts = [(float(x) if numeric else i, float(a)) for i, (x, a) in enumerate(zip(values, aurocs,
                                                                                 strict=True))
           if a is not None and not np.isnan(a)]
    if not pts:
        return float("nan")
    if not numeric or len(pts) == 1:
        return float(np.mean([a for _, a in pts]))
    pts.sort()
    x = np.array([p[0] for p in pts])
    a = np.array([p[1] for p in pts])
    width = x[-1] - x[0]
    if width == 0:
        return float(a.mean())
    return float(np.sum(np.diff(x) * (a[1:] + a[:-1]) / 2.0) / width)


def rank_methods(curve: pd.DataFrame) -> pd.DataFrame:
    """Rank methods by AUROC at each value (1 = best; ties share the smaller rank)."""
    c = curve.dropna(subset=["auroc"]).copy()
    c["rank"] = c.groupby("value", sort=False)["auroc"].rank(ascending=False, method="min")
    return c[["value", "method", "auroc", "rank"]].reset_index(drop=True)


def rank_flips(curve: pd.DataFrame, reference) -> pd.DataFrame:
    """Per value: ``n_pairs`` method pairs defined at both this value and the reference, and
    ``flips``, how many of them are ordered the other way round (strictly) by AUROC."""
    ref = curve[curve["value"] == reference].set_index("method")["auroc"].dropna()
    rows = []
    for value, g in curve.groupby("value", sort=False):
        a = g.set_index("method")["auroc"].dropna()
        common = [m for m in a.index if m in ref.index]
        n_pairs = flips = 0
        for i, m1 in enumerate(common):
            for m2 in common[i + 1:]:
                n_pairs += 1
                if (a[m1] - a[m2]) * (ref[m1] - ref[m2]) < 0:
                    flips += 1
        rows.append({"value": value, "n_pairs": n_pairs, "flips": flips})
    return pd.DataFrame(rows, columns=["value", "n_pairs", "flips"])


def curve_point(u: np.ndarray, incorrect: np.ndarray, n_boot: int, seed: int) -> dict:
    """AUROC of one curve point, with a bootstrap interval unless ``n_boot`` is 0 (then
    ``lo``/``hi`` are NaN: a large run's page asks for intervals only when wanted)."""
    a = auroc(u, incorrect)
    ci = bootstrap_ci(auroc, u, incorrect, n_boot=n_boot, seed=seed) if (
        a is not None and n_boot > 0) else None
    keep = ~np.isnan(np.asarray(u, dtype=float))
    return {"auroc": np.nan if a is None else a,
            "lo": np.nan if ci is None or ci.low is None else ci.low,
            "hi": np.nan if ci is None or ci.high is None else ci.high,
            "n": int(keep.sum()), "n_incorrect": int(np.asarray(incorrect)[keep].sum())}


def evaluate(scores: pd.DataFrame, incorrect: pd.Series, n_boot: int = 200,
             seed: int = 0) -> pd.DataFrame:
    """AUROC with a bootstrap interval per ``(value, method)`` of a long frame with columns
    ``value, method, question_id, uncertainty`` (and optionally ``draw``: then the mean over
    draws, see the module docstring). ``incorrect``: bool Series by question id."""
    labels = incorrect.dropna().astype(bool)
    rows = []
    s = scores[isin(scores["question_id"], labels.index)]
    if "draw" not in s:
        s = s.assign(draw=0)
    # every row's label, looked up once (a string .loc per curve point is ~0.1 s at 100,000
    # questions); what .loc gives when each question has one label
    unique = labels.index.is_unique
    y_all = labels.to_numpy(dtype=bool)[labels.index.get_indexer(s["question_id"])] \
        if unique else None
    s = s.assign(_row=np.arange(len(s)))
    for (value, method), g in s.groupby(["value", "method"], sort=False):
        points = []
        for _, d in g.groupby("draw", sort=True):
            u = d["uncertainty"].to_numpy(dtype=float)
            y = y_all[d["_row"].to_numpy()] if unique \
                else labels.loc[d["question_id"]].to_numpy(dtype=bool)
            points.append(curve_point(u, y, n_boot, seed))
        p = pd.DataFrame(points)
        rows.append({"value": value, "method": method,
                     "auroc": p["auroc"].mean(), "lo": p["lo"].mean(), "hi": p["hi"].mean(),
                     "n": int(p["n"].min()), "n_incorrect": int(p["n_incorrect"].min()),
                     "draw_sd": float(p["auroc"].std(ddof=0)) if len(p) > 1 else np.nan})
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def summarise(curve: pd.DataFrame, values: Sequence, numeric: bool) -> pd.DataFrame:
    """Per method: ``ausc``, ``spread`` (max − min), ``min``, ``max``, ``n_values`` defined."""
    rows = []
    for method, g in curve.groupby("method", sort=False):
        by = dict(zip(g["value"], g["auroc"], strict=True))
        a = [by.get(v, np.nan) for v in values]
        defined = [x for x in a if not np.isnan(x)]
        rows.append({"method": method, "ausc": ausc(values, a, numeric),
                     "spread": (max(defined) - min(defined)) if defined else np.nan,
                     "min": min(defined) if defined else np.nan,
                     "max": max(defined) if defined else np.nan,
                     "n_values": len(defined)})
    return pd.DataFrame(rows, columns=["method", "ausc", "spread", "min", "max", "n_values"])


def cluster_changes(counts: pd.DataFrame, reference) -> pd.DataFrame:
    """Per value: share of questions whose cluster count differs from the reference value's.

    ``counts``: columns ``value, question_id, n_clusters`` (and optionally ``draw``; a draw's
    count is compared with the reference's first draw, shares are averaged over draws)."""
    if counts.empty:
        return pd.DataFrame(columns=["value", "n_questions", "share_changed"])
    c = counts.dropna(subset=["n_clusters"])
    if "draw" not in c:
        c = c.assign(draw=0)
    ref = c[c["value"] == reference]
    ref = ref[ref["draw"] == ref["draw"].min()].set_index("question_id")["n_clusters"]
    rows = []
    for value, g in c.groupby("value", sort=False):
        shares = []
        for _, d in g.groupby("draw"):
            d = d[isin(d["question_id"], ref.index)]
            if len(d):
                changed = d["n_clusters"].to_numpy() != ref.loc[d["question_id"]].to_numpy()
                shares.append(float(changed.mean()))
        rows.append({"value": value, "n_questions": int(g["question_id"].nunique()),
                     "share_changed": float(np.mean(shares)) if shares else np.nan})
    return pd.DataFrame(rows, columns=["value", "n_questions", "share_changed"])


def share_any_change(counts: pd.DataFrame) -> float:
    """Share of questions whose cluster count is not the same at every swept value."""
    c = counts.dropna(subset=["n_clusters"])
    if c.empty:
        return float("nan")
    return float((c.groupby("question_id")["n_clusters"].nunique() > 1).mean())


def _make(name, label, values, numeric, reference, scores, counts, incorrect, n_boot, seed,
          missing=0, notes=None, skipped_methods=None) -> Sweep:
    skipped_methods = dict(skipped_methods or {})
    notes = list(notes or [])
    if skipped_methods:
        notes.append(f"Not swept: {', '.join(skipped_methods)} "
                     f"({'; '.join(sorted(set(skipped_methods.values())))}).")
    curve = evaluate(scores, incorrect, n_boot=n_boot, seed=seed)
    order = {v: i for i, v in enumerate(values)}
    curve = curve.sort_values("value", key=lambda s: s.map(order), kind="stable")
    curve = curve.reset_index(drop=True)
    return Sweep(name=name, label=label, values=list(values), numeric=numeric,
                 reference=reference, curve=curve, summary=summarise(curve, values, numeric),
                 clusters=cluster_changes(counts, reference), ranks=rank_methods(curve),
                 flips=rank_flips(curve, reference), missing_pairs=int(missing),
                 notes=notes, skipped_methods=skipped_methods)


# --------------------------------------------------------------------------- helpers


def _needs(run, method: str) -> set[str]:
    info = run.manifest.get("method_info", {}).get(method, {})
    if "needs" in info:
        return set(info["needs"])
    from uqlens.core import methods as registry

    try:
        return set(registry.get(method).needs)
    except KeyError:
        return set()


def _recomputable(run, methods) -> tuple[list[str], dict[str, str]]:
    """``methods`` without the provided ones, and every provided method of the run (asked
    for or not) with why it is not swept."""
    kept, skipped = split_recomputable(run, methods)
    return kept, {**split_recomputable(run, score_methods(run))[1], **skipped}


def _reclusterable(spec: RuleSpec, what: str) -> None:
    if is_provided_rule(spec):
        raise NotRecomputable(f"{what} re-clusters the answers, and rule {spec.key!r} holds the "
                              "source tool's own clusters, which cannot be re-formed; choose a "
                              "computed rule")


def _default_rule(run) -> str:
    return run.manifest.get("default_rule") or (run.rules[0] if run.rules else "exact")


def _params(run, methods) -> dict[str, dict]:
    return {m: method_params(run, m) for m in methods}


def _greedy_tid(rp: Replay, qid: str) -> list[int]:
    g = rp.greedy(qid)
    return [] if g is None else [int(g["text_id"])]


def _rescore(rp: Replay, rule: RuleSpec, methods, params, samples_of, *, graph: bool,
             value, draw=None, base=None, picks=None) -> tuple[list, list]:
    """Score every question's (sub-)sample under ``rule``; clusters over every answer of the
    question as a build forms them, or for a sub-sample (``picks``) over the judged answer and
    these samples' texts. A missing pair for the clusters makes the question NaN.

    ``base`` (from :func:`_base_views`, same ``graph``) holds each question's view of all of
    its samples in ``samples_of``: only the clusters are recomputed, and with ``picks``
    (positions into each question's samples) the sub-sample's view is sliced from it. The
    scores are those of views built from scratch (:meth:`Replay.view`)."""
    rows, counts = [], []
    for qid, g in samples_of.items():
        pick = None if picks is None else picks[qid]
        all_tids = g["text_id"].to_numpy(dtype=np.int64)
        sel = all_tids if pick is None else all_tids[pick]
        # All of the question's answers, as a build clusters them; a sub-sample only its own
        # answers and the judged one (the others were never drawn).
        tids = range(len(rp.texts(qid))) if pick is None else sorted(
            set(sel.tolist()) | set(_greedy_tid(rp, qid)))
        try:
            cluster_of = rp.cluster_text_ids(rule, qid, tids)
            if base is None:
                sub = g if pick is None else g.iloc[pick]
                view = rp.view(qid, rule, sub, cluster_of=cluster_of, graph=graph)
            elif pick is None:
                view = rp.with_clusters(base[qid], qid, sel.tolist(), cluster_of)
            else:
                view = rp.subview(base[qid], qid, rule, g, pick, cluster_of, graph=graph)
        except MissingPair:
            rows += [(value, draw, qid, m, np.nan) for m in methods]
            counts.append((value, draw, qid, np.nan))
            continue
        counts.append((value, draw, qid, len(set(view.cluster_ids.tolist()))))
        for m, u in score_view(view, methods, params).items():
            rows.append((value, draw, qid, m, u))
    return rows, counts


def _base_views(rp: Replay, rule: RuleSpec, samples_of, *, graph: bool) -> dict:
    """Each question's view of all its samples, clusters left to :func:`_rescore`."""
    out = {}
    for qid, g in samples_of.items():
        placeholder = dict.fromkeys(range(len(rp.texts(qid))), 0)
        out[qid] = rp.view(qid, rule, g, cluster_of=placeholder, graph=graph)
    return out


def _frames(rows, counts):
    s = pd.DataFrame(rows, columns=["value", "draw", "question_id", "method", "uncertainty"])
    c = pd.DataFrame(counts, columns=["value", "draw", "question_id", "n_clusters"])
    if s["draw"].isna().all():
        s, c = s.drop(columns="draw"), c.drop(columns="draw")
    return s, c


def _samples_of(rp: Replay, temperature="default") -> dict[str, pd.DataFrame]:
    return {q: g for q, g in rp.scored(temperature).groupby("question_id", sort=False)}


# --------------------------------------------------------------------------- sweeps


def rule_sweep(run, judge: str, rules: Sequence[str] | None = None,
               methods: Sequence[str] | None = None, n_boot: int = 200, seed: int = 0) -> Sweep:
    """The run's clustering rules (categorical), from its stored scores and clusters."""
    rules = list(rules or run.rules or sorted(run.table("scores")["rule"].unique()))
    if methods is not None:
        methods = list(methods)
        skipped = {}
    else:  # a provided method's stored score is the same under every rule
        methods, skipped = _recomputable(run, score_methods(run))
        methods = [m for m in methods if "clusters" in _needs(run, m)] or methods
        skipped = {m: "provided by the source tool: the same stored score under every rule"
                   for m in skipped}
    frames = [run_scores(run, r, methods).assign(value=r) for r in rules]
    scores = pd.concat(frames, ignore_index=True)
    counts = _rule_cluster_counts(run, rules)
    ref = run.manifest.get("default_rule") if run.manifest.get("default_rule") in rules \
        else rules[0]
    return _make("rule", "clustering rule", rules, False, ref, scores, counts,
                 ~judged_labels(run, judge), n_boot, seed, skipped_methods=skipped)


def _rule_cluster_counts(run, rules) -> pd.DataFrame:
    """Per (rule, question): distinct clusters among the scored samples (the samples
    Replay(run).scored() gives, without building a Replay), ordered by rule and question id:
    columns ``value, question_id, n_clusters``."""
    gen = run.table("generations")
    mask = scored_sample_mask(gen, scored_temperature(run)).to_numpy()
    cl = run.table("clusters")
    blocks = _generation_blocks(cl, gen)
    if blocks is None:  # rows in another order: join on the sample
        cl = cl.merge(gen.loc[mask, ["question_id", "sample_id"]],
                      on=["question_id", "sample_id"])
        return (cl[isin(cl["rule"], rules)].groupby(["rule", "question_id"])["cluster_id"]
                .nunique().rename("n_clusters").reset_index().rename(columns={"rule": "value"}))
    # each rule's rows list the generations in their order (as a build writes them): the
    # generations' mask and question codes serve every rule, no join on strings
    codes, questions = pd.factorize(gen["question_id"], sort=True)
    cluster_id = cl["cluster_id"].to_numpy()
    parts = []
    for rule, start in sorted(blocks.items()):
        if rule not in set(rules):
            continue
        rows = np.flatnonzero(mask) + start
        pairs = pd.DataFrame({"q": codes[mask], "c": cluster_id[rows]}).drop_duplicates()
        n = np.bincount(pairs["q"].to_numpy(), minlength=len(questions))
        present = np.flatnonzero(n)
        parts.append(pd.DataFrame({"value": rule, "question_id": questions[present],
                                   "n_clusters": n[present].astype(np.int64)}))
    if not parts:
        return pd.DataFrame({"value": pd.Series(dtype=object), "question_id": gen["question_id"]
                             .iloc[:0], "n_clusters": pd.Series(dtype=np.int64)})
    return pd.concat(parts, ignore_index=True)


def _generation_blocks(cl: pd.DataFrame, gen: pd.DataFrame) -> dict | None:
    """``{rule: first row}`` when the clusters table is one block of rows per rule, each
    listing the generations' (question_id, sample_id) in their order; else None."""
    g = len(gen)
    if g == 0 or len(cl) % g:
        return None
    starts = range(0, len(cl), g)
    names = [cl["rule"].iat[i] for i in starts]
    if len(set(names)) != len(names):
        return None
    for i, name in zip(starts, names, strict=True):
        block = cl.iloc[i:i + g]
        # ExtensionArray.equals: same dtype and values, compared column-wise (no Python loop)
        if not ((block["rule"] == name).all()
                and block["question_id"].array.equals(gen["question_id"].array)
                and block["sample_id"].array.equals(gen["sample_id"].array)):
            return None
    return dict(zip(names, starts, strict=True))


def _threshold_backend(run) -> str | None:
    for r in run.manifest.get("rules", []):
        if r.get("backend"):
            return r["backend"]
    return "cosine" if Replay(run).has_vectors() else None


def threshold_sweep(run, judge: str, taus: Sequence[float] = DEFAULT_TAUS,
                    backend: str | None = None, kind: str = "threshold",
                    linkage: str = "average", methods: Sequence[str] | None = None,
                    n_boot: int = 200, seed: int = 0) -> Sweep:
    """Re-cluster at each τ and re-score the cluster-based methods.

    ``kind="threshold"``: rule ``threshold:τ@backend`` (default backend: the run's first
    entailment rule's, else ``cosine``); ``kind="embedding"``: ``embedding:τ:linkage``.
    The run's own τ for that rule kind, when it has one, is added to the grid and is the
    reference value."""
    rp = Replay(run)
    if kind == "threshold":
        backend = backend or _threshold_backend(run)
        if backend is None:
            raise ValueError("this run has no entailment pairs or embeddings to re-cluster")
    elif kind != "embedding":
        raise ValueError("kind must be 'threshold' or 'embedding'")
    built = [float(r["params"]["tau"]) for r in run.manifest.get("rules", [])
             if r.get("rule") == kind and (kind == "embedding" or r.get("backend") == backend)
             and "tau" in r.get("params", {})]
    values = sorted({round(float(t), 6) for t in [*taus, *built[:1]]})
    reference = round(built[0], 6) if built else values[len(values) // 2]
    methods, skipped = _recomputable(run, list(methods) if methods is not None else [
        m for m in score_methods(run) if "clusters" in _needs(run, m)])
    params = _params(run, methods)
    graph = any("entailment" in _needs(run, m) for m in methods)
    rows, counts = [], []
    samples = _samples_of(rp)
    specs = {tau: RuleSpec.parse(f"threshold:{tau:g}@{backend}" if kind == "threshold"
                                 else f"embedding:{tau:g}:{linkage}") for tau in values}
    # the samples, their log-probabilities and graph do not depend on τ: read them once
    base = _base_views(rp, specs[values[0]], samples, graph=graph) if values else {}
    for tau in values:
        r, c = _rescore(rp, specs[tau], methods, params, samples, graph=graph, value=tau,
                        base=base)
        rows += r
        counts += c
    scores, cnt = _frames(rows, counts)
    name = "threshold" if kind == "threshold" else "embedding_threshold"
    label = f"entailment threshold τ ({backend})" if kind == "threshold" \
        else f"embedding cosine threshold τ ({linkage} linkage)"
    notes = []
    if rp.n_missing():
        notes.append(f"{rp.n_missing()} pairs were not in the run's cache; the questions that "
                     "needed them are left out at those τ (no model was called).")
    return _make(name, label, values, True, reference, scores, cnt,
                 ~judged_labels(run, judge), n_boot, seed, rp.n_missing(), notes, skipped)


def _graph_views(run, rule: str | None):
    rp = Replay(run)
    spec = rp.resolve(rule or _default_rule(run))
    views = {}
    for qid, g in _samples_of(rp).items():
        try:
            views[qid] = rp.view(qid, spec, g, graph=True)
        except (MissingPair, NotRecomputable):
            continue
    return rp, views


def graph_temperature_sweep(run, judge: str,
                            temperatures: Sequence[float] = DEFAULT_GRAPH_TEMPERATURES,
                            rule: str | None = None, n_boot: int = 200, seed: int = 0) -> Sweep:
    """The NLI/affinity temperature T of EigV, Deg and Ecc (the run's T is the reference)."""
    methods = [m for m in GRAPH_METHODS if m in score_methods(run)]
    if not methods:
        raise ValueError("the run has no graph method (eigv, deg, ecc)")
    params = _params(run, methods)
    built = params[methods[0]].get("temperature", 1.0)
    values = sorted({float(t) for t in [*temperatures, float(built)]})
    rp, views = _graph_views(run, rule)
    rows = []
    for t in values:
        p = {m: {**params[m], "temperature": t} for m in methods}
        for qid, view in views.items():
            for m, u in score_view(view, methods, p).items():
                rows.append((t, qid, m, u))
    scores = pd.DataFrame(rows, columns=["value", "question_id", "method", "uncertainty"])
    notes = [] if not rp.n_missing() else [
        f"{rp.n_missing()} graph pairs missing from the cache; those questions score NaN."]
    return _make("graph_temperature", "graph-method NLI temperature T", values, True,
                 float(built), scores, pd.DataFrame(), ~judged_labels(run, judge), n_boot,
                 seed, rp.n_missing(), notes)


def ecc_threshold_sweep(run, judge: str, thresholds: Sequence[float] = DEFAULT_ECC_THRESHOLDS,
                        rule: str | None = None, n_boot: int = 200, seed: int = 0) -> Sweep:
    """The eigenvalue threshold of Ecc (eigenvectors with λ below it span the embedding)."""
    if "ecc" not in score_methods(run):
        raise ValueError("the run has no ecc scores")
    params = method_params(run, "ecc")
    built = float(params.get("eigv_threshold", 0.9))
    values = sorted({float(t) for t in [*thresholds, built]})
    rp, views = _graph_views(run, rule)
    rows = []
    for t in values:
        p = {"ecc": {**params, "eigv_threshold": t}}
        for qid, view in views.items():
            rows.append((t, qid, "ecc", score_view(view, ["ecc"], p)["ecc"]))
    scores = pd.DataFrame(rows, columns=["value", "question_id", "method", "uncertainty"])
    return _make("ecc_threshold", "Ecc eigenvalue threshold", values, True, built, scores,
                 pd.DataFrame(), ~judged_labels(run, judge), n_boot, seed, rp.n_missing())


def default_counts(k: int) -> list[int]:
    """2..K when K ≤ 8, else 7 roughly even steps from 2 to K."""
    if k < 2:
        return [k] if k else []
    if k <= 8:
        return list(range(2, k + 1))
    return sorted({int(round(x)) for x in np.linspace(2, k, 7)})


def sample_count_sweep(run, judge: str, counts: Sequence[int] | None = None, n_draws: int = 5,
                       seed: int = 0, rule: str | None = None,
                       methods: Sequence[str] | None = None, n_boot: int = 200) -> Sweep:
    """Random sub-samples of m of each question's K scored samples (module docstring).

    A question with fewer than m samples uses all of its samples at that m. The reference
    value is the largest m (all samples)."""
    rp = Replay(run)
    samples = _samples_of(rp)
    k = max((len(g) for g in samples.values()), default=0)
    values = sorted({int(c) for c in (counts or default_counts(k)) if 1 <= int(c) <= k})
    if not values:
        raise ValueError("the run has no sampled answers to sub-sample")
    methods, skipped = _recomputable(run, list(methods) if methods is not None else [
        m for m in score_methods(run) if "samples" in _needs(run, m)])
    params = _params(run, methods)
    graph = any("entailment" in _needs(run, m) for m in methods)
    spec = rp.resolve(rule or _default_rule(run))
    _reclusterable(spec, "the sample-count sweep")
    rows, cnts = [], []
    base = _base_views(rp, spec, samples, graph=graph)  # every sample; sliced per draw
    for m in values:
        draws = 1 if m == k else n_draws
        for d in range(draws):
            rng = np.random.default_rng((seed, m, d))
            picks = {}
            for qid, g in samples.items():
                if len(g) <= m:
                    picks[qid] = np.arange(len(g))
                else:
                    picks[qid] = np.sort(rng.choice(len(g), size=m, replace=False))
            r, c = _rescore(rp, spec, methods, params, samples, graph=graph, value=m, draw=d,
                            base=base, picks=picks)
            rows += r
            cnts += c
    scores, cnt = _frames(rows, cnts)
    notes = [f"{n_draws} random draws per m (seed {seed}); AUROC is their mean."]
    if rp.n_missing():
        notes.append(f"{rp.n_missing()} pairs not in the cache; affected questions left out.")
    return _make("n_samples", "number of samples m", values, True, k, scores, cnt,
                 ~judged_labels(run, judge), n_boot, seed, rp.n_missing(), notes, skipped)


def sample_temperature_sweep(run, judge: str, rule: str | None = None,
                             methods: Sequence[str] | None = None, n_boot: int = 200,
                             seed: int = 0) -> Sweep:
    """Score the samples of each sampling temperature the run holds (needs two or more)."""
    rp = Replay(run)
    temps = rp.temperatures()
    if len(temps) < 2:
        raise ValueError(f"the run has samples at {len(temps)} temperature(s); needs two")
    methods, skipped = _recomputable(run, list(methods) if methods is not None else [
        m for m in score_methods(run) if "samples" in _needs(run, m)])
    params = _params(run, methods)
    graph = any("entailment" in _needs(run, m) for m in methods)
    spec = rp.resolve(rule or _default_rule(run))
    _reclusterable(spec, "the sampling-temperature sweep")
    rows, cnts = [], []
    for t in temps:
        r, c = _rescore(rp, spec, methods, params, _samples_of(rp, t), graph=graph, value=t)
        rows += r
        cnts += c
    scores, cnt = _frames(rows, cnts)
    built = rp.sample_temperature
    ref = built if built in temps else temps[0]
    return _make("sample_temperature", "sampling temperature", temps, True, ref, scores, cnt,
                 ~judged_labels(run, judge), n_boot, seed, rp.n_missing(),
                 skipped_methods=skipped)


SWEEPS: dict[str, str] = {
    "rule": "clustering rule",
    "threshold": "entailment threshold τ",
    "embedding_threshold": "embedding cosine threshold τ",
    "graph_temperature": "graph-method NLI temperature T",
    "ecc_threshold": "Ecc eigenvalue threshold",
    "n_samples": "number of samples m",
    "sample_temperature": "sampling temperature",
}
"""Every sweep :func:`one_sweep` knows, by name, with a short label."""


def one_sweep(run, judge: str, name: str, n_boot: int = 200, seed: int = 0, n_draws: int = 5,
              rule: str | None = None) -> tuple[Sweep | None, str | None]:
    """The sweep ``name`` (a key of :data:`SWEEPS`) with the defaults of :func:`all_sweeps`:
    ``(sweep, None)``, or ``(None, why not)`` when this run does not support it."""
    jobs = {
        "rule": lambda: rule_sweep(run, judge, n_boot=n_boot, seed=seed),
        "threshold": lambda: threshold_sweep(run, judge, n_boot=n_boot, seed=seed),
        "embedding_threshold": lambda: threshold_sweep(run, judge, kind="embedding",
                                                       n_boot=n_boot, seed=seed),
        "graph_temperature": lambda: graph_temperature_sweep(run, judge, rule=rule,
                                                             n_boot=n_boot, seed=seed),
        "ecc_threshold": lambda: ecc_threshold_sweep(run, judge, rule=rule, n_boot=n_boot,
                                                     seed=seed),
        "n_samples": lambda: sample_count_sweep(run, judge, n_draws=n_draws, seed=seed,
                                                rule=rule, n_boot=n_boot),
        "sample_temperature": lambda: sample_temperature_sweep(run, judge, rule=rule,
                                                               n_boot=n_boot, seed=seed),
    }
    if name not in jobs:
        raise ValueError(f"unknown sweep {name!r}; one of {', '.join(jobs)}")
    try:
        with small_matrix_threads():  # re-scores every question's tiny matrices
            sweep = jobs[name]()
    except (ValueError, KeyError) as exc:
        return None, str(exc)
    if sweep.curve.empty or sweep.curve["auroc"].isna().all():
        return None, "no AUROC defined at any value"
    return sweep, None


def all_sweeps(run, judge: str, n_boot: int = 200, seed: int = 0, n_draws: int = 5,
               rule: str | None = None) -> tuple[list[Sweep], dict[str, str]]:
    """Every sweep this run supports, and for the others why not."""
    out, skipped = [], {}
    for name in SWEEPS:
        sweep, why = one_sweep(run, judge, name, n_boot=n_boot, seed=seed, n_draws=n_draws,
                               rule=rule)
        if sweep is None:
            skipped[name] = why
        else:
            out.append(sweep)
    return out, skipped
