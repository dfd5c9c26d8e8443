"""The statement guard alone, without a database: data-driven, per dialect."""

from __future__ import annotations

import doctest

import pytest

from tunesql.db import guard
from tunesql.db.guard import check_sql, is_forbidden_function
from tunesql.errors import SQLSyntaxError, UnsafeSQLError

from .sql_corpus import HOSTILE, ORDINARY

DIALECTS = ["sqlite", "duckdb", "postgres", "mysql"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_hostile_statement_is_refused_by_the_guard(dialect: str) -> None:
    passed = []
    for sql in HOSTILE:
        try:
            check_sql(sql.replace("{evil}", "/tmp/x"), dialect)
        except (UnsafeSQLError, SQLSyntaxError):
            continue
        passed.append(sql)
    assert not passed, f"{dialect} guard let these through: {passed}"


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("sql", ORDINARY)
def test_ordinary_queries_pass_the_guard(sql: str, dialect: str) -> None:
    assert check_sql(sql, dialect) is not None


@pytest.mark.parametrize(
    ("sql", "dialect"),
    [
        ("SELECT 'DELETE FROM singer; DROP TABLE x' AS s", "sqlite"),
        ("SELECT \"update\", \"delete\" FROM log", "postgres"),
        ("SELECT `drop` FROM t", "mysql"),
        ("SELECT name FROM singer -- DROP TABLE singer", "sqlite"),
        ("SELECT 1 /* ; DELETE FROM x */", "sqlite"),
        ("VALUES (1, 'a'), (2, 'b')", "postgres"),
        ("(SELECT 1) UNION ALL (SELECT 2) ORDER BY 1", "sqlite"),
        ("SELECT * FROM singer;", "sqlite"),
        ("WITH x AS (SELECT 1 AS a) SELECT a FROM x", "duckdb"),
        ("SELECT strftime('%Y', order_date) FROM orders", "sqlite"),
        ("SELECT reader FROM readers", "postgres"),  # names that merely start like forbidden ones
        ("SELECT now(), current_date, length('sleep')", "postgres"),
        ("SELECT * FROM pragma_table_info('singer')", "sqlite"),
        ("SELECT /*+ MAX_EXECUTION_TIME(10) */ 1", "mysql"),
    ],
)
def test_harmless_lookalikes_are_allowed(sql: str, dialect: str) -> None:
    check_sql(sql, dialect)


@pytest.mark.parametrize(
    ("sql", "dialect", "reason"),
    [
        ("DELETE FROM t", "sqlite", "DELETE writes data"),
        ("SELECT 1; SELECT 2", "sqlite", "exactly one statement"),
        ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "postgres", "DELETE"),
        ("SELECT * INTO t2 FROM t", "postgres", "INTO"),
        ("SELECT pg_sleep(1)", "postgres", "pg_sleep"),
        ("SELECT * FROM '/etc/passwd'", "duckdb", "file"),
        ("SELECT 1 /*!, sleep(1) */", "mysql", "executable comment"),
        ("PRAGMA query_only = 0", "sqlite", "PRAGMA"),
        ("SELECT * FROM t FOR UPDATE", "postgres", "row locks"),
    ],
)
def test_refusals_say_why(sql: str, dialect: str, reason: str) -> None:
    with pytest.raises(UnsafeSQLError, match=reason):
        check_sql(sql, dialect)


def test_syntax_errors_are_not_called_unsafe() -> None:
    with pytest.raises(SQLSyntaxError, match="does not parse"):
        check_sql("SELECT FROM WHERE (", "sqlite")
    with pytest.raises(SQLSyntaxError, match="empty"):
        check_sql("  ", "sqlite")


def test_forbidden_function_names() -> None:
    assert is_forbidden_function("PG_SLEEP") and is_forbidden_function("pg_advisory_xact_lock")
    assert is_forbidden_function("read_csv_auto") and is_forbidden_function("lo_import")
    assert not is_forbidden_function("count") and not is_forbidden_function("strftime")


def test_docstring_examples() -> None:
    assert doctest.testmod(guard).failed == 0


@pytest.mark.parametrize("sql", ["SELEC * FRM orders", "foo", "hello world"])
def test_gibberish_is_a_syntax_error_not_an_attack(sql: str) -> None:
    """Typos must reach repair as syntax errors; they still never run."""
    with pytest.raises(SQLSyntaxError, match="not a SQL statement"):
        check_sql(sql, "sqlite")


def test_sqlite_glob_operator_and_trailing_comment_are_ordinary() -> None:
    """GLOB is a string operator in SQLite (only DuckDB's glob() lists files); a trailing comment is no statement."""
    check_sql("SELECT name FROM singer WHERE name GLOB 'J*'; -- the J singers", "sqlite")
    check_sql("SELECT glob('J*', name) FROM singer", "sqlite")
    with pytest.raises(UnsafeSQLError, match="glob"):
        check_sql("SELECT glob('/*')", "duckdb")
    with pytest.raises((UnsafeSQLError, SQLSyntaxError)):
        check_sql("SELECT * FROM glob('/*')", "sqlite")
    with pytest.raises(UnsafeSQLError, match="glob"):
        check_sql("SELECT * FROM glob('/*')", "duckdb")


@pytest.mark.parametrize("sql", ["SELECT " + "(" * 3000 + "1" + ")" * 3000, "SELECT  C%uN/VD?w->|"])
def test_garbage_that_breaks_the_parser_is_a_syntax_error(sql: str) -> None:
    """Model output that makes sqlglot fail with a plain Python error is refused as SQL, never a crash."""
    from tunesql.errors import SQLSyntaxError

    with pytest.raises(SQLSyntaxError):
        check_sql(sql, "sqlite")
