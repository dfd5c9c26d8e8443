"""Property-based bad input against the server's own OpenAPI schema (schemathesis 4).

For every operation in the schema, schemathesis sends the schema's examples, its boundary cases (the coverage
phase) and up to 25 generated requests, valid and invalid (wrong types, missing fields, out-of-range numbers,
unknown enum values, odd strings). Whatever it sends, the server must not fail (no 5xx), and every error must be
the contract's ``{"error": {"code", "message"}}`` JSON. Requests go over real HTTP to the real app under real
uvicorn on 127.0.0.1 with the scripted backend (tests/serve/conftest.py), so the body-size middleware and the
error handlers are tested as deployed.

The schema is built at import, from an app over a throwaway copy of the shop database: schemathesis makes one
test per operation at collection time. (Its lazy ``schemathesis.pytest.from_fixture`` loader would avoid that,
but 4.32 reads ``request.node._nodeid``, which pytest 9.2 no longer has.) ``test_schema_is_the_served_one``
checks that the live server serves exactly this schema.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.serve.conftest import RunningServer
from tunesql.db.connect import bundled_db_path
from tunesql.infer.backend import ScriptedBackend
from tunesql.serve.app import create_app
from tunesql.serve.config import ServeConfig

MAX_EXAMPLES = 25


def build_openapi() -> dict[str, Any]:
    """The OpenAPI document of an app like the test server's (the database is a temporary copy)."""
    with tempfile.TemporaryDirectory(prefix="tunesql-openapi-") as tmp:
        db = Path(tmp) / "shop.sqlite"
        shutil.copyfile(bundled_db_path(), db)
        app = create_app(ServeConfig(databases={"shop": str(db)}), ScriptedBackend())
        try:
            return app.openapi()
        finally:
            app.state.service.close()


OPENAPI = build_openapi()
schema = schemathesis.openapi.from_dict(OPENAPI)
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=MAX_EXAMPLES)


def _served_db_half_the_time(value: Any) -> st.SearchStrategy[Any]:
    # A random `db` is never a served name, so every request would stop at the 404; half of them get the real
    # one, so generated questions, SQL, n and max_rows also reach the model, the guard and the database.
    if isinstance(value, dict) and isinstance(value.get("db"), str):
        return st.sampled_from([value, {**value, "db": "shop"}])
    return st.just(value)


@schema.hook
def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
    return _served_db_half_the_time(body)


@schema.hook
def flatmap_query(context: Any, query: Any) -> st.SearchStrategy[Any]:
    return _served_db_half_the_time(query)


@pytest.fixture
def live(make_server: Callable[..., RunningServer]) -> RunningServer:
    # A high rate limit: hundreds of requests a minute come from one address, and a 429 would hide real answers.
    return make_server(rate_per_minute=1_000_000)


def check_answer(case: Any, response: Any) -> None:
    where = f"{case.method} {case.formatted_path} body={case.body!r} query={case.query!r}"
    assert response.status_code < 500, f"{where} → HTTP {response.status_code}: {response.text[:500]}"
    content_type = response.headers.get("content-type") or [""]  # schemathesis: name → list of values
    if response.status_code >= 400:
        assert content_type[0].startswith("application/json"), f"{where} → {content_type}"
        payload = response.json()
        assert isinstance(payload, dict) and set(payload) == {"error"}, f"{where} → {payload}"
        error = payload["error"]
        assert isinstance(error, dict) and set(error) == {"code", "message"}, f"{where} → {payload}"
        assert isinstance(error["code"], str) and error["code"], f"{where} → {payload}"
        assert isinstance(error["message"], str) and error["message"].strip(), f"{where} → {payload}"
        if error["code"] == "validation_error":
            assert response.status_code == 422 and ":" in error["message"], f"no field path: {payload}"
    elif content_type[0].startswith("text/event-stream"):
        check_events(where, response.text)
    else:
        assert content_type[0].startswith("application/json"), f"{where} → {content_type}"
        response.json()


def check_events(where: str, text: str) -> None:
    """A stream is whole: every ``data`` is JSON (or OpenAI's ``[DONE]``) and it ends as the contract says."""
    blocks = [b for b in text.split("\n\n") if b.strip()]
    assert blocks, f"{where} → an empty event stream"
    names, datas = [], []
    for block in blocks:
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        names.append(fields.get("event"))
        datas.append(fields["data"])
        if fields["data"] != "[DONE]":
            json.loads(fields["data"])
    if names[0] is None:  # chat completion chunks
        assert datas[-1] == "[DONE]", f"{where} → {text[-300:]}"
    else:  # /v1/ask/stream
        assert names[-1] in ("done", "error"), f"{where} → {text[-300:]}"


def test_schema_is_the_served_one(live: RunningServer) -> None:
    with live.client() as client:
        served = client.get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == OPENAPI
    assert len(list(schema.get_all_operations())) >= 9


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_breaks_the_server_and_every_error_is_contract_json(case: Any, live: RunningServer) -> None:
    response = case.call(base_url=live.url, timeout=30)
    check_answer(case, response)
