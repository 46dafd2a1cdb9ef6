"""The OpenAI-compatible LLM judge against a fake local HTTP server that answers /models and
/completions with top log-probs: spec parsing, P(Yes) from log-probs, cache identity, the
shared prompt, the concurrency bound, retries with backoff and unreachable servers."""

from __future__ import annotations

import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from uqlens.backends import openai_compat as oc
from uqlens.backends import similarity as sim


class FakeServer:
    """A fake OpenAI-compatible server in a thread. /v1/completions answers " Yes" with
    probability 0.6 (+0.1 as "yes") and " No" with 0.2 when the prompt's two answers start
    with the same word, else " Yes" 0.1 and " No" 0.8. ``fail_first`` requests get 503."""

    def __init__(self, models=("fake-model",), fail_first=0, delay=0.0):
        self.models, self.fail_first, self.delay = list(models), fail_first, delay
        self.prompts: list[str] = []
        self.in_flight = self.max_in_flight = self.requests = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                return None

            def _send(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == "/v1/models":
                    self._send(200, {"data": [{"id": m} for m in server.models]})
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests += 1
                    failing = server.requests <= server.fail_first
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                time.sleep(server.delay)
                with server.lock:
                    server.in_flight -= 1
                if failing:
                    return self._send(503, {"error": "busy"})
                assert body["max_tokens"] == 1 and body["temperature"] == 0
                prompt = body["prompt"]
                with server.lock:
                    server.prompts.append(prompt)
                a = prompt.split("Answer 1: ")[1].split()[0]
                b = prompt.split("Answer 2: ")[1].split()[0]
                top = ({" Yes": math.log(0.6), "yes": math.log(0.1), " No": math.log(0.2)}
                       if a.strip(",.") == b.strip(",.")
                       else {" Yes": math.log(0.1), " No": math.log(0.8)})
                self._send(200, {"choices": [{"text": " Yes",
                                              "logprobs": {"top_logprobs": [top]}}]})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_spec_names_model_and_base_url():
    assert oc.parse_spec("qwen2.5:7b@http://localhost:11434/v1/") == (
        "qwen2.5:7b", "http://localhost:11434/v1")
    with pytest.raises(ValueError, match="openai:MODEL@BASE_URL"):
        oc.parse_spec("qwen2.5:7b")


def test_choice_from_top_logprobs_pools_spellings_and_bounds_a_missing_option():
    top = {" Yes": math.log(0.6), "yes": math.log(0.1), " No": math.log(0.2)}
    assert oc.choice_from_top_logprobs(top, " Yes", " No") == pytest.approx(0.7 / 0.9)
    # " No" missing: it gets the smallest listed probability (0.05) as its bound.
    top = {" Yes": math.log(0.9), " Maybe": math.log(0.05)}
    assert oc.choice_from_top_logprobs(top, " Yes", " No") == pytest.approx(0.9 / 0.95)
    assert math.isnan(oc.choice_from_top_logprobs({" Maybe": 0.0}, " Yes", " No"))


def test_server_judge_uses_the_local_prompt_and_a_server_based_cache_identity():
    with FakeServer() as server:
        model = oc.OpenAIChoiceModel("fake-model", server.url)
        judge = sim.LLMJudgeEntailment(model=model)
        assert model.fingerprint == "openai:fake-model|fake-model"
        assert judge.id == sim.llm_judge_id("openai:fake-model|fake-model")
        q = "Capital of France?"
        probs = judge.predict(q, [("Paris", "Paris, France"), ("Paris", "Lyon")])
        np.testing.assert_allclose(probs[:, 0], [0.7 / 0.9, 0.1 / 0.9])
        np.testing.assert_allclose(probs[:, 2], 1 - probs[:, 0])
        assert sorted(server.prompts) == sorted([
            sim._same_meaning_prompt(q, "Paris", "Paris, France"),
            sim._same_meaning_prompt(q, "Paris", "Lyon")])


def test_requests_run_concurrently_within_the_bound():
    with FakeServer(delay=0.2) as server:
        model = oc.OpenAIChoiceModel("fake-model", server.url, concurrency=3)
        prompts = [sim._same_meaning_prompt("Q", f"a{i}", "b") for i in range(12)]
        assert len(model.choice_probabilities(prompts, " Yes", " No")) == 12
        assert 2 <= server.max_in_flight <= 3


def test_busy_server_is_retried_with_backoff():
    with FakeServer(fail_first=2) as server:
        model = oc.OpenAIChoiceModel("fake-model", server.url, concurrency=1, retries=3,
                                     backoff=0.01)
        p = model.choice_probabilities([sim._same_meaning_prompt("Q", "x", "x")], " Yes", " No")
        assert p[0] == pytest.approx(0.7 / 0.9)
        assert server.requests == 3  # two 503s, then the answer


def test_unreachable_server_and_unknown_model_are_clear_errors():
    with FakeServer(models=("fake-model", "second")) as server:
        url = server.url
        with pytest.raises(oc.ServerError, match="does not serve model 'other'"):
            oc.OpenAIChoiceModel("other", url)
    # The server is gone now: nothing listens on its port.
    with pytest.raises(oc.ServerError) as info:
        oc.OpenAIChoiceModel("fake-model", url, retries=1, backoff=0.01)
    assert "cannot reach" in str(info.value) and url in str(info.value)


def test_build_makes_the_openai_backend_and_reference_judge_from_the_spec():
    from uqlens.backends.llm_reference import llm_reference_id, model_identity
    from uqlens.build.pairs import _make_backend

    with FakeServer(models=("served-id",)) as server:
        spec = f"openai:my-name@{server.url}"
        # A server with one model (llama.cpp server) serves it under any name.
        assert model_identity(spec) == "openai:my-name|served-id"
        assert llm_reference_id(model_identity(spec)).startswith("llm-reference:openai:")
        backend = _make_backend(spec, None, True)
        assert backend.predict("Q", [("Rome", "Rome")])[0, 0] == pytest.approx(0.7 / 0.9)
