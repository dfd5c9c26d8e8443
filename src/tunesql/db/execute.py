"""Run one model-written query with both locks closed and both limits on.

Lock 1 is ``guard.check_sql`` (one plain query, nothing that writes or reaches outside). Lock 2 is the
connection: SQLite read-only URI + ``query_only`` + an authorizer that denies every action but reads; DuckDB
``read_only`` with external access off and the configuration locked; PostgreSQL ``BEGIN READ ONLY``; MySQL
``START TRANSACTION READ ONLY``. Limits: the timeout is enforced inside the engine (SQLite progress handler,
DuckDB ``interrupt()``, ``statement_timeout``, ``max_statement_time`` / ``max_execution_time``), and rows are
streamed so that at most ``max_rows + 1`` are ever fetched (the extra one only says the result was cut).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesql.db.connect import DUCKDB_CONFIG, Database, open_database
from tunesql.db.guard import check_sql, is_forbidden_function
from tunesql.errors import ExecutionError, QueryTimeout, UnsafeSQLError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_ROWS = 10_000
_PROGRESS_EVERY = 1_000  # SQLite VM instructions between deadline checks (~microseconds each)


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool
    """True when the query had more than ``max_rows`` rows; ``rows`` holds the first ``max_rows``."""
    seconds: float


def run_query(
    db: Database | str | Path | URL | None,
    sql: str,
    *,
    timeout: float | None = None,
    max_rows: int | None = None,
) -> QueryResult:
    """Run ``sql`` read-only on ``db`` (a handle, a URL, a path, or None for the bundled database).

    Raises SQLSyntaxError or UnsafeSQLError before touching the database, QueryTimeout when the engine stopped
    the query at ``timeout`` seconds, ExecutionError for anything else the database refused.
    """
    timeout = DEFAULT_TIMEOUT if timeout is None else float(timeout)
    max_rows = DEFAULT_MAX_ROWS if max_rows is None else int(max_rows)
    if timeout <= 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
    if max_rows < 0:
        raise ValueError(f"max_rows must be >= 0, got {max_rows}")
    owned = not isinstance(db, Database)
    handle = open_database(db) if owned else db
    assert isinstance(handle, Database)
    try:
        check_sql(sql, handle.dialect)
        run = _RUNNERS[handle.backend]
        start = time.perf_counter()
        columns, rows, truncated = run(handle, sql, timeout, max_rows)
        return QueryResult(columns, rows, truncated, time.perf_counter() - start)
    finally:
        if owned:
            handle.close()


def _split(rows: list[tuple[Any, ...]], max_rows: int) -> tuple[list[tuple[Any, ...]], bool]:
    return [tuple(r) for r in rows[:max_rows]], len(rows) > max_rows


# --- SQLite -------------------------------------------------------------------------------------------------

_SQLITE_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, getattr(sqlite3, "SQLITE_RECURSIVE", 33)}


def _sqlite_authorizer(action: int, arg1: str | None, arg2: str | None, *_: object) -> int:
    if action in _SQLITE_ALLOWED:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION and not is_forbidden_function(arg2 or "", "sqlite"):
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _sqlite_conn(db: Database) -> sqlite3.Connection:
    if db._raw is None:
        from tunesql.db.connect import _sqlite_readonly_connect

        assert db.path is not None
        conn = _sqlite_readonly_connect(db.path)
        conn.set_authorizer(_sqlite_authorizer)
        db._raw = conn
    return db._raw


def _run_sqlite(db: Database, sql: str, timeout: float, max_rows: int):
    with db._lock:
        conn = _sqlite_conn(db)
        deadline = time.monotonic() + timeout
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), _PROGRESS_EVERY)
        cur = None
        try:
            cur = conn.execute(sql)
            columns = [d[0] for d in cur.description or []]
            rows = cur.fetchmany(max_rows + 1) if cur.description else []
        except sqlite3.OperationalError as e:
            if "interrupted" in str(e):
                raise QueryTimeout(f"query stopped after {timeout:g} s (SQLite progress handler)") from e
            if "not authorized" in str(e):
                raise UnsafeSQLError(f"the read-only SQLite connection refused it: {e}") from e
            raise ExecutionError(f"SQLite: {e}") from e
        except (sqlite3.Error, sqlite3.Warning, ValueError, OverflowError) as e:
            raise ExecutionError(f"SQLite: {e}") from e
        finally:
            if cur is not None:
                cur.close()
            conn.set_progress_handler(None, 0)
    return (columns, *_split(rows, max_rows))


# --- DuckDB -------------------------------------------------------------------------------------------------


def _run_duckdb(db: Database, sql: str, timeout: float, max_rows: int):
    import duckdb

    with db._lock:
        if db._raw is None:
            db._raw = duckdb.connect(str(db.path), read_only=True, config=dict(DUCKDB_CONFIG))
        conn = db._raw
        timer = threading.Timer(timeout, conn.interrupt)
        timer.start()
        try:
            cur = conn.execute(sql)
            columns = [d[0] for d in cur.description or []]
            rows = cur.fetchmany(max_rows + 1) if cur.description else []
        except duckdb.InterruptException as e:
            raise QueryTimeout(f"query stopped after {timeout:g} s (DuckDB interrupt)") from e
        except (duckdb.PermissionException, duckdb.InvalidInputException) as e:
            if "read-only" in str(e) or "external access" in str(e).lower() or "disabled" in str(e):
                raise UnsafeSQLError(f"the read-only DuckDB connection refused it: {e}") from e
            raise ExecutionError(f"DuckDB: {e}") from e
        except duckdb.Error as e:
            if not timer.is_alive() and "interrupt" in str(e).lower():
                raise QueryTimeout(f"query stopped after {timeout:g} s (DuckDB interrupt)") from e
            raise ExecutionError(f"DuckDB: {e}") from e
        finally:
            timer.cancel()
    return (columns, *_split(rows, max_rows))


# --- PostgreSQL ---------------------------------------------------------------------------------------------


def _run_postgres(db: Database, sql: str, timeout: float, max_rows: int):
    import psycopg

    with db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        try:
            raw.rollback()
            raw.read_only = True
            with raw.cursor() as setup:
                setup.execute(f"SET LOCAL statement_timeout = {max(1, int(timeout * 1000))}")
            # A server-side cursor: rows stay on the server until fetched, and DECLARE takes one query only.
            with raw.cursor(name="tunesql_query") as cur:
                cur.execute(sql)
                columns = [d.name for d in cur.description or []]
                rows = cur.fetchmany(max_rows + 1) if cur.description else []
        except psycopg.errors.QueryCanceled as e:
            raise QueryTimeout(f"query stopped after {timeout:g} s (statement_timeout)") from e
        except psycopg.errors.ReadOnlySqlTransaction as e:
            raise UnsafeSQLError(f"the read-only PostgreSQL transaction refused it: {e}") from e
        except psycopg.Error as e:
            raise ExecutionError(f"PostgreSQL: {str(e).strip()}") from e
        finally:
            raw.rollback()
    return (columns, *_split(rows, max_rows))


# --- MySQL / MariaDB ----------------------------------------------------------------------------------------

_MYSQL_TIMEOUT_ERRNOS = {1969, 3024, 1317}  # MariaDB max_statement_time, MySQL max_execution_time, interrupted
_MYSQL_READONLY_ERRNOS = {1792, 1290}


def _run_mysql(db: Database, sql: str, timeout: float, max_rows: int):
    import pymysql

    with db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        invalidate = False
        cur = None
        try:
            with raw.cursor() as setup:
                if conn.dialect.is_mariadb:
                    setup.execute(f"SET SESSION max_statement_time = {max(0.001, timeout):.3f}")
                else:
                    setup.execute(f"SET SESSION max_execution_time = {max(1, int(timeout * 1000))}")
                setup.execute("START TRANSACTION READ ONLY")
            cur = raw.cursor(pymysql.cursors.SSCursor)  # unbuffered: rows stream from the server
            cur.execute(sql)  # no args: pymysql does no %-interpolation
            columns = [d[0] for d in cur.description or []]
            rows = list(cur.fetchmany(max_rows + 1)) if cur.description else []
            if len(rows) > max_rows:
                # Closing an unbuffered cursor would read every remaining row; drop the connection instead.
                invalidate = True
            else:
                cur.close()
        except pymysql.err.MySQLError as e:
            code = e.args[0] if e.args else None
            invalidate = True
            if code in _MYSQL_TIMEOUT_ERRNOS:
                raise QueryTimeout(f"query stopped after {timeout:g} s (max_statement_time)") from e
            if code in _MYSQL_READONLY_ERRNOS:
                raise UnsafeSQLError(f"the read-only MySQL transaction refused it: {e}") from e
            raise ExecutionError(f"MySQL: {e.args[-1] if e.args else e}") from e
        finally:
            if invalidate:
                result = getattr(cur, "_result", None)
                if result is not None:  # stop pymysql from draining the rest when the cursor is collected
                    result.unbuffered_active = False
                conn.invalidate()
            else:
                raw.rollback()
    return (columns, *_split(rows, max_rows))


_RUNNERS = {"sqlite": _run_sqlite, "duckdb": _run_duckdb, "postgresql": _run_postgres, "mysql": _run_mysql}
