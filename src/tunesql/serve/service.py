"""The work behind the routes, with no HTTP in it: databases, the model, and the ask flow as events.

``ask_events`` is the one implementation of "question → SQL → rows → explanation → chart": ``/v1/ask``
collects its events into one JSON body and ``/v1/ask/stream`` forwards them as server-sent events, so the two
routes cannot drift apart.

The model is shared by every request but local backends are not thread-safe, so ``SerialBackend`` lets one
generation run at a time; queries run outside that lock (each database handle has its own), so one client's
SQL never waits for another client's tokens.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from tunesql.cli.common import jsonable
from tunesql.db.connect import Database, open_database
from tunesql.db.execute import QueryResult, run_query
from tunesql.errors import SQLSyntaxError
from tunesql.infer.backend import Backend, GenerationConfig, Message, stream_text, usage_of
from tunesql.infer.pipeline import DEFAULT_BUDGET_TOKENS, explain_sql, request_messages
from tunesql.infer.prune import prune_schema
from tunesql.infer.strategies import Prediction, predict_sql
from tunesql.serve.chart import column_types, suggest_chart

if TYPE_CHECKING:
    from tunesql.db.schema import Schema
    from tunesql.serve.config import ServeConfig

log = logging.getLogger("tunesql.serve")
MAX_MESSAGE = 500
"""An exception's text is cut to this many characters before it reaches a client."""


class ApiError(Exception):
    """An error with its HTTP status and code; the app turns it into ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def short(error: BaseException) -> str:
    """One line of an exception for a client: its type and the start of its message, never a traceback."""
    text = " ".join(str(error).split())
    text = text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "…"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class SerialBackend:
    """A backend that runs one generation at a time and reports any failure as a 502 ``model_error``."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.name = inner.name
        self._lock = threading.Lock()

    def generate(self, conversations: Sequence[Sequence[Message]], config: GenerationConfig) -> list[list[str]]:
        return self.generate_counted(conversations, config)[0]

    def generate_counted(self, conversations: Sequence[Sequence[Message]], config: GenerationConfig
                         ) -> tuple[list[list[str]], dict[str, int] | None]:
        """``generate``, and the tokens it read and wrote as OpenAI's ``usage`` (None where the backend does not
        count: see ``tunesql.infer.backend.Usage``). Counted under the lock, so no other request's tokens mix in."""
        counter = usage_of(self.inner)
        with self._lock:
            before = counter.snapshot() if counter is not None else (0, 0)
            try:
                texts = self.inner.generate(conversations, config)
            except Exception as e:
                raise self._failure(e) from e
            return texts, (counter.since(before) if counter is not None else None)

    def stream(self, conversation: Sequence[Message], config: GenerationConfig) -> Iterator[str]:
        """Text pieces as the model writes them (``stream_text``: the backend's own ``stream`` when it has one,
        else the whole completion as one piece). The lock is held until the stream ends or is closed."""
        with self._lock:
            try:
                yield from stream_text(self.inner, conversation, config)
            except Exception as e:
                raise self._failure(e) from e

    def _failure(self, error: Exception) -> ApiError:
        log.error("model backend %s failed", self.name, exc_info=error)
        return ApiError(502, "model_error", f"the model backend {self.name} failed ({short(error)}); check the "
                                            f"server's log, and that the model or its endpoint is up")


def result_body(result: QueryResult | None) -> dict[str, Any]:
    """Columns with kinds, JSON-safe rows, counts and a chart suggestion; an empty result for None."""
    columns = list(result.columns) if result else []
    raw = list(result.rows) if result else []
    types = column_types(columns, raw)
    return {"columns": types, "rows": [[jsonable(v) for v in r] for r in raw], "row_count": len(raw),
            "truncated": bool(result.truncated) if result else False, "chart": suggest_chart(types, raw)}


UNPARSEABLE = (RecursionError, TypeError, AttributeError, KeyError, IndexError)
"""Plain Python errors sqlglot raises on some garbage (deep nesting, odd tokens) while the guard parses it:
the query never reached the database, so the client gets a 422 sql_error, not a 500."""

ERROR_CODES = {"unsafe": "unsafe_sql", "timeout": "timeout"}
"""A failed prediction's ``error_kind`` → the API's error code (anything else is ``sql_error``)."""


