"""What a loaded dataset holds and what a build of it would compute: the lines ``uqlens
validate`` prints and the app's Data page logs. The methods listed are the build's own choice
(:func:`uqlens.core.needs.method_coverage`), so the three never disagree."""

from __future__ import annotations

import json

MAX_LISTED = 50  # skipped records listed per file; the count is always printed


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def summarise(dataset) -> list[str]:
    """Human-readable summary lines of a loaded :class:`uqlens.data.schema.Dataset`."""
    q, g = dataset.questions, dataset.generations
    n_q = len(q)
    sampled = g[~g["is_greedy"]]
    per_q = sampled.groupby("question_id").size().reindex(q["question_id"], fill_value=0)
    n_greedy = g.loc[g["is_greedy"], "question_id"].nunique()
    lines = [f"{dataset.source}: OK" + (" (after skipping)" if dataset.skipped else "")]
    lines.append(f"  questions: {n_q}")
    lines.append(
        f"  samples per question: min {int(per_q.min())}, median {per_q.median():g}, "
        f"max {int(per_q.max())} ({len(sampled)} samples)"
    )
    lines.append(f"  greedy (judged) answers: {n_greedy} of {n_q} questions")
    fields = [f for f in dataset.optional_fields() if f != "is_greedy"]
    lines.append(f"  optional fields: {', '.join(fields) if fields else 'none'}")
    if dataset.ignored_fields:
        lines.append(f"  ignored fields: {', '.join(dataset.ignored_fields)}")
    lines += _method_lines(q, g)
    lines += _provided_lines(dataset)
    lines += _reference_lines(dataset)
    lines += _skipped_lines(dataset)
    return lines


def _method_lines(q, g) -> list[str]:
    from uqlens.core.needs import method_coverage

    n_q = len(q)
    coverage, _ = method_coverage(g)
    methods = [m if k == n_q else f"{m} ({k}/{n_q} questions)"
               for m, k in coverage.items() if k]
    lines = [f"  methods enabled: {', '.join(methods) if methods else 'none'}"]
    if "provided_correct" in g:
        k = g.loc[g["provided_correct"].notna(), "question_id"].nunique()
        if k:
            lines.append("  data-provided judges: provided"
                         + ("" if k == n_q else f" ({k}/{n_q} questions)"))
    return lines


def _provided_lines(dataset) -> list[str]:
    """What the source tool computed itself: its scores (and how each was oriented) and its
    clusters, which `uqlens build` keeps as methods and as the rule ``provided``."""
    from uqlens.data.schema import provided_score_orientation

    q, g = dataset.questions, dataset.generations
    n_q, lines = len(q), []
    per_method: dict[str, int] = {}
    for text in q["provided_scores"].dropna() if "provided_scores" in q else []:
        for method in json.loads(text):
            per_method[method] = per_method.get(method, 0) + 1
    if per_method:
        orientation = dataset.score_orientation or provided_score_orientation(q)
        lines.append(f"  provided scores: {plural(len(per_method), 'method')} "
                     "(the tool's own, higher = more uncertain; built as methods)")
        for method in sorted(per_method):
            how = orientation.get(method, "as provided (uncertainty, per the input format)")
            lines.append(f"    {method} ({how}): {per_method[method]} of {n_q} questions")
    if "provided_cluster" in g and g["provided_cluster"].notna().any():
        n = g.loc[g["provided_cluster"].notna(), "question_id"].nunique()
        lines.append(f"  provided clusters: {n} of {n_q} questions (the tool's own; built as "
                     "the clustering rule 'provided')")
    return lines


def _reference_lines(dataset) -> list[str]:
    """Questions without references, and the views that disables when nothing else gives
    correctness labels."""
    from uqlens.data.schema import CORRECTNESS_VIEWS, missing_references

    q, g = dataset.questions, dataset.generations
    missing = missing_references(q)
    if not missing:
        return []
    lines = [f"  references: {len(missing)} of {len(q)} questions have none (the reference "
             "judges leave their answers unjudged; add them with `uqlens import --questions`)"]
    labelled = "provided_correct" in g and g["provided_correct"].notna().any()
    if len(missing) == len(q) and not labelled:
        lines.append("  views off (no correctness labels at all): " + "; ".join(CORRECTNESS_VIEWS))
    return lines


def _skipped_lines(dataset) -> list[str]:
    if not dataset.skipped:
        return []
    lines = [f"  skipped: {plural(dataset.n_skipped_records, 'record')} "
             f"({plural(len(dataset.skipped), 'problem')})"]
    lines += [f"    {error}" for error in dataset.skipped[:MAX_LISTED]]
    if len(dataset.skipped) > MAX_LISTED:
        lines.append(f"    ... and {len(dataset.skipped) - MAX_LISTED} more")
    return lines
