"""A bounded load test: 50 concurrent clients, 500 requests, the real app under real uvicorn on 127.0.0.1.

The mix is what the web page does: questions (``/v1/ask``, the scripted model, a 4-sample vote that runs
every candidate, then an explanation), edited queries (``/v1/sql/run``) and schema look-ups (``/v1/schema``).
Generation is serialised by the server's lock while queries and introspection run in worker threads, so this
is where a race, a leaked connection or a starved thread pool would show. Every answer is checked, rows
against the database read directly; the latency percentiles and throughput are printed (``pytest -s``) and
written to ``load.json`` under ``tmp_path``. They are a smoke reading on a loaded 2-core machine, not a
benchmark: the test asserts correctness, not speed.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.serve.conftest import MONTH_SQL, SEGMENT_SQL, RunningServer, httpx

CLIENTS = 50
REQUESTS = 500
SEGMENT_QUESTION = "How many customers are in each segment?"
COUNT_ORDERS_SQL = "SELECT COUNT(*) AS orders FROM orders"
ASK_KEYS = {"question", "db", "sql", "confidence", "samples", "columns", "rows", "row_count", "truncated",
            "explanation", "chart", "error", "seconds"}
RUN_KEYS = {"columns", "rows", "row_count", "truncated", "chart"}
SCHEMA_KEYS = {"db", "dialect", "format", "text", "tables"}


def plan() -> list[tuple[str, str, dict[str, Any]]]:
    """(label, path, request) for every request, in a fixed interleaved order: 40% ask, 40% run, 20% schema."""
    cycle = [
        ("ask", "/v1/ask", {"json": {"question": SEGMENT_QUESTION, "db": "shop"}}),
        ("sql/run", "/v1/sql/run", {"json": {"sql": MONTH_SQL, "db": "shop"}}),
        ("schema", "/v1/schema", {"params": {"db": "shop", "format": "mschema"}}),
        ("ask", "/v1/ask", {"json": {"question": SEGMENT_QUESTION, "db": "shop", "explain": False}}),
        ("sql/run", "/v1/sql/run", {"json": {"sql": COUNT_ORDERS_SQL, "db": "shop"}}),
    ]
    return [cycle[i % len(cycle)] for i in range(REQUESTS)]


def direct_rows(db_path: Path, sql: str) -> list[list[Any]]:
    """The rows as the database itself returns them, read-only, for comparison with the served ones."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        return [list(r) for r in conn.execute(sql).fetchall()]


def check(label: str, request: dict[str, Any], body: Any, expected: dict[str, list[list[Any]]]) -> None:
    """Raise AssertionError unless ``body`` is the full, right answer to ``request``."""
    assert isinstance(body, dict), body
    if label == "ask":
        assert set(body) == ASK_KEYS, sorted(body)
        assert body["error"] is None and body["sql"] == SEGMENT_SQL, body
        assert body["rows"] == expected[SEGMENT_SQL] and body["row_count"] == len(body["rows"]), body
        assert [c["name"] for c in body["columns"]] == ["segment", "customers"], body["columns"]
        assert body["chart"]["type"] == "bar", body["chart"]
        assert (body["explanation"] is None) == (request["json"].get("explain") is False), body["explanation"]
        assert body["confidence"] == 1.0 and body["seconds"] >= 0, body
    elif label == "sql/run":
        assert set(body) == RUN_KEYS, sorted(body)
        assert body["rows"] == expected[request["json"]["sql"]] and body["truncated"] is False, body
        assert body["row_count"] == len(body["rows"]) and body["columns"], body
    else:
        assert set(body) == SCHEMA_KEYS, sorted(body)
        assert body["db"] == "shop" and body["format"] == "mschema" and body["text"].strip(), body
        names = {t["name"] for t in body["tables"]}
        assert {"customers", "orders"} <= names and all(t["columns"] for t in body["tables"]), names


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def summary(latencies: list[float]) -> dict[str, float]:
    return {"count": len(latencies), "p50_ms": round(percentile(latencies, 50) * 1000, 1),
            "p95_ms": round(percentile(latencies, 95) * 1000, 1),
            "p99_ms": round(percentile(latencies, 99) * 1000, 1), "max_ms": round(max(latencies) * 1000, 1)}


