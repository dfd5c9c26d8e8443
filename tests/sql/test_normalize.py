"""normalize_sql / exact_match: a table of (a, b, equal?) pairs, checked in both directions."""

from __future__ import annotations

import json

import pytest

from tunesql.db.schema import Column, Schema, Table
from tunesql.errors import SQLSyntaxError
from tunesql.sql import exact_match, normalize_sql, try_normalize

# (a, b, equal?, dialect)
PAIRS = [
    # keyword case, whitespace, semicolons, comments
    ("SELECT name FROM singer", "select   name\n  from singer ;", True, "sqlite"),
    ("SELECT name FROM singer", "SELECT name FROM singer -- the names\n;;", True, "sqlite"),
    ("SELECT count(*) FROM singer", "SELECT COUNT(*) FROM singer", True, "sqlite"),
    # identifier case and quotes
    ("SELECT Name FROM Singer", "SELECT name FROM singer", True, "sqlite"),
    ('SELECT singer."Name" FROM `Singer`', "SELECT name FROM [singer]", True, "sqlite"),
    ('SELECT "name" FROM singer', "SELECT name FROM singer", True, "duckdb"),
    ("SELECT `Name` FROM `Singer`", "SELECT name FROM singer", True, "mysql"),
    ('SELECT "Name" FROM singer', "SELECT name FROM singer", False, "postgres"),
    ('SELECT "name" FROM singer', "SELECT Name FROM singer", True, "postgres"),
    # string literals: quote style normalised, case kept
    ("SELECT * FROM t WHERE a = 'Bob'", "SELECT * FROM t WHERE a = 'bob'", False, "sqlite"),
    ("SELECT * FROM t WHERE a = 'Bob'", 'SELECT * FROM t WHERE a = "Bob"', True, "sqlite"),
    ('SELECT * FROM t WHERE a = "Bob"', 'SELECT * FROM t WHERE a = "bob"', False, "sqlite"),
    ("SELECT * FROM t WHERE a = 'Bob'", 'SELECT * FROM t WHERE a = "Bob"', True, "mysql"),
    ("SELECT * FROM t WHERE a LIKE '%Al%'", 'SELECT * FROM t WHERE a LIKE "%Al%"', True, "sqlite"),
    ("SELECT * FROM t WHERE a IN ('x', 'y')", 'SELECT * FROM t WHERE a IN ("x", "y")', True, "sqlite"),
    ("SELECT * FROM t WHERE a = 'O''Brien'", "SELECT * FROM t WHERE a = 'O''Brien' ", True, "sqlite"),
    ("SELECT * FROM t WHERE a = 'x'", "SELECT * FROM t WHERE a = 'x '", False, "sqlite"),
    # operators
    ("SELECT * FROM t WHERE a != 1", "SELECT * FROM t WHERE a <> 1", True, "sqlite"),
    ("SELECT * FROM t WHERE a == 1", "SELECT * FROM t WHERE a = 1", True, "sqlite"),
    ("SELECT * FROM t WHERE a > 1", "SELECT * FROM t WHERE a >= 1", False, "sqlite"),
    ("SELECT * FROM t WHERE a IS NOT NULL", "SELECT * FROM t WHERE NOT a IS NULL", True, "sqlite"),
    # parentheses
    ("SELECT * FROM t WHERE (a = 1)", "SELECT * FROM t WHERE a = 1", True, "sqlite"),
    ("SELECT ((a)) FROM t", "SELECT a FROM t", True, "sqlite"),
    ("SELECT * FROM t WHERE (a = 1) AND (b = 2)", "SELECT * FROM t WHERE a = 1 AND b = 2", True, "sqlite"),
    ("SELECT * FROM t WHERE (a = 1 OR b = 2) AND c = 3", "SELECT * FROM t WHERE a = 1 OR b = 2 AND c = 3",
     False, "sqlite"),
    ("SELECT (a + b) * 2 FROM t", "SELECT a + b * 2 FROM t", False, "sqlite"),
    ("SELECT a - (b - c) FROM t", "SELECT a - b - c FROM t", False, "sqlite"),
    ("SELECT (a * b) + c FROM t", "SELECT a * b + c FROM t", True, "sqlite"),
    # aliases
    ("SELECT count(*) AS n FROM t", "SELECT count(*) n FROM t", True, "sqlite"),
    ("SELECT count(*) AS n FROM t", "SELECT count(*) FROM t", False, "sqlite"),
    ("SELECT T1.name FROM singer AS T1", "SELECT name FROM singer", True, "sqlite"),
    ("SELECT s.name FROM singer s", "SELECT singer.name FROM singer", True, "sqlite"),
    ("SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.id = T2.singer_id WHERE T2.year = 2014",
     "select s.name from singer s inner join concert c on s.id = c.singer_id where c.year = 2014", True,
     "sqlite"),
    ("SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.id = T2.singer_id",
     "SELECT singer.name FROM singer JOIN concert ON singer.id = concert.singer_id", True, "sqlite"),
    ("SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.id = T2.singer_id",
     "SELECT T2.name FROM singer AS T1 JOIN concert AS T2 ON T1.id = T2.singer_id", False, "sqlite"),
    ("SELECT a.x FROM t AS a JOIN t AS b ON a.p = b.id", "SELECT T1.x FROM t AS T1 JOIN t AS T2 ON T1.p = T2.id",
     True, "sqlite"),
    ("SELECT a.x FROM t AS a JOIN t AS b ON a.p = b.id", "SELECT b.x FROM t AS a JOIN t AS b ON a.p = b.id",
     False, "sqlite"),
    ("SELECT name FROM singer WHERE id NOT IN (SELECT T2.sid FROM concert AS T2)",
     "SELECT name FROM singer WHERE id NOT IN (SELECT sid FROM concert)", True, "sqlite"),
    # joins and ordering
    ("SELECT * FROM a INNER JOIN b ON a.id = b.id", "SELECT * FROM a JOIN b ON a.id = b.id", True, "sqlite"),
    ("SELECT * FROM a LEFT OUTER JOIN b ON a.id = b.id", "SELECT * FROM a LEFT JOIN b ON a.id = b.id", True,
     "sqlite"),
    ("SELECT * FROM a LEFT JOIN b ON a.id = b.id", "SELECT * FROM a JOIN b ON a.id = b.id", False, "sqlite"),
    ("SELECT a FROM t ORDER BY a ASC", "SELECT a FROM t ORDER BY a", True, "sqlite"),
    ("SELECT a FROM t ORDER BY a DESC", "SELECT a FROM t ORDER BY a", False, "sqlite"),
    ("SELECT a FROM t ORDER BY a LIMIT 1", "SELECT a FROM t ORDER BY a LIMIT 2", False, "sqlite"),
    # things that are not surface form
    ("SELECT a, b FROM t", "SELECT b, a FROM t", False, "sqlite"),
    ("SELECT DISTINCT a FROM t", "SELECT a FROM t", False, "sqlite"),
    ("SELECT count(*) FROM t", "SELECT count(1) FROM t", False, "sqlite"),
    ("SELECT a FROM t WHERE b = 1", "SELECT a FROM t WHERE b = '1'", False, "sqlite"),
]


