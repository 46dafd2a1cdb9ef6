"""Put a built run's own model answers back into the content cache.

A run folder keeps every entailment pair its build asked a model for (the ``pairs`` table)
and the cache identity of the backend that answered (``manifest["entailment_backends"]``,
a fingerprint of the model's content and prompt, not its path); likewise every LLM judge
verdict (the ``correctness`` table) and its judge's cache identity (``judge_info``). Seeding
the cache from the run lets a rebuild of the same inputs, on another machine or after the
cache was cleared, call no model for those pairs and verdicts. They are seeded only under an
identity the given model still produces: a model whose files changed has another
fingerprint, and its old answers stay out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np


def seed_cache(run, entailment: Sequence[str] = (), cache_dir: str | Path | None = None,
               log: Callable[[str], None] = print) -> dict[str, int]:
    """Write ``run``'s model-computed pairs into the content cache; returns pairs per alias.

    ``entailment`` gives where each backend's model is on this machine (``llm:PATH.gguf``,
    ``nli:PATH``); a backend not given is looked for where the build found it.
    """
    from uqlens.backends.cache import ModelCache
    from uqlens.build.pairs import PairStore
    from uqlens.build.pipeline import Stats

    params = run.manifest.get("params", {})
    specs = {s.partition(":")[0]: s for s in params.get("entailment", [])}
    specs.update({s.partition(":")[0]: s for s in entailment})
    recorded = run.manifest.get("entailment_backends", {})
    condition = bool(params.get("condition_on_question", True))
    pairs = run.table("pairs")
    text_of = _texts(run)
    question_of = dict(zip(run.table("questions")["question_id"],
                           run.table("questions")["question"], strict=True))
    cache, seeded = ModelCache(cache_dir), {}
    try:
        for alias, spec in specs.items():
            store = PairStore(alias, spec, None, cache, Stats(), condition)
            if not store.persist or alias not in recorded:
                continue
            if store.id != recorded[alias]:
                log(f"{alias}: {spec} is not the model that built this run "
                    f"({store.id} ≠ {recorded[alias]}); its pairs were not seeded")
                continue
            rows = pairs[pairs["backend"] == alias]
            keys = [store.cache_key((question_of[q], text_of[(q, a)], text_of[(q, b)]))
                    for q, a, b in zip(rows["question_id"], rows["text_a"], rows["text_b"],
                                       strict=True)]
            probs = rows[["p_entail", "p_neutral", "p_contradict"]].to_numpy(dtype=float)
            cache.put_pairs_many(store.id, keys, np.asarray(probs))
            seeded[alias] = len(keys)
            log(f"{alias}: {len(keys):,} pairs seeded under {store.id}")
        seeded.update(_seed_llm_verdicts(run, specs, cache, log))
    finally:
        cache.close()
    return seeded


def _texts(run) -> dict[tuple[str, int], str]:
    texts = run.table("texts")
    return dict(zip(zip(texts["question_id"], texts["text_id"], strict=True), texts["text"],
                    strict=True))


def _seed_llm_verdicts(run, specs: dict[str, str], cache, log) -> dict[str, int]:
    """The ``llm_reference`` judges' P(correct) per (question, references, answer), seeded
    under the judge identity the given model still produces; returns verdicts per judge."""
    from uqlens.backends import llm_reference as ref

    correct, seeded = run.table("correctness"), {}
    gens = run.table("generations")
    for judge, info in (run.manifest.get("judge_info") or {}).items():
        recorded = str(info.get("cache_id", ""))
        alias = str(info.get("backend", "")).partition(":")[0]
        if not recorded.startswith("llm-reference:") or alias not in specs:
            continue
        judge_id = ref.llm_reference_id(ref.model_identity(specs[alias]))
        if judge_id != recorded:
            log(f"{judge}: {specs[alias]} is not the model that judged this run "
                f"({judge_id} ≠ {recorded}); its verdicts were not seeded")
            continue
        rows = correct[(correct["judge"] == judge) & correct["value"].notna()]
        rows = rows.merge(gens[["question_id", "sample_id", "text"]],
                          on=["question_id", "sample_id"]).drop_duplicates(["question_id", "text"])
        ref.remember(ref.judge_items(run.table("questions"), rows), rows["value"].to_numpy(),
                     judge_id, cache)
        seeded[judge] = len(rows)
        log(f"{judge}: {len(rows):,} verdicts seeded under {judge_id}")
    return seeded
