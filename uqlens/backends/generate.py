"""``uqlens generate``: cached generations in the canonical nested-JSONL form.

For each question: K sampled answers at each temperature, plus one greedy (temperature 0)
answer that is the judged answer, optionally its P(true). Output is one JSON line per
finished question, appended and flushed, so an interrupted run resumes where it stopped.

Seeds are derived from (question id, temperature, sample index): reusing seed k for sample k
of every question would correlate the samples across questions.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from uqlens.backends.llm import Completion

# Few-shot examples of our own; they are not drawn from the evaluated questions.
DEFAULT_SHOTS: tuple[tuple[str, str], ...] = (
    ("The capital city of Japan is", "Tokyo"),
    ("Who wrote the novel Pride and Prejudice?", "Jane Austen wrote Pride and Prejudice."),
)


@dataclass(frozen=True)
class PromptTemplate:
    """A completion prompt: an instruction, few-shot "Q: … / A: …" pairs, then the question.

    Answers end at a newline, which is where generation stops.
    """

    instruction: str = "Answer each question briefly and factually, in one line."
    shots: tuple[tuple[str, str], ...] = DEFAULT_SHOTS

    def render(self, question: str) -> str:
        parts = [self.instruction, ""]
        for q, a in self.shots:
            parts += [f"Q: {q}", f"A: {a}", ""]
        parts += [f"Q: {question.strip()}", "A:"]
        return "\n".join(parts)


def p_true_prompt(question: str, answer: str) -> str:
    """Kadavath et al. (2022): show the question and a proposed answer, ask True/False."""
    return (
        f"Question: {question.strip()}\n"
        f"Proposed Answer: {answer.strip()}\n"
        "Is the proposed answer:\n (A) True\n (B) False\n"
        "The proposed answer is: ("
    )


def derive_seed(question_id: str, temperature: float, index: int) -> int:
    key = f"{question_id}\x1f{temperature:g}\x1f{index}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "big")


class Generator(Protocol):
    model_name: str

    def sample(
        self,
        prompt: str,
        specs: Sequence[tuple[float, int]],
        *,
        top_p: float,
        max_tokens: int,
        stop: tuple[str, ...],
    ) -> list[Completion]:
        """One completion per (temperature, seed); temperature 0 is greedy."""

    def p_true(self, question: str, answer: str) -> float | None: ...

    def hidden_states(self, texts: Sequence[str], pooling: str) -> list[list[float]]:
        """The generating model's final-layer state of each prompt + answer text."""


def answer_text(prompt: str, answer: str) -> str:
    """The text whose hidden state is recorded: the generation prompt followed by the
    answer as the model wrote it after "A:" (one space, then the stripped answer)."""
    return f"{prompt} {answer.strip()}" if answer.strip() else prompt


def _float16_list(vector) -> list[float]:
    """A vector as float16 values written with the fewest digits that read back as the same
    float16 (a third of the JSON of float64 reprs)."""
    import numpy as np

    return [float(np.format_float_positional(x, unique=True))
            for x in np.asarray(vector, dtype=np.float16)]


class LocalGenerator:
    """A local GGUF model through llama.cpp."""

    def __init__(self, model_path: str | Path, n_threads: int | None = None):
        from uqlens.backends.llm import LocalLLM

        self.llm = LocalLLM(model_path, n_threads=n_threads)
        self.model_name = Path(model_path).name

    def sample(self, prompt, specs, *, top_p, max_tokens, stop):
        # All answers to one question in one batch: the prompt is decoded once.
        return self.llm.sample_many(prompt, specs, top_p=top_p, max_tokens=max_tokens,
                                    stop=stop)

    def p_true(self, question: str, answer: str) -> float | None:
        return self.llm.choice_probability(p_true_prompt(question, answer), "A", "B")

    def hidden_states(self, texts: Sequence[str], pooling: str) -> list[list[float]]:
        return [_float16_list(v) for v in self.llm.hidden_states(texts, pooling=pooling)]

    @property
    def hidden_state_info(self) -> dict:
        return {"model": self.llm.fingerprint, "layer": "final, after the output norm",
                "text": "generation prompt + ' ' + answer", "dtype": "float16"}

    def close(self) -> None:
        self.llm.close()


