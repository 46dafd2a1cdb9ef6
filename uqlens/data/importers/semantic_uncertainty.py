"""semantic_uncertainty (Farquhar et al., Nature 2024) and Kernel Language Entropy.

Checked against jlko/semantic_uncertainty ``semantic_uncertainty/generate_answers.py`` and
``compute_uncertainty_measures.py`` (and ``uncertainty/uncertainty_measures/
semantic_entropy.py``), and AlexanderVNikitin/kernel-language-entropy, whose
``compute_uncertainty_measures.py`` writes the same files with more measures (and a
``graphs`` list of networkx graphs, which is not read).

A run folder (W&B's ``files`` folder; W&B itself is not needed) holds:

``validation_generations.pkl``
    ``{example_id: {"question", "context", "reference": {"answers": {"text": [...]}},
    "most_likely_answer": {"response", "token_log_likelihoods", "embedding", "accuracy"},
    "responses": [(text, token_log_likelihoods, embedding, accuracy), ...]}}``
``uncertainty_measures.pkl`` (optional)
    ``{"uncertainty_measures": {name: [value per example]}, "semantic_ids": [[id per
    response]], "validation_is_false": [...], "validation_unanswerable": [...]}``
``experiment_details.pkl`` (optional)
    ``{"args": argparse.Namespace, "prompt", ...}``

Mapping:

- example id -> ``question_id``; question, context; ``reference.answers.text`` ->
  references. Unanswerable examples (no reference) cannot be judged and are dropped.
- ``most_likely_answer`` -> the judged answer (temperature 0.1 in ``generate_answers.py``):
  ``token_log_likelihoods`` -> ``token_logprobs``, ``embedding`` (last-token hidden state)
  -> ``hidden_state``, ``accuracy`` (0/1) -> ``provided_correct``.
- ``responses`` -> sampled answers (temperature ``args.temperature``), same fields; their
  ``accuracy`` is 0.0 unless ``args.compute_accuracy_at_all_temps``, so it is only mapped
  then.
- ``semantic_ids[i]`` -> ``provided_cluster`` of the first ``len(semantic_ids[i])`` sampled
  answers (the script clusters ``responses[:use_num_generations]``).
- Lists in ``uncertainty_measures`` align with the examples in file order (the script
  iterates the dict in order and may stop early at ``num_eval_samples``) and become provided
  methods ``semantic_uncertainty:<name>``. All are uncertainties already (entropies,
  ``p_false = 1 - p_true``, ``p_ik`` predicts "is false", ``context_entails_response =
  2 - mean entailment vote``), so none is flipped.
"""

from __future__ import annotations

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
from uqlens.data.importers._safe import load_pickle
from uqlens.data.schema import Dataset

FORMAT = "semantic-uncertainty"
PREFIX = "semantic_uncertainty:"
GENERATIONS = "validation_generations.pkl"
MEASURES = "uncertainty_measures.pkl"
DETAILS = "experiment_details.pkl"


def run_folder(path: Path) -> Path:
    folder = path if path.is_dir() else path.parent
    if not (folder / GENERATIONS).is_file():
        raise bad_file(path, f"no {GENERATIONS} here (a semantic_uncertainty run folder)")
    return folder


def read(
    path: Path,
    *,
    allow_pickle: bool,
    skip_invalid: bool,
    report: Report,
    references: dict[str, list[str]] | None = None,
) -> Dataset:
    folder = run_folder(path)
    generations, results, details = _load_run(folder, allow_pickle, report)
    run = _run_args(details, report)
    measures = _measures(results, len(generations), report)
    # 1 - most_likely_answer accuracy, per example in file order: the label when the
    # generations file lacks the accuracy itself
    is_false = to_python(results.get("validation_is_false"))
    is_false = is_false if isinstance(is_false, list) else []
    semantic_ids = _semantic_ids(results, report)

    report.map(f"{GENERATIONS}: question, context, reference.answers.text",
               "questions.question, context, references")
    report.map("most_likely_answer.response / responses[][0]", "generations.text")
    report.map("token_log_likelihoods", "generations.token_logprobs")
    report.map("embedding", "generations.hidden_state")
    if run.all_temps_acc:
        report.map("responses[][3] (accuracy)", "generations.provided_correct (samples)")

    collector = Collector(str(folder / GENERATIONS), report, references)
    unanswerable = used_is_false = used_accuracy = 0
    for index, (example_id, example) in enumerate(generations.items()):
        example = to_python_dict(example)
        refs = str_list(to_python_dict(to_python_dict(example.get("reference")).get("answers"))
                        .get("text"))
        if not refs and references is None:
            unanswerable += 1
            continue
        scores = {}
        for method, values in measures.items():
            if index < len(values) and finite(values[index]) is not None:
                scores[method] = finite(values[index])
        qpos = collector.question(
            f"example {example_id!s}",
            question_id=str(example_id),
            question=example.get("question"),
            context=example.get("context") or None,
            references=refs or None,
            provided_scores=scores or None,
            model=run.model if isinstance(run.model, str) else None,
            dataset=run.dataset if isinstance(run.dataset, str) else None,
        )
        best = to_python_dict(example.get("most_likely_answer"))
        label = as_bool01(best.get("accuracy"))
        used_accuracy += label is not None
        if label is None and index < len(is_false) and finite(is_false[index]) is not None:
            label = as_bool01(1.0 - finite(is_false[index]))
            used_is_false += label is not None
        if best:
            _add_judged(collector, qpos, f"example {example_id!s}", best, label)
        ids = to_python(semantic_ids[index]) if index < len(semantic_ids) else None
        _add_samples(collector, qpos, f"example {example_id!s}", example, ids, run)
    if used_accuracy:
        report.map("most_likely_answer.accuracy", "generations.provided_correct (greedy)")
    if used_is_false:
        report.map(f"{MEASURES}: validation_is_false ({used_is_false} examples without "
                   "most_likely_answer.accuracy)", "generations.provided_correct (greedy)")
    if unanswerable:
        report.note(f"{unanswerable} unanswerable examples (no reference answer) were dropped")
    return collector.finish(skip_invalid=skip_invalid)


