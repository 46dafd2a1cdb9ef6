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

import contextlib
import functools
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

    def stages(self, log: Callable[[str], None] | None = None) -> StageMemo:
        """The build's stage memo (tables, as Parquet files under ``stages/``)."""
        return StageMemo(self.directory / STAGE_FOLDER, log=log)

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


# ----------------------------------------------------------------------------- stage memo
STAGE_FOLDER = "stages"
STAGE_MEMO_MAX_MB = 2048
"""Default size cap of the stage memo (``UQLENS_STAGE_MEMO_MB`` overrides; 0 turns the memo
off): past it, the least recently used files are deleted."""
META_KEY = b"uqlens.stage_memo"


NUMERIC_LIBRARIES = ("numpy", "pandas", "pyarrow", "scipy", "scikit-learn")
"""Libraries whose versions can change a stage's numbers (linkage, solvers, string and
float handling), so they are part of :func:`code_fingerprint`."""


@functools.cache
def code_fingerprint() -> str:
    """:func:`source_fingerprint` of the uqlens package with :func:`library_versions`, once
    per process: a stage memo entry made by other code or other numeric libraries is never
    served."""
    return digest_of(source_fingerprint(Path(__file__).resolve().parent.parent),
                     library_versions())


def library_versions() -> dict[str, str | None]:
    """Installed versions of :data:`NUMERIC_LIBRARIES` (None: not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {}
    for name in NUMERIC_LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def source_fingerprint(root: Path) -> str:
    """sha256 over the ``.py`` files under ``root`` (relative names and bytes)."""
    digest = hashlib.sha256()
    for file in sorted(Path(root).rglob("*.py")):
        digest.update(f"{file.relative_to(root).as_posix()}\0".encode())
        digest.update(file.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def digest_of(*parts) -> str:
    """A short sha256 of JSON-able ``parts`` (sorted keys): the key of a memo entry."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:40]


class StageMemo:
    """Results of build stages that are pure functions of (input content, settings, code),
    as Parquet files ``KIND/KEY.parquet`` (never pickles): a rebuild reads what did not
    change instead of computing it again.

    Keys are digests made by the caller of everything a result depends on, the
    :func:`code_fingerprint` included. Writes go to a temporary file renamed into place; a
    file that cannot be read (torn, corrupt, another format) is a miss, said in ``log``,
    never an error. The folder is kept under ``max_mb`` (least recently used files go).
    """

    def __init__(self, folder: str | Path, log: Callable[[str], None] | None = None,
                 max_mb: float | None = None):
        self.folder = Path(folder)
        env = os.environ.get("UQLENS_STAGE_MEMO_MB")
        self.max_bytes = int(float(max_mb if max_mb is not None else (
            env if env else STAGE_MEMO_MAX_MB)) * 2**20)
        self.log = log or (lambda _: None)
        self.hits: dict[str, int] = {}
        self.misses: dict[str, int] = {}

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def _path(self, kind: str, key: str) -> Path:
        return self.folder / kind / f"{key}.parquet"

    def get(self, kind: str, key: str):
        """``(frame, meta)`` stored under ``(kind, key)``, or None (absent or unreadable).
        List columns come back as Python lists, as the build makes them."""
        import pyarrow.parquet as pq

        path = self._path(kind, key)
        if not self.enabled or not path.is_file():
            self.misses[kind] = self.misses.get(kind, 0) + 1
            return None
        try:
            table = pq.read_table(path)
            meta = json.loads((table.schema.metadata or {})[META_KEY])
            frame = _to_pandas(table)
            os.utime(path)  # recently used: the last the size cap removes
        except Exception as err:  # noqa: BLE001  (any unreadable file is a miss)
            self.log(f"stage memo: unreadable {kind}/{path.name} ({type(err).__name__}: "
                     f"{err}); computing it again")
            self.misses[kind] = self.misses.get(kind, 0) + 1
            return None
        self.hits[kind] = self.hits.get(kind, 0) + 1
        return frame, meta

    def put(self, kind: str, key: str, frame, meta: dict | None = None) -> None:
        """Store ``frame`` (and JSON-able ``meta``); a frame Parquet cannot hold is not
        stored (said in the log)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.enabled:
            return
        path = self._path(kind, key)
        tmp = path.parent / f".{key}.{os.getpid()}.tmp"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            table = pa.Table.from_pandas(frame, preserve_index=False)
            table = table.replace_schema_metadata({
                **(table.schema.metadata or {}),
                META_KEY: json.dumps(meta or {}, default=str).encode()})
            pq.write_table(table, tmp)
            os.replace(tmp, path)
        except Exception as err:  # noqa: BLE001  (a result Parquet cannot hold, a full or
            # read-only disk: not memoised, the build goes on)
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            self.log(f"stage memo: could not store {kind} ({type(err).__name__}: {err})")

    def trim(self) -> int:
        """Delete the least recently used files until the memo fits its cap; how many went."""
        if not self.folder.is_dir():
            return 0
        files = []
        for path in self.folder.rglob("*.parquet"):
            try:
                st = path.stat()
            except OSError:
                continue
            files.append((st.st_mtime, st.st_size, path))
        total = sum(size for _, size, _ in files)
        removed = 0
        for _, size, path in sorted(files, key=lambda f: f[0]):
            if total <= self.max_bytes:
                break
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
            total -= size
            removed += 1
        return removed

    def counts(self) -> dict[str, int]:
        """``stage_memo_hits[KIND]`` / ``stage_memo_misses[KIND]`` for the manifest."""
        return {**{f"stage_memo_hits[{k}]": v for k, v in self.hits.items()},
                **{f"stage_memo_misses[{k}]": v for k, v in self.misses.items()}}


def _to_pandas(table):
    """``table`` as pandas, list columns as Python lists (pyarrow gives numpy arrays); a list
    column of equal-length number lists goes through one 2-D array (fast)."""
    import pyarrow as pa

    lists = [name for name, typ in zip(table.column_names, table.schema.types, strict=True)
             if pa.types.is_list(typ) or pa.types.is_large_list(typ)]
    frame = table.drop_columns(lists).to_pandas()
    for name in lists:
        frame[name] = _pylists(table.column(name))
    return frame[table.column_names]


def _pylists(column) -> list:
    import pyarrow as pa
    import pyarrow.compute as pc

    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if (column.null_count == 0 and len(column) and
            pa.types.is_floating(column.type.value_type)):
        lengths = pc.list_value_length(column).to_numpy()
        if (lengths == lengths[0]).all() and column.offset == 0:
            flat = column.flatten().to_numpy()
            return flat.reshape(len(column), int(lengths[0])).tolist()
    return column.to_pylist()
