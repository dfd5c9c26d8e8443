"""The HTTP face of tunesql: an OpenAI-compatible chat endpoint, text-to-SQL routes, and the web page.

Everything a client can get wrong, or the server can fail at, answers with ``{"error": {"code", "message"}}``
and a fitting status (see docs/serve-api.md); no traceback ever reaches a client, it goes to the server's log.
Blocking work (generation, queries, introspection) runs in worker threads: route functions are plain ``def``
where they can be, and streams pull from their blocking iterators through the thread pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tunesql import __version__
from tunesql.errors import (
    ConnectError,
    EndpointError,
    ExecutionError,
    QueryTimeout,
    SQLSyntaxError,
    TunesqlError,
    UnsafeSQLError,
)
from tunesql.infer.backend import Backend, finish_reason
from tunesql.serve import schemas as s
from tunesql.serve.config import ServeConfig
from tunesql.serve.keys import KeyStore, RateLimiter, retry_after
from tunesql.serve.service import ApiError, Service, chat_config, chat_conversation

log = logging.getLogger("tunesql.serve")
STATIC_DIR = Path(__file__).parent / "static"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": s.ErrorResponse, "description": what} for status, what in (
        (400, "bad_request"), (401, "unauthorized"), (404, "not_found"), (413, "too_large"),
        (422, "validation_error, unsafe_sql or sql_error"), (429, "rate_limited (see Retry-After)"),
        (500, "internal"), (502, "model_error"), (504, "timeout"))
}


# --- errors -------------------------------------------------------------------------------------------------------


def error_json(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def classify(error: BaseException) -> tuple[int, str, str]:
    """(status, code, message) for any exception; unexpected ones are logged with their traceback."""
    if isinstance(error, ApiError):
        return error.status, error.code, error.message
    if isinstance(error, UnsafeSQLError):
        return 422, "unsafe_sql", f"refused, not run: {error}"
    if isinstance(error, (SQLSyntaxError, ExecutionError)):
        return 422, "sql_error", str(error)
    if isinstance(error, QueryTimeout):
        return 504, "timeout", f"{error}; narrow the query (a WHERE, a LIMIT) or raise the server's sql_timeout"
    if isinstance(error, EndpointError):
        return 502, "model_error", str(error)
    if isinstance(error, ConnectError):
        return 500, "internal", f"the database could not be opened: {error}"
    if isinstance(error, TunesqlError):
        return 500, "internal", str(error)
    log.error("unexpected error", exc_info=error)
    return 500, "internal", f"unexpected server error ({type(error).__name__}); the server's log has the details"


def _validation_message(errors: Any) -> tuple[int, str, str]:
    errors = list(errors)
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, "bad_request", "the body is not valid JSON; send a JSON object with Content-Type application/json"
    parts = []
    for e in errors[:5]:
        where = ".".join(str(p) for p in e.get("loc", ())) or "request"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return 422, "validation_error", "; ".join(parts) + more


def install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_json(exc.status, exc.code, exc.message, exc.headers)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_json(*_validation_message(exc.errors()))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return error_json(404, "not_found", f"no route {request.method} {request.url.path}; see /docs")
        if exc.status_code == 405:
            return error_json(405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}; "
                                                         f"see /docs", dict(exc.headers or {}))
        code = "bad_request" if 400 <= exc.status_code < 500 else "internal"
        return error_json(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))

    async def on_other(_: Request, exc: Exception) -> JSONResponse:
        return error_json(*classify(exc))

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(TunesqlError, on_other)
    app.add_exception_handler(Exception, on_other)


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with a JSON 413, before any route reads them.

    A declared Content-Length is checked first; a chunked body is counted as it arrives. Bodies here are
    small JSON, so the accepted one is buffered and replayed to the app.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before sending its body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_json(413, "too_large", f"the request body is larger than this server accepts "
                                                f"({self.limit} bytes); send a shorter question or query",
                              {"Connection": "close"})
        await response(scope, receive, send)


# --- auth and rate limits -----------------------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="An API key made by `tunesql serve keygen` (when the server "
                                                   "has a keys file).")


def make_authorize(config: ServeConfig, keys: KeyStore | None, limiter: RateLimiter) -> Any:
    """The dependency every /v1 route has: check the key (when keys are on), then spend one request of its
    budget. Open access budgets per client address instead, so one script cannot starve the rest."""

    def authorize(request: Request,
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None) -> str:
        rate = config.rate_per_minute
        if keys is None:
            client = f"address {request.client.host if request.client else 'unknown'}"
        else:
            if credentials is None:
                raise ApiError(401, "unauthorized", "this server needs an API key: send 'Authorization: Bearer "
                                                    "<key>' (an admin makes one with `tunesql serve keygen`)",
                               {"WWW-Authenticate": "Bearer"})
            entry = keys.lookup(credentials.credentials)
            if entry is None:
                raise ApiError(401, "unauthorized", "this API key is not known to the server; check it, or ask "
                                                    "for a new one", {"WWW-Authenticate": "Bearer"})
            client, rate = f"key {entry.name!r}", entry.rate_per_minute or rate
        wait = limiter.hit(client, rate)
        if wait > 0:
            raise ApiError(429, "rate_limited", f"{client} made more than {rate} requests a minute; retry in "
                                                f"{retry_after(wait)} s", {"Retry-After": retry_after(wait)})
        return client

    return authorize


# --- server-sent events -------------------------------------------------------------------------------------------


def sse(data: Any, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n"


def _close(iterator: Iterator[Any]) -> None:
    """Close the ask flow's generator when its client has gone, so no further step (an explanation) starts;
    never raises (ValueError: a step still runs in a worker thread; the generator is closed when collected)."""
    with contextlib.suppress(ValueError, RuntimeError):
        iterator.close()  # type: ignore[attr-defined]


async def ask_stream(events: Iterator[tuple[str, dict[str, Any]]]) -> AsyncIterator[str]:
    try:
        async for event, data in iterate_in_threadpool(events):
            yield sse(data, event)
    except Exception as e:
        _, code, message = classify(e)
        yield sse({"code": code, "message": message}, "error")
    finally:
        _close(events)


def _chunk(ident: str, created: int, model: str, delta: dict[str, str], finish: str | None = None) -> str:
    return sse({"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


class PieceStream:
    """The pieces of one streamed completion, produced by a thread of its own and awaited without one.

    The generation lock is held from a stream's first piece to its last. Pulling pieces through the shared
    thread pool would deadlock once every pool thread waits for that lock (a burst of /v1/ask during a long
    stream) and the stream's next piece finds no thread; a producer thread of its own always finishes and
    releases the lock. ``close`` stops it after the piece in progress (a client that left).
    """

    def __init__(self, pieces: Iterator[str]) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._stop = threading.Event()
        threading.Thread(target=self._produce, args=(pieces,), daemon=True, name="tunesql-stream").start()

    def _put(self, item: tuple[str, Any]) -> None:
        with contextlib.suppress(RuntimeError):  # the event loop is gone: the server is shutting down
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    def _produce(self, pieces: Iterator[str]) -> None:
        try:
            with contextlib.closing(pieces):  # type: ignore[type-var]
                for piece in pieces:
                    if self._stop.is_set():
                        return
                    self._put(("piece", piece))
        except Exception as e:
            self._put(("error", e))
            return
        self._put(("end", None))

    async def next(self) -> str | None:
        """The next piece, None at the end; raises what the backend raised."""
        kind, value = await self._queue.get()
        if kind == "error":
            raise value
        return value if kind == "piece" else None

    def close(self) -> None:
        self._stop.set()


async def chat_stream(pieces: PieceStream, first: str | None, model: str) -> AsyncIterator[str]:
    ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    try:
        yield _chunk(ident, created, model, {"role": "assistant", "content": ""})
        piece = first
        while piece is not None:
            if piece:
                yield _chunk(ident, created, model, {"content": piece})
            piece = await pieces.next()
        yield _chunk(ident, created, model, {}, "stop")
    except Exception as e:
        _, code, message = classify(e)
        yield sse({"error": {"code": code, "message": message}})
    finally:
        pieces.close()
    yield sse("[DONE]")


# --- the app ------------------------------------------------------------------------------------------------------


def create_app(config: ServeConfig, backend: Backend | None = None) -> FastAPI:
    """The API for ``config``; ``backend`` is loaded from ``config.model`` when not given (tests inject a
    ``ScriptedBackend``). Databases open (and a bad URL fails) here, not on the first request."""
    config.validate()
    if backend is None:
        from tunesql.infer.load import load_backend

        backend = load_backend(config.model, config.backend, adapter=config.adapter)
    service = Service(config, backend)
    keys = KeyStore(config.api_keys_file) if config.api_keys_file is not None else None
    if keys is None:
        log.warning("no API keys file: every /v1 route is open to anyone who can reach %s:%s",
                    config.host, config.port)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(title="tunesql", version=__version__, lifespan=lifespan,
                  description="Text-to-SQL on your own databases: an OpenAI-compatible chat endpoint, "
                              "question → SQL → rows, and a web page. Errors are "
                              "`{\"error\": {\"code\", \"message\"}}`.")
    app.state.service = service
    install_error_handlers(app)
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)
    authorize = make_authorize(config, keys, RateLimiter())
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(authorize)], responses=ERROR_RESPONSES)
    _add_routes(app, v1, service)
    app.include_router(v1)
    _add_page(app)
    return app


def _add_routes(app: FastAPI, v1: APIRouter, service: Service) -> None:
    config = service.config

    @app.get("/healthz", response_model=s.Health, tags=["service"])
    def healthz() -> dict[str, Any]:
        """Liveness and what this server offers; needs no key."""
        return {"status": "ok", "model": service.model_name, "databases": list(service.databases)}

    @v1.get("/models", response_model=s.ModelList, tags=["openai"])
    def models() -> dict[str, Any]:
        """The one model this server answers with, in OpenAI's list shape."""
        return {"object": "list", "data": [{"id": service.model_name, "object": "model",
                                            "created": service.started, "owned_by": "tunesql"}]}

    @v1.post("/chat/completions", response_model=s.ChatCompletion, tags=["openai"],
             responses={200: {"content": {"text/event-stream": {}},
                              "description": "JSON, or server-sent chunks when `stream` is true"}})
    async def chat_completions(body: s.ChatCompletionRequest) -> Any:
        """OpenAI chat completions on the served model (any `model` name is accepted)."""
        conversation = chat_conversation(body.messages)
        gen = chat_config(body, config)
        if body.stream:
            pieces = PieceStream(service.backend.stream(conversation, gen))
            try:
                first = await pieces.next()  # a failure to start is still an HTTP error, not a 200 stream
            except BaseException:
                pieces.close()
                raise
            return StreamingResponse(chat_stream(pieces, first, service.model_name),
                                     media_type="text/event-stream", headers=SSE_HEADERS)
        texts, usage = await run_in_threadpool(service.backend.generate_counted, [conversation], gen)
        return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
                "model": service.model_name, "usage": usage,
                "choices": [{"index": i, "message": {"role": "assistant", "content": str(t)},
                             "finish_reason": finish_reason(t)} for i, t in enumerate(texts[0])]}

    @v1.get("/databases", response_model=s.DatabaseList, tags=["databases"])
    def databases() -> dict[str, Any]:
        """The databases a request may name, with their dialect and size."""
        return {"databases": [{"name": name, "dialect": db.dialect, "tables": len(service.schema(name).tables)}
                              for name, db in service.databases.items()]}

    @v1.get("/schema", response_model=s.SchemaResponse, tags=["databases"])
    def schema(db: Annotated[str, Query(description="A database name from /v1/databases.")],
               format: Annotated[s.SchemaFormat | None, Query(
                   description="How to render `text` (default: the format the model reads).")] = None,
               ) -> dict[str, Any]:
        """The schema as the model sees it, and as a list of tables and columns."""
        from tunesql.db.render import render_schema

        sch = service.schema(db)
        fmt = format or config.schema_format
        return {"db": db, "dialect": sch.dialect, "format": fmt,
                "text": render_schema(sch, fmt, samples=config.samples, comments=config.comments),
                "tables": [{"name": t.name, "columns": [{"name": c.name, "type": c.type} for c in t.columns]}
                           for t in sch.tables]}

    @v1.post("/nl2sql", response_model=s.Nl2SqlResponse, tags=["text-to-sql"])
    def nl2sql(body: s.Nl2SqlRequest) -> dict[str, Any]:
        """A question → SQL (voted on by running the candidates read-only), without the rows."""
        return service.nl2sql(body.db, body.question, body.strategy, body.n)

    @v1.post("/sql2nl", response_model=s.Sql2NlResponse, tags=["text-to-sql"])
    def sql2nl(body: s.Sql2NlRequest) -> dict[str, Any]:
        """SQL → what it asks, in plain language (the SQL is not run)."""
        return {"explanation": service.explain(body.db, body.sql)}

    @v1.post("/ask", response_model=s.AskResponse, tags=["text-to-sql"])
    def ask(body: s.AskRequest) -> dict[str, Any]:
        """A question → SQL → rows (read-only, capped) → explanation → chart suggestion, in one answer."""
        return service.ask(body.db, body.question, n=body.n, explain=body.explain, max_rows=body.max_rows)

    @v1.post("/ask/stream", tags=["text-to-sql"],
             responses={200: {"content": {"text/event-stream": {}}, "description": "stage, sql, result, "
                              "explanation, done events (or error), each `event: NAME` + `data: JSON`"}})
    async def ask_stream_route(body: s.AskRequest) -> StreamingResponse:
        """`/v1/ask` as server-sent events, one per step as it finishes."""
        service.database(body.db)  # an unknown database is a 404, not an event
        events = service.ask_events(body.db, body.question, n=body.n, explain=body.explain, max_rows=body.max_rows)
        return StreamingResponse(ask_stream(events), media_type="text/event-stream", headers=SSE_HEADERS)

    @v1.post("/sql/run", response_model=s.SqlRunResponse, tags=["databases"])
    def sql_run(body: s.SqlRunRequest) -> dict[str, Any]:
        """Run one query, model-free, through the same guard, read-only connection and limits as the model's."""
        return service.run_sql(body.db, body.sql, body.max_rows)


def _add_page(app: FastAPI) -> None:
    """The web page, when its files are installed (``serve/static``)."""
    if STATIC_DIR.is_dir():
        from fastapi.staticfiles import StaticFiles

        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        index = STATIC_DIR / "index.html"
        if not index.is_file():
            raise ApiError(404, "not_found", "the web page is not installed in this build; the API is at /docs")
        return FileResponse(index, media_type="text/html")
