"""uqlm (CVS Health): ``UQResult.to_dict()`` saved as JSON, ``UQResult.to_df()`` saved as
CSV/Parquet (or JSON records).

Checked against cvs-health/uqlm ``uqlm/utils/results.py`` (``UQResult``: ``to_dict`` returns
``{"data": {...}, "metadata": {...}}``; ``to_df`` builds a frame from ``data`` and renames
plural columns ending in "s" to singular, except ``sampled_responses``),
``uqlm/scorers/shortform/black_box.py``, ``white_box.py``, ``entropy.py`` and
``shortform/baseclass/uncertainty.py``.

Mapping, per row:

- ``prompt(s)`` -> question (uqlm only keeps prompts when it generated the answers; without
  them the question text is a placeholder and ``--questions`` cannot match it);
- ``response(s)`` -> the judged answer (with ``use_best`` uqlm may have swapped in the
  answer from the largest semantic cluster); ``sampled_responses`` -> sampled answers;
- ``logprob(s)`` / ``sampled_logprob(s)`` (LangChain token dicts with a ``logprob`` key) ->
  ``token_logprobs``;
- uqlm keeps no reference answers: an ``answer``/``ground_truth``/``reference(s)`` column
  added by the user is used, else ``--questions``; a user column ``response_correct``
  (uqlm's tutorials' name) -> ``provided_correct`` of the judged answer.
- Every other numeric column is a scorer. uqlm scorers are confidences in [0, 1] (higher =
  more likely correct: ``semantic_negentropy = 1 - normalised entropy``,
  ``semantic_sets_confidence``, ``noncontradiction``, ``exact_match``, ``cosine_sim``,
  ``bert_score``, ``entailment``, white-box probabilities, judges, ``ensemble_score(s)``);
  each becomes ``uqlm:<name>`` = 1 - value, and the flip is recorded. Raw entropies and
  counts that ``SemanticEntropy`` also returns (``*entropy_values``, ``num_semantic_sets``)
  are uncertainties already and are kept as they are. A numeric column of unknown meaning
  outside [0, 1] is skipped and reported.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from uqlens.data.importers._common import (
    Collector,
    Report,
    as_bool01,
    bad_file,
    finite,
    parse_list,
    read_json,
    str_list,
    to_python,
)
from uqlens.data.schema import Dataset

FORMAT = "uqlm"
PREFIX = "uqlm:"

_RENAME = {"prompts": "prompt", "responses": "response", "logprobs": "logprob",
           "raw_responses": "raw_response", "sampled_logprobs": "sampled_logprob",
           "multiple_logprobs": "sampled_logprob"}
# ``to_df()`` drops the trailing "s" of every plural key; the scorers keep ``to_dict()``'s
# name, so one tool run gives the same method ids whichever way it was saved.
_SCORER_PLURALS = {name[:-1]: name for name in (
    "num_semantic_sets", "discrete_entropy_values", "discrete_confidence_scores",
    "tokenprob_entropy_values", "tokenprob_confidence_scores", "semantic_density_values",
    "ensemble_scores", "entropy_values")}
TEXT_COLUMNS = {"prompt", "response", "sampled_responses", "raw_response",
                "raw_sampled_responses", "logprob", "sampled_logprob", "original_response"}
REFERENCE_COLUMNS = ("references", "reference", "answers", "answer", "ground_truth",
                     "ground_truths", "gt_answer", "ideal_answer", "target")
CORRECT_COLUMNS = ("response_correct", "is_correct", "correct")
ID_COLUMNS = ("question_id", "id")
UNCERTAINTY_COLUMNS = {"num_semantic_sets", "entropy_value", "entropy_values"}


def is_uncertainty_column(name: str) -> bool:
    return name in UNCERTAINTY_COLUMNS or name.endswith("entropy_values") or name.endswith(
        "entropy_value"
    )


def load_frame(path: Path) -> tuple[pd.DataFrame, dict]:
    """The result as a frame of rows, plus uqlm's metadata when the file has it."""
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            return pd.read_parquet(path), {}
        except Exception as exc:  # pyarrow raises several types
            raise bad_file(path, f"not a readable Parquet file: {exc}") from None
    if suffix in (".csv", ".tsv"):
        try:
            frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",",
                                keep_default_na=False, na_values=[""])
        except (ValueError, pd.errors.ParserError) as exc:
            raise bad_file(path, f"not a readable CSV file: {exc}") from None
        return frame, {}
    doc = read_json(path)
    if isinstance(doc, dict) and isinstance(doc.get("data"), dict):  # to_dict()
        columns = doc["data"]
        lengths = {len(v) for v in columns.values() if isinstance(v, list)}
        if len(lengths) != 1:
            raise bad_file(path, "uqlm 'data' columns are not lists of one common length")
        length = lengths.pop()
        frame = pd.DataFrame(
            {k: pd.Series(v, dtype=object) for k, v in columns.items()
             if isinstance(v, list) and len(v) == length}
        )
        meta = doc.get("metadata")
        return frame, meta if isinstance(meta, dict) else {}
    if isinstance(doc, list):  # to_df().to_json(orient="records")
        return pd.DataFrame(doc), {}
    if isinstance(doc, dict):  # to_df().to_json() (orient="columns")
        try:
            return pd.DataFrame(doc), {}
        except ValueError as exc:
            raise bad_file(path, f"not a uqlm result: {exc}") from None
    raise bad_file(path, "not a uqlm result (expected to_dict() JSON or a to_df() table)")


