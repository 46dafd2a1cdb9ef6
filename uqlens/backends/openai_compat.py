"""An OpenAI-compatible server (vLLM, Ollama, llama.cpp server) as the LLM behind the
entailment judge and ``llm_reference``: the same prompts as the local judge, P(" Yes")
against P(" No") read from the top log-probs of one completion token (temperature 0).

Spec: ``openai:MODEL@BASE_URL``, e.g. ``openai:Qwen/Qwen2.5-7B-Instruct@http://localhost:8000/v1``
(the model name is sent as ``model``; BASE_URL is the part before ``/completions``). An API
key, if the server needs one, comes from ``UQLENS_OPENAI_API_KEY`` or ``OPENAI_API_KEY``.

Cache identity: the model name and the model id the server reports at ``/models`` (not the
URL: the same model behind another address gives the same answers). Requests run
concurrently (a bounded thread pool), and are retried with exponential backoff on
connection errors, timeouts, 429 and 5xx answers. Only the standard library is used.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

_SPEC = re.compile(r"^(?P<model>[^@]+)@(?P<url>https?://\S+)$")


class ServerError(RuntimeError):
    """The server could not be reached or gave an unusable answer (message says which)."""


def parse_spec(arg: str) -> tuple[str, str]:
    """``MODEL@BASE_URL`` (what follows ``openai:``) -> (model, base URL without a trailing
    slash)."""
    match = _SPEC.match(arg.strip())
    if not match:
        raise ValueError(f"openai backend spec {arg!r}: expected openai:MODEL@BASE_URL, e.g. "
                         "openai:qwen2.5:7b@http://localhost:11434/v1")
    return match["model"], match["url"].rstrip("/")


class OpenAIChoiceModel:
    """P(first) / (P(first) + P(second)) for the next token after each prompt, asked of an
    OpenAI-compatible ``/completions`` endpoint."""

    def __init__(self, model: str, base_url: str, *, api_key: str | None = None,
                 concurrency: int = 8, retries: int = 4, timeout: float = 60.0,
                 top_logprobs: int = 5, backoff: float = 0.5):
        self.model, self.base_url = model, base_url.rstrip("/")
        self.api_key = api_key if api_key is not None else (
            os.environ.get("UQLENS_OPENAI_API_KEY") or os.environ.get("OPENAI_API_KEY", ""))
        self.concurrency, self.retries, self.timeout = concurrency, retries, timeout
        self.top_logprobs, self.backoff = top_logprobs, backoff
        self.server_model_id = self._server_model_id()
        self.fingerprint = f"openai:{model}|{self.server_model_id}"
        self.unanswered = 0  # prompts whose top log-probs held neither option

    @classmethod
    def from_spec(cls, arg: str, **kwargs) -> OpenAIChoiceModel:
        return cls(*parse_spec(arg), **kwargs)

    # -- HTTP ------------------------------------------------------------------------------
    def _request(self, path: str, payload: dict | None = None) -> dict:
        url = f"{self.base_url}{path}"
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(payload).encode() if payload is not None else None
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                request = urllib.request.Request(url, data=data, headers=headers)
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as exc:
                body = exc.read().decode("utf-8", errors="replace")[:300]
                last = f"HTTP {exc.code}: {body}"
                if exc.code != 429 and exc.code < 500:
                    break  # the request itself is wrong: retrying will not help
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
                last = str(getattr(exc, "reason", exc))
            except json.JSONDecodeError as exc:
                raise ServerError(f"{url}: answer is not JSON ({exc})") from exc
        raise ServerError(f"OpenAI-compatible server {url} failed after "
                          f"{self.retries + 1} attempt(s): {last}")

    def _server_model_id(self) -> str:
        try:
            listed = [m.get("id") for m in self._request("/models").get("data", [])]
        except ServerError as exc:
            raise ServerError(f"cannot reach the model list of {self.base_url} ({exc}); is "
                              "the server running and is BASE_URL the part before "
                              "/completions (often ending in /v1)?") from exc
        if self.model in listed:
            return self.model
        if len(listed) == 1:  # llama.cpp server serves one model whatever the name asked
            return str(listed[0])
        raise ServerError(f"{self.base_url} does not serve model {self.model!r}; it lists "
                          f"{listed}")

    # -- scoring ---------------------------------------------------------------------------
    def _one(self, prompt: str, first: str, second: str) -> float:
        body = self._request("/completions", {
            "model": self.model, "prompt": prompt, "max_tokens": 1, "temperature": 0,
            "logprobs": self.top_logprobs})
        try:
            top = body["choices"][0]["logprobs"]["top_logprobs"][0] or {}
        except (KeyError, IndexError, TypeError) as exc:
            raise ServerError(f"{self.base_url}/completions returned no top log-probs "
                              "(does the server support the 'logprobs' parameter?)") from exc
        return choice_from_top_logprobs(top, first, second)

    def choice_probabilities(self, prompts: Sequence[str], first: str, second: str,
                             progress=None) -> np.ndarray:
        """One request per distinct prompt, ``concurrency`` at a time. A prompt whose top
        log-probs hold neither option gets NaN (counted in ``unanswered``)."""
        unique = list(dict.fromkeys(prompts))
        found: dict[str, float] = {}
        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            for prompt, p in zip(unique, pool.map(lambda x: self._one(x, first, second),
                                                  unique), strict=True):
                found[prompt] = p
                if progress is not None:
                    progress(1)
        self.unanswered += sum(math.isnan(v) for v in found.values())
        return np.array([found[p] for p in prompts], dtype=np.float64)

    def close(self) -> None:
        return None


def server_identity(model: str, base_url: str) -> str:
    """Cache identity of ``model`` at ``base_url`` (asks the server's /models once)."""
    return OpenAIChoiceModel(model, base_url, retries=1).fingerprint


def choice_from_top_logprobs(top: dict[str, float], first: str, second: str) -> float:
    """P(first) / (P(first) + P(second)) from a {token: log-prob} dict, pooling tokens that
    spell the same word up to case and surrounding spaces (" Yes", "Yes", " yes"). An
    option missing from the list is given the smallest listed log-prob, an upper bound on
    its own; if both are missing the answer is NaN."""

    def mass(word: str) -> float | None:
        values = [math.exp(lp) for tok, lp in top.items()
                  if tok.strip().casefold() == word.strip().casefold()]
        return sum(values) if values else None

    a, b = mass(first), mass(second)
    if a is None and b is None:
        return float("nan")
    floor = math.exp(min(top.values()))
    a, b = (a if a is not None else floor), (b if b is not None else floor)
    return a / (a + b)
