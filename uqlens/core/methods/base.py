"""What every UQ method is: a small named value with parameters, needs, a citation and one
orientation (higher = more uncertain), scoring one question at a time from a
:class:`QuestionView`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

# What a method may need from the data; the pipeline fills only what the run has.
NEEDS = (
    "samples",  # at least two sampled answers
    "clusters",  # a cluster id per answer under the current rule
    "logprobs",  # logprob_sum and num_tokens per answer
    "entailment",  # ordered-pair P(entail)/P(contradiction) between answers
    "embeddings",  # an embedding per answer
    "greedy",  # the judged answer
    "p_true",
    "verbalized_confidence",
)


@dataclass(frozen=True)
class QuestionView:
    """Everything a method may read about one question, arrays indexed by sample position.

    ``texts`` are the sampled answers (the judged/greedy answer is kept apart in
    ``greedy_text``). Optional arrays are ``None`` when the run lacks them.
    ``entail[i, j]`` is P(answer i entails answer j); ``contradict`` likewise; the diagonal is 1
    for ``entail`` and 0 for ``contradict``. ``greedy_cluster`` is the cluster the judged answer
    falls in under the same rule (``-1`` when it matches no sampled answer).
    """

    question_id: str
    question: str
    texts: tuple[str, ...]
    cluster_ids: np.ndarray | None = None
    logprob_sum: np.ndarray | None = None
    num_tokens: np.ndarray | None = None
    entail: np.ndarray | None = None
    contradict: np.ndarray | None = None
    embeddings: np.ndarray | None = None
    greedy_text: str | None = None
    greedy_cluster: int | None = None
    greedy_logprob_sum: float | None = None
    greedy_num_tokens: int | None = None
    p_true: float | None = None
    verbalized_confidence: float | None = None

    @property
    def n(self) -> int:
        return len(self.texts)


@dataclass(frozen=True)
class ClusterBatch:
    """The cluster assignments of many questions' samples at once, for the methods that
    read only clusters, log-likelihoods and the judged answer's cluster (see
    :attr:`Method.batch`).

    Sample arrays are concatenated question after question (samples in view order);
    question ``i`` owns ``[start[i], start[i + 1])``. Per question: ``has_logprob`` /
    ``has_tokens`` (its view's ``logprob_sum`` / ``num_tokens`` is not None),
    ``greedy_cluster`` (NaN where the view's is None).
    """

    start: np.ndarray
    cluster_ids: np.ndarray
    logprob_sum: np.ndarray
    num_tokens: np.ndarray
    has_logprob: np.ndarray
    has_tokens: np.ndarray
    greedy_cluster: np.ndarray

    @property
    def n_questions(self) -> int:
        return len(self.start) - 1

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.start)


@dataclass(frozen=True)
class Method:
    """A registered UQ method.

    ``score(view, **params)`` returns the uncertainty of one question (higher = more
    uncertain) or ``nan`` when this question cannot be scored (e.g. a single sample).
    ``flipped`` records that the source quantity is a confidence turned into uncertainty.
    ``batch(batch, **params)``, when given, scores every question of a :class:`ClusterBatch`
    at once and returns exactly (bit for bit) what ``score`` gives each question's view; the
    build uses it to score a rule over all questions in grouped array operations.
    ``stack(entail, contradict, **params)``, when given, scores a stack of questions with the
    same number of samples (matrices of shape ``(k, m, m)``, ``m >= 2``, every pair present)
    exactly as ``score`` scores each, for the graph methods; it raises ``ValueError`` for
    parameters it has no stacked form of (``affinity="jaccard"``).
    """

    id: str
    label: str
    needs: frozenset[str]
    citation: str
    score: Callable[..., float]
    defaults: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    flipped: bool = False
    description: str = ""
    batch: Callable[..., np.ndarray] | None = None
    stack: Callable[..., np.ndarray] | None = None

    def missing(self, available: set[str] | frozenset[str]) -> list[str]:
        """Needs this method has that the data cannot meet, sorted for stable messages."""
        return sorted(self.needs - set(available))


REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    if method.id in REGISTRY:
        raise ValueError(f"method id {method.id!r} registered twice")
    REGISTRY[method.id] = method
    return method
