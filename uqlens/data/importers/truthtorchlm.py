"""TruthTorchLM: the ``output_dict`` of ``evaluate_truth_method`` saved as JSON.

Checked against Ybakman/TruthTorchLM ``src/TruthTorchLM/evaluators/evaluate_truth_method.py``
(returns ``{"eval_list": [...], "output_dict": output_dict}``), ``utils/eval_utils.py``
(``run_over_dataset``: ``eval_model_over_dataset`` + ``run_truth_methods_over_dataset``),
``truth_methods/truth_method.py`` and ``truth_methods/semantic_entropy.py``.

``output_dict`` holds lists with one entry per question::

    {"question_text": [...], "ground_truths": [...], "contexts": [...],
     "generations": [...], "generations_correctness": [1 | 0 | -1, ...],
     "truth_methods": ["SemanticEntropy", ...],
     "truth_method_0": {"name": str(method), "truth_values": [...],
                        "normalized_truth_values": [...],
                        "method_specific_details": [{...}, ...]  # return_method_details
                       }, ...}

Mapping:

- question_text, ground_truths, contexts -> question, references, context;
- generations -> the judged answer; generations_correctness 1/0 -> ``provided_correct``
  (other values, e.g. -1 when a judge could not decide, stay unknown);
- ``truth_method_<i>.truth_values`` are *truth* values (higher = more likely correct, e.g.
  ``-semantic_entropy``) on each method's own scale -> provided method
  ``truthtorchlm:<class name>`` = -truth_value (the flip is recorded). The sigmoid
  "normalized" values are a monotone map of the same numbers (the default normaliser is a
  dummy, ``SigmoidNormalizer(threshold=0, std=1)``), so they are not used.
- ``method_specific_details[q]["generated_texts"]`` (sampling methods, only when
  ``return_method_details=True``) -> sampled answers, from the first method that has them;
  its ``"clusters"`` -> ``provided_cluster``. ``bidirectional_entailment_clustering`` walks
  ``generated_texts`` in order and appends each one (a copy, not an index) to the first
  cluster that accepts it, else opens a new cluster; the clusters are mapped back by
  replaying that walk over the sample indices (:func:`cluster_by_index`), so identical
  answers the tool put in different clusters stay apart. ``generation_dicts`` (model
  outputs) are not JSON and not read.
"""

from __future__ import annotations

from pathlib import Path

from uqlens.data.importers._common import (
    Collector,
    Report,
    as_bool01,
    bad_file,
    finite,
    read_json,
    str_list,
    to_python,
)
from uqlens.data.schema import Dataset

FORMAT = "truthtorchlm"
PREFIX = "truthtorchlm:"


def output_dict(doc: object) -> dict | None:
    if isinstance(doc, dict) and isinstance(doc.get("output_dict"), dict):
        return doc["output_dict"]
    if isinstance(doc, dict) and "question_text" in doc and "generations" in doc:
        return doc
    return None


def cluster_by_index(texts: list, clusters: list) -> list[int | None] | None:
    """The cluster of each of ``texts`` (by position) from TruthTorchLM's clusters (lists of
    the texts themselves, filled in ``texts`` order). Sample ``k`` takes the first cluster
    opened so far whose next unassigned member is its text, else opens the next cluster
    (which must start with it). None when the clusters do not fit the texts."""
    queues = [list(map(str, c)) if isinstance(c, list | tuple) else None for c in clusters]
    if any(q is None for q in queues):
        return None
    used = [0] * len(queues)
    opened = 0
    out: list[int | None] = []
    for text in map(str, texts):
        found = next((c for c in range(opened)
                      if used[c] < len(queues[c]) and queues[c][used[c]] == text), None)
        if found is None and opened < len(queues) and queues[opened][:1] == [text]:
            found, opened = opened, opened + 1
        if found is None:
            return None
        used[found] += 1
        out.append(found)
    return out if used == [len(q) for q in queues] else None


def read(
    path: Path,
    *,
    allow_pickle: bool,
    skip_invalid: bool,
    report: Report,
    references: dict[str, list[str]] | None = None,
) -> Dataset:
    out = output_dict(read_json(path))
    if out is None:
        raise bad_file(path, "not a TruthTorchLM output_dict (no question_text/generations)")
    questions = out.get("question_text")
    if not isinstance(questions, list) or not questions:
        raise bad_file(path, "output_dict.question_text is missing or empty")
    n = len(questions)
    truths, contexts, greedy, correct = _question_columns(out, n, report)
    methods, details = _truth_methods(out, n, report)
    sample_source = _sample_source(details, report)

    collector = Collector(str(path), report, references)
    unsure = misfit = 0
    for q in range(n):
        rec = f"question {q + 1}"
        scores = {m: v[q] for m, v in methods.items() if v[q] is not None}
        qpos = collector.question(
            rec,
            question_id=str(q),
            question=to_python(questions[q]),
            references=(str_list(truths[q]) or None) if truths is not None else None,
            context=(contexts[q] or None) if contexts is not None else None,
            provided_scores=scores or None,
        )
        if greedy is not None:
            label = as_bool01(correct[q]) if correct is not None else None
            unsure += correct is not None and label is None
            collector.answer(qpos, f"{rec}, generation", text=greedy[q], is_greedy=True,
                             provided_correct=label)
        detail = sample_source[q] if sample_source is not None else None
        misfit += _add_samples(collector, qpos, rec, detail)
    if misfit:
        report.note(f"{misfit} questions' clusters do not match their generated_texts in "
                    "order (not mapped)")
    if unsure:
        report.note(f"{unsure} generations_correctness values were not 0/1 (left unknown)")
    return collector.finish(skip_invalid=skip_invalid)


