"""The security core, for real, on all four engines: refuse what could change anything, run what is a query.

Each engine gets the same small database (singer, concert, and a 2,000-row `big` table for runaway joins). The
SQLite and DuckDB files are hashed; the server databases are checksummed table by table, before and after.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from tunesql.db import open_database, run_query
from tunesql.db.connect import Database
from tunesql.db.execute import _RUNNERS
from tunesql.errors import ExecutionError, QueryTimeout, SQLSyntaxError, UnsafeSQLError

from .sql_corpus import HOSTILE, ORDINARY

SINGERS = [(1, "Joe Sharp", 52, "Netherlands"), (2, "Timbaland", 32, "United States"),
           (3, "Justin Brown", 29, "France"), (4, "Rose White", 41, "France"),
           (5, "John Nizinik", 43, "France"), (6, "Tribal King", 25, "France")]
CONCERTS = [(1, 1, 2014, 1200), (2, 2, 2014, 800), (3, 2, 2015, 3000), (4, 4, 2015, 500), (5, 5, 2016, 2500)]

DDL = [
    "CREATE TABLE singer (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL, age INTEGER, country VARCHAR(50))",
    "CREATE TABLE concert (id INTEGER PRIMARY KEY, singer_id INTEGER REFERENCES singer (id), year INTEGER, "
    "attendance INTEGER)",
    "CREATE TABLE big (x INTEGER)",
]


def _seed(execute: Callable[[str], object]) -> None:
    for stmt in DDL:
        execute(stmt)
    execute("INSERT INTO singer VALUES " + ", ".join(f"({i}, '{n}', {a}, '{c}')" for i, n, a, c in SINGERS))
    execute("INSERT INTO concert VALUES " + ", ".join(str(c) for c in CONCERTS))
    execute("INSERT INTO big VALUES " + ", ".join(f"({i})" for i in range(2000)))


def _sqlalchemy_seed(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        _seed(lambda s: conn.exec_driver_sql(s))
    engine.dispose()


@pytest.fixture(params=["sqlite", "duckdb", "postgresql", "mysql"])
def engine_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Database, Callable]]:
    """(backend, read-only handle, snapshot()) for one seeded database of each engine."""
    backend = request.param
    if backend == "sqlite":
        path = tmp_path / "t.sqlite"
        _sqlalchemy_seed(f"sqlite:///{path}")
        url = str(path)
    elif backend == "duckdb":
        path = tmp_path / "t.duckdb"
        con = duckdb.connect(str(path))
        _seed(con.execute)
        con.close()
        url = str(path)
    else:
        url = request.getfixturevalue("pg_url" if backend == "postgresql" else "mysql_url")
        _sqlalchemy_seed(url)
    db = open_database(url)

    def snapshot() -> str:
        if db.path is not None:
            files = sorted(p.name for p in db.path.parent.iterdir())
            return hashlib.sha256(db.path.read_bytes()).hexdigest() + repr(files)
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            names = sorted(sa.inspect(conn).get_table_names())
            parts = [repr(names)]
            for name in names:
                rows = conn.exec_driver_sql(f"SELECT * FROM {name}").fetchall()
                parts.append(f"{name}:{sorted(map(repr, rows))}")
            if backend == "postgresql":
                parts.append(repr(conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                    "WHERE n.nspname = 'public'").scalar()))
        engine.dispose()
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    try:
        yield backend, db, snapshot
    finally:
        db.close()


def test_hostile_statements_are_all_refused_and_nothing_changes(engine_db, tmp_path: Path) -> None:
    backend, db, snapshot = engine_db
    before = snapshot()
    evil = Path("/tmp") / f"tunesql-evil-{uuid.uuid4().hex}"
    not_refused = []
    for template in HOSTILE:
        sql = template.replace("{evil}", str(evil))
        try:
            run_query(db, sql, timeout=5)
        except (UnsafeSQLError, SQLSyntaxError):
            continue
        except Exception as e:  # reaching the engine at all is the failure
            not_refused.append(f"{sql!r} reached the database: {type(e).__name__}: {e}")
        else:
            not_refused.append(f"{sql!r} ran")
    assert not not_refused, "\n".join(not_refused)
    assert len(HOSTILE) >= 60
    assert snapshot() == before, f"{backend} database changed"
    assert not evil.exists()


@pytest.mark.parametrize("sql", [
    "DELETE FROM singer", "UPDATE singer SET age = 0", "INSERT INTO singer VALUES (9, 'x', 1, 'y')",
    "DROP TABLE concert", "CREATE TABLE evil (a INT)",
])
def test_connection_alone_refuses_writes(engine_db, sql: str) -> None:
    """Lock 2 without lock 1: even if the statement guard had a hole, the connection cannot write."""
    _, db, snapshot = engine_db
    before = snapshot()
    with pytest.raises((UnsafeSQLError, ExecutionError)):
        _RUNNERS[db.backend](db, sql, 5.0, 100)
    assert snapshot() == before


def _canonical(rows: list[tuple]) -> list[tuple]:
    def value(v: object) -> object:
        if isinstance(v, Decimal):
            v = float(v)
        if isinstance(v, float):
            return round(v, 6)
        return v
    return sorted((tuple(value(v) for v in r) for r in rows), key=repr)


@pytest.fixture(scope="module")
def ordinary_results() -> dict[str, dict[str, list[tuple]]]:
    return {}


def test_ordinary_queries_run_with_the_same_result_everywhere(engine_db, ordinary_results) -> None:
    backend, db, snapshot = engine_db
    before = snapshot()
    for sql in ORDINARY:
        result = run_query(db, sql, timeout=10)
        assert not result.truncated
        assert result.columns, sql
        ordinary_results.setdefault(sql, {})[backend] = _canonical(result.rows)
    assert snapshot() == before
    # Compare with every engine that ran before this one (sqlite runs first).
    for sql, by_engine in ordinary_results.items():
        reference = by_engine.get("sqlite")
        if reference is not None and backend in by_engine:
            assert by_engine[backend] == reference, f"{backend} differs from sqlite on {sql!r}"
    assert ordinary_results[ORDINARY[1]][backend] == [(len(SINGERS),)]


def test_runaway_cartesian_join_is_stopped_within_timeout_plus_one_second(engine_db) -> None:
    _, db, _ = engine_db
    sql = "SELECT COUNT(*) FROM big a, big b, big c, big d WHERE a.x * b.x <> c.x + d.x"
    start = time.monotonic()
    with pytest.raises(QueryTimeout):
        run_query(db, sql, timeout=1.0)
    assert time.monotonic() - start < 2.0
    # The handle is still usable afterwards.
    assert run_query(db, "SELECT COUNT(*) FROM singer").rows == [(len(SINGERS),)]


def test_rows_past_max_rows_are_never_fetched(engine_db) -> None:
    """A billion-row result with max_rows=5 comes back at once, cut, with truncated=True."""
    _, db, _ = engine_db
    start = time.monotonic()
    result = run_query(db, "SELECT a.x, b.x, c.x FROM big a, big b, big c", max_rows=5, timeout=20)
    assert len(result.rows) == 5 and result.truncated
    assert time.monotonic() - start < 5.0
    exact = run_query(db, "SELECT id FROM singer", max_rows=len(SINGERS))
    assert len(exact.rows) == len(SINGERS) and not exact.truncated
    assert run_query(db, "SELECT COUNT(*) FROM singer").rows == [(len(SINGERS),)]


def test_errors_are_typed_and_say_what_failed(engine_db) -> None:
    _, db, _ = engine_db
    with pytest.raises(ExecutionError, match=r"(?i)no_such_column"):
        run_query(db, "SELECT no_such_column FROM singer")
    with pytest.raises(SQLSyntaxError):
        run_query(db, "SELECT FROM WHERE")
    with pytest.raises(UnsafeSQLError, match="DELETE"):
        run_query(db, "DELETE FROM singer")


def test_spider_database_in_readonly_folder(spider_dir: Path) -> None:
    """The shared Spider folder is read-only: opening read-only must work there and never write."""
    path = spider_dir / "database" / "concert_singer" / "concert_singer.sqlite"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    result = run_query(path, "SELECT COUNT(*) FROM singer")
    assert result.rows == [(6,)]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_missing_file_is_a_clear_connect_error(tmp_path: Path) -> None:
    from tunesql.errors import ConnectError

    with pytest.raises(ConnectError, match="not found"):
        run_query(tmp_path / "nope.sqlite", "SELECT 1")


def test_bad_limits_are_rejected() -> None:
    with pytest.raises(ValueError, match="timeout"):
        run_query(None, "SELECT 1", timeout=0)
    with pytest.raises(ValueError, match="max_rows"):
        run_query(None, "SELECT 1", max_rows=-1)
