"""Validation of LLM-written pairs against real databases: a copy of the bundled shop SQLite file, and a fresh
PostgreSQL database. Every rejection reason is produced by a real query, and nothing may change the data."""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tunesql.db import Database, Schema, open_database
from tunesql.db.connect import bundled_db_path
from tunesql.eval.difficulty import spider_hardness
from tunesql.synth.record import ACCEPTED, PENDING, REJECTED, Pair
from tunesql.synth.validate import REASONS, Verdict, check_question, validate_pair, validate_sql

GOOD_SQL = "SELECT city, COUNT(*) FROM customers GROUP BY city"
RECURSIVE_FOREVER = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, Schema, Path]]:
    path = tmp_path_factory.mktemp("shop") / "shop.sqlite"
    shutil.copyfile(bundled_db_path(), path)
    db = open_database(path)
    schema = db.schema(samples=3)
    yield db, schema, path
    db.close()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pair(question: str, sql: str, **kw: object) -> Pair:
    return Pair(id="p1", question=question, sql=sql, db_id="shop", dialect="sqlite", **kw)  # type: ignore[arg-type]


# --- questions ------------------------------------------------------------------------------------------------

QUESTION_CASES = [
    ("empty question", "   "),
    ("question is SQL", "SELECT name FROM customers WHERE city = 'Beijing';"),
    ("question is SQL", "with t as (select 1 as x) select x from t"),
    ("question too short", "How many?"),
    ("question too short", "客户"),
]


@pytest.mark.parametrize(("reason", "question"), QUESTION_CASES)
def test_bad_questions(reason: str, question: str) -> None:
    problem = check_question(question)
    assert problem is not None and problem[0] == reason


@pytest.mark.parametrize("question", [
    "How many customers live in Beijing?",
    "With which payment method were the most orders paid?",  # starts like a CTE, is English
    "Select the stores that opened after 2020 and sort them by city",  # imperative 'Select', not a query
    "北京有多少位客户？",  # no spaces: counted by character, not rejected as one word
])
def test_good_questions(question: str) -> None:
    assert check_question(question) is None


# --- SQL on SQLite --------------------------------------------------------------------------------------------

SQL_CASES = [
    ("no SQL", "Sorry, I cannot write a query for that question.", {}),
    ("no SQL", "   ", {}),
    ("does not parse", "SELECT name FROM customers WHERE", {}),
    ("does not parse", "SELECT name\nFROM customers\nWHERE city =", {}),
    ("not read-only", "DELETE FROM orders", {}),
    ("not read-only", "UPDATE customers SET city = 'Paris'", {}),
    ("not read-only", "DROP TABLE customers", {}),
    ("not read-only", "PRAGMA writable_schema = 1", {}),
    ("not read-only", "SELECT name FROM customers; DELETE FROM customers", {}),
    ("not read-only", "DELETE FROM customers; SELECT name FROM customers", {}),
    ("not read-only", "```sql\nSELECT 1;\nDROP TABLE orders;\n```", {}),
    ("not read-only", "COPY (SELECT name FROM customers) TO '/tmp/tunesql-never.csv'", {}),
    ("unknown table or column", "SELECT nickname FROM customers", {}),
    ("unknown table or column", "SELECT name FROM clients", {}),
    ("unknown table or column", "SELECT c.name FROM customers AS c JOIN orders AS o ON o.buyer_id = c.id", {}),
    ("execution error", "SELECT no_such_function(name) FROM customers", {}),
    ("timeout", RECURSIVE_FOREVER, {"timeout": 0.5}),
    ("no rows", "SELECT name FROM customers WHERE city = 'Atlantis'", {}),
    ("only NULLs", "SELECT MAX(total_amount) FROM orders WHERE status = 'no such status'", {}),
    ("only NULLs", "SELECT NULL AS a, NULL AS b FROM regions", {}),
]


@pytest.mark.parametrize(("reason", "sql", "kw"), SQL_CASES)
def test_bad_sql(shop: tuple[Database, Schema, Path], reason: str, sql: str, kw: dict) -> None:
    db, schema, _ = shop
    verdict = validate_sql(sql, db, schema, **kw)
    assert (verdict.ok, verdict.reason) == (False, reason), verdict.detail
    assert reason in REASONS
    assert verdict.detail or reason == "no SQL"


def test_every_reason_has_a_real_case() -> None:
    produced = {r for r, _ in QUESTION_CASES} | {r for r, _, _ in SQL_CASES}
    assert produced == set(REASONS)


