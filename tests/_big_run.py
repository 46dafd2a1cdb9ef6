"""A large run for browser tests of the answer map: the tiny fixture run copied ``copies``
times (question ids suffixed ``-k``; projections shifted onto a grid so copies do not overlap).
2,341 copies of the 47-answer fixture give 110,027 answers; no model runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

TINY = Path(__file__).resolve().parent / "fixtures" / "tiny_run"


def replicate_run(dst: Path, copies: int, src: Path = TINY) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((src / "manifest.json").read_text())
    side = int(np.ceil(np.sqrt(copies)))
    for table in src.glob("*.parquet"):
        df = pd.read_parquet(table)
        n = len(df)
        copy = np.repeat(np.arange(copies), n)
        big = df.iloc[np.tile(np.arange(n), copies)].reset_index(drop=True)
        big["question_id"] = big["question_id"] + "-" + pd.Series(copy).astype(str)
        if table.stem == "projection":
            span = 3 * float((df[["x", "y"]].max() - df[["x", "y"]].min()).max()) + 1
            big["x"] += span * (copy % side)
            big["y"] += span * (copy // side)
        big.to_parquet(dst / table.name, index=False)
        manifest.setdefault("counts", {})[table.stem] = len(big)
    manifest["name"] = f"tiny fixture run × {copies} (synthetic, for map tests)"
    manifest.pop("summaries", None)  # the source's summaries describe the source's tables
    (dst / "manifest.json").write_text(json.dumps(manifest, indent=1))
    for extra in src.iterdir():
        if extra.is_dir() and extra.name != "summaries":
            shutil.copytree(extra, dst / extra.name, dirs_exist_ok=True)
    return dst
