"""luq (Nikitin): the JSON "sample dataset" format.

Checked against AlexanderVNikitin/luq ``luq/datasets/datasets.md`` (documented format),
``scripts/add_generations_to_dataset.py`` (what the generation script actually writes) and
``scripts/add_accuracy_to_dataset.py``. The two disagree slightly, and both are accepted::

    documented: {"llm": ..., "raw_dataset": ..., "data": [
                    {"question", "samples": [...], "answer": "...", "samples_temp",
                     "answer_temp", "top-p"}, ...]}
    script:     {"data": {split: [{"question", "samples": [...], "answer": ["..."],
                                   "gt_answer": ..., "accuracy", "individual_accuracies"}]},
                 "parameters": {"temperature", "temperature_answer", "model_name", ...}}

Mapping: question; ``samples`` -> sampled answers; ``answer`` (a string, or the script's
one-item list) -> the judged answer; ``gt_answer`` -> references. The script decodes with a
``text-generation`` pipeline, whose ``generated_text`` repeats the prompt: a sample or answer
that begins with the question (compared ignoring case and runs of whitespace) loses that
prefix, and the report says how many did. ``individual_accuracies`` are scores in [0, 1]
from ``AccuracyEvaluator`` (a classifier's ``score``, e.g. 0.965; luq sets no threshold) ->
``provided_correct_value``, and ``provided_correct`` = value >= :data:`SOFT_THRESHOLD`;
temperatures from ``samples_temp``/``answer_temp`` or ``parameters``; model from ``llm``
or ``parameters.model_name``. Question ids are the record's ``question_id``/``id`` when
present, else ``<split>-<index>``. luq stores no per-question scores or clusters in this format.
"""

from __future__ import annotations

import re
from pathlib import Path

from uqlens.data.importers._common import (
    Collector,
    Report,
    bad_file,
    finite,
    read_json,
    str_list,
)
from uqlens.data.schema import Dataset

FORMAT = "luq"
SOFT_THRESHOLD = 0.5
"""uqlens's cut for luq's soft per-sample accuracies (stated in the import report)."""


def strip_prompt(text: object, question: object) -> tuple[object, bool]:
    """``text`` without a leading copy of ``question`` (case and whitespace runs ignored),
    and whether one was removed."""
    if not isinstance(text, str) or not isinstance(question, str) or not question.strip():
        return text, False
    words = question.split()
    pattern = r"\s*" + r"\s+".join(re.escape(w) for w in words)
    found = re.match(pattern, text, flags=re.IGNORECASE)
    if found is None:
        return text, False
    return text[found.end():].strip(), True


def splits(doc: object) -> dict[str, list] | None:
    """``{split: [records]}`` from either luq shape; None when the document is not luq."""
    if not isinstance(doc, dict):
        return None
    data = doc.get("data")
    if isinstance(data, list):
        found = {"": data}
    elif isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
        found = data
    else:
        return None
    records = [r for rs in found.values() for r in rs]
    if records and all(isinstance(r, dict) and "question" in r and "samples" in r
                       for r in records):
        return found
    return None


def read(
    path: Path,
    *,
    allow_pickle: bool,
    skip_invalid: bool,
    report: Report,
    references: dict[str, list[str]] | None = None,
) -> Dataset:
    doc = read_json(path)
    found = splits(doc)
    if found is None:
        raise bad_file(path, "not a luq sample file: expected data entries with "
                       "'question' and 'samples'")
    params = doc.get("parameters") if isinstance(doc.get("parameters"), dict) else {}
    model = doc.get("llm") or params.get("model_name")
    dataset_name = doc.get("raw_dataset")
    report.map("question", "questions.question")
    report.map("samples", "generations (samples)")
    report.map("answer", "generations (is_greedy)")
    records = [r for rs in found.values() for r in rs]
    if any("gt_answer" in r for r in records):
        report.map("gt_answer", "questions.references")
    elif not references:
        report.lack("references (gt_answer): pass --questions")
    if any("individual_accuracies" in r for r in records):
        report.map("individual_accuracies (soft scores)",
                   "generations.provided_correct_value (samples)")
        report.map(f"individual_accuracies >= {SOFT_THRESHOLD} (uqlens's threshold; luq sets "
                   "none)", "generations.provided_correct (samples)")
    report.lack("the tool's scores (luq's sample format stores none)")
    report.lack("the tool's clusters (luq's sample format stores none)")

    collector = Collector(str(path), report, references)
    stripped = [0, 0]  # answers without / with the question repeated in front
    multi = len(found) > 1 or "" not in found
    for split, items in found.items():
        for k, item in enumerate(items):
            rec = f"data{'.' + split if split else ''}[{k}]"
            qid = item.get("question_id", item.get("id"))
            if qid is None:
                qid = f"{split}-{k}" if multi and split else str(k)
            qpos = collector.question(
                rec,
                question_id=str(qid),
                question=item.get("question"),
                references=str_list(item.get("gt_answer")) or None,
                model=model if isinstance(model, str) else None,
                dataset=dataset_name if isinstance(dataset_name, str) else (
                    split or None),
            )
            samples = item.get("samples") if isinstance(item.get("samples"), list) else []
            accs = item.get("individual_accuracies")
            accs = accs if isinstance(accs, list) and len(accs) == len(samples) else None
            s_temp = finite(item.get("samples_temp", params.get("temperature")))
            a_temp = finite(item.get("answer_temp", params.get("temperature_answer")))
            question = item.get("question")
            for j, text in enumerate(samples):
                text, cut = strip_prompt(text, question)
                stripped[cut] += 1
                soft = _unit(accs[j]) if accs else None
                collector.answer(qpos, f"{rec}, sample {j + 1}", sample_id=f"s{j}", text=text,
                                 is_greedy=False, temperature=s_temp,
                                 provided_correct_value=soft,
                                 provided_correct=None if soft is None else
                                 soft >= SOFT_THRESHOLD)
            answer = item.get("answer")
            if isinstance(answer, list):
                answer = answer[0] if len(answer) == 1 else None
            if answer is not None:
                answer, cut = strip_prompt(answer, question)
                stripped[cut] += 1
                collector.answer(qpos, f"{rec}, answer", text=answer, is_greedy=True,
                                 temperature=a_temp)
    if stripped[1]:
        report.note(f"{stripped[1]} of {sum(stripped)} answers began with their question "
                    "(luq's text-generation pipeline returns the prompt with the answer); "
                    "that prefix was removed")
    return collector.finish(skip_invalid=skip_invalid)


def _unit(value: object) -> float | None:
    """A soft accuracy: a finite number in [0, 1] (0/1 and booleans included), else None."""
    number = finite(float(value) if isinstance(value, bool) else value)
    return number if number is not None and 0.0 <= number <= 1.0 else None
