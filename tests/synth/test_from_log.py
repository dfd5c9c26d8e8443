"""Mining query logs: a .sql file on a copy of the bundled SQLite database, and PostgreSQL's pg_stat_statements,
with the questions written by the fake OpenAI server over real HTTP."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.infer.openai_server import FakeOpenAIServer
from tunesql.db.connect import Database, bundled_db_path, open_database
from tunesql.errors import ConfigError, DataError
from tunesql.synth.from_log import LogQuery, find_parameters, mine_log, read_pg_stat_statements, read_sql_file
from tunesql.synth.llm import LLMClient
from tunesql.synth.record import Pair

LOG = """\
-- Daily report; the BI tool runs these
SELECT COUNT(*) FROM customers;

/* customers per city; a semicolon in a comment */
SELECT city, COUNT(*) AS n
FROM customers
WHERE city <> 'a;b'
GROUP BY city
ORDER BY n DESC;
UPDATE products SET active = 0 WHERE id = 1;
select count(*)
  from customers;  -- the first query again, written otherwise
SELECT nickname FROM customers;
SELECT name FROM customers WHERE city = 'Atlantis';
SELECT name FROM products WHERE id = ?;
SELECT 1;
SELECT name FROM customers WHERE city = 'Beijing';
SELECT name FROM customers WHERE city = 'Shanghai';
;;
-- a trailing comment, no statement
"""
CITIES = "SELECT city, COUNT(*) AS n\nFROM customers\nWHERE city <> 'a;b'\nGROUP BY city\nORDER BY n DESC"
QUESTIONS = {
    "SELECT COUNT(*) FROM customers": "How many customers are registered?",
    CITIES: "Question: How many customers live in each city, most first?",
    "SELECT name FROM customers WHERE city = 'Beijing'": '"Which customers live in Beijing?"',
    "SELECT name FROM t ORDER BY name": "What are all the names, in alphabetical order?",
}


def sql_in_prompt(body: dict[str, Any]) -> str:
    match = re.search(r"query:\n(.*?)\n\n", body["messages"][-1]["content"], re.DOTALL)
    assert match
    return match.group(1)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    srv = FakeOpenAIServer(completion=lambda body, i: QUESTIONS[sql_in_prompt(body)])
    srv.url = srv.start()  # type: ignore[attr-defined]
    yield srv
    srv.stop()


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Database]:
    path = tmp_path / "shop.sqlite"
    shutil.copyfile(bundled_db_path(), path)
    with open_database(path) as db:
        yield db


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    path = tmp_path / "queries.sql"
    path.write_text(LOG, encoding="utf-8")
    return path


def test_a_sql_file_is_split_into_statements(log_file: Path) -> None:
    queries = read_sql_file(log_file, "sqlite")
    assert [(q.where, q.calls) for q in queries] == [
        ("queries.sql:2", 2), ("queries.sql:5", 1), ("queries.sql:10", 1), ("queries.sql:13", 1),
        ("queries.sql:14", 1), ("queries.sql:15", 1), ("queries.sql:16", 1), ("queries.sql:17", 1),
        ("queries.sql:18", 1),
    ]
    assert queries[0].sql == "SELECT COUNT(*) FROM customers"  # no leading comment, no semicolon
    assert queries[1].sql == CITIES  # the semicolons in the string and the comment did not split it
    assert queries[2].sql.startswith("UPDATE products")


def test_mining_a_sql_file(log_file: Path, shop: Database, server: FakeOpenAIServer, tmp_path: Path) -> None:
    client = LLMClient(server.url, "writer", cache_dir=tmp_path / "cache")  # type: ignore[attr-defined]
    done: list[int] = []
    pairs = mine_log(read_sql_file(log_file, "sqlite"), shop, shop.schema(), client, db_id="shop",
                     progress=done.append)
    outcome = {p.meta["where"]: (p.status, p.reason) for p in pairs}
    assert outcome == {
        "queries.sql:2": ("accepted", None),
        "queries.sql:5": ("accepted", None),
        "queries.sql:10": ("rejected", "not a SELECT"),
        "queries.sql:13": ("rejected", "unknown table or column"),
        "queries.sql:14": ("rejected", "no rows"),
        "queries.sql:15": ("rejected", "has parameters"),
        "queries.sql:16": ("rejected", "reads no table"),
        "queries.sql:17": ("accepted", None),
        "queries.sql:18": ("rejected", "duplicate SQL template"),
    }
    by_where = {p.meta["where"]: p for p in pairs}
    assert "nickname" in by_where["queries.sql:13"].detail
    assert by_where["queries.sql:15"].detail == "placeholders ?"
    assert by_where["queries.sql:18"].detail == by_where["queries.sql:17"].id  # the one kept
    assert by_where["queries.sql:2"].meta["calls"] == 2
    assert {p.source for p in pairs} == {"log"} and {p.db_id for p in pairs} == {"shop"}
    ids = [p.id for p in pairs]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"log-[0-9a-f]{12}(-[0-9a-f]{8})?", i) for i in ids)

    # Questions were asked only for the SQL that passed, and parsed out of the answers.
    assert sorted(sql_in_prompt(body) for body in server.requests) == sorted(
        ["SELECT COUNT(*) FROM customers", CITIES, "SELECT name FROM customers WHERE city = 'Beijing'"])
    assert len(done) == 3
    assert by_where["queries.sql:2"].question == "How many customers are registered?"
    assert by_where["queries.sql:5"].question == "How many customers live in each city, most first?"
    assert by_where["queries.sql:17"].question == "Which customers live in Beijing?"
    assert all(p.question == "" for p in pairs if not p.accepted)
    assert by_where["queries.sql:5"].difficulty is not None

    # A re-run files every query under the same id and asks the LLM nothing new.
    sent = len(server.requests)
    again_client = LLMClient(server.url, "writer", cache_dir=tmp_path / "cache")  # type: ignore[attr-defined]
    again = mine_log(read_sql_file(log_file, "sqlite"), shop, shop.schema(), again_client, db_id="shop")
    assert [(p.id, p.status, p.question) for p in again] == [(p.id, p.status, p.question) for p in pairs]
    assert len(server.requests) == sent


def test_the_most_run_query_of_a_template_is_kept(shop: Database, server: FakeOpenAIServer) -> None:
    queries = [LogQuery("SELECT name FROM customers WHERE city = 'Shanghai'", "a.sql:1", calls=1),
               LogQuery("SELECT name FROM customers WHERE city = 'Beijing'", "a.sql:2", calls=7),
               LogQuery("SELECT name  FROM customers WHERE city = 'Beijing';", "b.sql:9", calls=2)]
    pairs = mine_log(queries, shop, shop.schema(), LLMClient(server.url, "w"), db_id="shop")  # type: ignore[attr-defined]
    assert len(pairs) == 2  # identical texts are one query, their calls added
    shanghai, beijing = pairs
    assert (beijing.status, beijing.meta["calls"], beijing.meta["where"]) == ("accepted", 9, "a.sql:2")
    assert (shanghai.status, shanghai.reason, shanghai.detail) == ("rejected", "duplicate SQL template", beijing.id)
    assert len(server.requests) == 1


def test_written_questions_are_checked(shop: Database) -> None:
    answers = {"SELECT COUNT(*) FROM customers": "How many customers are registered?",
               "SELECT COUNT(*) FROM orders": "How many customers are registered?",  # the same question again
               "SELECT COUNT(*) FROM products": "Products?",
               "SELECT COUNT(*) FROM stores": "```sql\nSELECT COUNT(*) FROM stores\n```"}
    srv = FakeOpenAIServer(completion=lambda body, i: answers[sql_in_prompt(body)])
    url = srv.start()
    try:
        queries = [LogQuery(sql, f"q.sql:{i}") for i, sql in enumerate(answers, start=1)]
        pairs = mine_log(queries, shop, shop.schema(), LLMClient(url, "w"), db_id="shop")
    finally:
        srv.stop()
    assert [(p.status, p.reason) for p in pairs] == [
        ("accepted", None), ("rejected", "near-duplicate question"), ("rejected", "question too short"),
        ("rejected", "no question written")]


def test_mining_needs_an_llm(shop: Database) -> None:
    with pytest.raises(ConfigError, match="LLM"):
        mine_log([LogQuery("SELECT COUNT(*) FROM customers", "q.sql:1")], shop, shop.schema(), None, db_id="shop")


def test_unreadable_logs_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.sql"):
        read_sql_file(tmp_path / "nope.sql", "sqlite")
    bad = tmp_path / "bad.sql"
    bad.write_text("SELECT 1;\nSELECT 'unterminated;\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.sql"):
        read_sql_file(bad, "sqlite")
    binary = tmp_path / "binary.sql"
    binary.write_bytes(b"\xff\xfe\x00SELECT")
    with pytest.raises(DataError, match=r"binary\.sql"):
        read_sql_file(binary, "sqlite")


@pytest.mark.parametrize("sql, dialect, expected", [
    ("SELECT a FROM t WHERE b = $1 AND c = $2", "postgres", ["$1", "$2"]),
    ("SELECT a FROM t WHERE b = ? AND c = ?", "sqlite", ["?"]),
    ("SELECT a FROM t WHERE b = %s AND c = %(name)s", "postgres", ["%s", "%(name)s"]),
    ("SELECT a FROM t WHERE b = :city", "sqlite", [":city"]),
    ("SELECT a::text FROM t WHERE b = 'is it? $1 :x' -- ? $2\n AND \"c?\" = 1 /* :y */", "postgres", []),
    ("SELECT `a?` FROM t WHERE b = 'x?'", "mysql", []),
    ("SELECT a FROM t WHERE b = 'unterminated ?", "sqlite", []),
    ("SELECT a FROM t WHERE b = 5", "sqlite", []),
])
def test_find_parameters(sql: str, dialect: str, expected: list[str]) -> None:
    assert find_parameters(sql, dialect) == expected


def test_pg_stat_statements_is_postgresql_only(shop: Database) -> None:
    with pytest.raises(ConfigError, match="PostgreSQL"):
        read_pg_stat_statements(shop)


def test_mining_pg_stat_statements(pg_url: str, server: FakeOpenAIServer) -> None:
    # Before the extension exists in this database: a clear error.
    with open_database(pg_url) as db, pytest.raises(ConfigError, match="CREATE EXTENSION pg_stat_statements"):
        read_pg_stat_statements(db)

    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            try:
                # In a schema of its own, as a DBA would: its views stay out of the introspected schema (public).
                conn.execute(sa.text("CREATE SCHEMA monitoring"))
                conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements SCHEMA monitoring"))
                conn.execute(sa.text("SELECT count(*) FROM monitoring.pg_stat_statements")).scalar()
            except sa.exc.DBAPIError as e:
                pytest.fail(f"pg_stat_statements does not work on the test server ({e.orig}); .ci/run configures "
                            "it (shared_preload_libraries = 'pg_stat_statements'): run the tests through .ci/run")
            conn.execute(sa.text("CREATE TABLE t (id integer PRIMARY KEY, name text NOT NULL)"))
            conn.execute(sa.text("INSERT INTO t VALUES (1, 'cy'), (2, 'ann'), (3, 'bob')"))
            for _ in range(3):
                conn.execute(sa.text("SELECT name FROM t ORDER BY name"))
            conn.execute(sa.text("SELECT name FROM t WHERE id = 2"))
    finally:
        engine.dispose()

    with open_database(pg_url) as db:
        queries = read_pg_stat_statements(db)
        by_sql = {q.sql: q for q in queries}
        assert by_sql["SELECT name FROM t ORDER BY name"].calls == 3
        assert by_sql["SELECT name FROM t WHERE id = $1"].calls == 1  # the literal became a placeholder
        assert all(q.where.startswith("pg_stat_statements:") for q in queries)
        assert [q.calls for q in queries] == sorted((q.calls for q in queries), reverse=True)
        assert not any("tunesql_t_" in q.sql for q in queries)  # other databases' statements stay out
        frequent = read_pg_stat_statements(db, min_calls=3)  # reading runs queries too: counts only grow
        assert all(q.calls >= 3 for q in frequent)
        assert "SELECT name FROM t ORDER BY name" in {q.sql for q in frequent}
        assert "SELECT name FROM t WHERE id = $1" not in {q.sql for q in frequent}
        assert len(read_pg_stat_statements(db, limit=2)) == 2

        pairs = mine_log(queries, db, db.schema(), LLMClient(server.url, "w"), db_id="t")  # type: ignore[attr-defined]
    outcome = {p.sql: p for p in pairs}
    ordered = outcome["SELECT name FROM t ORDER BY name"]
    assert (ordered.status, ordered.question) == ("accepted", "What are all the names, in alphabetical order?")
    assert ordered.meta["calls"] == 3 and ordered.dialect == "postgres"
    literal = outcome["SELECT name FROM t WHERE id = $1"]
    assert (literal.status, literal.reason, literal.detail) == ("rejected", "has parameters", "placeholders $1")
    insert = next(p for p in pairs if p.sql.startswith("INSERT INTO t"))
    assert insert.reason == "not a SELECT"
    create = next(p for p in pairs if p.sql.startswith("CREATE TABLE t"))
    assert create.reason == "not a SELECT"
    check = outcome["SELECT count(*) FROM monitoring.pg_stat_statements"]
    assert check.reason == "unknown table or column"  # not a table of the introspected schema
    assert any(p.reason == "reads no table" for p in pairs)  # the driver's own "select pg_catalog.version()"
    assert [p.sql for p in pairs if p.accepted] == ["SELECT name FROM t ORDER BY name"]
    assert [sql_in_prompt(body) for body in server.requests] == ["SELECT name FROM t ORDER BY name"]


def test_pairs_round_trip_through_the_log(log_file: Path, shop: Database, server: FakeOpenAIServer,
                                          tmp_path: Path) -> None:
    from tunesql.synth.record import append_pairs, read_pairs

    pairs = mine_log(read_sql_file(log_file, "sqlite"), shop, shop.schema(),
                     LLMClient(server.url, "w"), db_id="shop")  # type: ignore[attr-defined]
    append_pairs(tmp_path / "candidates.jsonl", pairs)
    back: list[Pair] = read_pairs(tmp_path / "candidates.jsonl")
    assert [(p.id, p.status, p.reason) for p in back] == [(p.id, p.status, p.reason) for p in pairs]
