"""The answers' own vectors as the build's embedder: ``--embedder provided``.

Input that carries an ``embedding`` (a list of numbers) for every answer can be built with no
embedding model at all: the vectors stand in for the model's wherever the build embeds an
answer (the ``embedding:τ`` rules, cosine pairs for rules and graph methods, the 2-D map).
They are scaled to unit length (a dot product is then their cosine, as with the models'
vectors) and are the data's, so they are never conditioned on the question: with
``condition_on_question`` on (the default) an answer is looked up by its question and text,
off by its text alone, which must then carry one vector across questions. Identical answers
of one question share the first one's vector. The judge ``embedding_similarity`` needs
vectors of the references too, which the data does not have: it is skipped with that reason.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from uqlens.build.errors import BuildError

PROVIDED = "provided"
"""``BuildConfig.embedder`` value: use the input's per-answer ``embedding`` field."""


def answer_vectors(gens: pd.DataFrame, texts: pd.DataFrame) -> np.ndarray:
    """One float32 vector per row of ``texts`` (a question's unique answer texts): the
    ``embedding`` of its first generation. Raises :class:`BuildError` naming the first
    answer without one, or whose length differs from the first answer's."""
    if "embedding" not in gens:
        raise BuildError("--embedder provided: the input has no `embedding` field; give every "
                         "answer a list of numbers, or choose an embedding model")
    first = gens.drop_duplicates(["question_id", "text_id"])
    got = texts[["question_id", "text_id"]].merge(
        first[["question_id", "text_id", "sample_id", "embedding"]],
        on=["question_id", "text_id"], how="left")
    whole = _checked_matrix(got["embedding"].tolist()) if len(got) else None
    if whole is not None and _checked_matrix(gens["embedding"].tolist()) is not None:
        return _unit(whole)
    dim = None
    for q, s, v in zip(gens["question_id"], gens["sample_id"], gens["embedding"], strict=True):
        n = None if v is None or (isinstance(v, float) and np.isnan(v)) else len(v)
        if not n:
            raise BuildError(f"--embedder provided: question {q!r}, sample {s!r} has no "
                             "`embedding`; every answer needs one")
        if dim is None:
            dim = n
        elif n != dim:
            raise BuildError(f"--embedder provided: question {q!r}, sample {s!r}: `embedding` "
                             f"has {n} numbers, the first answer's has {dim}")
        if not any(v):
            raise BuildError(f"--embedder provided: question {q!r}, sample {s!r}: `embedding` "
                             "is all zeros (it has no direction)")
    if not len(got):
        return np.zeros((0, dim or 0), dtype=np.float32)
    return _unit(np.asarray(np.stack(got["embedding"].to_numpy()), dtype=np.float64))


def _unit(vectors: np.ndarray) -> np.ndarray:
    """Unit length, as the embedding models give: a dot product is then the cosine."""
    norms = np.linalg.norm(vectors, axis=1)
    return (vectors / norms[:, None]).astype(np.float32)


def _checked_matrix(rows: list) -> np.ndarray | None:
    """``rows`` as one float64 matrix when every row is a list of the same length, finite,
    not all zeros (what :func:`answer_vectors` requires); else None (the caller's row by row
    check then names the first bad answer)."""
    try:
        matrix = np.array(rows, dtype=np.float64)
    except (ValueError, TypeError):
        return None
    if (matrix.ndim != 2 or matrix.shape[1] == 0 or not np.isfinite(matrix).all()
            or not (matrix != 0).any(axis=1).all()):
        return None
    return matrix


class ProvidedEmbedder:
    """:class:`uqlens.build.pairs.CachedEmbedder`'s interface over the input's vectors.

    ``embed`` takes the texts the build would give a model: ``"QUESTION ANSWER"`` with
    ``condition_on_question``, else ``"ANSWER"``."""

    provided = True
    name = PROVIDED

    def __init__(self, texts: pd.DataFrame, vectors: np.ndarray, qtext: dict[str, str],
                 condition: bool):
        self.vectors = vectors
        digest = hashlib.sha256(np.ascontiguousarray(vectors).tobytes()).hexdigest()[:16]
        self.id = f"{PROVIDED}:{digest}"
        self._of: dict[str, int] = {}
        clash: dict[str, int] = {}
        for i, (q, t) in enumerate(zip(texts["question_id"].tolist(), texts["text"].tolist(),
                                       strict=True)):
            key = f"{qtext[q]} {t}" if condition else t
            if key in self._of and not np.array_equal(vectors[self._of[key]], vectors[i]):
                clash.setdefault(key, i)
            self._of.setdefault(key, i)
        if clash and not condition:
            key = next(iter(clash))
            raise BuildError(f"--embedder provided without conditioning on the question: "
                             f"answer {key!r} has different embeddings in different questions")

    def embed(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in texts if t not in self._of]
        if missing:
            raise BuildError(f"--embedder provided: no vector for {missing[0]!r} (only the "
                             "input's answers have vectors)")
        if not texts:
            return np.zeros((0, self.vectors.shape[1]), dtype=np.float32)
        return self.vectors[[self._of[t] for t in texts]]
