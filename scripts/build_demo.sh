#!/usr/bin/env bash
# Rebuild the embedded demo runs from the committed generations (data/demo-source/).
# The answers came from `uqlens generate` via scripts/generate_demo.py, the greedy answers'
# hidden states from `uqlens hidden-states` (see data/demo-source/README.md).
#   MODEL=path/to/qwen.gguf scripts/build_demo.sh       # data/demo
#   MODEL=path/to/qwen.gguf scripts/build_demo.sh llm   # data/demo-llm-judge too
set -euo pipefail
cd "$(dirname "$0")/.."
UQ=${UQ:-.venv/bin/uqlens}
SRC=data/demo-source

# The first rule and the first judge are the run's defaults (manifest default_rule,
# default_judge), chosen with the hand labels (python benchmarks/gold.py): the local LLM asked
# whether two answers mean the same (threshold:0.75@llm), and ROUGE-L, which agrees with the
# labels far better than the same LLM asked whether an answer is correct (llm_reference, kept
# as an alternative). exact and the cosine rules are alternatives (cosine: approximate).
# EigV/Deg/Ecc/KLE take their all-pairs affinities from cosine (--graph-backend cosine): all
# pairs through the 1.5B LLM would roughly double its ~1.5 hours on 2 cores.
# The LLM's pairs and verdicts are cached by content (~/.cache/uqlens); `uqlens seed-cache
# data/demo --entailment llm:$MODEL` refills a fresh cache from the run itself, so a rebuild
# asks the model nothing (about 5 minutes).
: "${MODEL:?set MODEL to the reassembled Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF}"
"$UQ" build "$SRC/generations-qa_wikidata.jsonl" "$SRC/generations-truthful_qa.jsonl" \
    "$SRC/generations-arithmetic.jsonl" \
    --out data/demo --name "BIG-bench qa_wikidata + TruthfulQA + arithmetic × Qwen2.5-Coder-1.5B" \
    --entailment cosine --entailment "llm:$MODEL" \
    --rule threshold:0.75@llm --rule exact --rule embedding:0.9:average \
    --rule threshold:0.9@cosine --graph-backend cosine \
    --judge rouge_l --judge llm_reference@llm --judge squad_f1 --judge exact_match \
    --judge embedding_similarity --judge program --probe-judge rouge_l \
    --sample-temperature 0.7

if [ "${1:-}" = "llm" ]; then
    : "${MODEL:?set MODEL to the reassembled Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF}"
    "$UQ" build "$SRC/generations-qa_wikidata.jsonl" \
        --out data/demo-llm-judge --name "qa_wikidata × Qwen2.5-Coder-1.5B, LLM-judge entailment" \
        --entailment cosine --entailment "llm:$MODEL" \
        --rule strict@llm --rule threshold:0.75@llm --rule exact --rule embedding:0.9:average \
        --sample-temperature 0.7
fi
