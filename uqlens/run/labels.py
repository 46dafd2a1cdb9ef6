"""Human labels of a built run: an append-only ``labels.jsonl`` beside the run's tables.

A reviewer says what the automatic parts got wrong: an answer is correct / incorrect /
unclear, a question's reference is wrong or disputed, a cluster mixes meanings (merge error),
two clusters hold one meaning (split error). Labels never rewrite a built table; they live in
``<run>/labels.jsonl``, one JSON record per line::

    {"id": "…", "who": "ana", "when": "2026-11-29T18:02:11.123456+00:00",
     "kind": "answer", "question_id": "q1", "text": "Paris", "value": "correct",
     "note": "", "scope": "cluster", "rule": "threshold:0.5@cosine", "cluster_id": 3}

Keys survive a rebuild of the same inputs: an answer label is keyed by its question id and
its text normalised by :func:`text_key` (the sameness of :func:`uqlens.core.text.same_text`:
case and surrounding whitespace only), never by a row number or a cluster id. Labelling a
whole cluster writes one ``answer`` record per distinct text of the cluster, each with
``scope: "cluster"`` and the cluster it came from. A merge error is keyed by the cluster's
member texts, a split error by the two clusters' member texts, a reference label by the
normalised reference (``""`` = the question's references as a whole).

The **latest** record of a key wins (by ``when``, then by file order); the value ``clear``
withdraws a key's label.

Two writers at once lose nothing: each batch is one ``os.write`` of whole lines to a file
opened with ``O_APPEND``, under an exclusive ``fcntl.flock``, then ``fsync``. Readers take a
shared lock, so they never see half a batch.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

LABELS_FILE = "labels.jsonl"
CLEAR = "clear"
VALUES: dict[str, tuple[str, ...]] = {
    "answer": ("correct", "incorrect", "unclear"),
    "reference": ("wrong", "disputed", "ok"),
    "merge_error": ("mixed", "ok"),  # the cluster mixes meanings / it does not
    "split_error": ("same", "ok"),  # the two clusters are one meaning / they are not
}
KINDS = tuple(VALUES)
FIELDS = ("id", "who", "when", "kind", "question_id", "value", "note", "text", "texts",
          "other_texts", "reference", "scope", "rule", "cluster_id")
HUMAN_PREFIX = "human+"
HUMAN_PROVENANCE = "human"


class LabelError(ValueError):
    """A label record that cannot be read or written; the message names file, line and field."""


def text_key(text: str) -> str:
    """The normalised text an answer label is keyed by: case-folded, surrounding whitespace
    dropped (as :func:`uqlens.core.text.same_text`; looser normalisation such as dropping
    punctuation would merge answers like "-5" and "5")."""
    return str(text).strip().casefold()


def labels_path(run_or_path) -> Path:
    """``<run folder>/labels.jsonl`` for a :class:`~uqlens.run.folder.Run` or a folder."""
    folder = getattr(run_or_path, "path", run_or_path)
    return Path(folder) / LABELS_FILE


def labels_stamp(run_or_path) -> tuple[int, int] | None:
    """``(size, mtime_ns)`` of the labels file (None without one): a cache key that changes
    whenever a label is added."""
    try:
        st = labels_path(run_or_path).stat()
    except FileNotFoundError:
        return None
    return (st.st_size, st.st_mtime_ns)


# --------------------------------------------------------------------------- records


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _texts(value, where: str, name: str) -> list[str]:
    if not isinstance(value, list | tuple) or not value or \
            not all(isinstance(t, str) for t in value):
        raise LabelError(f"{where}: field {name!r} must be a non-empty list of texts")
    return list(value)


def validate(record: Mapping, where: str = "label") -> dict:
    """A checked copy of ``record`` with defaults filled in (``id``, ``when``, ``note``...).

    Raises :class:`LabelError` naming ``where`` and the field at fault."""
    if not isinstance(record, Mapping):
        raise LabelError(f"{where}: a label must be a JSON object, got {type(record).__name__}")
    rec = {k: v for k, v in record.items() if v is not None and not _is_nan(v)}
    unknown = sorted(set(rec) - set(FIELDS))
    if unknown:
        raise LabelError(f"{where}: unknown field(s) {unknown}")
    kind = rec.get("kind")
    if kind not in VALUES:
        raise LabelError(f"{where}: field 'kind' is {kind!r}, expected one of {list(KINDS)}")
    if not isinstance(rec.get("question_id"), str) or not rec["question_id"]:
        raise LabelError(f"{where}: field 'question_id' is missing or not text")
    value = rec.get("value")
    if value not in (*VALUES[kind], CLEAR):
        raise LabelError(f"{where}: field 'value' is {value!r}; a {kind} label takes one of "
                         f"{[*VALUES[kind], CLEAR]}")
    if kind == "answer" and not isinstance(rec.get("text"), str):
        raise LabelError(f"{where}: field 'text' (the answer) is missing")
    if kind == "merge_error":
        rec["texts"] = _texts(rec.get("texts"), where, "texts")
    if kind == "split_error":
        rec["texts"] = _texts(rec.get("texts"), where, "texts")
        rec["other_texts"] = _texts(rec.get("other_texts"), where, "other_texts")
    if kind == "reference":
        rec.setdefault("reference", "")
    for name in ("who", "note", "reference", "text", "scope", "rule", "when", "id"):
        if name in rec and not isinstance(rec[name], str):
            raise LabelError(f"{where}: field {name!r} must be text")
    if "cluster_id" in rec:
        try:
            rec["cluster_id"] = int(rec["cluster_id"])
        except (TypeError, ValueError):
            raise LabelError(f"{where}: field 'cluster_id' must be an integer") from None
    rec.setdefault("id", uuid.uuid4().hex)
    rec["when"] = _utc(rec["when"], where) if "when" in rec else _now()
    rec.setdefault("who", "")
    rec.setdefault("note", "")
    return rec


def _utc(when: str, where: str) -> str:
    """``when`` as a UTC ISO time, so that "latest" compares like with like across people."""
    try:
        t = datetime.fromisoformat(when)
    except ValueError:
        raise LabelError(f"{where}: field 'when' is not an ISO date-time: {when!r}") from None
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    return t.isoformat(timespec="microseconds")


def _is_nan(v) -> bool:
    return isinstance(v, float) and v != v


def key_of(rec: Mapping) -> tuple:
    """What a record is about; the latest record of a key wins."""
    kind, qid = rec["kind"], rec["question_id"]
    if kind == "answer":
        return (kind, qid, text_key(rec["text"]))
    if kind == "reference":
        return (kind, qid, text_key(rec.get("reference", "")))
    group = tuple(sorted({text_key(t) for t in rec["texts"]}))
    if kind == "merge_error":
        return (kind, qid, group)
    other = tuple(sorted({text_key(t) for t in rec["other_texts"]}))
    return (kind, qid, tuple(sorted([group, other])))


# --------------------------------------------------------------------------- file I/O


@contextmanager
def _locked(path: Path, flags: int, lock: int):
    import fcntl

    fd = os.open(path, flags, 0o644)
    try:
        fcntl.flock(fd, lock)
        yield fd
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def append(run_or_path, records: Iterable[Mapping], who: str | None = None) -> list[dict]:
    """Validate ``records`` and append them to the run's labels file as one locked write.

    ``who`` fills records that name nobody (default: ``$USER``). Returns the stored records
    (with their ``id`` and ``when``)."""
    import fcntl

    who = who if who is not None else os.environ.get("USER", "")
    recs = []
    for i, r in enumerate(records):
        if isinstance(r, Mapping) and not r.get("who"):
            r = {**r, "who": who}
        recs.append(validate(r, where=f"label #{i + 1}"))
    if not recs:
        return []
    data = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in recs)
    data_b = data.encode("utf-8")
    path = labels_path(run_or_path)
    with _locked(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, fcntl.LOCK_EX) as fd:
        written = os.write(fd, data_b)
        while written < len(data_b):  # a regular file takes it in one go; be safe anyway
            written += os.write(fd, data_b[written:])
        os.fsync(fd)
    return recs


def read(run_or_path) -> list[dict]:
    """Every record of the run's labels file in file order ([] without one).

    A last line without its newline (a writer killed mid-write) is skipped; any other
    unreadable line raises :class:`LabelError` naming the file and line."""
    import fcntl

    path = labels_path(run_or_path)
    if not path.exists():
        return []
    with _locked(path, os.O_RDONLY, fcntl.LOCK_SH) as fd, os.fdopen(os.dup(fd), "rb") as fh:
        raw = fh.read()
    lines = raw.split(b"\n")
    out = []
    for no, line in enumerate(lines[:-1], 1):  # the part after the last newline is partial
        if not line.strip():
            continue
        where = f"{path}:{no}"
        try:
            obj = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LabelError(f"{where}: not a JSON record ({exc})") from None
        out.append(validate(obj, where))
    return out


def latest(records: Iterable[Mapping]) -> dict[tuple, dict]:
    """``{key: record}``: per key the latest record by ``when`` (file order among equal
    times); keys whose latest value is ``clear`` are dropped."""
    best: dict[tuple, tuple[str, int, dict]] = {}
    for i, r in enumerate(records):
        k = key_of(r)
        cand = (r.get("when", ""), i, r)
        if k not in best or cand[:2] >= best[k][:2]:
            best[k] = cand
    return {k: v[2] for k, v in best.items() if v[2]["value"] != CLEAR}


def frame(records: Iterable[Mapping]) -> pd.DataFrame:
    """Records as a DataFrame with every field as a column (missing = None)."""
    return pd.DataFrame([{f: r.get(f) for f in FIELDS} for r in records], columns=list(FIELDS))


# --------------------------------------------------------------------------- building records


def answer_label(question_id: str, text: str, value: str, note: str = "", **extra) -> dict:
    return {"kind": "answer", "question_id": question_id, "text": text, "value": value,
            "note": note, "scope": "answer", **extra}


def cluster_labels(question_id: str, texts: Iterable[str], value: str, note: str = "",
                   rule: str | None = None, cluster_id: int | None = None) -> list[dict]:
    """A whole cluster's verdict, expanded to one answer record per distinct text."""
    seen: dict[str, str] = {}
    for t in texts:
        seen.setdefault(text_key(t), t)
    return [answer_label(question_id, t, value, note, scope="cluster", rule=rule,
                         cluster_id=cluster_id) for t in seen.values()]