class OpenAICompatibleGenerator:
    """Any server speaking the OpenAI completions API (vLLM, llama.cpp server, Ollama).

    Per-token log-probs are kept when the server returns them (``logprobs: 1``). P(true) is
    read from the top log-probs of the next token when available, else left out.
    """

    def __init__(self, base_url: str, model: str, api_key: str = "", timeout: float = 120.0):
        self.base_url = base_url.rstrip("/")
        self.model_name = model
        self.api_key = api_key
        self.timeout = timeout

    def _post(self, payload: dict) -> dict:
        import urllib.request

        request = urllib.request.Request(
            f"{self.base_url}/completions",
            data=json.dumps({"model": self.model_name, **payload}).encode(),
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}),
            },
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return json.loads(response.read().decode("utf-8"))

    def sample(self, prompt, specs, *, top_p, max_tokens, stop):
        return [self._complete(prompt, t, seed, top_p, max_tokens, stop) for t, seed in specs]

    def _complete(self, prompt, temperature, seed, top_p, max_tokens, stop) -> Completion:
        body = self._post(
            {
                "prompt": prompt,
                "temperature": temperature,
                "top_p": top_p if temperature > 0 else 1.0,
                "max_tokens": max_tokens,
                "seed": seed,
                "stop": list(stop),
                "logprobs": 1,
            }
        )
        choice = body["choices"][0]
        logprobs = (choice.get("logprobs") or {}).get("token_logprobs") or []
        return Completion(
            text=choice["text"].strip(),
            token_logprobs=tuple(float(x) for x in logprobs if x is not None),
        )

    def p_true(self, question: str, answer: str) -> float | None:
        import math

        body = self._post(
            {"prompt": p_true_prompt(question, answer), "max_tokens": 1, "temperature": 0,
             "logprobs": 5}
        )
        top = (((body["choices"][0].get("logprobs") or {}).get("top_logprobs") or [{}])[0]) or {}
        a, b = top.get("A"), top.get("B")
        if a is None or b is None:
            return None
        return 1.0 / (1.0 + math.exp(b - a))

    def hidden_states(self, texts, pooling):
        raise NotImplementedError(HIDDEN_STATES_FROM_SERVER)

    def close(self) -> None:
        return None


HIDDEN_STATES_FROM_SERVER = (
    "hidden states are not available from an OpenAI-compatible server: the API (vLLM, "
    "Ollama, llama.cpp server) returns text and log-probs, not the model's internal states. "
    "Use a local GGUF model (--model) to record them.")


@dataclass(frozen=True)
class GenerationConfig:
    temperatures: tuple[float, ...] = (0.7,)
    samples_per_temperature: int = 10
    top_p: float = 0.95
    max_tokens: int = 32
    # A newline ends the answer; "Q:" catches a model that starts the next few-shot turn.
    stop: tuple[str, ...] = ("\n", "Q:")
    p_true: bool = True
    template: PromptTemplate = field(default_factory=PromptTemplate)
    # Record the final-layer hidden state of prompt + answer: None, "all" or "greedy".
    hidden_states: str | None = None
    hidden_pooling: str = "last"


def _sample_record(sample_id: str, temperature: float, seed: int, c: Completion) -> dict:
    return {
        "sample_id": sample_id,
        "text": c.text,
        "temperature": temperature,
        "seed": seed,
        "logprob_sum": c.logprob_sum,
        "num_tokens": c.num_tokens,
        "token_logprobs": list(c.token_logprobs),
    }


def generate_question(generator: Generator, question: dict, config: GenerationConfig) -> dict:
    """One finished canonical nested record for ``question`` (a dict with at least
    ``question_id``, ``question`` and ``references``)."""
    prompt = config.template.render(question["question"])
    qid = str(question["question_id"])
    specs = [(0.0, 0)] + [
        (t, derive_seed(qid, t, k))
        for t in config.temperatures
        for k in range(config.samples_per_temperature)
    ]
    completions = generator.sample(
        prompt, specs, top_p=config.top_p, max_tokens=config.max_tokens, stop=config.stop
    )
    greedy, sampled = completions[0], completions[1:]
    record = dict(question)
    record.setdefault("model", generator.model_name)
    record["greedy"] = _sample_record("greedy", 0.0, 0, greedy)
    if config.p_true:
        record["greedy"]["p_true"] = generator.p_true(question["question"], greedy.text)
    record["samples"] = [
        _sample_record(f"t{t:g}-{k % config.samples_per_temperature}", t, seed, c)
        for k, ((t, seed), c) in enumerate(zip(specs[1:], sampled, strict=True))
    ]
    if config.hidden_states:
        attach_hidden_states(generator, record, prompt, config.hidden_pooling,
                             greedy_only=config.hidden_states == "greedy")
    return record


def attach_hidden_states(generator: Generator, record: dict, prompt: str, pooling: str,
                         greedy_only: bool = False) -> dict:
    """Put ``hidden_state`` (float16 list) on the greedy answer and, unless ``greedy_only``,
    on every sample of a nested record; all its answers share the decoded prompt. How they
    were made goes into the question's ``meta.hidden_state``."""
    answers = [record["greedy"]] + ([] if greedy_only else list(record.get("samples") or []))
    vectors = generator.hidden_states([answer_text(prompt, a["text"]) for a in answers],
                                      pooling)
    for answer, vector in zip(answers, vectors, strict=True):
        answer["hidden_state"] = vector
    info = dict(getattr(generator, "hidden_state_info", {}))
    info.update(pooling=pooling, answers="greedy" if greedy_only else "greedy and samples",
                dim=len(vectors[0]) if vectors else 0)
    meta = record.get("meta") or {}
    if isinstance(meta, str):  # the schema also takes meta as a JSON object in a string
        record["meta"] = json.dumps({**json.loads(meta), "hidden_state": info},
                                    ensure_ascii=False)
    else:
        record["meta"] = {**meta, "hidden_state": info}
    return record


