"""Equivalence rules: how sampled answers are grouped "by meaning".

Every sampling-based UQ method first decides which answers mean the same thing. The published
methods decide it differently, and uqlens makes the choice an explicit, named :class:`Rule`:

``strict``
    Same meaning iff the NLI argmax is *entailment in both directions* (Farquhar et al. 2024,
    Nature, ``strict_entailment=True`` in their reference code).
``lenient``
    Same meaning unless *either* direction's argmax is *contradiction* (Kuhn, Gal & Farquhar
    2023, ICLR reference code; also Lin et al. 2024). Neutral/neutral pairs merge.
``either``
    Same meaning iff entailment is the argmax in *at least one* direction (uqlm).
``threshold:τ``
    Same meaning iff P(entail) ≥ τ in both directions.
``embedding:τ:linkage``
    Agglomerative clustering (``scipy.cluster.hierarchy``) on cosine distance, cut at distance
    1 − τ, so with ``complete`` linkage every pair inside a cluster has cosine ≥ τ and with
    ``average`` linkage (the default) the mean pairwise cosine between merged groups is ≥ τ.
``exact``
    Equality of SQuAD-normalised strings.

Entailment rules (strict, lenient, either, threshold) use greedy assignment against cluster
representatives, as in the reference code of Kuhn et al. and Farquhar et al.: answers are
processed in order; each joins the first existing cluster whose representative (its FIRST
member) it matches, otherwise it opens a new cluster. The result is deterministic.

Pair calls. ``pair(i, j)`` returns ``(p_entail, p_neutral, p_contradict)`` for "answer *i*
entails answer *j*" and may be expensive (an NLI forward pass), so :func:`cluster` calls it
lazily:

- an answer whose text is *identical* (raw string equality) to an earlier answer takes that
  answer's cluster without any call (the NLI model is deterministic, so the greedy outcome
  would be the same);
- comparing answer *j* against representative *r* asks ``pair(r, j)`` first and ``pair(j, r)``
  only if the first direction does not already decide the outcome (strict/threshold stop on a
  first-direction failure, lenient stops on a first-direction contradiction, either stops on a
  first-direction entailment);
- no ordered pair is requested twice within one call.

Argmax ties are broken toward the earlier class in (entail, neutral, contradict) order.
Cluster ids are integers numbered 0, 1, ... in order of first appearance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from uqlens.core.text import normalize_answer

Pair = Callable[[int, int], Sequence[float]]

ENTAIL, NEUTRAL, CONTRADICT = 0, 1, 2
ENTAILMENT_RULES = ("strict", "lenient", "either", "threshold")
RULE_NAMES = (*ENTAILMENT_RULES, "embedding", "exact")
LINKAGES = ("average", "complete")


def _fmt(x: float) -> str:
    return format(float(x), "g")


@dataclass(frozen=True)
class Rule:
    """A named equivalence rule with its parameters.

    ``params`` is a tuple of ``(name, value)`` pairs so the rule stays hashable; use the
    constructors (:meth:`strict`, :meth:`threshold`, :meth:`embedding`, ...) or
    :func:`parse_rule` rather than building it by hand.
    """

    name: str
    params: tuple[tuple[str, object], ...] = ()

    def __post_init__(self) -> None:
        if self.name not in RULE_NAMES:
            raise ValueError(f"unknown rule {self.name!r}; expected one of {RULE_NAMES}")
        p = dict(self.params)
        if self.name == "threshold":
            if set(p) != {"tau"} or not 0.0 <= float(p["tau"]) <= 1.0:
                raise ValueError("threshold rule needs tau in [0, 1]")
        elif self.name == "embedding":
            if set(p) != {"tau", "linkage"} or not -1.0 <= float(p["tau"]) <= 1.0:
                raise ValueError("embedding rule needs tau in [-1, 1] and a linkage")
            if p["linkage"] not in LINKAGES:
                raise ValueError(f"linkage must be one of {LINKAGES}")
        elif p:
            raise ValueError(f"rule {self.name!r} takes no parameters")

    # constructors -------------------------------------------------------------------------
    @classmethod
    def strict(cls) -> Rule:
        return cls("strict")

    @classmethod
    def lenient(cls) -> Rule:
        return cls("lenient")

    @classmethod
    def either(cls) -> Rule:
        return cls("either")

    @classmethod
    def exact(cls) -> Rule:
        return cls("exact")

    @classmethod
    def threshold(cls, tau: float = 0.5) -> Rule:
        return cls("threshold", (("tau", float(tau)),))

    @classmethod
    def embedding(cls, tau: float = 0.9, linkage: str = "average") -> Rule:
        return cls("embedding", (("tau", float(tau)), ("linkage", linkage)))

    # properties ---------------------------------------------------------------------------
    def param(self, name: str) -> object:
        return dict(self.params)[name]

    @property
    def key(self) -> str:
        """Stable string: ``strict``, ``threshold:0.5``, ``embedding:0.9:average``, ``exact``."""
        if self.name == "threshold":
            return f"threshold:{_fmt(self.param('tau'))}"
        if self.name == "embedding":
            return f"embedding:{_fmt(self.param('tau'))}:{self.param('linkage')}"
        return self.name

    @property
    def needs(self) -> str | None:
        """``"entailment"``, ``"embeddings"`` or ``None`` (exact match needs nothing)."""
        if self.name in ENTAILMENT_RULES:
            return "entailment"
        if self.name == "embedding":
            return "embeddings"
        return None

    def __str__(self) -> str:
        return self.key


def parse_rule(key: str) -> Rule:
    """Inverse of :attr:`Rule.key` (``parse_rule(r.key) == r``)."""
    parts = key.strip().split(":")
    name = parts[0]
    try:
        if name == "threshold" and len(parts) == 2:
            return Rule.threshold(float(parts[1]))
        if name == "embedding" and len(parts) in (2, 3):
            return Rule.embedding(float(parts[1]), parts[2] if len(parts) == 3 else "average")
    except ValueError as err:
        raise ValueError(f"cannot parse rule key {key!r}: {err}") from None
    if len(parts) == 1 and name in ("strict", "lenient", "either", "exact"):
        return Rule(name)
    raise ValueError(f"cannot parse rule key {key!r}")


def _as_rule(rule: Rule | str) -> Rule:
    return parse_rule(rule) if isinstance(rule, str) else rule


def renumber(labels: Sequence[int] | np.ndarray) -> np.ndarray:
    """Relabel so ids are 0, 1, ... in order of first appearance."""
    mapping: dict[object, int] = {}
    out = np.empty(len(labels), dtype=np.int64)
    for i, lab in enumerate(labels):
        out[i] = mapping.setdefault(lab, len(mapping))
    return out


def representatives(cluster_ids: Sequence[int] | np.ndarray) -> np.ndarray:
    """Boolean mask of each cluster's representative: its first member in sample order."""
    seen: set[int] = set()
    mask = np.zeros(len(cluster_ids), dtype=bool)
    for i, c in enumerate(cluster_ids):
        if c not in seen:
            seen.add(c)
            mask[i] = True
    return mask


