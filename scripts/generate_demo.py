"""Generate the demo's answers with the templates recorded in data/demo-source/generation.json.

    python scripts/generate_demo.py MODEL.gguf arithmetic      # one dataset
    python scripts/generate_demo.py MODEL.gguf all             # every dataset in generation.json

A dataset's entry in generation.json (keyed by its output file) holds the prompt template and
sampling settings; a new dataset is added there first. Resumable: finished questions are kept.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from uqlens.backends.generate import (
    GenerationConfig,
    LocalGenerator,
    PromptTemplate,
    generate,
    provenance,
    read_questions,
)

SRC = Path(__file__).resolve().parent.parent / "data" / "demo-source"


def config_of(entry: dict) -> GenerationConfig:
    c = dict(entry["config"])
    template = PromptTemplate(c["template"]["instruction"],
                              tuple(tuple(s) for s in c["template"]["shots"]))
    return GenerationConfig(temperatures=tuple(c["temperatures"]),
                            samples_per_temperature=c["samples_per_temperature"],
                            top_p=c["top_p"], max_tokens=c["max_tokens"], stop=tuple(c["stop"]),
                            p_true=c["p_true"], template=template)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the reassembled Qwen2.5-Coder-1.5B-Instruct GGUF")
    parser.add_argument("dataset", help="e.g. arithmetic, truthful_qa, qa_wikidata, or all")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    meta_file = SRC / "generation.json"
    meta = json.loads(meta_file.read_text())
    files = [k for k in meta if k.startswith("generations-")]
    if args.dataset != "all":
        files = [f"generations-{args.dataset}.jsonl"]
    questions = read_questions(SRC / "questions.jsonl") + read_questions(
        SRC / "questions-arithmetic.jsonl")
    generator = LocalGenerator(args.model, n_threads=args.threads)
    for name in files:
        dataset = name.removeprefix("generations-").removesuffix(".jsonl")
        todo = [q for q in questions if q.get("dataset", "").endswith("/" + dataset)]
        config = config_of(meta[name])
        started = time.time()
        for _ in generate(generator, todo, SRC / name, config):
            pass
        entry = provenance(generator, config, started)
        entry["model"] = Path(args.model).name
        meta[name] = {**meta[name], **entry}
        meta_file.write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