def finished_ids(out: Path) -> set[str]:
    """Question ids already written; a torn last line (killed mid-write) is dropped."""
    done: set[str] = set()
    if not out.exists():
        return done
    lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
    good = []
    for line in lines:
        try:
            done.add(str(json.loads(line)["question_id"]))
            good.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            break
    if len(good) != len(lines):
        out.write_text("".join(good), encoding="utf-8")
    return done


def generate(
    generator: Generator,
    questions: Sequence[dict],
    out: str | Path,
    config: GenerationConfig,
    progress: bool = True,
) -> Iterator[dict]:
    """Generate for every question not yet in ``out``; yields each finished record."""
    from tqdm import tqdm

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = finished_ids(out)
    todo = [q for q in questions if str(q["question_id"]) not in done]
    with out.open("a", encoding="utf-8") as handle:
        for question in tqdm(todo, desc="generate", unit="q", disable=not progress):
            record = generate_question(generator, question, config)
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            handle.flush()
            yield record


def add_hidden_states(
    generator: Generator,
    records_path: str | Path,
    out: str | Path,
    template: PromptTemplate,
    pooling: str = "last",
    greedy_only: bool = False,
    progress: bool = True,
) -> int:
    """Copy a nested generations file to ``out`` with hidden states added (see
    :func:`attach_hidden_states`), rebuilding each question's prompt with ``template`` (the
    one generation used, so the states are those generation would have recorded).
    Resumable like :func:`generate`; returns the number of records written now."""
    from tqdm import tqdm

    records_path, out = Path(records_path), Path(out)
    if records_path.resolve() == out.resolve():
        raise ValueError(f"{out}: write hidden states to another file than the input")
    out.parent.mkdir(parents=True, exist_ok=True)
    done = finished_ids(out)
    lines = [x for x in records_path.read_text(encoding="utf-8").splitlines() if x.strip()]
    n = 0
    with out.open("a", encoding="utf-8") as handle:
        for number, line in enumerate(tqdm(lines, desc="hidden states", unit="q",
                                           disable=not progress), start=1):
            try:
                record = json.loads(line)
                qid, question = str(record["question_id"]), str(record["question"])
                record["greedy"]["text"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(f"{records_path}, line {number}: not a nested generation "
                                 f"record with question_id, question and greedy.text "
                                 f"({exc})") from exc
            if qid in done:
                continue
            attach_hidden_states(generator, record, template.render(question), pooling,
                                 greedy_only=greedy_only)
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            handle.flush()
            n += 1
    return n


def template_for(records_path: str | Path, provenance: str | Path | None = None
                 ) -> tuple[PromptTemplate, str]:
    """The prompt template a generations file was made with, and where it came from.

    ``provenance``: a JSON file holding ``config.template`` (as :func:`provenance` writes),
    or keyed by file name like data/demo-source/generation.json. Without it, a
    ``generation.json`` beside the file is used when it names the file; else the default."""
    records_path = Path(records_path)
    candidates = [Path(provenance)] if provenance else [records_path.parent / "generation.json"]
    for path in candidates:
        if not path.is_file():
            if provenance:
                raise FileNotFoundError(f"provenance file not found: {path}")
            continue
        doc = json.loads(path.read_text(encoding="utf-8"))
        entry = doc.get(records_path.name, doc) if isinstance(doc, dict) else None
        template = ((entry or {}).get("config") or {}).get("template")
        if template:
            shots = tuple(tuple(s) for s in template.get("shots", DEFAULT_SHOTS))
            return (PromptTemplate(template.get("instruction", PromptTemplate.instruction),
                                   shots), f"{path} ({records_path.name})")
        if provenance:
            raise ValueError(f"{path}: no config.template for {records_path.name}")
    return PromptTemplate(), "the default template (no provenance found)"


def read_questions(path: str | Path) -> list[dict]:
    """Questions to generate for: JSONL with question_id, question, references (+ optional
    canonical question fields)."""
    from uqlens.data.schema import DataError, RecordError

    path = Path(path)
    rows, errors = [], []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(RecordError(str(path), f"line {n}", "", f"invalid JSON ({exc.msg})"))
            continue
        for key in ("question_id", "question"):
            if not isinstance(row, dict) or not isinstance(row.get(key), str | int):
                errors.append(RecordError(str(path), f"line {n}", key, "expected a string"))
                break
        else:
            rows.append(row)
    if errors:
        raise DataError(errors)
    return rows


def provenance(generator: Generator, config: GenerationConfig, started: float) -> dict:
    return {
        "model": generator.model_name,
        "config": {**asdict(config), "template": asdict(config.template)},
        "prompt_example": config.template.render("<question>"),
        "p_true_prompt": p_true_prompt("<question>", "<answer>"),
        "seconds": round(time.time() - started, 1),
    }