def _token_logprobs(value: object) -> list[float] | None:
    """LangChain logprobs (a list of ``{"token", "logprob", ...}``) as floats."""
    items = parse_list(value)
    if not items:
        return None
    out = []
    for item in items:
        if isinstance(item, dict) and finite(item.get("logprob")) is not None:
            out.append(finite(item["logprob"]))
        elif finite(item) is not None:
            out.append(finite(item))
        else:
            return None
    return out


def read(
    path: Path,
    *,
    allow_pickle: bool,
    skip_invalid: bool,
    report: Report,
    references: dict[str, list[str]] | None = None,
) -> Dataset:
    frame, metadata = load_frame(path)
    frame = _canonical_columns(frame, report)
    if "response" not in frame.columns:
        raise bad_file(path, "not a uqlm result: no 'response(s)' column")
    ref_col, correct_col, id_col = _map_columns(frame, references, report)
    scorers = _scorers(frame, TEXT_COLUMNS | {ref_col, correct_col, id_col}, report)
    report.lack("the tool's clusters (uqlm does not save them)")
    temperature, sampling_temperature = _temperatures(metadata, report)
    collector = Collector(str(path), report, references)
    for i, row in enumerate(frame.to_dict("records")):
        qpos = _add_question(collector, i, row, scorers, ref_col, id_col)
        _add_answers(collector, qpos, f"row {i + 1}", row, correct_col,
                     temperature, sampling_temperature)
    return collector.finish(skip_invalid=skip_invalid)


def _canonical_columns(frame: pd.DataFrame, report: Report) -> pd.DataFrame:
    """Columns under one name whether saved by ``to_dict()`` or ``to_df()``."""
    frame = frame.rename(columns={c: _RENAME[c] for c in frame.columns if c in _RENAME})
    singular = [c for c in frame.columns if c in _SCORER_PLURALS]
    for column in singular:
        report.note(f"column {column!r} (to_df()'s name) read as uqlm's "
                    f"{_SCORER_PLURALS[column]!r}")
    return frame.rename(columns={c: _SCORER_PLURALS[c] for c in singular})


def _map_columns(frame: pd.DataFrame, references: dict[str, list[str]] | None,
                 report: Report) -> tuple[str | None, str | None, str | None]:
    """Report the text columns found; returns the (references, correctness, id) columns."""
    report.map("response(s)", "generations (is_greedy)")
    if "prompt" in frame.columns:
        report.map("prompt(s)", "questions.question")
    else:
        report.lack("prompts (uqlm stores them only when it generated the answers)")
    if "sampled_responses" in frame.columns:
        report.map("sampled_responses", "generations (samples)")
    else:
        report.lack("sampled answers (sampled_responses)")
    if "logprob" in frame.columns:
        report.map("logprob(s)", "generations.token_logprobs (greedy)")
    if "sampled_logprob" in frame.columns:
        report.map("sampled_logprob(s)", "generations.token_logprobs (samples)")
    ref_col = next((c for c in REFERENCE_COLUMNS if c in frame.columns), None)
    if ref_col:
        report.map(ref_col, "questions.references")
    elif not references:
        report.lack("references (uqlm keeps none): the answers are not judged; add them with "
                    "--questions FILE (matched by question text, id or position)")
    correct_col = next((c for c in CORRECT_COLUMNS if c in frame.columns), None)
    if correct_col:
        report.map(correct_col, "generations.provided_correct (greedy)")
    id_col = next((c for c in ID_COLUMNS if c in frame.columns), None)
    return ref_col, correct_col, id_col


