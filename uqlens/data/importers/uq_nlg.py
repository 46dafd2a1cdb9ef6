"""Kuhn et al. (ICLR 2023, lorenzkuhn/semantic_uncertainty) and UQ-NLG (Lin et al.,
zlin7/UQ-NLG) generation pickles. Secondary format: both are research code without a
stable file contract.

Checked against lorenzkuhn/semantic_uncertainty ``code/generate.py`` (``pickle.dump`` of a
list of ``sequence_dict``), ``code/get_semantic_similarities.py`` (``{id:
{"semantic_set_ids": [...], ...}}`` in ``<model>_generations_similarities.pkl``) and
zlin7/UQ-NLG ``pipeline/generate.py`` (``pd.to_pickle`` of a list of ``curr_seq``).

One record per question::

    Kuhn:   {"id": [id], "question", "generated_texts": [...], "cleaned_generated_texts"
             (after clean_generated_strings.py), "most_likely_generation", "answer",
             "additional_answers", "prompt"/"generations" (token tensors), ...}
    UQ-NLG: {"id": id, "question", "generations": [...texts], "most_likely_generation",
             "answer", "additional_answers", "prompt", "generations_ids", ...}

Mapping: id -> question_id; question; answer + additional_answers -> references;
most_likely_generation -> the judged answer (greedy decoding in both scripts); cleaned
generated texts, else generated texts -> sampled answers. A ``*_similarities.pkl`` next to
the file gives ``semantic_set_ids`` -> ``provided_cluster``. Token tensors are not read, and
the scores these pipelines compute later (aggregated likelihood pickles) are not imported.
"""

from __future__ import annotations

from pathlib import Path

from uqlens.data.importers._common import Collector, Report, bad_file, str_list, to_python
from uqlens.data.importers._safe import load_pickle
from uqlens.data.schema import Dataset

FORMAT = "uq-nlg"


def _find(path: Path) -> tuple[Path, Path | None]:
    if path.is_dir():
        found = sorted(p for p in path.glob("*.pkl")
                       if "similarities" not in p.name and "likelihoods" not in p.name)
        if len(found) != 1:
            raise bad_file(path, f"expected one generations .pkl here, found {len(found)}")
        path = found[0]
    sims = path.with_name(path.stem + "_similarities.pkl")
    return path, sims if sims.is_file() else None


def _id(value: object) -> object:
    value = to_python(value)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


def read(
    path: Path,
    *,
    allow_pickle: bool,
    skip_invalid: bool,
    report: Report,
    references: dict[str, list[str]] | None = None,
) -> Dataset:
    file, sims_file = _find(path)
    sequences = load_pickle(file, allow_pickle=allow_pickle)
    if not isinstance(sequences, list) or not all(isinstance(s, dict) for s in sequences):
        raise bad_file(file, "expected a list of per-question dicts (Kuhn / UQ-NLG)")
    sims = load_pickle(sims_file, allow_pickle=allow_pickle) if sims_file else {}
    sims = sims if isinstance(sims, dict) else {}
    report.map("id, question", "questions.question_id, question")
    report.map("answer + additional_answers", "questions.references")
    report.map("most_likely_generation", "generations (is_greedy)")
    report.map("cleaned_generated_texts | generated_texts | generations", "generations (samples)")
    if sims:
        report.map(f"{sims_file.name}: semantic_set_ids", "generations.provided_cluster")
    else:
        report.lack("the tool's clusters (<model>_generations_similarities.pkl not found)")
    report.lack("the tool's scores (computed later by these pipelines; not imported)")

    collector = Collector(str(file), report, references)
    for k, seq in enumerate(sequences):
        qid = _id(seq.get("id"))
        rec = f"record {k + 1}"
        refs = str_list(seq.get("answer")) + str_list(seq.get("additional_answers"))
        refs = list(dict.fromkeys(refs))
        qpos = collector.question(
            rec,
            question_id=str(qid) if qid is not None else str(k),
            question=to_python(seq.get("question")),
            references=refs or None,
        )
        texts = None
        for key in ("cleaned_generated_texts", "generated_texts", "generations"):
            candidate = to_python(seq.get(key))
            if isinstance(candidate, list) and all(isinstance(t, str) for t in candidate):
                texts = candidate
                break
        entry = sims.get(qid, sims.get(str(qid))) if sims else None
        ids = to_python(entry.get("semantic_set_ids")) if isinstance(entry, dict) else None
        ids = ids if isinstance(ids, list) and texts and len(ids) == len(texts) else None
        for j, text in enumerate(texts or []):
            collector.answer(qpos, f"{rec}, generation {j + 1}", sample_id=f"s{j}", text=text,
                             is_greedy=False, provided_cluster=ids[j] if ids else None)
        greedy = to_python(seq.get("most_likely_generation"))
        if isinstance(greedy, str):
            collector.answer(qpos, f"{rec}, most_likely_generation", text=greedy,
                             is_greedy=True)
    return collector.finish(skip_invalid=skip_invalid)
