"""The similarity graph of one question as the ``eigv`` method sees it: its affinity matrix,
the Laplacian eigenvalues and the EigV score, from the run's tables (no model is loaded).

The view comes from the run's own view assembly and the matrix from the method's own
:func:`uqlens.core.methods.eigv.spectrum` with the parameters the run scored it with, so the
Question page's picture and caption are the score in its table, not a look-alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uqlens.core.methods import eigv
from uqlens.run.rescore import MissingPair, NotRecomputable, Replay, method_params


@dataclass(frozen=True)
class Spectrum:
    """``affinity[i, j]`` over ``sample_ids`` (the scored samples, in run order)."""

    sample_ids: list[str]
    texts: list[str]
    affinity: np.ndarray
    eigenvalues: np.ndarray
    eigv: float
    params: dict


def eigv_params(run) -> dict:
    """The parameters the run scored ``eigv`` with, over the method's defaults."""
    return {**eigv.DEFAULTS, **method_params(run, "eigv")}


def question_spectrum(replay: Replay, rule: str, question_id: str) -> Spectrum | None:
    """The question's graph under ``rule``; None without one (fewer than two scored samples,
    no pairs for the rule's affinity backend, or a rule the run cannot re-cluster).

    ``replay``: ``Replay(run)``; pass the same one for many questions (building it reads
    every pair of the run once)."""
    scored = replay.scored()
    samples = scored[scored["question_id"] == question_id]
    params = eigv_params(replay.run)
    try:
        view = replay.view(question_id, rule, samples)
    except (MissingPair, NotRecomputable, KeyError):
        return None
    if view.n < 2 or (params.get("affinity") != "jaccard" and view.entail is None):
        return None
    w, lam = eigv.spectrum(view, **params)
    return Spectrum(samples["sample_id"].astype(str).tolist(), list(view.texts), w, lam,
                    eigv.from_eigenvalues(lam), params)
