"""check_references / referenced_tables / referenced_columns: data-driven cases and all of Spider dev."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from sqlglot import exp

from tunesql.db.schema import Column, Schema, Table
from tunesql.errors import SQLSyntaxError
from tunesql.sql import check_references, referenced_columns, referenced_tables
from tunesql.sql.transpile import parse_statement

SCHEMA = Schema("music", "sqlite", [
    Table("Singer", [Column("Singer_ID", "INT"), Column("Name", "TEXT"), Column("Age", "INT"),
                     Column("Country", "TEXT")]),
    Table("concert", [Column("concert_ID", "INT"), Column("Singer_ID", "INT"), Column("Name", "TEXT"),
                      Column("Year", "TEXT")]),
])

# (sql, expected problems: substrings, one per problem; [] = clean)
CASES = [
    ("SELECT name FROM singer", []),
    ("SELECT T1.Name FROM Singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.Singer_ID", []),
    ("SELECT count(*) FROM singer", []),
    ("SELECT * FROM singer", []),
    ("SELECT T1.* FROM singer AS T1", []),
    ('SELECT name FROM singer WHERE country = "France"', []),
    ("SELECT count(*) AS c FROM singer GROUP BY age ORDER BY c DESC", []),
    ("SELECT singer_id FROM singer JOIN concert USING (singer_id)", []),
    ("WITH w AS (SELECT name, age FROM singer) SELECT w.name FROM w WHERE w.age > 3", []),
    ("SELECT d.n FROM (SELECT name AS n FROM singer) AS d", []),
    ("SELECT d.age FROM (SELECT * FROM singer) AS d", []),
    ("SELECT name FROM singer WHERE singer_id IN (SELECT singer_id FROM concert WHERE year = '2014')", []),
    ("SELECT name FROM singer AS s WHERE EXISTS (SELECT 1 FROM concert AS c WHERE c.singer_id = s.singer_id "
     "AND age > 30)", []),
    ("SELECT name FROM singer UNION SELECT name FROM concert ORDER BY name", []),
    ("SELECT rowid, name FROM singer", []),
    ("SELECT nme FROM singer", ["unknown column 'nme'"]),
    ("SELECT T1.nme FROM singer AS T1", ["unknown column 't1.nme'"]),
    ("SELECT T3.name FROM singer AS T1", ["unknown table or alias 't3'"]),
    ("SELECT x FROM nosuch", ["unknown table 'nosuch'"]),
    ("SELECT name FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id",
     ["ambiguous column 'name'"]),
    ("WITH w AS (SELECT name FROM singer) SELECT w.age FROM w", ["unknown column 'w.age'"]),
    ("SELECT d.agee FROM (SELECT * FROM singer) AS d", ["unknown column 'd.agee'"]),
    ("SELECT name FROM singer WHERE singer_id IN (SELECT singr_id FROM concert)", ["unknown column 'singr_id'"]),
    ("SELECT T1.name FROM singer AS T1 JOIN concrt AS T2 ON T1.singer_id = T2.singer_id",
     ["unknown table 'concrt'"]),
    ("SELECT name FROM singer ORDER BY agee", ["unknown column 'agee'"]),
    ("SELECT a.name, b.year FROM singer AS a JOIN concert AS b ON a.singer_id = b.singr_id",
     ["unknown column 'b.singr_id'"]),
]


@pytest.mark.parametrize(("sql", "expected"), CASES)
def test_check_references(sql: str, expected: list[str]) -> None:
    problems = check_references(sql, SCHEMA)
    assert len(problems) == len(expected), problems
    for want, got in zip(expected, problems, strict=True):
        assert want in got, problems


def test_unparseable_raises() -> None:
    with pytest.raises(SQLSyntaxError):
        check_references("SELECT FROM WHERE", SCHEMA)


def test_referenced_tables_and_columns() -> None:
    sql = "WITH w AS (SELECT name FROM Singer) SELECT w.name, T2.year FROM w JOIN concert AS T2 ON 1 = 1"
    assert referenced_tables(sql) == {"singer", "concert"}
    assert referenced_columns(sql) == {"singer.name", "concert.year"}
    sql = "SELECT T1.name, year FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id"
    assert referenced_columns(sql) == {"singer.name", "singer.singer_id", "concert.singer_id", "year"}
    assert referenced_columns(sql, schema=SCHEMA) == {"singer.name", "singer.singer_id", "concert.singer_id",
                                                      "concert.year"}
    assert referenced_columns("SELECT * FROM singer") == {"singer.*"}


# --- Spider dev ------------------------------------------------------------------------------------------------


def _schema_from_tables_json(entry: dict) -> Schema:
    tables = [Table(name, []) for name in entry["table_names_original"]]
    for (ti, name), typ in zip(entry["column_names_original"], entry["column_types"], strict=True):
        if ti >= 0:
            tables[ti].columns.append(Column(name, typ))
    return Schema(entry["db_id"], "sqlite", tables)


def _spider_schema(spider_dir: Path, db_id: str, tables_json: dict[str, dict]) -> Schema:
    """From the real SQLite file via introspection when both exist, else from tables.json."""
    path = spider_dir / "database" / db_id / f"{db_id}.sqlite"
    if path.is_file():
        try:
            from tunesql.db.connect import open_database

            with open_database(path) as db:
                return db.schema(samples=0, row_counts=False)
        except (ImportError, AttributeError):
            pass  # introspection not written yet
    return _schema_from_tables_json(tables_json[db_id])


@pytest.fixture(scope="module")
def spider_dev(spider_dir: Path) -> list[tuple[dict, Schema]]:
    tables_json = {t["db_id"]: t for t in json.loads((spider_dir / "tables.json").read_text())}
    records = json.loads((spider_dir / "dev.json").read_text())
    cache: dict[str, Schema] = {}
    out = []
    for rec in records:
        if rec["db_id"] not in cache:
            cache[rec["db_id"]] = _spider_schema(spider_dir, rec["db_id"], tables_json)
        out.append((rec, cache[rec["db_id"]]))
    return out


def test_spider_dev_gold_queries_resolve(spider_dev: list[tuple[dict, Schema]]) -> None:
    failures = []
    for i, (rec, schema) in enumerate(spider_dev):
        problems = check_references(rec["query"], schema)
        if problems:
            failures.append(f"{i} {rec['db_id']}: {problems}\n    {rec['query']}")
    print(f"\n{len(failures)} of {len(spider_dev)} Spider dev gold queries reported problems")
    print("\n".join(failures))
    assert len(failures) <= 0.01 * len(spider_dev), "\n".join(failures)


def test_spider_dev_perturbed_column_is_reported(spider_dev: list[tuple[dict, Schema]]) -> None:
    """Rename one column reference per query to a name no table has: the check must notice."""
    rng = random.Random(0)
    sample = rng.sample(spider_dev, 300)
    missed = []
    tried = 0
    for rec, schema in sample:
        tree = parse_statement(rec["query"], "sqlite")
        cols = [c for c in tree.find_all(exp.Column) if not isinstance(c.this, exp.Star)
                and any(t.column(c.name) for t in schema.tables)]
        if not cols:
            continue
        col = rng.choice(cols)
        col.set("this", exp.to_identifier(col.name + "_zz"))
        tried += 1
        if not check_references(tree.sql("sqlite"), schema):
            missed.append(tree.sql("sqlite"))
    assert tried > 200
    assert not missed, missed[:5]


def test_an_alias_used_twice_is_a_problem_not_a_crash() -> None:
    """Seen from Qwen2.5-Coder-0.5B in a synthesis run: one alias for two tables made sqlglot's scope raise."""
    schema = Schema("s", "sqlite", [Table("a", [Column("id", "INT")]), Table("b", [Column("id", "INT")])])
    problems = check_references("SELECT x.id FROM a AS x JOIN b AS x ON x.id = x.id", schema)
    assert problems == ["could not resolve the query's columns: Alias already used: x"]
