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
  would be the same); any looser sameness is the pair function's business (the build's
  :class:`uqlens.build.pairs.PairStore` skips the model only for
  :func:`uqlens.core.text.same_text`);
- comparing answer *j* against representative *r* asks ``pair(r, j)`` first and ``pair(j, r)``
  only if the first direction does not already decide the outcome (strict/threshold stop on a
  first-direction failure, lenient stops on a first-direction contradiction, either stops on a
  first-direction entailment);
- no ordered pair is requested twice within one call.

Batches. :func:`cluster_many` runs the same algorithm over many questions at once and asks
for pairs in steps: every unsettled answer of every question tests the representative it has
reached (answers need not wait for earlier answers to settle, only for the representatives to
exist), so one step gathers hundreds of pairs while asking exactly the pairs, and giving
exactly the partitions, of the one-pair-at-a-time order.

Argmax ties are broken toward the earlier class in (entail, neutral, contradict) order.
Cluster ids are integers numbered 0, 1, ... in order of first appearance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from uqlens.core.text import normalize_answer

Pair = Callable[[int, int], Sequence[float]]
PairBatch = Callable[[Sequence[tuple[int, int, int]]], Sequence[Sequence[float]]]
"""``pairs([(list_index, i, j), ...])`` -> one ``(p_entail, p_neutral, p_contradict)`` per
request, for "answer i of that list entails answer j"."""

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
    labels = labels.tolist() if isinstance(labels, np.ndarray) else labels
    return np.array([mapping.setdefault(lab, len(mapping)) for lab in labels], dtype=np.int64)


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


def _verdict(rule: Rule, forward: Sequence[float], backward: Sequence[float] | None) -> bool | None:
    """Does an answer match a representative, given P(rep entails answer) (``forward``) and,
    when known, P(answer entails rep) (``backward``)? None: the reverse direction decides.

    The first direction alone decides where it can (strict/threshold fail on it, lenient fails
    on a contradiction, either succeeds on an entailment), so the reverse is asked only then.
    """
    if rule.name == "threshold":
        tau = float(rule.param("tau"))
        if float(forward[ENTAIL]) < tau:
            return False
        return None if backward is None else float(backward[ENTAIL]) >= tau
    first = _argmax(forward)
    if rule.name == "strict":
        if first != ENTAIL:
            return False
        return None if backward is None else _argmax(backward) == ENTAIL
    if rule.name == "lenient":
        if first == CONTRADICT:
            return False
        return None if backward is None else _argmax(backward) != CONTRADICT
    if rule.name == "either":
        if first == ENTAIL:
            return True
        return None if backward is None else _argmax(backward) == ENTAIL
    raise ValueError(f"{rule.name!r} is not an entailment rule")


class _Greedy:
    """The greedy representative clustering of one answer list, run as a state machine that
    says which pairs it needs next, so that many answers and questions share a batch.

    Answer k tests the representatives in order. Representative c is known once created, and
    every answer before the one that created it is settled then; so every unsettled answer can
    test the representative it is at in parallel, and an answer that failed every known
    representative opens a new cluster as soon as all answers before it are settled. That is
    exactly the sequential algorithm's sequence of tests, so the same pairs are asked (the
    minimum it needs) and the same partition comes out; only the order of asking changes.
    """

    def __init__(self, rule: Rule, texts: Sequence[str]):
        self.rule = rule
        # Python lists, not arrays: this state machine reads and writes one item at a time
        self._ids = [-1] * len(texts)
        self._open = len(texts)  # answers not settled yet
        self.reps: list[int] = []  # sample index of each cluster's first member
        self.asked: dict[tuple[int, int], Sequence[float]] = {}
        self._at = [0] * len(texts)  # index of the representative answer k is testing
        first_of: dict[str, int] = {}
        # identical text: takes that earlier answer's cluster, no call (the model is a function)
        self._copy_of = [first_of.setdefault(t, k) for k, t in enumerate(texts)]
        self.advance()

    @property
    def ids(self) -> np.ndarray:
        return np.asarray(self._ids, dtype=np.int64)

    @property
    def done(self) -> bool:
        return self._open == 0

    def wanted(self) -> list[tuple[int, int]]:
        """Ordered pairs (i, j) whose P(i entails j) the next step needs."""
        out = []
        for k, c in enumerate(self._ids):
            if c >= 0 or self._copy_of[k] != k or self._at[k] >= len(self.reps):
                continue
            r = self.reps[self._at[k]]
            out.append((r, k) if (r, k) not in self.asked else (k, r))
        return out

    def advance(self) -> None:
        """Settle every answer the pairs asked so far allow (in sample order)."""
        settled_before = True
        ids = self._ids
        for k in range(len(ids)):
            if ids[k] < 0:
                if self._copy_of[k] != k:
                    ids[k] = ids[self._copy_of[k]]
                else:
                    self._test(k, settled_before)
                if ids[k] >= 0:
                    self._open -= 1
            settled_before = settled_before and ids[k] >= 0

    def _test(self, k: int, settled_before: bool) -> None:
        while self._at[k] < len(self.reps):
            r = self.reps[self._at[k]]
            if (r, k) not in self.asked:
                return
            match = _verdict(self.rule, self.asked[(r, k)], self.asked.get((k, r)))
            if match is None:
                return
            if match:
                self._ids[k] = self._at[k]
                return
            self._at[k] += 1
        if settled_before:
            self._ids[k] = len(self.reps)
            self.reps.append(k)


