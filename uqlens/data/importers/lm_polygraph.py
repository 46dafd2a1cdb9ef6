"""LM-Polygraph: the ``ue_manager_seed<N>`` files that ``UEManager.save()`` writes.

Checked against IINemo/lm-polygraph ``src/lm_polygraph/utils/manager.py`` (``save`` /
``load``), ``scripts/polygraph_eval`` (``man.save(save_path + f"/ue_manager_seed{seed}")``),
``src/lm_polygraph/estimators/estimator.py`` and ``stat_calculators/sample.py``.

The file is ``torch.save`` of a dict::

    {"metrics": {(level, estimator, gen_metric, ue_metric): float},
     "gen_metrics": {(level, gen_metric): [float per input]},
     "estimations": {(level, estimator): [float per input]},
     "stats": {"input_texts": [...], "target_texts": [...], "greedy_texts": [...],
               "greedy_tokens": ..., "sample_texts": [[...]] (when saved), ...}}

Mapping (one row of the lists = one input):

- ``stats.input_texts`` -> question (the full prompt LM-Polygraph fed the model);
  ``stats.target_texts`` -> references. ``polygraph_eval`` repeats an input once per label
  when a dataset has several; rows with the same input are merged into one question whose
  references are all the labels, whose answers come from the first row, and whose
  estimator values are averaged (what ``UEManager`` itself does before its UE metrics).
- ``stats.greedy_texts`` (or ``blackbox_greedy_texts``) -> the judged answer;
  ``stats.greedy_log_likelihoods`` -> its token log-probabilities.
- ``stats.sample_texts`` -> sampled answers, with ``sample_log_likelihoods`` (per token) and
  ``sample_log_probs`` (sums) when saved. Which stats a run saves depends on the LM-Polygraph
  version and its ``save_stats`` setting; this could not be pinned to one release, so every
  one of them is optional.
- ``estimations[("sequence", name)]`` -> provided method ``lmpolygraph:<name>``, as is:
  ``Estimator.__call__`` is documented "Higher values should indicate more uncertain
  samples". Token- and claim-level estimations are not per question and are skipped.
- ``gen_metrics[("sequence", "Accuracy...")]`` with 0/1 values -> ``provided_correct`` of the
  judged answer; other generation metrics go to the question's ``meta``.
- ``metrics`` (dataset-level PRR/ROC-AUC...) are not per question and are not imported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from uqlens.data.importers._common import (
    Collector,
    Report,
    as_bool01,
    bad_file,
    finite,
    flat_floats,
    str_list,
    to_python,
)
from uqlens.data.importers._safe import Opaque, load_torch
from uqlens.data.schema import Dataset

FORMAT = "lm-polygraph"
PREFIX = "lmpolygraph:"


def find_manager(path: Path) -> Path:
    """The manager file itself, or the only ``ue_manager_seed*`` file in a folder."""
    if path.is_file():
        return path
    found = sorted(p for p in path.rglob("ue_manager*") if p.is_file())
    if not found:
        raise bad_file(path, "no ue_manager_seed* file in this folder")
    if len(found) > 1:
        names = ", ".join(str(p.relative_to(path)) for p in found[:6])
        raise bad_file(path, f"several LM-Polygraph managers ({names}); import one file")
    return found[0]


def _key(key: object) -> tuple[str, str]:
    """``(level, name)`` from a tuple key (or a bare name, taken as sequence level)."""
    key = to_python(key)
    if isinstance(key, list | tuple) and len(key) >= 2:
        return str(key[0]), str(key[1])
    return "sequence", str(key)


def _as_dict(value: object) -> dict:
    if isinstance(value, dict):
        return value
    if isinstance(value, Opaque):  # e.g. a pickled UEManager object: use its attributes
        state = value.__dict__.get("_state")
        return state if isinstance(state, dict) else {}
    return {}


def read(
    path: Path,
    *,
    allow_pickle: bool,
    skip_invalid: bool,
    report: Report,
    references: dict[str, list[str]] | None = None,
) -> Dataset:
    file = find_manager(path)
    data = _as_dict(load_torch(file, allow_pickle=allow_pickle))
    if not data or "stats" not in data:
        raise bad_file(file, "not an LM-Polygraph manager: no 'stats' in the saved dict")
    stats = _as_dict(data.get("stats"))
    inputs = to_python(stats.get("input_texts"))
    if not isinstance(inputs, list) or not inputs:
        raise bad_file(file, "stats.input_texts is missing or empty")
    n = len(inputs)
    report.map("stats.input_texts", "questions.question")
    columns = _stats_columns(stats, n, report)
    methods = _estimations(data, n, report)
    accuracy, other_metrics = _gen_metrics(data, n, report)
    groups = _group_inputs(inputs, report)
    collector = Collector(str(file), report, references)
    dropped_nan = 0
    for number, (text, rows) in enumerate(groups.items()):
        first = rows[0]
        scores, dropped = _mean_scores(methods, rows)
        dropped_nan += dropped
        meta = {}
        if other_metrics:
            meta["lm_polygraph_gen_metrics"] = {
                k: finite(v[first]) for k, v in other_metrics.items()
            }
        if len(rows) > 1:
            meta["lm_polygraph_rows"] = rows
        qpos = collector.question(
            f"input {first + 1}",
            question_id=str(number),
            question=text,
            references=_pooled_references(columns.targets, rows) or None,
            provided_scores=scores or None,
            meta=meta or None,
        )
        _add_answers(collector, qpos, rows, columns, accuracy)
    if dropped_nan:
        report.note(f"{dropped_nan} estimator values were NaN/infinite and left undefined")
    return collector.finish(skip_invalid=skip_invalid)


@dataclass
class _Stats:
    """The per-input ``stats`` lists the importer uses (None: not saved, or not one entry
    per input)."""

    targets: list | None
    greedy: list | None
    greedy_ll: list | None
    samples: list | None
    sample_ll: list | None
    sample_lp: list | None


def _stats_columns(stats: dict, n: int, report: Report) -> _Stats:
    def per_input(name: str) -> list | None:
        value = to_python(stats.get(name))
        if isinstance(value, list) and len(value) == n:
            return value
        if value is not None:
            report.note(f"stats.{name} has {_len(value)} entries for {n} inputs; ignored")
        return None

    targets = per_input("target_texts")
    if targets is None:
        report.lack("references (stats.target_texts); pass --questions with the dataset")
    else:
        report.map("stats.target_texts", "questions.references")
    greedy = per_input("greedy_texts") or per_input("blackbox_greedy_texts")
    if greedy is None:
        report.lack("judged answer (stats.greedy_texts)")
    else:
        report.map("stats.greedy_texts", "generations (is_greedy)")
    greedy_ll = per_input("greedy_log_likelihoods")
    if greedy_ll is not None:
        report.map("stats.greedy_log_likelihoods", "generations.token_logprobs (greedy)")
    samples = per_input("sample_texts")
    if samples is None:
        report.lack("sampled answers (stats.sample_texts: saved only with save_stats)")
    else:
        report.map("stats.sample_texts", "generations (samples)")
    sample_ll = per_input("sample_log_likelihoods") if samples is not None else None
    sample_lp = per_input("sample_log_probs") if samples is not None else None
    if sample_ll is not None:
        report.map("stats.sample_log_likelihoods", "generations.token_logprobs")
    elif sample_lp is not None:
        report.map("stats.sample_log_probs", "generations.logprob_sum")
    return _Stats(targets, greedy, greedy_ll, samples, sample_ll, sample_lp)


def _estimations(data: dict, n: int, report: Report) -> dict[str, list]:
    """``{method id: value per input}``: sequence-level estimators only."""
    methods: dict[str, list] = {}
    for key, values in _as_dict(data.get("estimations")).items():
        level, name = _key(key)
        values = to_python(values)
        if level != "sequence":
            report.note(f"estimation {name!r} is {level}-level; skipped")
            continue
        if not isinstance(values, list) or len(values) != n:
            report.note(f"estimation {name!r} has {_len(values)} values for {n} inputs; skipped")
            continue
        methods[PREFIX + name] = values
        report.flipped[PREFIX + name] = "as provided (LM-Polygraph estimators are uncertainties)"
    if methods:
        report.map(f"estimations ({len(methods)} sequence-level)", "questions.provided_scores")
    else:
        report.lack("the tool's scores (estimations)")
    return methods


def _gen_metrics(data: dict, n: int, report: Report) -> tuple[list | None, dict[str, list]]:
    """(0/1 accuracy label per input or None, the other sequence-level generation metrics)."""
    accuracy, other_metrics = None, {}
    for key, values in _as_dict(data.get("gen_metrics")).items():
        level, name = _key(key)
        values = to_python(values)
        if level != "sequence" or not isinstance(values, list) or len(values) != n:
            continue
        labels = [as_bool01(v) for v in values]
        if accuracy is None and "accuracy" in name.lower() and all(
            lab is not None or finite(v) is None for lab, v in zip(labels, values, strict=True)
        ):
            accuracy = labels
            report.map(f"gen_metrics[{name}]", "generations.provided_correct (greedy)")
        else:
            other_metrics[name] = values
    if other_metrics:
        report.map("gen_metrics (other)", "questions.meta")
    return accuracy, other_metrics


def _group_inputs(inputs: list, report: Report) -> dict[str, list[int]]:
    """Row numbers per distinct input: polygraph_eval repeats an input once per label."""
    groups: dict[str, list[int]] = {}
    for i, text in enumerate(inputs):
        groups.setdefault(str(text), []).append(i)
    if len(groups) < len(inputs):
        report.note(
            f"{len(inputs)} rows hold {len(groups)} distinct inputs: rows repeating an input "
            "were merged (references pooled, answers from the first row, scores averaged)"
        )
    return groups


def _pooled_references(targets: list | None, rows: list[int]) -> list[str]:
    refs: list[str] = []
    for i in rows:
        for ref in str_list(targets[i]) if targets is not None else []:
            if ref not in refs:
                refs.append(ref)
    return refs


def _mean_scores(methods: dict[str, list], rows: list[int]) -> tuple[dict[str, float], int]:
    """Each method's mean over a merged input's rows, and how many methods had no finite
    value there."""
    scores, dropped = {}, 0
    for method, values in methods.items():
        vals = [finite(values[i]) for i in rows]
        vals = [v for v in vals if v is not None]
        if vals:
            scores[method] = math.fsum(vals) / len(vals)
        else:
            dropped += 1
    return scores, dropped


def _add_answers(collector: Collector, qpos: int, rows: list[int], columns: _Stats,
                 accuracy: list | None) -> None:
    """The judged answer and the sampled answers of a merged input (from its first row)."""
    first = rows[0]
    if columns.greedy is not None:
        label = None
        if accuracy is not None:
            found = [accuracy[i] for i in rows if accuracy[i] is not None]
            label = max(found) if found else None  # best label, as UEManager does
        collector.answer(
            qpos,
            f"input {first + 1}, greedy",
            text=_text(columns.greedy[first]),
            is_greedy=True,
            token_logprobs=flat_floats(columns.greedy_ll[first]) if columns.greedy_ll else None,
            provided_correct=label,
        )
    if columns.samples is None:
        return
    for k, sample in enumerate(to_python(columns.samples[first]) or []):
        lls = _item(columns.sample_ll, first, k)
        collector.answer(
            qpos,
            f"input {first + 1}, sample {k + 1}",
            sample_id=f"s{k}",
            text=_text(sample),
            is_greedy=False,
            token_logprobs=flat_floats(lls) if lls is not None else None,
            logprob_sum=finite(_item(columns.sample_lp, first, k)) if lls is None else None,
        )


def _item(table: list | None, row: int, k: int):
    if table is None:
        return None
    values = to_python(table[row])
    return values[k] if isinstance(values, list) and k < len(values) else None


def _text(value: object) -> object:
    value = to_python(value)
    return value if isinstance(value, str) else value


def _len(value: object) -> str:
    return str(len(value)) if isinstance(value, list | tuple) else "no"
