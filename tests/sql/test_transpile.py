"""transpile_sql: dialect validation, errors, and Spider-like queries that give the same rows on real engines."""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from tunesql.db.execute import run_query
from tunesql.errors import SQLSyntaxError
from tunesql.sql import resolve_dialect, transpile_sql

DDL = ('CREATE TABLE singer (id INTEGER PRIMARY KEY, name VARCHAR(50), country VARCHAR(50), age INTEGER, '
       'joined DATE, "Home Town" VARCHAR(50))')
ROWS = [
    (1, "Alice", "France", 34, "2019-05-01", "Lyon"),
    (2, "Bob", "France", 29, "2020-01-15", "Paris"),
    (3, "Carla", "Italy", 41, "2019-11-30", "Rome"),
    (4, "Dmitri", "Russia", 25, "2021-07-04", "Kazan"),
    (5, "Anna", "Italy", 38, "2020-03-09", "Milan"),
]
INSERT = "INSERT INTO singer VALUES " + ", ".join(
    "(" + ", ".join(str(v) if isinstance(v, int) else f"'{v}'" for v in row) + ")" for row in ROWS
)

# (name, sql, dialect it is written in)
QUERIES = [
    ("limit_offset", "SELECT name, age FROM singer ORDER BY age DESC LIMIT 2 OFFSET 1", "sqlite"),
    ("concat", "SELECT name || ' (' || country || ')' FROM singer ORDER BY id", "sqlite"),
    ("strftime_year", "SELECT strftime('%Y', joined) AS y, count(*) FROM singer GROUP BY y ORDER BY y", "sqlite"),
    ("strftime_month", "SELECT name FROM singer WHERE strftime('%m', joined) = '05'", "sqlite"),
    ("cast", "SELECT CAST(age AS TEXT) || '!' , CAST('12' AS INTEGER) + age FROM singer ORDER BY id", "sqlite"),
    ("like", "SELECT name FROM singer WHERE name LIKE 'A%' ORDER BY name", "sqlite"),
    ("ilike", "SELECT name FROM singer WHERE name ILIKE 'a%' ORDER BY name", "postgres"),
    ("quoted_ident", 'SELECT "Home Town" FROM singer WHERE "Home Town" <> \'Rome\' ORDER BY "Home Town"',
     "sqlite"),
    ("group_having", "SELECT country, count(*) AS n, avg(age) FROM singer GROUP BY country HAVING count(*) > 1 "
     "ORDER BY country", "sqlite"),
    ("subquery", "SELECT T1.name FROM singer AS T1 WHERE T1.age > (SELECT avg(age) FROM singer) ORDER BY 1",
     "sqlite"),
    ("double_quoted_string", 'SELECT count(*) FROM singer WHERE country = "France"', "sqlite"),
    ("date_compare", "SELECT name FROM singer WHERE joined >= '2020-01-01' ORDER BY joined", "sqlite"),
]


def _value(v):
    if isinstance(v, Decimal):
        v = float(v)
    if isinstance(v, float):
        return round(v, 6)
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()[:10]
    return v


def _rows(result) -> list[tuple]:
    return [tuple(_value(v) for v in row) for row in result.rows]


@pytest.fixture
def engines(tmp_path: Path, pg_url: str, mysql_url: str) -> dict[str, str]:
    """The same table on SQLite, DuckDB, PostgreSQL and MariaDB; returns dialect -> URL/path."""
    sqlite_path = tmp_path / "t.sqlite"
    with sqlite3.connect(sqlite_path) as conn:
        conn.execute(DDL)
        conn.execute(INSERT)
    import duckdb

    duck_path = tmp_path / "t.duckdb"
    with duckdb.connect(str(duck_path)) as conn:
        conn.execute(transpile_sql(DDL, "sqlite", "duckdb"))
        conn.execute(transpile_sql(INSERT, "sqlite", "duckdb"))
    for url, dialect in ((pg_url, "postgres"), (mysql_url, "mysql")):
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql(transpile_sql(DDL, "sqlite", dialect))
            conn.exec_driver_sql(transpile_sql(INSERT, "sqlite", dialect))
        engine.dispose()
    return {"sqlite": str(sqlite_path), "duckdb": str(duck_path), "postgres": pg_url, "mysql": mysql_url}


@pytest.mark.servers
def test_transpiled_queries_give_the_same_rows(engines: dict[str, str]) -> None:
    failures = []
    for name, sql, source in QUERIES:
        expected = _rows(run_query(engines[source], sql))
        assert expected, f"{name}: the reference query returned no rows"
        for target, url in engines.items():
            out = transpile_sql(sql, source, target)
            try:
                got = _rows(run_query(url, out))
            except Exception as e:  # collect every engine's failure for one report
                failures.append(f"{name} {source}->{target}: {type(e).__name__}: {e}\n    {out}")
                continue
            if got != expected:
                failures.append(f"{name} {source}->{target}: {got} != {expected}\n    {out}")
    assert not failures, "\n".join(failures)


def test_known_translations() -> None:
    assert "CONCAT(" in transpile_sql("SELECT a || b FROM t", "sqlite", "mysql")
    assert "TO_CHAR(" in transpile_sql("SELECT strftime('%Y', d) FROM t", "sqlite", "postgres")
    assert "`Home Town`" in transpile_sql('SELECT "Home Town" FROM t', "sqlite", "mysql")
    assert transpile_sql("SELECT 1;", "postgresql", "mariadb") == "SELECT 1"


def test_dialect_names() -> None:
    assert resolve_dialect("PostgreSQL") == "postgres"
    assert resolve_dialect("mariadb") == "mysql"
    assert resolve_dialect("snowflake") == "snowflake"
    with pytest.raises(ValueError, match="tunesql runs on sqlite, duckdb, postgres, mysql"):
        resolve_dialect("oraclez")
    with pytest.raises(ValueError):
        transpile_sql("SELECT 1", "sqlite", "nope")


@pytest.mark.parametrize("bad", ["SELECT FROM WHERE", "", "SELECT 1; SELECT 2", "SELECT 'open"])
def test_errors_name_the_dialects(bad: str) -> None:
    with pytest.raises(SQLSyntaxError, match="sqlite -> postgres"):
        transpile_sql(bad, "sqlite", "postgres")
