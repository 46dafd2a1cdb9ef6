"""Supervised probes: CPU seconds to cross-fit (prints, asserts nothing).

    python benchmarks/probes.py [--sizes 600x1536,5000x896] [--reference]
    python benchmarks/probes.py --sizes none --run data/demo --reference

Each cross-fit is the full procedure of uqlens.core.methods.supervised.cross_fit: 5 outer
folds, 3 inner folds, 5 values of C, so 5 × (3 × 5 + 1) = 80 logistic regressions.

``--run FOLDER``: the built run's hidden states, labels and semantic entropies: every probe
scored cold (as a build does, with a memo), then a rebuild where two rules' semantic entropy
changed (as after a threshold change: their probes are refitted, the rest read back).
``--reference``: also fits every probe with scikit-learn's lbfgs (the solver used before
the principal-axes solver; it stops at a gradient of 1e-4) and prints the largest
difference of the out-of-fold probabilities and whether each fold chose the same C.
CPU seconds are steadier than wall time on a shared machine.
"""

from __future__ import annotations

import argparse
import time
from contextlib import contextmanager

import numpy as np


@contextmanager
def sklearn_everywhere():
    """Every fit by scikit-learn's lbfgs pipeline (the reference)."""
    from uqlens.core.methods import supervised

    real = supervised._fit_rows

    def lbfgs(bases, train_rows, y_train, test_rows, cs):
        x_train, x_test = bases.x[train_rows], bases.x[test_rows]
        return np.stack([supervised._sklearn_fit_predict(x_train, y_train, x_test, c)
                         for c in cs], axis=1)

    supervised._fit_rows = lbfgs
    try:
        yield
    finally:
        supervised._fit_rows = real


def timed(fn, *args, **kwargs):
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.process_time() - cpu, time.perf_counter() - wall


def compare(label, fit, reference, ref_cpu):
    same = fit.chosen_c == reference.chosen_c
    print(f"  {label}: reference {ref_cpu:.1f} s CPU; max |Δ probability| "
          f"{np.nanmax(np.abs(fit.probability - reference.probability)):.1e}; "
          f"same C in every fold: {same} {fit.chosen_c}")


def synthetic_sizes(sizes: str, reference: bool) -> None:
    from uqlens.analysis.evaluation import auroc
    from uqlens.core.methods.supervised import cross_fit

    for size in sizes.split(","):
        n, d = (int(v) for v in size.split("x"))
        rng = np.random.default_rng(0)
        x = rng.normal(size=(n, d)).astype(np.float16).astype(np.float64)
        y = (rng.random(n) < 1 / (1 + np.exp(-x[:, :5].sum(axis=1)))).astype(float)
        ids = [f"q{i}" for i in range(n)]
        fit, cpu, wall = timed(cross_fit, x, y, ids)
        print(f"{n} questions × {d} dims: {cpu:.1f} s CPU ({wall:.1f} s wall), out-of-fold "
              f"AUROC {auroc(fit.probability, y.astype(bool)):.3f}, C per fold {fit.chosen_c}")
        if reference:
            with sklearn_everywhere():
                ref, ref_cpu, _ = timed(cross_fit, x, y, ids)
            compare("scikit-learn lbfgs", fit, ref, ref_cpu)


def run_targets(folder):
    """(hidden states, question ids, {probe name: (target, binarise)}) of a built run."""
    from uqlens.build.probes import judged_correct, judged_rows
    from uqlens.core.methods import supervised
    from uqlens.run.folder import load_run

    run = load_run(folder)
    gens, scores = run.table("generations"), run.table("scores")
    states = supervised.judged_hidden_states(run.table("hidden_states"), judged_rows(gens))
    x, ok = supervised.stack_vectors(states["hidden_state"])
    ids = states["question_id"].to_numpy()[ok]
    judge = run.manifest["method_info"]["hidden_state_probe"]["judge"]
    labels = judged_correct(gens, run.table("correctness"), judge)
    targets = {f"hidden_state_probe ({judge})": (
        (~labels.astype(bool)).astype(float).reindex(ids).to_numpy(dtype=float), False)}
    se = scores[scores["method"] == "semantic_entropy"]
    for rule in run.rules:
        values = se[se["rule"] == rule].set_index("question_id")["uncertainty"].astype(float)
        targets[f"semantic_entropy_probe ({rule})"] = (
            values.reindex(ids).to_numpy(dtype=float), True)
    return x, ids, targets


def built_run(folder, reference: bool) -> None:
    from uqlens.core.methods.supervised import InMemoryFitMemo, SplitBases, cross_fit

    x, ids, targets = run_targets(folder)
    print(f"{folder}: {len(ids)} questions × {x.shape[1]} dims, {len(targets)} probes")
    memo, fits, cold = InMemoryFitMemo(), {}, 0.0
    bases = SplitBases(x, memo)
    for name, (target, cut) in targets.items():
        fits[name], cpu, _ = timed(
            cross_fit, x, target, ids, binarize_at_training_median=cut, memo=memo, bases=bases)
        cold += cpu
        print(f"  cold {name}: {cpu:.2f} s CPU" + (" (with every split's principal axes)"
                                                   if len(fits) == 1 else ""))
    size = sum(v.nbytes for v in memo.store.values()) / 1e6
    print(f"cold build, all probes: {cold:.2f} s CPU; memo {size:.0f} MB")
    changed = [n for n in targets if n.startswith("semantic")][-2:]
    rng, stats, again = np.random.default_rng(1), {}, 0.0
    bases = SplitBases(x, memo)  # a new build process: axes come from the memo
    for name, (target, cut) in targets.items():
        if name in changed:  # as after a threshold change: most entropies move a little
            target = target + rng.normal(scale=0.2, size=len(target))
        _, cpu, _ = timed(
            cross_fit, x, target, ids, binarize_at_training_median=cut, memo=memo, stats=stats,
            bases=bases)
        again += cpu
    print(f"rebuild, semantic entropy of 2 rules changed: {again:.2f} s CPU, {stats}")
    if reference:
        for name, (target, cut) in targets.items():
            with sklearn_everywhere():
                ref, ref_cpu, _ = timed(
                    cross_fit, x, target, ids, binarize_at_training_median=cut)
            compare(name, fits[name], ref, ref_cpu)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="600x896,600x1536,5000x896",
                        help="questions x dims, comma-separated, or 'none'")
    parser.add_argument("--run", default=None, help="a built run folder with hidden states")
    parser.add_argument("--reference", action="store_true")
    args = parser.parse_args()
    if args.sizes != "none":
        synthetic_sizes(args.sizes, args.reference)
    if args.run:
        built_run(args.run, args.reference)


if __name__ == "__main__":
    main()
