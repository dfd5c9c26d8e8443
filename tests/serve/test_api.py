"""Every route of the serve API over real HTTP, against the real app under uvicorn (see conftest.py).

The model is scripted, so answers are exact: a 3-of-4 vote gives confidence 0.75, the explanation is a fixed
sentence, and refused SQL is refused by the real guard and the real read-only connection.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.infer.openai_server import FakeOpenAIServer
from tests.serve.conftest import COUNT_SQL, EXPLANATION, SEGMENT_SQL, UNSAFE_SQL, RunningServer, httpx
from tunesql.db.connect import bundled_db_path
from tunesql.infer.backend import GenerationConfig, Message, ScriptedBackend

REPO = Path(__file__).resolve().parents[2]


def parse_sse(text: str) -> list[tuple[str, str]]:
    """``(event, data)`` per server-sent event; ``message`` when the event names none."""
    events = []
    for block in text.replace("\r\n", "\n").strip().split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[len("event:"):].strip()
            elif line.startswith("data:"):
                data.append(line[len("data:"):].lstrip())
        events.append((name, "\n".join(data)))
    return events


def stream_events(client: httpx.Client, path: str, body: dict[str, Any]) -> tuple[httpx.Response, list]:
    with client.stream("POST", path, json=body) as response:
        text = "".join(response.iter_text())
    return response, parse_sse(text)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert body["error"]["message"] and "Traceback" not in response.text
    return body["error"]


# --- service routes -----------------------------------------------------------------------------------------------


def test_healthz_and_models(server: RunningServer) -> None:
    with server.client() as c:
        assert c.get("/healthz").json() == {"status": "ok", "model": "scripted", "databases": ["shop"]}
        models = c.get("/v1/models").json()
    assert models["object"] == "list"
    assert [(m["id"], m["object"], m["owned_by"]) for m in models["data"]] == [("scripted", "model", "tunesql")]


def test_openapi_lists_every_route(server: RunningServer) -> None:
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    expected = {"/healthz": "get", "/v1/models": "get", "/v1/chat/completions": "post", "/v1/databases": "get",
                "/v1/schema": "get", "/v1/nl2sql": "post", "/v1/sql2nl": "post", "/v1/ask": "post",
                "/v1/ask/stream": "post", "/v1/sql/run": "post"}
    assert set(paths) == set(expected)
    for path, method in expected.items():
        assert method in paths[path], path
    assert "401" in paths["/v1/ask"]["post"]["responses"]  # error bodies are documented too
    assert httpx.get(f"{server.url}/docs").status_code == 200


def test_databases_and_schema(server: RunningServer) -> None:
    with server.client() as c:
        assert c.get("/v1/databases").json() == {"databases": [{"name": "shop", "dialect": "sqlite", "tables": 11}]}
        default = c.get("/v1/schema", params={"db": "shop"}).json()
        texts = {fmt: c.get("/v1/schema", params={"db": "shop", "format": fmt}).json() for fmt in
                 ("ddl", "mschema", "cards", "json")}
        bad = c.get("/v1/schema", params={"db": "shop", "format": "yaml"})
    assert default["format"] == "mschema" and default["dialect"] == "sqlite" and default["db"] == "shop"
    customers = next(t for t in default["tables"] if t["name"] == "customers")
    assert {"name": "segment", "type": "TEXT"} in customers["columns"]
    assert "CREATE TABLE customers" in texts["ddl"]["text"]
    assert "# Table: customers" in texts["mschema"]["text"]
    assert json.loads(texts["json"]["text"])["name"] == "shop-0"
    assert texts["cards"]["text"] != texts["ddl"]["text"]
    assert "query.format" in assert_error(bad, 422, "validation_error")["message"]


# --- errors -------------------------------------------------------------------------------------------------------


def test_unknown_database_is_404(server: RunningServer) -> None:
    with server.client() as c:
        for response in (c.get("/v1/schema", params={"db": "nope"}),
                         c.post("/v1/ask", json={"question": "How many customers?", "db": "nope"}),
                         c.post("/v1/ask/stream", json={"question": "How many customers?", "db": "nope"}),
                         c.post("/v1/sql/run", json={"sql": "SELECT 1", "db": "nope"}),
                         c.post("/v1/nl2sql", json={"question": "x", "db": "nope"})):
            assert "shop" in assert_error(response, 404, "not_found")["message"]
    assert server.backend.calls == []  # nothing reached the model


def test_unknown_route_and_method(server: RunningServer) -> None:
    with server.client() as c:
        assert_error(c.get("/v1/nothing"), 404, "not_found")
        assert_error(c.get("/v1/ask"), 405, "method_not_allowed")


def test_invalid_body_names_the_field(server: RunningServer) -> None:
    with server.client() as c:
        missing = assert_error(c.post("/v1/ask", json={"db": "shop"}), 422, "validation_error")
        wrong = assert_error(c.post("/v1/sql/run", json={"sql": "SELECT 1", "db": "shop", "max_rows": "lots"}),
                             422, "validation_error")
        empty = assert_error(c.post("/v1/chat/completions", json={"messages": []}), 422, "validation_error")
        broken = assert_error(c.post("/v1/ask", content=b"{not json", headers={"content-type": "application/json"}),
                              400, "bad_request")
    assert "body.question" in missing["message"]
    assert "body.max_rows" in wrong["message"]
    assert "body.messages" in empty["message"]
    assert "JSON" in broken["message"]


def test_body_too_large_is_413(make_server: Callable[..., RunningServer]) -> None:
    srv = make_server(max_body_bytes=1000)
    with srv.client() as c:
        big = c.post("/v1/sql/run", json={"sql": "SELECT 1 -- " + "x" * 2000, "db": "shop"})
        ok = c.post("/v1/sql/run", json={"sql": "SELECT 1", "db": "shop"})

        def chunked() -> Iterator[bytes]:  # no Content-Length: the body is counted as it arrives
            yield b'{"sql": "SELECT 1 -- '
            yield b"y" * 2000
            yield b'", "db": "shop"}'

        streamed = c.post("/v1/sql/run", content=chunked(), headers={"content-type": "application/json"})
    assert "1000 bytes" in assert_error(big, 413, "too_large")["message"]
    assert_error(streamed, 413, "too_large")
    assert ok.status_code == 200


# --- auth and rate limits -----------------------------------------------------------------------------------------


def test_api_key_required_when_configured(keyed_server: RunningServer) -> None:
    srv = keyed_server
    assert srv.key is not None and srv.config.api_keys_file is not None
    stored = Path(srv.config.api_keys_file).read_text()
    assert srv.key not in stored and len(json.loads(stored)["keys"]) == 1
    url = f"{srv.url}/v1/models"
    assert_error(httpx.get(url), 401, "unauthorized")
    assert_error(httpx.get(url, headers={"Authorization": "Bearer tsk-wrong"}), 401, "unauthorized")
    assert_error(httpx.get(url, headers={"Authorization": f"Basic {srv.key}"}), 401, "unauthorized")
    assert_error(httpx.post(f"{srv.url}/v1/sql/run", json={"sql": "SELECT 1", "db": "shop"}), 401, "unauthorized")
    assert httpx.get(url, headers={"Authorization": f"Bearer {srv.key}"}).status_code == 200
    for open_path in ("/healthz", "/openapi.json", "/docs"):
        assert httpx.get(f"{srv.url}{open_path}").status_code == 200


def test_keys_made_and_revoked_while_serving(make_server: Callable[..., RunningServer]) -> None:
    """keygen and revoke edit the file a running server reads: a new key works and a revoked one is refused at
    once, without a restart, while the other keys keep working."""
    from typer.testing import CliRunner

    from tunesql.cli.serve import app as serve_app

    srv = make_server(keyed=True)
    keys = str(srv.config.api_keys_file)
    made = CliRunner().invoke(serve_app, ["keygen", "--name", "temp", "--keys", keys])
    assert made.exit_code == 0, made.output
    temp = made.stdout.strip()
    url = f"{srv.url}/v1/models"
    assert httpx.get(url, headers={"Authorization": f"Bearer {temp}"}).status_code == 200
    listed = CliRunner().invoke(serve_app, ["keys", "--keys", keys])
    assert listed.exit_code == 0 and "temp\t" in listed.stdout and "sha256" not in listed.stdout
    revoked = CliRunner().invoke(serve_app, ["revoke", "--name", "temp", "--keys", keys])
    assert revoked.exit_code == 0, revoked.output
    assert_error(httpx.get(url, headers={"Authorization": f"Bearer {temp}"}), 401, "unauthorized")
    assert httpx.get(url, headers={"Authorization": f"Bearer {srv.key}"}).status_code == 200


def test_rate_limit_answers_429_with_retry_after(make_server: Callable[..., RunningServer]) -> None:
    srv = make_server(keyed=True, rate_per_minute=3)
    with srv.client() as c:
        codes = [c.get("/v1/models").status_code for _ in range(3)]
        limited = c.get("/v1/models")
        health = c.get("/healthz")
    assert codes == [200, 200, 200]
    assert_error(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 20  # one request comes back every 20 s at 3 a minute
    assert health.status_code == 200  # liveness is never limited


def test_open_access_is_limited_per_address(make_server: Callable[..., RunningServer]) -> None:
    srv = make_server(rate_per_minute=2)
    with srv.client() as c:
        codes = [c.get("/v1/databases").status_code for _ in range(3)]
    assert codes == [200, 200, 429]


# --- SQL, model-free ----------------------------------------------------------------------------------------------


def test_sql_run_returns_typed_rows_and_a_chart(make_server: Callable[..., RunningServer]) -> None:
    srv = make_server(max_rows=5)
    with srv.client() as c:
        seg = c.post("/v1/sql/run", json={"sql": SEGMENT_SQL, "db": "shop"}).json()
        capped = c.post("/v1/sql/run", json={"sql": "SELECT id, name FROM customers ORDER BY id", "db": "shop",
                                             "max_rows": 1000}).json()
        two = c.post("/v1/sql/run", json={"sql": "SELECT id, signup_date FROM customers ORDER BY id", "db": "shop",
                                          "max_rows": 2}).json()
    assert seg["columns"] == [{"name": "segment", "type": "text"}, {"name": "customers", "type": "integer"}]
    assert seg["rows"] == [["business", 49], ["consumer", 251]] and seg["row_count"] == 2 and not seg["truncated"]
    assert seg["chart"]["type"] == "bar" and (seg["chart"]["x"], seg["chart"]["y"]) == ("segment", "customers")
    assert capped["row_count"] == 5 and capped["truncated"] and capped["rows"][0][0] == 1  # the server's cap wins
    assert two["row_count"] == 2 and two["columns"][1] == {"name": "signup_date", "type": "date"}


@pytest.mark.parametrize("sql", [
    "DELETE FROM customers",
    "ATTACH DATABASE '/tmp/tunesql-serve-attack.sqlite' AS x",
    "SELECT 1; DROP TABLE customers",
    "UPDATE customers SET name = 'x'",
    "PRAGMA writable_schema = 1",
])
def test_sql_run_refuses_unsafe_sql(server: RunningServer, sql: str) -> None:
    before = server.db_sha256()
    with server.client() as c:
        response = c.post("/v1/sql/run", json={"sql": sql, "db": "shop"})
        after_count = c.post("/v1/sql/run", json={"sql": "SELECT COUNT(*) FROM customers", "db": "shop"}).json()
    code = response.json()["error"]["code"]
    assert response.status_code == 422 and code in ("unsafe_sql", "sql_error"), response.text
    if not sql.startswith("SELECT 1;"):
        assert code == "unsafe_sql"
    assert server.db_sha256() == before
    assert after_count["rows"] == [[300]]
    assert not Path("/tmp/tunesql-serve-attack.sqlite").exists()


def test_sql_run_database_errors(server: RunningServer) -> None:
    with server.client() as c:
        unknown = assert_error(c.post("/v1/sql/run", json={"sql": "SELECT nope FROM customers", "db": "shop"}),
                               422, "sql_error")
        garbage = c.post("/v1/sql/run", json={"sql": "SELEC * FRM customers", "db": "shop"})
    assert "nope" in unknown["message"]
    assert garbage.status_code == 422 and garbage.json()["error"]["code"] in ("sql_error", "unsafe_sql")


def test_sql_the_parser_chokes_on_is_a_422(server: RunningServer) -> None:
    with server.client() as c:
        deep = c.post("/v1/sql/run", json={"sql": "SELECT " + "(" * 3000 + "1" + ")" * 3000, "db": "shop"})
        odd = c.post("/v1/sql/run", json={"sql": "SELECT  C%uN/VD?w->|", "db": "shop"})
    assert_error(deep, 422, "sql_error")
    assert odd.status_code == 422 and odd.json()["error"]["code"] in ("sql_error", "unsafe_sql")


def test_slow_query_times_out_with_504(make_server: Callable[..., RunningServer]) -> None:
    srv = make_server(sql_timeout=0.2)
    slow = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000000) "
            "SELECT COUNT(*) FROM n")
    with srv.client() as c:
        start = time.monotonic()
        response = c.post("/v1/sql/run", json={"sql": slow, "db": "shop"})
    assert_error(response, 504, "timeout")
    assert time.monotonic() - start < 5


# --- the model: ask, nl2sql, sql2nl -------------------------------------------------------------------------------


def test_ask_votes_runs_explains_and_charts(server: RunningServer) -> None:
    before = server.db_sha256()
    with server.client() as c:
        body = c.post("/v1/ask", json={"question": "How many customers do we have?", "db": "shop"}).json()
        seg = c.post("/v1/ask", json={"question": "How many customers are in each segment?", "db": "shop",
                                      "explain": False}).json()
        month = c.post("/v1/ask", json={"question": "How many orders per month?", "db": "shop", "max_rows": 3,
                                        "explain": False}).json()
    assert body["sql"] == COUNT_SQL and body["confidence"] == 0.75 and body["samples"] == 4 and body["error"] is None
    assert body["columns"] == [{"name": "customers", "type": "integer"}] and body["rows"] == [[300]]
    assert body["row_count"] == 1 and body["truncated"] is False
    assert body["explanation"] == EXPLANATION
    assert body["chart"]["type"] == "none" and body["seconds"] >= 0 and body["question"].startswith("How many")
    assert seg["sql"] == SEGMENT_SQL and seg["confidence"] == 1.0 and seg["explanation"] is None
    assert seg["chart"] == {"type": "bar", "x": "segment", "y": "customers", "reason": seg["chart"]["reason"]}
    assert month["rows"] == [["2023-01", 53], ["2023-02", 61], ["2023-03", 72]] and month["truncated"]
    assert month["chart"]["type"] == "line" and month["chart"]["x"] == "month"
    assert server.db_sha256() == before
    scripted = server.backend
    assert isinstance(scripted, ScriptedBackend)
    asked = [c for c in scripted.calls if "Question: How many customers do we have?" in c[-1]["content"]]
    assert len(asked) == 1  # one conversation, four samples (n=4)


def test_ask_reports_sql_that_did_not_run(server: RunningServer) -> None:
    before = server.db_sha256()
    with server.client() as c:
        body = c.post("/v1/ask", json={"question": "Delete all customers", "db": "shop"}).json()
    assert body["sql"] == UNSAFE_SQL and body["confidence"] == 0.0
    assert "writefile" in body["error"] and body["rows"] == [] and body["columns"] == []
    assert body["explanation"] is None and body["chart"]["type"] == "none"
    assert server.db_sha256() == before
    assert not Path("/tmp/tunesql-serve-pwned").exists()


def test_ask_stream_sends_events_in_order(server: RunningServer) -> None:
    with server.client() as c:
        response, events = stream_events(c, "/v1/ask/stream", {"question": "How many customers?", "db": "shop"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    names = [name for name, _ in events]
    assert names == ["stage", "sql", "stage", "result", "stage", "explanation", "done"]
    data = [json.loads(d) for _, d in events]
    assert [d["stage"] for n, d in zip(names, data, strict=True) if n == "stage"] == ["sql", "run", "explain"]
    assert data[1] == {"sql": COUNT_SQL, "confidence": 0.75, "samples": 4}
    assert data[3]["rows"] == [[300]] and data[3]["columns"] == [{"name": "customers", "type": "integer"}]
    assert set(data[3]) == {"columns", "rows", "row_count", "truncated", "chart"}
    assert data[5] == {"explanation": EXPLANATION} and data[6]["seconds"] >= 0


def test_ask_stream_ends_with_an_error_event(server: RunningServer) -> None:
    with server.client() as c:
        _, events = stream_events(c, "/v1/ask/stream", {"question": "Delete everything", "db": "shop",
                                                        "explain": False})
    assert [name for name, _ in events] == ["stage", "sql", "error"]
    error = json.loads(events[-1][1])
    assert error["code"] == "unsafe_sql" and error["message"]


def test_nl2sql_and_sql2nl(server: RunningServer) -> None:
    with server.client() as c:
        voted = c.post("/v1/nl2sql", json={"question": "How many customers?", "db": "shop"}).json()
        greedy = c.post("/v1/nl2sql", json={"question": "How many customers?", "db": "shop",
                                            "strategy": "greedy"}).json()
        two = c.post("/v1/nl2sql", json={"question": "How many customers?", "db": "shop", "n": 2}).json()
        explained = c.post("/v1/sql2nl", json={"sql": COUNT_SQL, "db": "shop"}).json()
        bad = c.post("/v1/nl2sql", json={"question": "x", "db": "shop", "strategy": "best"})
    assert voted == {"sql": COUNT_SQL, "confidence": 0.75, "dialect": "sqlite", "error": None}
    assert greedy["sql"] == COUNT_SQL and greedy["confidence"] == 1.0
    assert two["confidence"] == 1.0  # the first two samples agree
    assert explained == {"explanation": EXPLANATION}
    assert "body.strategy" in assert_error(bad, 422, "validation_error")["message"]


# --- OpenAI chat completions --------------------------------------------------------------------------------------


class StreamingScripted(ScriptedBackend):
    """A scripted backend that also streams, a few characters at a time, as a local backend would."""

    def stream(self, conversation: Sequence[Message], config: GenerationConfig) -> Iterator[str]:
        text = self.generate([conversation], GenerationConfig(n=1))[0][0]
        for i in range(0, len(text), 4):
            yield text[i:i + 4]


CHAT = [{"role": "system", "content": "Answer with SQL."}, {"role": "user", "content": "Question: How many customers?"}]


def test_chat_completions(server: RunningServer) -> None:
    with server.client() as c:
        one = c.post("/v1/chat/completions", json={"model": "anything", "messages": CHAT, "temperature": 0}).json()
        two = c.post("/v1/chat/completions", json={"messages": CHAT, "n": 2, "max_tokens": 64, "stop": ";"}).json()
        parts = c.post("/v1/chat/completions", json={"messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Question: How many "},
                                         {"type": "text", "text": "customers?"}]}]}).json()
        too_many = c.post("/v1/chat/completions", json={"messages": CHAT, "n": 40})
        stream_n = c.post("/v1/chat/completions", json={"messages": CHAT, "n": 2, "stream": True})
    assert one["object"] == "chat.completion" and one["model"] == "scripted" and one["id"].startswith("chatcmpl-")
    assert one["choices"] == [{"index": 0, "message": {"role": "assistant", "content": COUNT_SQL},
                               "finish_reason": "stop"}]
    assert [ch["message"]["content"] for ch in two["choices"]] == [COUNT_SQL, f"```sql\n{COUNT_SQL}\n```"]
    assert parts["choices"][0]["message"]["content"] == COUNT_SQL
    assert isinstance(server.backend, ScriptedBackend)
    assert server.backend.calls[-1][0] == {"role": "system", "content": "Be brief."}
    assert_error(too_many, 400, "bad_request")
    assert_error(stream_n, 400, "bad_request")
    assert one["usage"] is None  # the scripted backend counts no tokens: null, not made-up numbers


def test_chat_completions_report_token_usage(make_server: Callable[..., RunningServer],
                                             tmp_path_factory: pytest.TempPathFactory) -> None:
    pytest.importorskip("transformers", reason="pip install 'tunesql[train]'")
    from tests.infer.tiny_model import build_tiny_model
    from tunesql.infer.hf import HFBackend

    engine = HFBackend(build_tiny_model(tmp_path_factory.mktemp("tiny")))
    srv = make_server(backend=engine)
    prompt = len(engine.tokenizer(engine.render(CHAT), add_special_tokens=False)["input_ids"])
    with srv.client() as c:
        greedy = c.post("/v1/chat/completions", json={"messages": CHAT, "max_tokens": 6, "n": 2}).json()
        sampled = c.post("/v1/chat/completions", json={"messages": CHAT, "max_tokens": 6, "n": 2,
                                                       "temperature": 1.0, "seed": 3}).json()
    assert greedy["usage"]["prompt_tokens"] == prompt == sampled["usage"]["prompt_tokens"]
    # A random model does not finish within 6 tokens: the limit ended both greedy copies.
    assert [ch["finish_reason"] for ch in greedy["choices"]] == ["length", "length"]
    assert 1 <= greedy["usage"]["completion_tokens"] <= 6  # one greedy answer, returned twice, counted once
    assert 2 <= sampled["usage"]["completion_tokens"] <= 12
    assert all(u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
               for u in (greedy["usage"], sampled["usage"]))
    assert engine.usage.snapshot() == (2 * prompt, greedy["usage"]["completion_tokens"]
                                       + sampled["usage"]["completion_tokens"])


def _chat_stream(client: httpx.Client) -> tuple[str, list[dict[str, Any]], str]:
    response, events = stream_events(client, "/v1/chat/completions", {"messages": CHAT, "stream": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    assert all(name == "message" for name, _ in events)
    chunks = [json.loads(d) for _, d in events[:-1]]
    text = "".join(ch["choices"][0]["delta"].get("content", "") for ch in chunks)
    return text, chunks, events[-1][1]


class PlainBackend:
    """A backend with ``generate`` only (as a remote endpoint without streaming would be)."""

    name = "plain"

    def __init__(self) -> None:
        self.inner = ScriptedBackend(default=[COUNT_SQL])

    def generate(self, conversations: Sequence[Sequence[Message]], config: GenerationConfig) -> list[list[str]]:
        return self.inner.generate(conversations, config)


def test_chat_stream_without_a_streaming_backend(make_server: Callable[..., RunningServer]) -> None:
    srv = make_server(backend=PlainBackend())
    with srv.client() as c:
        text, chunks, last = _chat_stream(c)
    assert text == COUNT_SQL and last == "[DONE]"
    assert all(ch["object"] == "chat.completion.chunk" and ch["model"] == "plain" for ch in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert [ch["choices"][0]["finish_reason"] for ch in chunks] == [None, None, "stop"]  # the whole text at once
    assert len({ch["id"] for ch in chunks}) == 1


def test_chat_stream_uses_the_backend_stream(make_server: Callable[..., RunningServer]) -> None:
    from tests.serve.conftest import SCRIPT

    srv = make_server(backend=StreamingScripted(script=dict(SCRIPT)))
    with srv.client() as c:
        text, chunks, last = _chat_stream(c)
    assert text == COUNT_SQL and last == "[DONE]"
    pieces = [ch["choices"][0]["delta"].get("content") for ch in chunks[1:-1]]
    assert len(pieces) == -(-len(COUNT_SQL) // 4) and all(len(p) <= 4 for p in pieces)  # piece by piece


def test_the_openai_client_works(make_server: Callable[..., RunningServer]) -> None:
    srv = make_server(keyed=True)
    client = openai.OpenAI(base_url=f"{srv.url}/v1", api_key=srv.key, max_retries=0)
    done = client.chat.completions.create(model="tunesql", messages=CHAT)  # type: ignore[arg-type]
    assert done.choices[0].message.content == COUNT_SQL and done.choices[0].finish_reason == "stop"
    assert done.usage is None
    streamed = client.chat.completions.create(model="tunesql", messages=CHAT, stream=True)  # type: ignore[arg-type]
    pieces = [chunk.choices[0].delta.content or "" for chunk in streamed]
    assert "".join(pieces) == COUNT_SQL
    assert [m.id for m in client.models.list()] == ["scripted"]
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{srv.url}/v1", api_key="tsk-wrong", max_retries=0).models.list()


# --- failures never leak, and generation is serialised ------------------------------------------------------------


class BrokenBackend:
    name = "broken"

    def generate(self, conversations: Sequence[Sequence[Message]], config: GenerationConfig) -> list[list[str]]:
        raise RuntimeError("CUDA out of memory at /secret/path/model.py line 42")


def test_backend_failure_is_a_502_without_traceback(make_server: Callable[..., RunningServer]) -> None:
    srv = make_server(backend=BrokenBackend())
    with srv.client() as c:
        responses = [c.post("/v1/ask", json={"question": "How many customers?", "db": "shop"}),
                     c.post("/v1/nl2sql", json={"question": "How many customers?", "db": "shop"}),
                     c.post("/v1/sql2nl", json={"sql": "SELECT 1", "db": "shop"}),
                     c.post("/v1/chat/completions", json={"messages": CHAT}),
                     c.post("/v1/chat/completions", json={"messages": CHAT, "stream": True})]
        _, events = stream_events(c, "/v1/ask/stream", {"question": "How many customers?", "db": "shop"})
        still_up = c.post("/v1/sql/run", json={"sql": "SELECT 1 AS one", "db": "shop"})
    for response in responses:
        error = assert_error(response, 502, "model_error")
        assert "broken" in error["message"] and 'File "' not in error["message"]
    assert [name for name, _ in events] == ["stage", "error"]
    assert json.loads(events[-1][1])["code"] == "model_error"
    assert still_up.json()["rows"] == [[1]]


class SlowBackend:
    """Answers like a scripted backend, slowly, and records how many generations ran at once."""

    name = "slow"

    def __init__(self) -> None:
        self.inner = ScriptedBackend(default=[COUNT_SQL])
        self.active = 0
        self.most = 0
        self.guard = threading.Lock()

    def generate(self, conversations: Sequence[Sequence[Message]], config: GenerationConfig) -> list[list[str]]:
        with self.guard:
            self.active += 1
            self.most = max(self.most, self.active)
        time.sleep(0.1)
        with self.guard:
            self.active -= 1
        return self.inner.generate(conversations, config)


def test_generation_is_serialised(make_server: Callable[..., RunningServer]) -> None:
    backend = SlowBackend()
    srv = make_server(backend=backend)
    results: list[int] = []

    def ask() -> None:
        with srv.client() as c:
            results.append(c.post("/v1/chat/completions", json={"messages": CHAT}).status_code)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 4
    assert backend.most == 1


class SlowStreamer:
    """Streams 100 pieces, 0.1 s apart, and counts how many it produced."""

    name = "slow-streamer"

    def __init__(self) -> None:
        self.produced = 0

    def generate(self, conversations: Sequence[Sequence[Message]], config: GenerationConfig) -> list[list[str]]:
        return [["SELECT 1"] * config.n for _ in conversations]

    def stream(self, conversation: Sequence[Message], config: GenerationConfig) -> Iterator[str]:
        for _ in range(100):
            time.sleep(0.1)
            self.produced += 1
            yield "x"


def test_a_client_leaving_a_stream_frees_the_model(make_server: Callable[..., RunningServer]) -> None:
    backend = SlowStreamer()
    srv = make_server(backend=backend)
    with srv.client() as c, c.stream("POST", "/v1/chat/completions", json={"messages": CHAT, "stream": True}) as r:
        lines = r.iter_lines()
        assert '"role": "assistant"' in next(line for line in lines if line.startswith("data:"))
    # The stream had about 10 s to go; the next request waits only for the piece in progress.
    start = time.monotonic()
    with srv.client() as c:
        answer = c.post("/v1/chat/completions", json={"messages": CHAT})
    assert answer.json()["choices"][0]["message"]["content"] == "SELECT 1"
    assert time.monotonic() - start < 5 and backend.produced < 60


def test_page_route_never_500s(server: RunningServer) -> None:
    response = httpx.get(f"{server.url}/")
    if response.status_code == 200:
        assert response.headers["content-type"].startswith("text/html")
    else:
        assert_error(response, 404, "not_found")


# --- the command --------------------------------------------------------------------------------------------------


def test_tunesql_serve_command_loads_once_and_serves(tmp_path: Path) -> None:
    """`tunesql serve` end to end in a subprocess: the model is an OpenAI-compatible endpoint (a scripted one),
    so load_backend runs for real without weights; the command prints its URL and answers /v1/ask."""
    fake = FakeOpenAIServer(completion=lambda req, i: COUNT_SQL)
    endpoint = fake.start()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = tmp_path / "shop.sqlite"
    db.write_bytes(bundled_db_path().read_bytes())
    code = "from tunesql.cli.serve import app; app()"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, "-c", code, "--model", f"{endpoint}#fake-model", "--db", f"mine={db}",
                             "--port", str(port), "--n", "2", "--no-explain"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                health = httpx.get(f"{url}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("tunesql serve did not come up in 60 s")
        assert health.json()["databases"] == ["mine"] and health.json()["model"].startswith("openai:fake-model@")
        answer = httpx.post(f"{url}/v1/ask", json={"question": "How many customers?", "db": "mine"}, timeout=30).json()
        assert answer["rows"] == [[300]] and answer["confidence"] == 1.0
        assert len(fake.requests) == 1 and fake.requests[0]["n"] == 2  # loaded once, asked once
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
        fake.stop()
    assert f"tunesql serve: http://127.0.0.1:{port}/" in out
    assert "WARNING tunesql.serve: no API keys file" in err