def reference_label(question_id: str, value: str, reference: str = "", note: str = "") -> dict:
    return {"kind": "reference", "question_id": question_id, "reference": reference,
            "value": value, "note": note}


def merge_error(question_id: str, texts: Iterable[str], value: str = "mixed", note: str = "",
                rule: str | None = None, cluster_id: int | None = None) -> dict:
    return {"kind": "merge_error", "question_id": question_id, "texts": list(texts),
            "value": value, "note": note, "rule": rule, "cluster_id": cluster_id}


def split_error(question_id: str, texts: Iterable[str], other_texts: Iterable[str],
                value: str = "same", note: str = "", rule: str | None = None) -> dict:
    return {"kind": "split_error", "question_id": question_id, "texts": list(texts),
            "other_texts": list(other_texts), "value": value, "note": note, "rule": rule}


# --------------------------------------------------------------------------- views of labels


def answer_verdicts(records: Iterable[Mapping]) -> pd.DataFrame:
    """Latest answer labels: ``question_id, key`` (:func:`text_key`), ``value, who, when,
    note``."""
    rows = [{"question_id": r["question_id"], "key": k[2], "value": r["value"],
             "who": r.get("who", ""), "when": r.get("when", ""), "note": r.get("note", "")}
            for k, r in latest(records).items() if k[0] == "answer"]
    return pd.DataFrame(rows, columns=["question_id", "key", "value", "who", "when", "note"])