class Service:
    """One server's databases and model; every method is blocking and safe to call from worker threads."""

    def __init__(self, config: ServeConfig, backend: Backend) -> None:
        self.config = config
        self.backend = SerialBackend(backend)
        self.started = int(time.time())
        self.databases: dict[str, Database] = {}
        self._schemas: dict[str, Schema] = {}
        self._schema_lock = threading.Lock()
        try:
            for name, url in config.databases.items():
                self.databases[name] = open_database(url)
        except Exception:
            self.close()
            raise

    @property
    def model_name(self) -> str:
        return self.backend.name

    def close(self) -> None:
        for db in self.databases.values():
            db.close()

    def database(self, name: str) -> Database:
        db = self.databases.get(name)
        if db is None:
            known = ", ".join(sorted(self.databases))
            raise ApiError(404, "not_found", f"no database named {name!r}; this server has: {known}")
        return db

    def schema(self, name: str) -> Schema:
        """The database's schema with sample values, introspected once and kept (schemas rarely change while a
        server runs; restart it after a migration)."""
        db = self.database(name)
        with self._schema_lock:
            if name not in self._schemas:
                self._schemas[name] = db.schema(samples=3)
            return self._schemas[name]

    def warm(self) -> None:
        """Introspect every database and build its value index now, so the first question is not the slow one."""
        from tunesql.infer.retrieval import get_value_index

        for name in self.databases:
            schema = self.schema(name)
            if self.config.values:
                get_value_index(self.databases[name], schema)

    # --- model-free -----------------------------------------------------------------------------------------

    def run_sql(self, db_name: str, sql: str, max_rows: int | None) -> dict[str, Any]:
        """Run one query through the guard and the read-only connection (``run_query``); errors propagate as
        tunesql errors for the app to map."""
        db = self.database(db_name)
        try:
            result = run_query(db, sql, timeout=self.config.sql_timeout, max_rows=self._rows(max_rows))
        except UNPARSEABLE as e:
            raise SQLSyntaxError(f"the query could not be parsed to be checked ({type(e).__name__}); fix its "
                                 f"syntax (or its nesting depth) and run it again") from e
        return result_body(result)

    def _rows(self, requested: int | None) -> int:
        return min(requested or self.config.max_rows, self.config.max_rows)

    def _n(self, requested: int | None) -> int:
        return min(requested or self.config.n, self.config.max_n)

    # --- with the model -------------------------------------------------------------------------------------

    def _predict(self, db_name: str, question: str, strategy: str, n: int, max_rows: int
                 ) -> tuple[Prediction, Schema]:
        """The vote (or greedy answer) for ``question``, and the schema the prompt showed (pruned on large
        databases), which the explanation then uses too, as ``answer_question`` does."""
        cfg = self.config
        db = self.database(db_name)
        messages, pruned, _ = request_messages(question, db, self.schema(db_name), schema_format=cfg.schema_format,
                                               values=cfg.values, samples=cfg.samples, comments=cfg.comments)
        pred = predict_sql(self.backend, messages, db, strategy, n=n, temperature=cfg.temperature,
                           timeout=cfg.sql_timeout, max_rows=max_rows)
        return pred, pruned.schema

    def nl2sql(self, db_name: str, question: str, strategy: str | None, n: int | None) -> dict[str, Any]:
        pred, _ = self._predict(db_name, question, strategy or self.config.strategy, self._n(n), self.config.max_rows)
        return {"sql": pred.sql, "confidence": pred.confidence, "dialect": self.database(db_name).dialect,
                "error": pred.error}

    def explain(self, db_name: str, sql: str, schema: Schema | None = None) -> str:
        """SQL → plain language. Without a schema from a prompt, the database's is pruned with the SQL itself
        as the query, so a large database still fits and the tables the SQL names stay."""
        cfg = self.config
        if schema is None:
            schema = prune_schema(self.schema(db_name), sql, budget_tokens=DEFAULT_BUDGET_TOKENS,
                                  schema_format=cfg.schema_format, samples=cfg.samples, comments=cfg.comments).schema
        return explain_sql(sql, schema, self.backend, schema_format=cfg.schema_format)

    def ask_events(self, db_name: str, question: str, *, n: int | None = None, explain: bool | None = None,
                   max_rows: int | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        """The ask flow as ``(event, data)`` pairs, in the order the stream sends them (see docs/serve-api.md).

        A query that did not run ends the flow with an ``error`` event; a failing model or database raises.
        """
        start = time.perf_counter()
        self.database(db_name)  # an unknown name fails before any work
        yield "stage", {"stage": "sql"}
        pred, shown = self._predict(db_name, question, self.config.strategy, self._n(n), self._rows(max_rows))
        yield "sql", {"sql": pred.sql, "confidence": pred.confidence, "samples": len(pred.candidates)}
        if pred.error is not None:
            yield "error", {"code": ERROR_CODES.get(pred.error_kind or "", "sql_error"), "message": pred.error}
            return
        yield "stage", {"stage": "run"}
        yield "result", result_body(pred.result)
        if self.config.explain if explain is None else explain:
            yield "stage", {"stage": "explain"}
            yield "explanation", {"explanation": self.explain(db_name, pred.sql, shown)}
        yield "done", {"seconds": round(time.perf_counter() - start, 3)}

    def ask(self, db_name: str, question: str, *, n: int | None = None, explain: bool | None = None,
            max_rows: int | None = None) -> dict[str, Any]:
        """``ask_events`` gathered into the ``/v1/ask`` body."""
        start = time.perf_counter()
        body: dict[str, Any] = {"question": question, "db": db_name, "sql": "", "confidence": 0.0, "samples": 0,
                                "explanation": None,
                                "error": None, **result_body(None)}
        for event, data in self.ask_events(db_name, question, n=n, explain=explain, max_rows=max_rows):
            if event == "error":
                body["error"] = data["message"]
            elif event != "stage":
                body.update(data)
        body["seconds"] = round(time.perf_counter() - start, 3)
        return body


def chat_conversation(messages: Sequence[Any]) -> list[Message]:
    """OpenAI chat messages (``schemas.ChatMessage``) as backend messages; ``developer`` speaks as ``system``."""
    return [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in messages]


def chat_config(request: Any, config: ServeConfig) -> GenerationConfig:
    """A chat request's sampling settings (``schemas.ChatCompletionRequest``), within the server's limits."""
    if request.n > config.max_n:
        raise ApiError(400, "bad_request", f"n={request.n} is more than this server allows (max_n={config.max_n}); "
                                           f"ask for fewer completions")
    if request.stream and request.n != 1:
        raise ApiError(400, "bad_request", "streaming returns one completion: send n=1 with stream=true")
    wanted = request.max_completion_tokens or request.max_tokens or config.max_new_tokens
    stop = [request.stop] if isinstance(request.stop, str) else list(request.stop or [])
    return GenerationConfig(max_new_tokens=min(wanted, config.max_new_tokens),
                            temperature=request.temperature or 0.0,
                            top_p=request.top_p or 1.0, n=request.n, stop=stop, seed=request.seed)