def _greedy_many(
    rule: Rule, text_lists: Sequence[Sequence[str]], pairs: PairBatch,
    on_step: Callable[[int], None] | None = None,
) -> list[np.ndarray]:
    """Greedy clustering of many answer lists at once: each step gathers the pairs every
    unsettled answer of every list needs (a wavefront) and asks them in one ``pairs`` call."""
    states = [_Greedy(rule, texts) for texts in text_lists]
    active = [q for q, s in enumerate(states) if not s.done]
    while active:
        requests = [(q, i, j) for q in active for i, j in states[q].wanted()]
        if not requests:  # cannot happen for a consistent state; guard against a silent hang
            raise RuntimeError("greedy clustering stalled")
        values = pairs(requests)
        if len(values) != len(requests):
            raise ValueError(f"pairs() returned {len(values)} results for {len(requests)} pairs")
        if isinstance(values, np.ndarray):
            values = values.tolist()  # rows as lists: cheaper to read one by one than views
        for (q, i, j), value in zip(requests, values, strict=True):
            states[q].asked[(i, j)] = value
        for q in active:
            states[q].advance()
        active = [q for q in active if not states[q].done]
        if on_step is not None:
            on_step(len(states) - len(active))
    return [s.ids for s in states]


def _embedding_clusters(rule: Rule, embeddings: np.ndarray) -> np.ndarray:
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import pdist

    x = np.asarray(embeddings, dtype=float)
    if x.ndim != 2:
        raise ValueError("embeddings must be a 2-D array (n_answers, dim)")
    if len(x) == 1:
        return np.zeros(1, dtype=np.int64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(norms == 0, 1.0, norms)
    method = str(rule.param("linkage"))
    compiled = _compiled_linkage()
    z = None
    if compiled is not None and x.shape[1] > 0:
        cosine, link = compiled
        dist = np.empty(len(x) * (len(x) - 1) // 2)
        try:  # private routines: another scipy may take other arguments
            cosine(np.ascontiguousarray(x, dtype=np.float64), dist)
            np.clip(dist, 0.0, 2.0, out=dist)
            if len(x) == 2 and np.isfinite(dist[0]):  # one merge, at that distance
                return np.zeros(2, dtype=np.int64) if dist[0] <= _cutoff(rule) else np.arange(
                    2, dtype=np.int64)
            if np.isfinite(dist).all():
                z = link(dist, len(x), method)
        except (TypeError, ValueError):
            z = None
    if z is None:  # scipy's own checks say what is wrong
        dist = np.clip(pdist(x, metric="cosine"), 0.0, 2.0)
        z = linkage(dist, method=method)
    return renumber(flat_clusters(z, _cutoff(rule)))


def _cutoff(rule: Rule) -> float:
    """cosine >= tau  <=>  distance <= 1 - tau; small slack for round-off at the boundary."""
    return 1.0 - float(rule.param("tau")) + 1e-9


_COMPILED: list = []


def _compiled_linkage():
    """``(cosine pdist into out, linkage(condensed, n, method))``: the compiled routines
    scipy's ``pdist(x, "cosine")`` and ``linkage`` call, without their per-call input checks
    (most of a 10-answer question's clustering time); the same numbers, since the same code
    computes them. None when this scipy lays them out otherwise (the public calls are used)."""
    if not _COMPILED:
        try:
            from scipy.cluster import _hierarchy
            from scipy.cluster.hierarchy import _LINKAGE_METHODS
            from scipy.spatial import _distance_wrap

            cosine = _distance_wrap.pdist_cosine_double_wrap

            def link(y, n, method):
                code = _LINKAGE_METHODS[method]
                if method == "single":
                    return _hierarchy.mst_single_linkage(y, n)
                if method in ("complete", "average", "weighted", "ward"):
                    return _hierarchy.nn_chain(y, n, code)
                return _hierarchy.fast_linkage(y, n, code)

            _COMPILED.append((cosine, link))
        except (ImportError, AttributeError):
            _COMPILED.append(None)
    return _COMPILED[0]


def flat_clusters(z: np.ndarray, cutoff: float) -> np.ndarray:
    """``scipy.cluster.hierarchy.fcluster(z, cutoff, criterion="distance")`` up to the
    numbering of the clusters, without its input checks (which cost most of a small
    question's clustering): two answers share a flat cluster when the highest merge below
    their lowest common ancestor is at most ``cutoff``."""
    n = len(z) + 1
    parent = list(range(2 * n - 1))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    height = [0.0] * (2 * n - 1)  # the highest merge within each node (fcluster's max dist)
    for k, (a, b, dist, _) in enumerate(z.tolist()):
        a, b = int(a), int(b)
        height[n + k] = max(dist, height[a], height[b])
        if height[n + k] <= cutoff:
            parent[root(a)] = parent[root(b)] = n + k
    return np.array([root(i) for i in range(n)], dtype=np.int64)


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
    return _greedy_many(rule, [texts], lambda reqs: [pair(i, j) for _, i, j in reqs])[0]


def cluster_many(
    rule: Rule | str,
    text_lists: Sequence[Sequence[str]],
    *,
    pairs: PairBatch | None = None,
    embeddings: Sequence[np.ndarray] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> list[np.ndarray]:
    """:func:`cluster` over many questions' answer lists; entailment rules ask their pairs in
    batches (``pairs`` gets every pair one step of all lists needs, see :data:`PairBatch`),
    with the same partitions and the same set of pairs as :func:`cluster` one list at a time.
    ``embeddings``: one ``(n, dim)`` array per list, for the embedding rule; ``on_step(n)``
    is told after each batch how many lists are settled (progress)."""
    rule = _as_rule(rule)
    if rule.needs != "entailment":
        embs = [None] * len(text_lists) if embeddings is None else embeddings
        return [cluster(rule, t, embeddings=e) for t, e in zip(text_lists, embs, strict=True)]
    if pairs is None:
        raise ValueError(f"rule {rule.key!r} needs a pairs(requests) entailment function")
    return _greedy_many(rule, text_lists, pairs, on_step)
