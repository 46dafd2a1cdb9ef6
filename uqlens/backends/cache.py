"""A content-addressed cache of model outputs shared by every build on this machine.

Entailment probabilities are keyed by (backend id, question, answer a, answer b), embeddings
by (embedder id, embedded text). Keys hold the content itself, not positions, so a rebuild
with another rule, threshold, method set or judge finds every pair it already paid for.
SQLite commits are atomic: a build killed midway keeps every pair committed before the kill.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np


def default_cache_dir() -> Path:
    env = os.environ.get("UQLENS_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "uqlens"


class ModelCache:
    def __init__(self, directory: str | Path | None = None):
        self.directory = Path(directory) if directory else default_cache_dir()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.directory / "cache.sqlite", timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS pairs (backend TEXT, question TEXT, a TEXT, b TEXT,"
            " pe REAL, pn REAL, pc REAL, PRIMARY KEY (backend, question, a, b))"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS embeddings (embedder TEXT, text TEXT, vec BLOB,"
            " PRIMARY KEY (embedder, text))"
        )
        self._db.commit()

    def close(self) -> None:
        self._db.close()

    # entailment pairs ------------------------------------------------------------------
    def get_pairs(
        self, backend: str, question: str, pairs: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[float, float, float]]:
        found = {}
        for a, b in pairs:
            row = self._db.execute(
                "SELECT pe, pn, pc FROM pairs WHERE backend=? AND question=? AND a=? AND b=?",
                (backend, question, a, b),
            ).fetchone()
            if row is not None:
                found[(a, b)] = tuple(row)
        return found

    def put_pairs(
        self,
        backend: str,
        question: str,
        pairs: Sequence[tuple[str, str]],
        probs: np.ndarray,
    ) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO pairs VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (backend, question, a, b, float(p[0]), float(p[1]), float(p[2]))
                for (a, b), p in zip(pairs, probs, strict=True)
            ],
        )
        self._db.commit()

    # embeddings ------------------------------------------------------------------------
    def get_embeddings(self, embedder: str, texts: Sequence[str]) -> dict[str, np.ndarray]:
        found = {}
        for text in texts:
            row = self._db.execute(
                "SELECT vec FROM embeddings WHERE embedder=? AND text=?", (embedder, text)
            ).fetchone()
            if row is not None:
                found[text] = np.frombuffer(row[0], dtype=np.float32)
        return found

    def put_embeddings(self, embedder: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)",
            [
                (embedder, t, np.asarray(v, dtype=np.float32).tobytes())
                for t, v in zip(texts, vectors, strict=True)
            ],
        )
        self._db.commit()