def test_details_name_the_problem(shop: tuple[Database, Schema, Path]) -> None:
    db, schema, _ = shop
    unknown = validate_sql("SELECT nickname, shoe_size FROM customers", db, schema)
    assert "nickname" in unknown.detail and "shoe_size" in unknown.detail
    failed = validate_sql("SELECT no_such_function(name) FROM customers", db, schema)
    assert "no_such_function" in failed.detail


def test_good_pair_is_accepted(shop: tuple[Database, Schema, Path]) -> None:
    db, schema, _ = shop
    verdict = validate_sql(GOOD_SQL + ";", db, schema)
    assert verdict.ok and verdict.reason is None and verdict.detail == ""
    assert verdict.sql == GOOD_SQL
    assert verdict.rows > 0 and len(verdict.columns) == 2
    assert verdict.difficulty == spider_hardness(GOOD_SQL, "sqlite") == "medium"

    pair = validate_pair(_pair("How many customers are there in each city?", GOOD_SQL), db, schema)
    assert pair.status == ACCEPTED and pair.reason is None and pair.difficulty == "medium"


def test_hard_query_gets_its_level(shop: tuple[Database, Schema, Path]) -> None:
    db, schema, _ = shop
    sql = ("SELECT c.name FROM customers AS c JOIN orders AS o ON o.customer_id = c.id "
           "WHERE o.status = 'delivered' AND c.city IN (SELECT city FROM stores) "
           "GROUP BY c.name HAVING COUNT(*) > 3 ORDER BY COUNT(*) DESC LIMIT 5")
    verdict = validate_sql(sql, db, schema)
    assert verdict.ok, verdict.detail
    assert verdict.difficulty == "extra"


def test_writes_are_refused_and_the_file_is_unchanged(shop: tuple[Database, Schema, Path], tmp_path: Path) -> None:
    db, schema, path = shop
    before = _sha(path)
    other = tmp_path / "other.db"
    for sql in [
        "DELETE FROM orders",
        f"ATTACH DATABASE '{other}' AS other",
        "SELECT 1; DELETE FROM orders",
        "SELECT id FROM orders; INSERT INTO regions (id, name) VALUES (99, 'x')",
        "CREATE TABLE t AS SELECT * FROM orders",
    ]:
        verdict = validate_sql(sql, db, schema)
        assert (verdict.ok, verdict.reason) == (False, "not read-only"), sql
        assert verdict.sql.startswith(sql.split(";")[0].strip())
    assert _sha(path) == before
    assert not other.exists()
    assert validate_sql("SELECT COUNT(*) FROM orders", db, schema).ok  # the handle still works


def test_multi_statement_in_a_fence_is_not_cut_down(shop: tuple[Database, Schema, Path]) -> None:
    db, schema, path = shop
    before = _sha(path)
    verdict = validate_sql("Here you go:\n```sql\nSELECT id FROM orders;\nDELETE FROM orders;\n```", db, schema)
    assert verdict.reason == "not read-only"
    assert "DELETE" in verdict.sql
    assert _sha(path) == before


def test_runaway_query_times_out(shop: tuple[Database, Schema, Path]) -> None:
    db, schema, _ = shop
    start = time.monotonic()
    verdict = validate_sql(RECURSIVE_FOREVER, db, schema, timeout=0.5)
    assert verdict.reason == "timeout"
    assert time.monotonic() - start < 10
    assert verdict.difficulty is not None  # it parsed, so it has a level even though it was rejected


def test_fenced_answer_is_extracted(shop: tuple[Database, Schema, Path]) -> None:
    db, schema, _ = shop
    answer = ("Sure! This lists the customers from Beijing.\n\n```sql\nSELECT name\nFROM customers\n"
              "WHERE city = 'Beijing';\n```\n\nIt uses the `customers` table.")
    verdict = validate_sql(answer, db, schema)
    assert verdict.ok, verdict.detail
    assert verdict.sql == "SELECT name\nFROM customers\nWHERE city = 'Beijing'"
    pair = validate_pair(_pair("Which customers live in Beijing?", answer), db, schema)
    assert pair.accepted and pair.sql == verdict.sql


def test_sql_in_prose_is_extracted(shop: tuple[Database, Schema, Path]) -> None:
    db, schema, _ = shop
    for answer in ["With the stores table, the query is SELECT name FROM stores LIMIT 3",
                   "SELECT name FROM stores LIMIT 3; This returns three cities.",
                   "<think>stores has a name column</think>\nSELECT name FROM stores LIMIT 3",
                   "SELECT name FROM stores LIMIT 3; -- three store names"]:
        verdict = validate_sql(answer, db, schema)
        assert verdict.ok and verdict.sql == "SELECT name FROM stores LIMIT 3", answer
        assert verdict.rows == 3


