"""OpenAICompatibleGenerator against a real local HTTP server that fakes the completions API
of vLLM / llama.cpp server: what the client sends, what it reads back, and ``uqlens
generate --endpoint`` end to end."""

from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from uqlens.backends import generate as gen
from uqlens.cli import main
from uqlens.data.loaders import load

P_A, P_B, P_C = 0.6, 0.2, 0.1  # next-token probabilities of "A", "B", "C" for P(true)
TOKEN_LOGPROBS = [-0.5, None, -0.25]  # None: servers return it for tokens they cannot score


class FakeCompletionsServer:
    """A fake ``POST /v1/completions`` on 127.0.0.1 (free port), in a thread.

    A request for one token with ``logprobs`` > 1 is a P(true) query: it answers "A" with
    ``top_logprobs`` from ``self.top_logprobs``. Any other request gets a padded answer that
    names its temperature and seed, with ``TOKEN_LOGPROBS``. Every request body and its
    headers are recorded, in order.
    """

    def __init__(self):
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.top_logprobs: list[dict] | None = [
            {"A": math.log(P_A), "B": math.log(P_B), "C": math.log(P_C)}
        ]
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                if self.path != "/v1/completions":
                    self.send_error(404)
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests.append(body)
                    server.headers.append(dict(self.headers))
                payload = json.dumps(server.respond(body)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):  # keep test output quiet
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    def respond(self, body: dict) -> dict:
        if body.get("max_tokens") == 1 and body.get("logprobs", 0) > 1:
            logprobs = None
            if self.top_logprobs is not None:
                logprobs = {"tokens": ["A"], "token_logprobs": [math.log(P_A)],
                            "top_logprobs": self.top_logprobs, "text_offset": [0]}
            choice = {"index": 0, "text": "A", "logprobs": logprobs, "finish_reason": "length"}
        else:
            text = f"  answer t={body['temperature']:g} s={body['seed']} \n"
            choice = {
                "index": 0,
                "text": text,
                "logprobs": {"tokens": ["answer", " t", "="],
                             "token_logprobs": TOKEN_LOGPROBS,
                             "top_logprobs": [{"answer": -0.5}, None, {"=": -0.25}],
                             "text_offset": [0, 6, 8]},
                "finish_reason": "stop",
            }
        return {"id": f"cmpl-{len(self.requests)}", "object": "text_completion",
                "model": body.get("model"), "choices": [choice]}

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def server():
    with FakeCompletionsServer() as fake:
        yield fake


def test_sample_sends_the_request_a_completions_server_expects(server):
    client = gen.OpenAICompatibleGenerator(server.url, "my-model")
    client.sample("PROMPT", [(0.0, 0), (0.7, 1234)], top_p=0.9, max_tokens=16,
                  stop=("\n", "Q:"))
    greedy, sampled = server.requests
    assert greedy == {"model": "my-model", "prompt": "PROMPT", "temperature": 0.0,
                      "top_p": 1.0, "max_tokens": 16, "seed": 0, "stop": ["\n", "Q:"],
                      "logprobs": 1}
    assert sampled == {"model": "my-model", "prompt": "PROMPT", "temperature": 0.7,
                       "top_p": 0.9, "max_tokens": 16, "seed": 1234, "stop": ["\n", "Q:"],
                       "logprobs": 1}
    assert server.headers[0]["Content-Type"] == "application/json"
    assert "Authorization" not in server.headers[0]


def test_api_key_goes_in_a_bearer_header(server):
    client = gen.OpenAICompatibleGenerator(server.url + "/", "m", api_key="sk-test")
    client.sample("P", [(0.0, 0)], top_p=1.0, max_tokens=4, stop=())
    assert server.headers[0]["Authorization"] == "Bearer sk-test"
    assert server.requests[0]["stop"] == []


def test_sample_parses_stripped_text_and_token_logprobs(server):
    client = gen.OpenAICompatibleGenerator(server.url, "m")
    greedy, sampled = client.sample("P", [(0.0, 0), (1.0, 7)], top_p=0.95, max_tokens=8,
                                    stop=("\n",))
    assert greedy.text == "answer t=0 s=0"
    assert sampled.text == "answer t=1 s=7"
    assert sampled.token_logprobs == (-0.5, -0.25)  # the None is skipped
    assert sampled.logprob_sum == -0.75 and sampled.num_tokens == 2