def doubtful_references(records: Iterable[Mapping]) -> dict[str, str]:
    """``{question_id: "wrong" | "disputed"}`` for questions with a reference so marked (the
    strongest mark when several references are)."""
    out: dict[str, str] = {}
    for k, r in latest(records).items():
        if k[0] == "reference" and r["value"] in ("wrong", "disputed"):
            if out.get(r["question_id"]) != "wrong":
                out[r["question_id"]] = r["value"]
    return out


def cluster_marks(records: Iterable[Mapping]) -> pd.DataFrame:
    """Latest merge/split marks still standing: ``kind, question_id, texts, other_texts,
    value, note``."""
    rows = [{"kind": r["kind"], "question_id": r["question_id"], "texts": r["texts"],
             "other_texts": r.get("other_texts"), "value": r["value"],
             "note": r.get("note", "")}
            for k, r in latest(records).items()
            if k[0] in ("merge_error", "split_error") and r["value"] != "ok"]
    return pd.DataFrame(rows, columns=["kind", "question_id", "texts", "other_texts", "value",
                                       "note"])


# --------------------------------------------------------------------------- the human judge


def human_judge(base: str) -> str:
    """The id of the human judge over the automatic judge ``base``: ``"human+squad_f1"``."""
    return f"{HUMAN_PREFIX}{base}"


def human_base(judge: str) -> str | None:
    """``"human+squad_f1"`` → ``"squad_f1"``; None for a judge that is not a human judge."""
    return judge[len(HUMAN_PREFIX):] if str(judge).startswith(HUMAN_PREFIX) else None


_VERDICT = {"correct": True, "incorrect": False, "unclear": None}


