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
one-item list) -> the judged answer; ``gt_answer`` -> references; ``individual_accuracies``
(0/1 per sample) -> ``provided_correct``; temperatures from ``samples_temp``/``answer_temp``
or ``parameters``; model from ``llm`` or ``parameters.model_name``. Question ids are the
record's ``question_id``/``id`` when present, else ``<split>-<index>``. luq stores no
per-question scores or clusters in this format.
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
)
from uqlens.data.schema import Dataset

FORMAT = "luq"


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
        report.map("individual_accuracies", "generations.provided_correct (samples)")
    report.lack("the tool's scores (luq's sample format stores none)")
    report.lack("the tool's clusters (luq's sample format stores none)")

    collector = Collector(str(path), report, references)
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
            for j, text in enumerate(samples):
                collector.answer(qpos, f"{rec}, sample {j + 1}", sample_id=f"s{j}", text=text,
                                 is_greedy=False, temperature=s_temp,
                                 provided_correct=as_bool01(accs[j]) if accs else None)
            answer = item.get("answer")
            if isinstance(answer, list):
                answer = answer[0] if len(answer) == 1 else None
            if answer is not None:
                collector.answer(qpos, f"{rec}, answer", text=answer, is_greedy=True,
                                 temperature=a_temp)
    return collector.finish(skip_invalid=skip_invalid)
