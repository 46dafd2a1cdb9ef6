"""A built run: a folder of Parquet tables plus ``manifest.json``, read-only once written.

Layout (format ``uqlens-run/1``)::

    manifest.json        every parameter, model, version, input hash, count and timing
    questions.parquet    canonical questions
    generations.parquet  canonical generations (no vectors) + ``text_id``: the answer's index
                         among its question's unique texts
    texts.parquet        question_id, text_id, text, n_samples
    pairs.parquet        question_id, backend, text_a, text_b (text ids, ordered),
                         p_entail, p_neutral, p_contradict
    clusters.parquet     question_id, sample_id, rule, cluster_id, is_representative
    scores.parquet       question_id, rule, method, params (JSON), uncertainty (NaN = undefined)
    correctness.parquet  question_id, sample_id, judge, value, label, provenance
    projection.parquet   question_id, sample_id, x, y
    text_embeddings.parquet  question_id, text_id, embedding (float16, one per unique text;
                         optional; ``Run.table("embeddings")`` gives it per sample as float32)
    hidden_states.parquet    question_id, sample_id, hidden_state (float16; optional: only
                         when the generations carried the generating model's hidden states)
    summaries/           query-ready summaries per rule and judge (optional; written by
                         builds since format ``uqlens-summaries/1``, listed in
                         ``manifest["summaries"]``; see :mod:`uqlens.run.summaries`). A run
                         without them is read as before: the analyses compute them.

``rule`` is a rule key (see ``manifest["rules"]``: one
:meth:`uqlens.core.views.RuleSpec.to_manifest` entry each, with the ``shortcut`` policy of
the pairs the build never asked a model about and so never stored; runs without it are read
as :func:`uqlens.core.views.unrecorded_shortcut` says). Every method is scored under every
rule so that a view filters one column; methods that ignore clusters repeat their value.
Reading a run needs only pandas and pyarrow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

FORMAT = "uqlens-run/1"
MANIFEST = "manifest.json"
TABLES = (
    "questions",
    "generations",
    "texts",
    "pairs",
    "clusters",
    "scores",
    "correctness",
    "projection",
)
OPTIONAL_TABLES = ("embeddings", "hidden_states")
QUESTION_INDEX_MAX = 1000
"""A view of at most this many questions takes its rows through the run's per-question
index of each table (:meth:`Run._question_rows`); a larger one tests every row."""


class RunError(ValueError):
    """A folder that is not a readable built run."""


@dataclass
class Run:
    path: Path
    manifest: dict
    _tables: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.manifest.get("name") or self.path.name

    human_bases: tuple[str, ...] | None = None
    """Automatic judges a human judge (``human+<base>``) is offered over; None = the run's
    default judge."""
    _human: tuple | None = field(default=None, repr=False)
    subset: tuple[str, ...] | None = None
    """Question ids this view of the run is restricted to (:meth:`restricted`); None = all."""
    _parent: Run | None = field(default=None, repr=False)  # reads tables once for its views

    def restricted(self, question_ids) -> Run:
        """The same run seen through ``question_ids`` only: every table keeps the rows of
        those questions (in the run's order). Tables the run already read are filtered, not
        re-read, when the view first needs them (a one-question view of a million answers
        filters only the tables it uses)."""
        ids = tuple(dict.fromkeys(str(q) for q in question_ids))
        return Run(path=self.path, manifest=self.manifest, human_bases=self.human_bases,
                   subset=ids, _parent=self)

    def _keep(self, table: pd.DataFrame, name: str | None = None) -> pd.DataFrame:
        if self.subset is None or "question_id" not in table:
            return table
        parent = self._parent
        if (name is not None and parent is not None and parent.subset is None
                and len(self.subset) <= QUESTION_INDEX_MAX and parent._tables.get(name) is table):
            rows = parent._question_rows(name, table, self.subset)
            return table.iloc[rows].reset_index(drop=True)
        return table[table["question_id"].isin(self.subset)].reset_index(drop=True)

    def _question_rows(self, name: str, table: pd.DataFrame, ids) -> np.ndarray:
        """Positions of ``ids``' rows in the table ``name``, in table order, from an index of
        each question's rows made once per table: a one-question view of a million answers
        then takes its rows instead of testing every row of every table it reads."""
        index = vars(self).setdefault("_question_index", {})
        if name not in index:
            codes, uniques = pd.factorize(table["question_id"])
            order = np.argsort(codes, kind="stable")
            starts = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
            index[name] = (pd.Index(uniques), order, starts)
        uniques, order, starts = index[name]
        at = uniques.get_indexer(pd.Index(list(ids), dtype=object))
        parts = [order[starts[i]:starts[i + 1]] for i in at if i >= 0]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def table(self, name: str) -> pd.DataFrame:
        """Load one table lazily; missing optional tables come back empty.

        ``correctness`` also holds the rows of :attr:`human_judges` (see
        :mod:`uqlens.run.labels`), recomputed whenever ``labels.jsonl`` changes; the built
        file is never rewritten."""
        if name == "correctness":
            return self._keep(self._with_human(self.built_table("correctness")))
        return self.built_table(name)

    @property
    def human_judges(self) -> list[str]:
        """``human+<base>`` judges: a person's label where there is one, ``base`` elsewhere."""
        from uqlens.run.labels import human_judge

        bases = self.human_bases
        if bases is None:
            default = self.manifest.get("default_judge") or next(iter(self.judges), None)
            bases = (default,) if default else ()
        return [human_judge(b) for b in bases]

    def offer_human(self, judge: str) -> None:
        """Make ``judge`` (``human+<base>`` over any judge of the run) one of
        :attr:`human_judges`, so the ``correctness`` table holds its rows."""
        from uqlens.run.labels import human_base

        base = human_base(judge)
        if base is None or judge in self.human_judges:
            return
        if base not in self.judges:
            raise ValueError(f"{judge!r}: {base!r} is not a judge of this run ({self.judges})")
        self.human_bases = (*(b[len("human+"):] for b in self.human_judges), base)

    def _with_human(self, built: pd.DataFrame) -> pd.DataFrame:
        from uqlens.run import labels

        stamp = (labels.labels_stamp(self.path), tuple(self.human_judges))
        if self._human is not None and self._human[0] == stamp:
            return self._human[1]
        records = labels.read(self.path) if stamp[0] is not None else []
        gen = self.built_table("generations")
        parts = [built] + [labels.human_rows(gen, built, records, labels.human_base(j))
                           for j in self.human_judges]
        parts = [p for p in parts if len(p)]
        out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else built
        self._human = (stamp, out)
        return out

    def built_table(self, name: str) -> pd.DataFrame:
        """A table as the build wrote it (``correctness`` without human judges)."""
        if self._parent is not None:
            if name not in self._tables:
                self._tables[name] = self._keep(self._parent.built_table(name), name)
            return self._tables[name]
        if name == "embeddings" and name not in self._tables:
            if (self.path / "text_embeddings.parquet").exists():
                self._tables[name] = self._expand_text_embeddings()
        if name not in self._tables:
            file = self.path / f"{name}.parquet"
            if not file.exists():
                if name in OPTIONAL_TABLES:
                    self._tables[name] = pd.DataFrame()
                    return self._tables[name]
                raise RunError(f"{self.path}: missing table {file.name}")
            self._tables[name] = self._keep(pd.read_parquet(file))
        return self._tables[name]

    def select(self, name: str, columns, where: tuple[str, object]) -> pd.DataFrame:
        """``table(name)`` rows whose ``where[0]`` equals ``where[1]``, ``columns`` only, index
        reset; kept per run object. While the whole table is not loaded, only those columns
        are read from the file (a page needs one rule's scores, not every rule's). Callers
        get a shallow copy."""
        kept = vars(self).setdefault("_selected", {})
        col, value = where
        from_file = self._parent is None and name not in self._tables and name != "correctness"
        # a loaded table is filtered again if it was replaced since (its id is in the key)
        key = (name, tuple(columns), where, None if from_file else id(self.table(name)))
        if key not in kept:
            if from_file:
                kept[key] = self._read_where(name, list(columns), col, value)
            else:
                t = self.table(name)
                kept[key] = t.loc[t[col] == value, list(columns)].reset_index(drop=True)
        return kept[key].copy(deep=False)

    def _read_where(self, name: str, columns: list[str], col: str, value) -> pd.DataFrame:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        file = self.path / f"{name}.parquet"
        if not file.exists():
            raise RunError(f"{self.path}: missing table {file.name}")
        table = pq.read_table(file, columns=[*columns, col] if col not in columns else columns,
                              read_dictionary=[col])
        kind = table.schema.field(col).type
        kind = kind.value_type if pa.types.is_dictionary(kind) else kind
        table = table.filter(pc.fill_null(pc.equal(table[col], pa.scalar(value, kind)), False))
        return table.select(columns).to_pandas()

    def _expand_text_embeddings(self) -> pd.DataFrame:
        """The per-sample ``embeddings`` table from the stored one-per-text vectors."""
        import numpy as np

        per_text = self._keep(pd.read_parquet(self.path / "text_embeddings.parquet"))
        per_text["embedding"] = [np.asarray(v, dtype=np.float32) for v in per_text["embedding"]]
        samples = self.table("generations")[["question_id", "sample_id", "text_id"]]
        return samples.merge(per_text, on=["question_id", "text_id"], how="inner").drop(
            columns="text_id")

    def __getattr__(self, name: str) -> pd.DataFrame:
        if name in TABLES or name in OPTIONAL_TABLES:
            return self.table(name)
        raise AttributeError(name)

    @property
    def rules(self) -> list[str]:
        return [r["key"] for r in self.manifest.get("rules", [])]

    @property
    def methods(self) -> list[str]:
        return list(self.manifest.get("methods", []))

    @property
    def judges(self) -> list[str]:
        return list(self.manifest.get("judges", []))


def correctness_off(run: Run) -> str | None:
    """Why the run has no correctness labels (so the views that need them are off), or None
    when it has some. Reads the manifest's ``skipped_judges`` (written by the build)."""
    if run.judges or len(run.table("correctness")):
        return None
    skipped = run.manifest.get("skipped_judges") or {}
    unreferenced = run.manifest.get("questions_without_references")
    parts = []
    if unreferenced:
        parts.append(f"none of its {unreferenced} questions has reference answers")
    by_reason: dict[str, list[str]] = {}
    for judge, reason in skipped.items():
        by_reason.setdefault(reason, []).append(judge)
    parts += [f"{', '.join(judges)} skipped: {reason}" for reason, judges in by_reason.items()]
    why = "; ".join(parts) or "the build judged no answer"
    return (f"This view needs correctness labels and this run has none ({why}). Add "
            "references with `uqlens import FILE --questions QUESTIONS_FILE` (matched by "
            "id, question text or position) and rebuild.")


def unreferenced_note(run: Run) -> str | None:
    """A note when some (not all) questions have no references: their answers are unjudged
    by the reference judges."""
    n = run.manifest.get("questions_without_references") or 0
    total = run.manifest.get("counts", {}).get("questions", 0)
    if not n or correctness_off(run):
        return None
    return (f"{n} of {total} questions have no reference answers: the reference judges leave "
            "their answers unjudged.")


def is_run(path: str | Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


def load_run(path: str | Path) -> Run:
    path = Path(path)
    manifest_file = path / MANIFEST
    if not manifest_file.is_file():
        raise RunError(f"{path}: not a built run (no {MANIFEST})")
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{manifest_file}: unreadable manifest ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise RunError(f"{manifest_file}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    return Run(path=path, manifest=manifest)


def find_runs(*roots: str | Path) -> list[Path]:
    """Every built run directly in, or one level below, the given folders, sorted by path.

    Hidden folders (``.NAME.building-*`` being written, ``.NAME.old-*`` being replaced) are
    never runs, even once their manifest is written."""
    found: set[Path] = set()
    for root in roots:
        root = Path(root)
        if is_run(root):
            found.add(root)
        elif root.is_dir():
            found.update(
                p for p in root.iterdir()
                if not p.name.startswith(".") and p.is_dir() and is_run(p)
            )
    return sorted(found)