def _add_question(collector: Collector, i: int, row: dict, scorers: dict,
                  ref_col: str | None, id_col: str | None) -> int:
    """Row ``i`` as a question with its scorer values; returns its position."""
    prompt = to_python(row.get("prompt"))
    prompt = prompt if isinstance(prompt, str) else None  # from --questions, or a placeholder
    scores = {m: vals[i] for m, (_, vals) in scorers.items() if vals[i] is not None}
    qid = row.get(id_col) if id_col else None
    return collector.question(
        f"row {i + 1}",
        question_id=str(to_python(qid)) if qid is not None and not _nan(qid) else str(i),
        question=prompt,
        references=str_list(row.get(ref_col)) or None if ref_col else None,
        provided_scores=scores or None,
    )


def _add_answers(collector: Collector, qpos: int, rec: str, row: dict,
                 correct_col: str | None, temperature: float | None,
                 sampling_temperature: float | None) -> None:
    """The row's judged response and its sampled responses."""
    collector.answer(
        qpos,
        f"{rec}, response",
        text=_str(row.get("response")),
        is_greedy=True,
        temperature=temperature,
        token_logprobs=_token_logprobs(row.get("logprob")),
        provided_correct=as_bool01(_bool_text(row.get(correct_col))) if correct_col else None,
    )
    sampled = parse_list(row.get("sampled_responses")) or []
    sampled_lp = parse_list(row.get("sampled_logprob")) or []
    for k, text in enumerate(sampled):
        collector.answer(
            qpos,
            f"{rec}, sampled response {k + 1}",
            sample_id=f"s{k}",
            text=_str(text),
            is_greedy=False,
            temperature=sampling_temperature,
            token_logprobs=_token_logprobs(sampled_lp[k]) if k < len(sampled_lp) else None,
        )


def _scorers(frame: pd.DataFrame, used: set, report: Report) -> dict[str, tuple[str, list]]:
    """``{uqlm:<column>: (orientation, uncertainty per row)}`` for every numeric column that
    is not text, references, labels or ids (see the module docstring for the orientation)."""
    scorers: dict[str, tuple[str, list]] = {}
    for column in frame.columns:
        if column in used or str(column).startswith("Unnamed"):
            continue
        values = [finite(v) for v in frame[column].tolist()]
        present = [v for v in values if v is not None]
        if not present:
            continue
        name = str(column)
        if is_uncertainty_column(name):
            scorers[PREFIX + name] = ("as provided (uncertainty)", values)
        elif all(0.0 <= v <= 1.0 for v in present):
            scorers[PREFIX + name] = ("flipped: 1 - confidence", [
                None if v is None else 1.0 - v for v in values
            ])
        else:
            report.note(f"column {name!r} is numeric but not a [0, 1] confidence; skipped "
                        "(its orientation is unknown)")
    for method, (how, _) in scorers.items():
        report.flipped[method] = how
    if scorers:
        report.map(f"scorer columns ({len(scorers)})", "questions.provided_scores")
    else:
        report.lack("the tool's scores (scorer columns)")
    return scorers


def _temperatures(metadata: dict, report: Report) -> tuple[float | None, float | None]:
    """(judged-answer temperature, sampling temperature) from wherever the scorer put them:
    the top of ``metadata`` (BlackBoxUQ, UQEnsemble) or ``metadata["parameters"]``
    (SemanticEntropy, SemanticDensity)."""
    for where, block in (("metadata", metadata),
                         ("metadata.parameters", (metadata or {}).get("parameters"))):
        if not isinstance(block, dict):
            continue
        found = finite(block.get("temperature")), finite(block.get("sampling_temperature"))
        if found[0] is not None:
            report.map(f"{where}.temperature", "generations.temperature (greedy)")
        if found[1] is not None:
            report.map(f"{where}.sampling_temperature", "generations.temperature (samples)")
        if found != (None, None):
            return found
    return None, None


def _nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _str(value: object) -> object:
    if _nan(value):
        return ""  # pandas reads an empty CSV cell as NaN: an empty answer
    return value


def _bool_text(value: object) -> object:
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value