def test_limits(shop: tuple[Database, Schema, Path]) -> None:
    db, schema, _ = shop
    capped = validate_sql("SELECT id FROM orders", db, schema, max_rows=7)
    assert capped.ok and capped.rows == 7
    empty = validate_sql("SELECT name FROM customers WHERE city = 'Atlantis'", db, schema, require_rows=False)
    assert empty.ok and empty.rows == 0


def test_validate_pair_rejections(shop: tuple[Database, Schema, Path]) -> None:
    db, schema, _ = shop
    asked = _pair("SELECT name FROM customers", "SELECT name FROM customers", requested="easy")
    validate_pair(asked, db, schema)
    assert (asked.status, asked.reason) == (REJECTED, "question is SQL")
    assert asked.difficulty is None  # the SQL was never looked at

    prose = "I'm sorry, the schema has no such information."
    nothing = validate_pair(_pair("What is the weather in Beijing today?", prose), db, schema)
    assert (nothing.status, nothing.reason) == (REJECTED, "no SQL")
    assert nothing.sql == prose  # kept for a person reading the log

    bad = validate_pair(_pair("What is each customer's nickname?", "```sql\nSELECT nickname FROM customers\n```"),
                        db, schema)
    assert (bad.reason, bad.sql, bad.difficulty) == ("unknown table or column", "SELECT nickname FROM customers",
                                                      "easy")
    assert "nickname" in bad.detail

    redone = validate_pair(_pair("How many customers live in each city?", GOOD_SQL, status=PENDING), db, schema,
                           timeout=2.0, max_rows=5)
    assert redone.accepted


def test_verdict_fields() -> None:
    v = Verdict(ok=True, reason=None, detail="", sql="SELECT 1", columns=["1"], rows=1, difficulty="easy")
    assert v.ok and v.rows == 1


# --- PostgreSQL -----------------------------------------------------------------------------------------------


@pytest.fixture
def pg_library(pg_url: str) -> Iterator[tuple[Database, Schema, str]]:
    engine = sa.create_engine(pg_url)
    meta = sa.MetaData()
    authors = sa.Table("authors", meta, sa.Column("id", sa.Integer, primary_key=True),
                       sa.Column("name", sa.String(50), nullable=False))
    books = sa.Table("books", meta, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("author_id", sa.Integer, sa.ForeignKey("authors.id"), nullable=False),
                     sa.Column("title", sa.String(100), nullable=False), sa.Column("price", sa.Numeric(8, 2)))
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(authors.insert(), [{"id": 1, "name": "Ada Lovelace"}, {"id": 2, "name": "alan turing"},
                                        {"id": 3, "name": "Grace Hopper"}])
        conn.execute(books.insert(), [{"id": 1, "author_id": 1, "title": "Notes", "price": 12.5},
                                      {"id": 2, "author_id": 2, "title": "Computable Numbers", "price": 30},
                                      {"id": 3, "author_id": 3, "title": "Compilers", "price": None}])
    engine.dispose()
    db = open_database(pg_url)
    schema = db.schema(samples=3)
    yield db, schema, pg_url
    db.close()


def _count_books(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(sa.text("SELECT COUNT(*) FROM books")).scalar_one()
    engine.dispose()
    return int(n)


def test_postgres_syntax_is_accepted_there(pg_library: tuple[Database, Schema, str]) -> None:
    db, schema, _ = pg_library
    assert db.dialect == "postgres"
    verdict = validate_sql("SELECT name::text AS n FROM authors WHERE name ILIKE 'a%' ORDER BY id", db, schema)
    assert verdict.ok, verdict.detail
    assert verdict.rows == 2 and verdict.columns == ["n"]
    joined = validate_sql("SELECT a.name, b.title FROM authors a JOIN books b ON b.author_id = a.id "
                          "WHERE b.price > 10", db, schema)
    assert joined.ok and joined.rows == 2 and joined.difficulty == "medium"


@pytest.mark.parametrize(("reason", "sql"), [
    ("does not parse", "SELECT `name` FROM `authors`"),  # MySQL quoting
    ("unknown table or column", "SELECT nickname FROM authors"),
    ("unknown table or column", "SELECT a.name FROM authors a JOIN books b ON b.writer_id = a.id"),
    ("execution error", "SELECT name + 1 FROM authors"),  # text + integer: PostgreSQL refuses it
    ("only NULLs", "SELECT price FROM books WHERE title = 'Compilers'"),
    ("not read-only", "DELETE FROM books"),
])
def test_postgres_rejections(pg_library: tuple[Database, Schema, str], reason: str, sql: str) -> None:
    db, schema, url = pg_library
    verdict = validate_sql(sql, db, schema)
    assert (verdict.ok, verdict.reason) == (False, reason), verdict.detail
    assert _count_books(url) == 3