async def run_load(url: str, requests: list[tuple[str, str, dict[str, Any]]],
                   expected: dict[str, list[list[Any]]]) -> tuple[list[tuple[str, float]], list[str], float]:
    """Send ``requests`` from ``CLIENTS`` concurrent workers; return (label, seconds) per success, the errors,
    and the wall time."""
    queue: asyncio.Queue[tuple[str, str, dict[str, Any]]] = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)
    timings: list[tuple[str, float]] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=url, timeout=120.0, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                label, path, request = queue.get_nowait()
                started = time.perf_counter()
                try:
                    if label == "schema":
                        response = await client.get(path, **request)
                    else:
                        response = await client.post(path, **request)
                    elapsed = time.perf_counter() - started
                    assert response.status_code == 200, f"HTTP {response.status_code}: {response.text[:300]}"
                    check(label, request, response.json(), expected)
                    timings.append((label, elapsed))
                except Exception as e:  # every failure is counted and reported, none stops the others
                    errors.append(f"{label} {path}: {type(e).__name__}: {str(e)[:300]}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CLIENTS)))
        wall = time.perf_counter() - started
    return timings, errors, wall


def test_50_clients_500_mixed_requests_without_an_error(make_server: Callable[..., RunningServer],
                                                        tmp_path: Path) -> None:
    # A rate limit far above the load: every request comes from 127.0.0.1, one budget.
    srv = make_server(rate_per_minute=10_000_000)
    before = srv.db_sha256()
    expected = {sql: direct_rows(srv.db_path, sql) for sql in (SEGMENT_SQL, MONTH_SQL, COUNT_ORDERS_SQL)}
    assert all(expected.values())
    requests = plan()

    # One of each first, untimed: the first question builds the schema and value index.
    warm_timings, warm_errors, _ = asyncio.run(run_load(srv.url, requests[:3], expected))
    assert warm_errors == [] and len(warm_timings) == 3

    calls_before = len(srv.backend.calls)
    timings, errors, wall = asyncio.run(run_load(srv.url, requests, expected))

    assert errors == [], f"{len(errors)} of {REQUESTS} requests failed; first ones:\n" + "\n".join(errors[:10])
    assert len(timings) == REQUESTS
    asks = sum(1 for label, _, _ in requests if label == "ask")
    explained = sum(1 for label, _, r in requests if label == "ask" and r["json"].get("explain") is not False)
    # Each question is one conversation sent to the model (its 4 vote samples come from that one call), each
    # explained one a second: no request was lost or answered twice inside the server.
    assert len(srv.backend.calls) - calls_before == asks + explained
    assert srv.db_sha256() == before  # 500 requests, nothing written

    report: dict[str, Any] = {
        "clients": CLIENTS, "requests": REQUESTS, "errors": len(errors), "wall_s": round(wall, 3),
        "throughput_rps": round(REQUESTS / wall, 1), "all": summary([t for _, t in timings]),
        "by_route": {label: summary([t for lbl, t in timings if lbl == label])
                     for label in ("ask", "sql/run", "schema")},
    }
    out = tmp_path / "load.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\nload: {CLIENTS} clients, {REQUESTS} requests in {report['wall_s']} s = "
          f"{report['throughput_rps']} req/s, 0 errors")
    for label, stats in [("all", report["all"]), *report["by_route"].items()]:
        print(f"  {label:8} n={stats['count']:3}  p50 {stats['p50_ms']:7.1f} ms  p95 {stats['p95_ms']:7.1f} ms  "
              f"p99 {stats['p99_ms']:7.1f} ms  max {stats['max_ms']:7.1f} ms")
    print(f"  written to {out}")


@pytest.mark.parametrize("label", ["ask", "sql/run", "schema"])
def test_the_checker_refuses_a_wrong_answer(label: str) -> None:
    """The load test's checks can fail: a wrong or incomplete body is refused."""
    expected = {SEGMENT_SQL: [["a", 1]], MONTH_SQL: [["2024-01", 3]], COUNT_ORDERS_SQL: [[7]]}
    request = {"json": {"sql": MONTH_SQL, "db": "shop"}} if label != "ask" else {"json": {"question": "q"}}
    wrong = {"ask": {k: None for k in ASK_KEYS}, "sql/run": {**{k: None for k in RUN_KEYS}, "rows": [["x", 0]]},
             "schema": {"db": "shop"}}[label]
    with pytest.raises(AssertionError):
        check(label, request, wrong, expected)