def human_rows(generations: pd.DataFrame, correctness: pd.DataFrame,
               records: Iterable[Mapping], base: str) -> pd.DataFrame:
    """Correctness rows of the judge ``human+<base>``: where a person labelled an answer's
    text, the person's verdict (``provenance`` "human", ``value`` 1/0; "unclear" leaves the
    label missing, so the answer is not counted, as an unlabelled one); elsewhere the row of
    ``base``, unchanged. Columns as the ``correctness`` table."""
    cols = list(correctness.columns)
    auto = correctness[correctness["judge"] == base].drop(columns="judge")
    verdicts = answer_verdicts(records)
    gen = generations[["question_id", "sample_id", "text"]]
    out = gen.merge(auto, on=["question_id", "sample_id"], how="left")
    human = pd.Series(False, index=out.index)
    if len(verdicts):
        out["key"] = [text_key(t) for t in out["text"]]
        got = out.merge(verdicts[["question_id", "key", "value"]].rename(
            columns={"value": "_human"}), on=["question_id", "key"], how="left")
        human = got["_human"].notna()
        out["label"] = out["label"].astype(object)
    if human.any():  # none here: e.g. a one-question view of a run labelled elsewhere
        out.loc[human, "label"] = got.loc[human, "_human"].map(_VERDICT).to_numpy()
        out.loc[human, "value"] = got.loc[human, "_human"].map(
            {"correct": 1.0, "incorrect": 0.0, "unclear": float("nan")}).to_numpy()
        if "provenance" in out:
            out.loc[human, "provenance"] = HUMAN_PROVENANCE
    had_auto = out["label"].notna() | out["value"].notna() if "value" in out else \
        out["label"].notna()
    out = out[had_auto | human.to_numpy()].assign(judge=human_judge(base))
    return out[cols].reset_index(drop=True)


def human_counts(run, judge: str) -> dict:
    """How much of ``judge`` (a human judge) comes from people: ``answers`` (samples and
    judged answers whose verdict is a person's), ``judged`` (of the judged answers only),
    ``labels`` (answer keys a person labelled), ``records`` (lines in the file). Zeros for an
    automatic judge."""
    from uqlens.run.rescore import judged_rows

    records = read(run)
    keys = answer_verdicts(records)
    out = {"answers": 0, "judged": 0, "labels": int(len(keys)), "records": len(records)}
    if human_base(judge) is None:
        return out
    corr = run.table("correctness")
    if "provenance" not in corr:
        return out
    corr = corr[(corr["judge"] == judge) & (corr["provenance"] == HUMAN_PROVENANCE)]
    out["answers"] = int(len(corr))
    jr = judged_rows(run)
    out["judged"] = int(len(jr.merge(corr, on=["question_id", "sample_id"])))
    return out


# --------------------------------------------------------------------------- sharing


LIST_FIELDS = ("texts", "other_texts")


def export_labels(run_or_path, out: str | os.PathLike) -> tuple[Path, int]:
    """Write every record (the full history, so a merge elsewhere keeps "latest wins") to
    ``out``: ``.csv`` (list fields as JSON text) or JSON lines (any other suffix).
    Returns the path and the number of records."""
    records = read(run_or_path)
    out = Path(out)
    if out.suffix.lower() == ".csv":
        f = frame(records)
        for name in LIST_FIELDS:
            f[name] = [json.dumps(v, ensure_ascii=False) if isinstance(v, list) else None
                       for v in f[name]]
        f["cluster_id"] = f["cluster_id"].astype("Int64")
        f.to_csv(out, index=False)
    else:
        out.write_text("".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n"
                               for r in records), encoding="utf-8")
    return out, len(records)


def _read_shared(file: Path) -> list[dict]:
    if file.suffix.lower() == ".csv":
        f = pd.read_csv(file, dtype=str, keep_default_na=False)
        out = []
        for row_no, row in enumerate(f.to_dict("records"), 2):  # line 1 is the header
            where = f"{file}: row {row_no}"
            rec = {k: v for k, v in row.items() if v != ""}
            for name in LIST_FIELDS:
                if name in rec:
                    try:
                        rec[name] = json.loads(rec[name])
                    except json.JSONDecodeError:
                        raise LabelError(f"{where}: field {name!r} is not a JSON list") from None
            out.append(validate(rec, where))
        return out
    out = []
    for no, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise LabelError(f"{file}:{no}: not a JSON record ({exc})") from None
            out.append(validate(obj, f"{file}:{no}"))
    return out


def import_labels(run_or_path, file: str | os.PathLike) -> tuple[int, int]:
    """Merge the records of ``file`` (from :func:`export_labels`, JSONL or CSV) into the run's
    labels: records whose ``id`` the run already holds are skipped, the rest appended in one
    locked write (a bad record anywhere stops the import before anything is written).
    "Latest wins" then decides between people by ``when``. Returns ``(added, skipped)``."""
    incoming = _read_shared(Path(file))
    have = {r["id"] for r in read(run_or_path)}
    new, seen = [], set()
    for r in incoming:
        if r["id"] not in have and r["id"] not in seen:
            new.append(r)
            seen.add(r["id"])
    append(run_or_path, new)
    return len(new), len(incoming) - len(new)
