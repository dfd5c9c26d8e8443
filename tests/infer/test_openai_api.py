"""The OpenAI-compatible backend over real HTTP, against a scripted server on 127.0.0.1 (tests/infer/openai_server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("openai", reason="the OpenAI-compatible backend needs the openai package: pip install openai")

from tests.infer.openai_server import FakeOpenAIServer
from tunesql.errors import ConfigError, EndpointError
from tunesql.infer.backend import Backend, GenerationConfig, finish_reason
from tunesql.infer.openai_api import OpenAIBackend

CONV = [
    {"role": "system", "content": "Write SQLite."},
    {"role": "user", "content": "How many singers?"},
]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    srv = FakeOpenAIServer()
    srv.base_url = srv.start()
    yield srv
    srv.stop()


def backend(server: FakeOpenAIServer, **kw) -> OpenAIBackend:
    kw.setdefault("api_key", "sk-test")
    return OpenAIBackend(server.base_url, "qwen-test", **kw)


def test_request_carries_what_was_asked(server: FakeOpenAIServer) -> None:
    b = backend(server)
    assert isinstance(b, Backend)
    assert b.name.startswith("openai:qwen-test@127.0.0.1:")
    config = GenerationConfig(max_new_tokens=64, temperature=0.7, top_p=0.9, n=3, stop=[";", "```"], seed=11)
    out = b.generate([CONV], config)
    assert out == [[f"SELECT {i} /* seed=11 q=How many singers? */" for i in range(3)]]  # trimmed at ";"
    [req] = server.requests
    assert req["model"] == "qwen-test"
    assert req["messages"] == CONV
    assert (req["n"], req["temperature"], req["top_p"], req["max_tokens"], req["seed"]) == (3, 0.7, 0.9, 64, 11)
    assert req["stop"] == [";", "```"]
    assert server.headers[0]["authorization"] == "Bearer sk-test"


def test_missing_samples_are_made_up_with_new_seeds(server: FakeOpenAIServer) -> None:
    server.max_choices = 1  # like Ollama: n is ignored
    b = backend(server)
    out = b.generate([CONV], GenerationConfig(temperature=1.0, n=3, seed=5, stop=[";"]))
    assert [r["n"] for r in server.requests] == [3, 2, 1]
    assert (b.usage.calls, b.usage.snapshot()) == (3, (3 * 7, 3 * 2))  # what each of the 3 responses reported
    assert [r["seed"] for r in server.requests] == [5, 6, 7]
    assert out == [[f"SELECT 0 /* seed={s} q=How many singers? */" for s in (5, 6, 7)]]


def test_greedy_asks_once_and_repeats(server: FakeOpenAIServer) -> None:
    out = backend(server).generate([CONV], GenerationConfig(n=4, stop=[";"]))
    assert [r["n"] for r in server.requests] == [1]
    assert server.requests[0]["temperature"] == 0
    assert "seed" not in server.requests[0]
    assert out == [["SELECT 0 /* seed=None q=How many singers? */"] * 4]


def test_finish_reason_length_unless_a_stop_string_cut_the_text(server: FakeOpenAIServer) -> None:
    server.finish = "length"
    b = backend(server)
    cut = b.generate([CONV], GenerationConfig(temperature=1.0, n=2, stop=[";"]))[0]
    whole = b.generate([CONV], GenerationConfig(temperature=1.0, n=2))[0]
    assert [finish_reason(t) for t in cut] == ["stop", "stop"]  # the answer ended before the limit did
    assert [finish_reason(t) for t in whole] == ["length", "length"]
    assert whole[0].endswith("TRAILING")


def test_only_four_stop_strings_are_sent_all_are_applied(server: FakeOpenAIServer) -> None:
    out = backend(server).generate([CONV], GenerationConfig(stop=["a1", "a2", "a3", "a4", " /*"]))
    assert server.requests[0]["stop"] == ["a1", "a2", "a3", "a4"]
    assert out == [["SELECT 0"]]


def test_concurrent_conversations_keep_their_order(server: FakeOpenAIServer) -> None:
    convs = [[{"role": "user", "content": f"q{i}"}] for i in range(9)]
    out = backend(server, concurrency=4).generate(convs, GenerationConfig(stop=[" */"]))
    assert out == [[f"SELECT 0 /* seed=None q=q{i}"] for i in range(9)]
    assert len(server.requests) == 9


def test_server_error_is_retried(server: FakeOpenAIServer) -> None:
    server.fail_with = [500]
    out = backend(server).generate([CONV], GenerationConfig(stop=[";"]))
    assert out == [["SELECT 0 /* seed=None q=How many singers? */"]]
    assert len(server.requests) == 2


def test_persistent_server_error_is_an_endpoint_error(server: FakeOpenAIServer) -> None:
    server.fail_with = [503, 503, 503]
    with pytest.raises(EndpointError, match="HTTP 503"):
        backend(server, max_retries=1).generate([CONV], GenerationConfig())
    assert len(server.requests) == 2  # first try + one retry


def test_wrong_key_fails_at_once_and_says_so(server: FakeOpenAIServer) -> None:
    server.api_key = "sk-right"
    with pytest.raises(ConfigError, match="refused the API key"):
        backend(server, api_key="sk-wrong").generate([CONV], GenerationConfig())
    assert len(server.requests) == 1  # a 401 is not retried


def test_api_key_from_environment_then_placeholder(server: FakeOpenAIServer, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    OpenAIBackend(server.base_url, "m").generate([CONV], GenerationConfig())
    monkeypatch.delenv("OPENAI_API_KEY")
    OpenAIBackend(server.base_url, "m").generate([CONV], GenerationConfig())
    assert [h["authorization"] for h in server.headers] == ["Bearer sk-env", "Bearer none"]


def test_wrong_path_and_unreachable_server(server: FakeOpenAIServer) -> None:
    wrong = OpenAIBackend(server.base_url.removesuffix("/v1"), "m", max_retries=0)
    with pytest.raises(ConfigError, match="ends in /v1"):
        wrong.generate([CONV], GenerationConfig())
    url = server.base_url
    server.stop()
    with pytest.raises(EndpointError, match="cannot reach"):
        OpenAIBackend(url, "m", max_retries=0, timeout=5).generate([CONV], GenerationConfig())


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="http"):
        OpenAIBackend("localhost:8000", "m")
    with pytest.raises(ConfigError, match="model name"):
        OpenAIBackend("http://127.0.0.1:9/v1", "")