def _load_run(folder: Path, allow_pickle: bool, report: Report) -> tuple[dict, dict, dict]:
    """The run's generations, uncertainty measures and experiment details (the last two
    empty when their files are absent)."""
    generations = to_python_dict(load_pickle(folder / GENERATIONS, allow_pickle=allow_pickle))
    if not generations:
        raise bad_file(folder / GENERATIONS, "expected a dict of example id -> generations")
    measures_file, details_file = folder / MEASURES, folder / DETAILS
    results = (
        to_python_dict(load_pickle(measures_file, allow_pickle=allow_pickle))
        if measures_file.is_file()
        else {}
    )
    if not measures_file.is_file():
        report.lack(f"the tool's scores and clusters ({MEASURES} not found)")
    details = (
        to_python_dict(load_pickle(details_file, allow_pickle=allow_pickle))
        if details_file.is_file()
        else {}
    )
    return generations, results, details


@dataclass
class _RunArgs:
    """The settings of the run that the importer uses (from ``experiment_details.pkl``)."""

    sample_temp: float | None
    all_temps_acc: bool
    model: object
    dataset: object


def _run_args(details: dict, report: Report) -> _RunArgs:
    args = details.get("args")
    arg = (lambda name, default=None: getattr(args, name, default)) if args is not None else (
        lambda name, default=None: default
    )
    run = _RunArgs(finite(arg("temperature")), bool(arg("compute_accuracy_at_all_temps", False)),
                   arg("model_name"), arg("dataset"))
    if args is not None:
        report.map(f"{DETAILS}: args.model_name, args.dataset, args.temperature",
                   "questions.model, questions.dataset, generations.temperature")
    return run


def _measures(results: dict, n: int, report: Report) -> dict[str, list]:
    """``{method id: value per example}`` from ``uncertainty_measures`` (uncertainties)."""
    measures: dict[str, list] = {}
    raw_measures = results.get("uncertainty_measures")
    for name, values in (raw_measures.items() if isinstance(raw_measures, dict) else []):
        values = to_python(values)
        if not isinstance(values, list) or not values or len(values) > n:
            report.note(f"uncertainty measure {name!r} is not a list per example; skipped")
            continue
        if len(values) < n:
            report.note(f"uncertainty measure {name!r} covers the first {len(values)} of {n}")
        measures[PREFIX + str(name)] = values
        report.flipped[PREFIX + str(name)] = "as provided (uncertainty)"
    if measures:
        report.map(f"{MEASURES}: uncertainty_measures ({len(measures)})",
                   "questions.provided_scores")
    return measures


def _semantic_ids(results: dict, report: Report) -> list:
    """The tool's cluster ids of each example's responses, in file order (or [])."""
    semantic_ids = to_python(results.get("semantic_ids"))
    if isinstance(semantic_ids, list) and semantic_ids:
        report.map(f"{MEASURES}: semantic_ids", "generations.provided_cluster")
        return semantic_ids
    if results:
        report.lack("the tool's clusters (semantic_ids)")
    return []


def _add_judged(collector: Collector, qpos: int, rec: str, best: dict,
                label: bool | None) -> None:
    """The ``most_likely_answer`` (generated at temperature 0.1 by the tool) as the judged
    answer."""
    collector.answer(
        qpos,
        f"{rec}, most_likely_answer",
        text=best.get("response"),
        is_greedy=True,
        temperature=0.1,
        token_logprobs=flat_floats(best.get("token_log_likelihoods")),
        hidden_state=flat_floats(best.get("embedding")),
        provided_correct=label,
    )


def _add_samples(collector: Collector, qpos: int, rec: str, example: dict, ids: object,
                 run: _RunArgs) -> None:
    """An example's ``responses`` (text, token log-likelihoods, embedding, accuracy)."""
    for k, response in enumerate(to_python(example.get("responses")) or []):
        response = list(response) if isinstance(response, list | tuple) else [response]
        response += [None] * (4 - len(response))
        text, lls, embedding, accuracy = response[:4]
        collector.answer(
            qpos,
            f"{rec}, response {k + 1}",
            sample_id=f"s{k}",
            text=text,
            is_greedy=False,
            temperature=run.sample_temp,
            token_logprobs=flat_floats(lls),
            hidden_state=flat_floats(embedding),
            provided_correct=as_bool01(accuracy) if run.all_temps_acc else None,
            provided_cluster=ids[k] if isinstance(ids, list) and k < len(ids) else None,
        )


def to_python_dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}
