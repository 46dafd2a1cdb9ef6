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

``rule`` is a rule key (see ``manifest["rules"]``). Every method is scored under every rule so
that a view filters one column; methods that ignore clusters repeat their value.
Reading a run needs only pandas and pyarrow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

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

    def table(self, name: str) -> pd.DataFrame:
        """Load one table lazily; missing optional tables come back empty."""
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
            self._tables[name] = pd.read_parquet(file)
        return self._tables[name]

    def _expand_text_embeddings(self) -> pd.DataFrame:
        """The per-sample ``embeddings`` table from the stored one-per-text vectors."""
        import numpy as np

        per_text = pd.read_parquet(self.path / "text_embeddings.parquet")
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
