"""The synthesis LLM client over real HTTP: cache, retries, concurrency limit, timeouts, JSON in answers."""

from __future__ import annotations

import time

import pytest

from tests.infer.openai_server import FakeOpenAIServer
from tunesql.errors import ConfigError, EndpointError
from tunesql.synth.llm import ChatRequest, LLMClient, parse_json_answer


@pytest.fixture
def server():
    srv = FakeOpenAIServer(completion=lambda body, i: f"answer {i} to {body['messages'][-1]['content']}")
    srv.url = srv.start()
    yield srv
    srv.stop()


def ask(text: str, **kw) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], **kw)


def test_a_rerun_is_answered_from_the_cache(server: FakeOpenAIServer, tmp_path) -> None:
    url = server.url
    first = LLMClient(url, "m", cache_dir=tmp_path)
    got = first.complete_many([ask("q1"), ask("q2"), ask("q1", temperature=0.7, n=2, seed=5)])
    assert got[0] == ["answer 0 to q1"] and got[1] == ["answer 0 to q2"]
    assert got[2] == ["answer 0 to q1", "answer 1 to q1"]
    assert first.stats.requests == 3 and first.stats.cache_hits == 0
    sent = len(server.requests)

    again = LLMClient(url, "m", cache_dir=tmp_path)  # a new process would see the same files
    assert again.complete_many([ask("q1"), ask("q2"), ask("q1", temperature=0.7, n=2, seed=5)]) == got
    assert len(server.requests) == sent, "a cached request went to the server"
    assert again.stats.cache_hits == 3 and again.stats.requests == 0
    # Another seed, another model or other messages are new requests.
    again.complete(ask("q1", temperature=0.7, n=2, seed=6))
    LLMClient(url, "other", cache_dir=tmp_path).complete(ask("q1"))
    assert len(server.requests) == sent + 2


def test_a_damaged_cache_entry_is_asked_again(server: FakeOpenAIServer, tmp_path) -> None:
    url = server.url
    client = LLMClient(url, "m", cache_dir=tmp_path)
    client.complete(ask("q"))
    (entry,) = list(tmp_path.rglob("*.json"))
    entry.write_text("{not json")
    assert client.complete(ask("q")) == ["answer 0 to q"]
    assert client.stats.requests == 2


def test_transient_failures_are_retried(server: FakeOpenAIServer) -> None:
    url = server.url
    server.fail_with = [503, 429]
    client = LLMClient(url, "m", max_retries=3)
    assert client.complete(ask("q")) == ["answer 0 to q"]
    assert len(server.requests) == 3  # two failures, then the answer


def test_a_request_that_keeps_failing_is_returned_not_raised(server: FakeOpenAIServer) -> None:
    url = server.url
    server.fail_with = [500, 500]
    client = LLMClient(url, "m", max_retries=1, concurrency=1)
    got = client.complete_many([ask("bad"), ask("good")])
    assert isinstance(got[0], EndpointError) and "500" in str(got[0])
    assert got[1] == ["answer 0 to good"]
    assert client.stats.failures == 1


def test_a_wrong_key_stops_the_run(server: FakeOpenAIServer) -> None:
    url = server.url
    server.api_key = "right"
    with pytest.raises(ConfigError, match="API key"):
        LLMClient(url, "m", api_key="wrong").complete_many([ask("q")])


def test_concurrency_is_limited(server: FakeOpenAIServer) -> None:
    url = server.url
    server.delay = 0.2
    client = LLMClient(url, "m", concurrency=3)
    done: list[int] = []
    start = time.perf_counter()
    got = client.complete_many([ask(f"q{i}") for i in range(9)], progress=done.append)
    elapsed = time.perf_counter() - start
    assert [g[0] for g in got] == [f"answer 0 to q{i}" for i in range(9)]  # order kept
    assert server.max_in_flight == 3
    assert len(done) == 9
    assert elapsed < 9 * 0.2  # they did overlap


def test_timeout_is_an_endpoint_error(server: FakeOpenAIServer) -> None:
    url = server.url
    server.delay = 1.0
    client = LLMClient(url, "m", timeout=0.2, max_retries=0)
    (got,) = client.complete_many([ask("slow")])
    assert isinstance(got, EndpointError)


@pytest.mark.parametrize("text, expected", [
    ('{"a": 1}', {"a": 1}),
    ('Here you go:\n```json\n[{"q": "x"}]\n```\nEnjoy.', [{"q": "x"}]),
    ('Sure! {"pairs": [{"q": "x"}]} hope this helps', {"pairs": [{"q": "x"}]}),
    ('prefix [1, 2] suffix', [1, 2]),
])
def test_json_is_found_in_prose_and_fences(text: str, expected: object) -> None:
    assert parse_json_answer(text) == expected


def test_no_json_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no JSON"):
        parse_json_answer("I cannot help with that.")
