"""A content-addressed cache of model outputs shared by every build on this machine.

Entailment probabilities are keyed by (backend id, question, answer a, answer b), embeddings
by (embedder id, embedded text). Keys hold the content itself, not positions, so a rebuild
with another rule, threshold, method set or judge finds every pair it already paid for.
SQLite commits are atomic: a build killed midway keeps every pair committed before the kill.
Reads and writes go by batch (one query, one transaction per batch of pairs or texts).
Model-backed ids carry a fingerprint of the model's files (:meth:`ModelCache.folder_fingerprint`),
so a model replaced at the same path gets fresh entries instead of the old model's outputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
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
        # WAL + NORMAL: every committed batch survives a killed process (only a power cut
        # may drop the last ones), without an fsync per transaction
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS pairs (backend TEXT, question TEXT, a TEXT, b TEXT,"
            " pe REAL, pn REAL, pc REAL, PRIMARY KEY (backend, question, a, b))"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS embeddings (embedder TEXT, text TEXT, vec BLOB,"
            " PRIMARY KEY (embedder, text))"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS file_digests (path TEXT PRIMARY KEY, stamp TEXT,"
            " digest TEXT)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS arrays (kind TEXT, key TEXT, value BLOB,"
            " PRIMARY KEY (kind, key))"
        )
        self._db.commit()

    def close(self) -> None:
        self._db.close()

    # projections -----------------------------------------------------------------------
    # A 2-D projection is a pure function of its input vectors and parameters (UMAP with a
    # fixed seed included), so a rebuild that changes only a rule, threshold, method or judge
    # reads the map instead of fitting UMAP again.
    def projection_key(self, vectors: np.ndarray, params: dict) -> str:
        digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
        digest.update(f"{vectors.dtype}{vectors.shape}".encode())
        digest.update(np.ascontiguousarray(vectors).tobytes())
        return digest.hexdigest()

    def get_projection(self, key: str) -> np.ndarray | None:
        path = self.directory / "projections" / f"{key}.npy"
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None  # absent, or torn by a killed writer: fit again

    def put_projection(self, key: str, coords: np.ndarray) -> None:
        folder = self.directory / "projections"
        folder.mkdir(exist_ok=True)
        tmp = folder / f".{key}.{os.getpid()}.npy"
        np.save(tmp, np.asarray(coords), allow_pickle=False)
        os.replace(tmp, folder / f"{key}.npy")

    # computed arrays -------------------------------------------------------------------
    # Pure functions of their inputs that cost more than their key (the supervised probes'
    # fits): ``kind`` names the function, ``key`` is a digest of everything it reads.
    def get_array(self, kind: str, key: str) -> np.ndarray | None:
        row = self._db.execute("SELECT value FROM arrays WHERE kind=? AND key=?",
                               (kind, key)).fetchone()
        return None if row is None else np.frombuffer(row[0], dtype=np.float64)

    def put_array(self, kind: str, key: str, values: np.ndarray) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO arrays VALUES (?, ?, ?)",
                             (kind, key, np.ascontiguousarray(values, dtype=np.float64)
                              .tobytes()))

    def memo(self, kind: str):
        """``get(key)`` / ``put(key, values)`` over the arrays of one ``kind``."""
        return _ArrayMemo(self, kind)

    # entailment pairs ------------------------------------------------------------------
    def get_pairs(
        self, backend: str, question: str, pairs: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[float, float, float]]:
        found = self.get_pairs_many(backend, [(question, a, b) for a, b in pairs])
        return {(a, b): v for (_, a, b), v in found.items()}

    def get_pairs_many(
        self, backend: str, keys: Sequence[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], tuple[float, float, float]]:
        """``{(question, a, b): (pe, pn, pc)}`` for the keys the cache holds: one query for the
        whole set (a join against a temporary table), not one per pair."""
        if not keys:
            return {}
        with self._db:
            self._db.execute("CREATE TEMP TABLE IF NOT EXISTS want_pairs (question TEXT, a TEXT,"
                             " b TEXT)")
            self._db.execute("DELETE FROM want_pairs")
            self._db.executemany("INSERT INTO want_pairs VALUES (?, ?, ?)", keys)
            rows = self._db.execute(
                "SELECT p.question, p.a, p.b, p.pe, p.pn, p.pc FROM want_pairs w JOIN pairs p"
                " ON p.backend = ? AND p.question = w.question AND p.a = w.a AND p.b = w.b",
                (backend,),
            ).fetchall()
            self._db.execute("DELETE FROM want_pairs")
        return {(q, a, b): (pe, pn, pc) for q, a, b, pe, pn, pc in rows}

    def put_pairs(
        self,
        backend: str,
        question: str,
        pairs: Sequence[tuple[str, str]],
        probs: np.ndarray,
    ) -> None:
        self.put_pairs_many(backend, [(question, a, b) for a, b in pairs], probs)

    def put_pairs_many(
        self, backend: str, keys: Sequence[tuple[str, str, str]], probs: np.ndarray
    ) -> None:
        """Store many pairs in one transaction."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO pairs VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (backend, q, a, b, float(p[0]), float(p[1]), float(p[2]))
                    for (q, a, b), p in zip(keys, probs, strict=True)
                ],
            )

    # embeddings ------------------------------------------------------------------------
    def get_embeddings(self, embedder: str, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """One query for the whole set of texts (a join against a temporary table)."""
        if not texts:
            return {}
        with self._db:
            self._db.execute("CREATE TEMP TABLE IF NOT EXISTS want_texts (text TEXT)")
            self._db.execute("DELETE FROM want_texts")
            self._db.executemany("INSERT INTO want_texts VALUES (?)", [(t,) for t in texts])
            rows = self._db.execute(
                "SELECT e.text, e.vec FROM want_texts w JOIN embeddings e"
                " ON e.embedder = ? AND e.text = w.text",
                (embedder,),
            ).fetchall()
            self._db.execute("DELETE FROM want_texts")
        return {t: np.frombuffer(v, dtype=np.float32) for t, v in rows}

    def put_embeddings(self, embedder: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)",
                [
                    (embedder, t, np.asarray(v, dtype=np.float32).tobytes())
                    for t, v in zip(texts, vectors, strict=True)
                ],
            )

    # content fingerprints --------------------------------------------------------------
    def file_digest(self, path: str | Path) -> str:
        """sha256 of a file's bytes, remembered per (path, size, mtime, ctime, inode): a model
        file is hashed once, and again only when something replaced or changed it."""
        path = Path(path).resolve()
        st = path.stat()
        stamp = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"
        row = self._db.execute("SELECT digest FROM file_digests WHERE path=? AND stamp=?",
                               (str(path), stamp)).fetchone()
        if row is not None:
            return row[0]
        digest = sha256_file(path)
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO file_digests VALUES (?, ?, ?)",
                             (str(path), stamp, digest))
        return digest

    def folder_fingerprint(self, folder: str | Path) -> str:
        return folder_fingerprint(folder, self.file_digest)


class _ArrayMemo:
    def __init__(self, cache: ModelCache, kind: str):
        self.cache, self.kind = cache, kind

    def get(self, key: str) -> np.ndarray | None:
        return self.cache.get_array(self.kind, key)

    def put(self, key: str, values: np.ndarray) -> None:
        self.cache.put_array(self.kind, key, values)


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def folder_fingerprint(
    folder: str | Path, file_digest: Callable[[Path], str] = sha256_file
) -> str:
    """One hash over every file of a model folder (relative name and content digest): config,
    label order, weights, tokenizer. Hidden files and documentation (``*.md``) are left out."""
    folder = Path(folder)
    if folder.is_file():
        return file_digest(folder)[:16]
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = file.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or rel.suffix.lower() == ".md":
            continue
        digest.update(f"{rel.as_posix()}\0{file_digest(file)}\0".encode())
    return digest.hexdigest()[:16]