def _question_columns(out: dict, n: int, report: Report) -> tuple[list | None, ...]:
    """(ground_truths, contexts, generations, generations_correctness): each a list with one
    entry per question, or None when absent or of another length."""

    def column(name: str) -> list | None:
        value = out.get(name)
        if isinstance(value, list) and len(value) == n:
            return value
        if value is not None:
            report.note(f"output_dict.{name} does not have one entry per question; ignored")
        return None

    truths, contexts = column("ground_truths"), column("contexts")
    greedy, correct = column("generations"), column("generations_correctness")
    report.map("question_text", "questions.question")
    if truths is not None:
        report.map("ground_truths", "questions.references")
    else:
        report.lack("references (ground_truths)")
    if contexts is not None:
        report.map("contexts", "questions.context")
    if greedy is not None:
        report.map("generations", "generations (is_greedy)")
    if correct is not None:
        report.map("generations_correctness (1/0)", "generations.provided_correct (greedy)")
    return truths, contexts, greedy, correct


def _truth_methods(out: dict, n: int, report: Report) -> tuple[dict[str, list], list[list]]:
    """``{method id: uncertainty per question}`` from every ``truth_method_<i>``, and the
    per-question ``method_specific_details`` lists that were saved."""
    names = out.get("truth_methods") if isinstance(out.get("truth_methods"), list) else []
    methods: dict[str, list] = {}
    details: list[list] = []
    i = 0
    while f"truth_method_{i}" in out:
        entry = out[f"truth_method_{i}"] if isinstance(out[f"truth_method_{i}"], dict) else {}
        name = str(names[i]) if i < len(names) else str(entry.get("name", f"method_{i}"))
        method = PREFIX + name
        if method in methods:
            method = f"{method}_{i}"
        values = entry.get("truth_values")
        if isinstance(values, list) and len(values) == n:
            methods[method] = [None if finite(v) is None else -finite(v) for v in values]
            report.flipped[method] = "flipped: -truth_value (TruthTorchLM: higher = more truthful)"
        else:
            report.note(f"truth_method_{i} has no truth_values per question; skipped")
        found = entry.get("method_specific_details")
        if isinstance(found, list) and len(found) == n:
            details.append(found)
        i += 1
    if methods:
        report.map(f"truth_method_<i>.truth_values ({len(methods)})", "questions.provided_scores")
    else:
        report.lack("the tool's scores (truth_method_<i>.truth_values)")
    return methods, details


def _sample_source(details: list[list], report: Report) -> list | None:
    """The first method's details that hold ``generated_texts`` (the sampled answers)."""
    sample_source = None
    for found in details:
        if any(isinstance(d, dict) and isinstance(d.get("generated_texts"), list)
               for d in found):
            sample_source = found
            break
    if sample_source is None:
        report.lack("sampled answers (method_specific_details, saved with "
                    "return_method_details=True)")
    else:
        report.map("method_specific_details[].generated_texts", "generations (samples)")
        if any(isinstance(d, dict) and isinstance(d.get("clusters"), list)
               for d in sample_source):
            report.map("method_specific_details[].clusters", "generations.provided_cluster")
        else:
            report.lack("the tool's clusters (method_specific_details[].clusters)")
    return sample_source


def _add_samples(collector: Collector, qpos: int, rec: str, detail: object) -> bool:
    """A question's ``generated_texts`` as sampled answers with the tool's clusters; returns
    whether its clusters did not fit the texts (and were left out)."""
    if not (isinstance(detail, dict) and isinstance(detail.get("generated_texts"), list)):
        return False
    found = detail.get("clusters")
    ids = cluster_by_index(detail["generated_texts"], found) if found else None
    for k, text in enumerate(detail["generated_texts"]):
        collector.answer(
            qpos,
            f"{rec}, generated_texts {k + 1}",
            sample_id=f"s{k}",
            text=text,
            is_greedy=False,
            provided_cluster=ids[k] if ids else None,
        )
    return bool(found and ids is None)