@pytest.mark.parametrize(("a", "b", "equal", "dialect"), PAIRS, ids=[f"{i}" for i in range(len(PAIRS))])
def test_pairs_both_directions(a: str, b: str, equal: bool, dialect: str) -> None:
    na, nb = normalize_sql(a, dialect), normalize_sql(b, dialect)
    assert (na == nb) is equal, f"\n{a}\n -> {na}\n{b}\n -> {nb}"
    assert exact_match(a, b, dialect) is equal
    assert exact_match(b, a, dialect) is equal


def test_enough_pairs() -> None:
    assert len(PAIRS) >= 30
    assert sum(1 for p in PAIRS if p[2]) >= 10 and sum(1 for p in PAIRS if not p[2]) >= 10


@pytest.mark.parametrize("sql", [p[0] for p in PAIRS] + [p[1] for p in PAIRS])
def test_idempotent(sql: str) -> None:
    once = normalize_sql(sql)
    assert normalize_sql(once) == once


def test_schema_settles_sqlite_double_quotes() -> None:
    schema = Schema("s", "sqlite", [Table("t", [Column("Name", "TEXT"), Column("x", "INT")])])
    # Without a schema, "Name" in the SELECT list keeps its spelling: it might be a string.
    assert normalize_sql('SELECT "Name" FROM t') != normalize_sql("SELECT name FROM t")
    # With it, SQLite's own rule: a column when one exists, otherwise a string.
    assert normalize_sql('SELECT "Name" FROM t', schema=schema) == normalize_sql("SELECT name FROM t")
    assert normalize_sql('SELECT x FROM t WHERE "Bob" = name', schema=schema) == normalize_sql(
        "SELECT x FROM t WHERE 'Bob' = name")


def test_correlated_subquery_keeps_outer_reference() -> None:
    out = normalize_sql("SELECT a.n FROM singer AS a WHERE EXISTS (SELECT 1 FROM singer AS b WHERE b.x = a.id)")
    # The inner singer must keep an alias, or singer.id would now bind to the inner table.
    assert "FROM singer AS t1 WHERE x = singer.id" in out


@pytest.mark.parametrize("bad", ["", "   ", ";", "SELECT FROM WHERE", "hello world", "SELECT 1; SELECT 2",
                                 "SELECT * FROM t WHERE a = 'unterminated"])
def test_unparseable(bad: str) -> None:
    with pytest.raises(SQLSyntaxError):
        normalize_sql(bad)
    assert try_normalize(bad) is None


def test_exact_match_edge_cases() -> None:
    assert not exact_match("SELECT FROM", "SELECT a FROM t")
    assert not exact_match("", "SELECT a FROM t")
    # An unparseable gold query falls back to whitespace-insensitive text comparison.
    assert exact_match("SELEC a  FROM t;", "SELEC a FROM t")
    assert not exact_match("SELECT a FROM t", "SELEC a FROM t")
    with pytest.raises(ValueError, match="unknown SQL dialect"):
        normalize_sql("SELECT 1", "nosuchdialect")


def test_spider_gold_normalises_idempotently(spider_dir) -> None:
    records = json.loads((spider_dir / "dev.json").read_text())
    failures = []
    for i, rec in enumerate(records):
        once = normalize_sql(rec["query"], "sqlite")
        if normalize_sql(once, "sqlite") != once:
            failures.append((i, rec["query"], once))
    assert not failures, failures[:5]


def test_one_alias_for_two_tables_normalises_without_renaming() -> None:
    """Seen in a Spider run: a sampled candidate reused alias ``s``; sqlglot's scope analysis refuses it, and
    voting must not crash on it."""
    sql = "select s.name from singer as s join song as s on s.id = s.id"
    assert normalize_sql(sql) == "SELECT s.name FROM singer AS s JOIN song AS s ON s.id = s.id"
    assert try_normalize(sql) == normalize_sql(sql)
