"""URL resolution and read-only handles."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tunesql.db import bundled_db_path, open_database, run_query
from tunesql.db.connect import database_handles, resolve_url
from tunesql.errors import ConnectError


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg2://u@h/db", "postgresql+psycopg2"),
        ("mysql://root@h/db", "mysql+pymysql"),
        ("mariadb://root@h/db", "mysql+pymysql"),
        ("sqlite:///x.sqlite", "sqlite"),
        ("duckdb:///x.duckdb", "duckdb"),
        ("some/file.sqlite", "sqlite"),
        ("some/file.db", "sqlite"),
        ("some/file.duckdb", "duckdb"),
    ],
)
def test_resolve_url_picks_a_driver_that_installs_from_pypi(given: str, driver: str) -> None:
    assert resolve_url(given).drivername == driver


def test_no_url_means_the_bundled_database() -> None:
    url = resolve_url(None)
    assert url.drivername == "sqlite" and Path(url.database) == bundled_db_path()
    assert resolve_url("") == url


def test_unsupported_or_malformed_urls_are_clear() -> None:
    with pytest.raises(ConnectError, match="unsupported database 'oracle'"):
        resolve_url("oracle://u@h/db")
    with pytest.raises(ConnectError, match="not found"):
        open_database("/nonexistent/dir/x.sqlite")


def test_readonly_engine_cannot_write_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (a INT)")
    engine.dispose()
    with open_database(path) as db, db.engine.connect() as conn, pytest.raises(sa.exc.OperationalError):
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")


def test_postgres_url_options_are_kept(pg_url: str) -> None:
    """A search_path given in the URL still applies; read-only is added on top, not instead."""
    admin = sa.create_engine(pg_url)
    with admin.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA sales")
        conn.exec_driver_sql("CREATE TABLE sales.deals (id INT)")
        conn.exec_driver_sql("INSERT INTO sales.deals VALUES (7)")
    admin.dispose()
    db = open_database(f"{pg_url}?options=-csearch_path%3Dsales")
    try:
        assert run_query(db, "SELECT id FROM deals").rows == [(7,)]
        with db.engine.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="read-only"):
            conn.exec_driver_sql("INSERT INTO deals VALUES (8)")
    finally:
        db.close()


def test_mysql_engine_is_read_only(mysql_url: str) -> None:
    admin = sa.create_engine(mysql_url)
    with admin.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (a INT)")
    admin.dispose()
    db = open_database(mysql_url.replace("mysql+pymysql://", "mysql://"))
    try:
        with db.engine.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="READ ONLY"):
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    finally:
        db.close()


def test_database_handles_open_once_and_close_on_exit(tmp_path: Path) -> None:
    """One handle per db_id however often it is asked for; None where nothing is found; closed on exit."""
    calls: list[str] = []

    def locate(db_id: str) -> Path | None:
        calls.append(db_id)
        return bundled_db_path() if db_id == "shop" else None

    with database_handles(locate) as handle:
        first = handle("shop")
        assert first is not None and handle("shop") is first
        assert handle("nowhere") is None and handle("nowhere") is None
        assert run_query(first, "SELECT 1").rows == [(1,)]
    assert calls == ["shop", "nowhere"]
    assert first._raw is None and first._engine is None  # closed, not left to the garbage collector

    with database_handles(locate, enabled=False) as handle:
        assert handle("shop") is None


def test_database_handles_unreachable_raises_or_counts_as_missing(tmp_path: Path) -> None:
    gone = tmp_path / "gone.sqlite"
    with database_handles(lambda _: gone) as handle, pytest.raises(ConnectError, match=r"gone\.sqlite"):
        handle("x")
    with database_handles(lambda _: gone, unreachable_ok=True) as handle:
        assert handle("x") is None