def test_p_true_reads_a_against_b_from_top_logprobs(server):
    client = gen.OpenAICompatibleGenerator(server.url, "m")
    p = client.p_true("What is the capital of France?", "Paris")
    assert p == pytest.approx(P_A / (P_A + P_B))  # 0.6 / 0.8; "C" plays no part
    assert p == pytest.approx(0.75)
    body = server.requests[0]
    assert body["prompt"] == gen.p_true_prompt("What is the capital of France?", "Paris")
    assert body["max_tokens"] == 1 and body["temperature"] == 0 and body["logprobs"] >= 2
    assert body["model"] == "m"


@pytest.mark.parametrize("top_logprobs", [
    [{"A": math.log(P_A), "C": math.log(P_C)}],  # no "B"
    [{"B": math.log(P_B)}],  # no "A"
    [],  # nothing for the next token
    None,  # no logprobs at all
], ids=["no-B", "no-A", "empty", "no-logprobs"])
def test_p_true_is_none_without_both_choices(server, top_logprobs):
    server.top_logprobs = top_logprobs
    client = gen.OpenAICompatibleGenerator(server.url, "m")
    assert client.p_true("Q?", "answer") is None


QUESTIONS = [
    {"question_id": "q1", "question": "What is the capital of France?", "references": ["Paris"]},
    {"question_id": "q2", "question": "Who wrote Hamlet?", "references": ["Shakespeare"]},
]


def test_generate_question_through_the_server(server):
    client = gen.OpenAICompatibleGenerator(server.url, "served-model")
    config = gen.GenerationConfig(temperatures=(0.7,), samples_per_temperature=2, top_p=0.9,
                                  max_tokens=12)
    record = gen.generate_question(client, QUESTIONS[0], config)
    seeds = [gen.derive_seed("q1", 0.7, k) for k in range(2)]

    assert record["model"] == "served-model"
    assert record["greedy"]["text"] == "answer t=0 s=0"
    assert record["greedy"]["temperature"] == 0.0
    assert record["greedy"]["p_true"] == pytest.approx(0.75)
    assert [s["sample_id"] for s in record["samples"]] == ["t0.7-0", "t0.7-1"]
    assert [s["seed"] for s in record["samples"]] == seeds
    assert [s["text"] for s in record["samples"]] == [f"answer t=0.7 s={s}" for s in seeds]
    for sample in [record["greedy"], *record["samples"]]:
        assert sample["token_logprobs"] == [-0.5, -0.25]
        assert sample["logprob_sum"] == -0.75 and sample["num_tokens"] == 2

    # three completions (greedy first) then the P(true) query
    bodies = server.requests
    assert len(bodies) == 4
    prompt = config.template.render(QUESTIONS[0]["question"])
    assert [b["prompt"] for b in bodies[:3]] == [prompt] * 3
    assert [(b["temperature"], b["top_p"], b["seed"]) for b in bodies[:3]] == [
        (0.0, 1.0, 0), (0.7, 0.9, seeds[0]), (0.7, 0.9, seeds[1])]
    assert all(b["max_tokens"] == 12 and b["stop"] == ["\n", "Q:"] for b in bodies[:3])
    assert bodies[3]["prompt"] == gen.p_true_prompt(QUESTIONS[0]["question"],
                                                    "answer t=0 s=0")


def test_cli_generate_with_an_endpoint(server, tmp_path, capsys):
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS), encoding="utf-8")
    out = tmp_path / "gen.jsonl"
    code = main(["generate", str(questions), "--endpoint", server.url,
                 "--server-model", "m", "--samples", "2", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["question_id"] for line in lines] == ["q1", "q2"]
    assert all(body["model"] == "m" for body in server.requests)
    assert len(server.requests) == 2 * (1 + 2 + 1)  # greedy + 2 samples + P(true) each
    dataset = load(out)
    assert dataset.n_questions == 2
    assert dataset.n_samples == 2 * (2 + 1)  # samples + greedy per question