def _argmax(probs: Sequence[float]) -> int:
    return int(np.argmax(np.asarray(probs, dtype=float)[:3]))


def _same_meaning(rule: Rule, ask: Callable[[int, int], Sequence[float]], r: int, j: int) -> bool:
    """Does answer j match representative r under an entailment rule? Lazily asks pair()."""
    if rule.name == "threshold":
        tau = float(rule.param("tau"))
        return float(ask(r, j)[ENTAIL]) >= tau and float(ask(j, r)[ENTAIL]) >= tau
    first = _argmax(ask(r, j))
    if rule.name == "strict":
        return first == ENTAIL and _argmax(ask(j, r)) == ENTAIL
    if rule.name == "lenient":
        return first != CONTRADICT and _argmax(ask(j, r)) != CONTRADICT
    if rule.name == "either":
        return first == ENTAIL or _argmax(ask(j, r)) == ENTAIL
    raise ValueError(f"{rule.name!r} is not an entailment rule")


def _greedy(rule: Rule, texts: Sequence[str], pair: Pair) -> np.ndarray:
    asked: dict[tuple[int, int], Sequence[float]] = {}

    def ask(i: int, j: int) -> Sequence[float]:
        if (i, j) not in asked:
            asked[(i, j)] = pair(i, j)
        return asked[(i, j)]

    ids = np.empty(len(texts), dtype=np.int64)
    reps: list[int] = []  # sample index of each cluster's first member
    by_text: dict[str, int] = {}
    for j, text in enumerate(texts):
        if text in by_text:
            ids[j] = by_text[text]
            continue
        for c, r in enumerate(reps):
            if _same_meaning(rule, ask, r, j):
                ids[j] = c
                break
        else:
            ids[j] = len(reps)
            reps.append(j)
        by_text[text] = int(ids[j])
    return ids


def _embedding_clusters(rule: Rule, embeddings: np.ndarray) -> np.ndarray:
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    x = np.asarray(embeddings, dtype=float)
    if x.ndim != 2:
        raise ValueError("embeddings must be a 2-D array (n_answers, dim)")
    if len(x) == 1:
        return np.zeros(1, dtype=np.int64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(norms == 0, 1.0, norms)
    dist = np.clip(pdist(x, metric="cosine"), 0.0, 2.0)
    z = linkage(dist, method=str(rule.param("linkage")))
    # cosine >= tau  <=>  distance <= 1 - tau; small slack for round-off at the boundary
    labels = fcluster(z, t=1.0 - float(rule.param("tau")) + 1e-9, criterion="distance")
    return renumber(labels)


def cluster(
    rule: Rule | str,
    texts: Sequence[str],
    *,
    pair: Pair | None = None,
    embeddings: np.ndarray | None = None,
) -> np.ndarray:
    """Cluster one question's answers under ``rule``.

    Parameters
    ----------
    rule : Rule or rule key
    texts : the answers, in sample order
    pair : ``pair(i, j) -> (p_entail, p_neutral, p_contradict)`` for "answer i entails answer j";
        required by entailment rules, called lazily (see module docstring)
    embeddings : ``(n, dim)`` array, required by the embedding rule

    Returns
    -------
    np.ndarray of int64 cluster ids, numbered 0.. in order of first appearance.
    """
    rule = _as_rule(rule)
    n = len(texts)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if rule.name == "exact":
        return renumber([normalize_answer(t) for t in texts])
    if rule.name == "embedding":
        if embeddings is None:
            raise ValueError(f"rule {rule.key!r} needs embeddings")
        if len(embeddings) != n:
            raise ValueError("embeddings and texts differ in length")
        return _embedding_clusters(rule, embeddings)
    if pair is None:
        raise ValueError(f"rule {rule.key!r} needs a pair(i, j) entailment function")
    return _greedy(rule, texts, pair)
