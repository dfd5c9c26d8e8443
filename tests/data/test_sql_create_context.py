"""sql-create-context: records to Examples, CREATE TABLE contexts to schemas, prompts from them."""

from __future__ import annotations

import json

import pytest

from tunesql.data.formats import build_prompts
from tunesql.data.sql_create_context import (
    context_db_id,
    load_sql_create_context,
    resolve_file,
    schema_from_ddl,
    sql_create_context_schemas,
)
from tunesql.errors import DataError

RECORDS = [
    {"question": "How many heads of the departments are older than 56 ?",
     "context": "CREATE TABLE head (age INTEGER)",
     "answer": "SELECT COUNT(*) FROM head WHERE age > 56"},
    {"question": "List the name, born state and age of the heads of departments ordered by age.",
     "context": "CREATE TABLE head (name VARCHAR, born_state VARCHAR, age VARCHAR)",
     "answer": "SELECT name, born_state, age FROM head ORDER BY age"},
    {"question": "What are the names of the heads who are born outside the California state?",
     "context": "CREATE TABLE head (name VARCHAR, born_state VARCHAR)",
     "answer": "SELECT name FROM head WHERE born_state <> 'California'"},
    {"question": "Which orders belong to Ann?",
     "context": "CREATE TABLE customers (id INTEGER, name VARCHAR); "
                "CREATE TABLE orders (id INTEGER, customer_id INTEGER)",
     "answer": "SELECT orders.id FROM orders JOIN customers ON orders.customer_id = customers.id "
               "WHERE customers.name = 'Ann'"},
    {"question": "How old is the oldest head?",
     "context": "CREATE TABLE head  (age   INTEGER)",
     "answer": "SELECT MAX(age) FROM head"},
]


@pytest.fixture
def scc_file(tmp_path):
    path = tmp_path / "sql_create_context_v4.json"
    path.write_text(json.dumps(RECORDS, indent=2))
    return path


def test_load(scc_file) -> None:
    examples = load_sql_create_context(scc_file)
    assert [ex.id for ex in examples] == ["0", "1", "2", "3", "4"]
    assert examples[0].sql == "SELECT COUNT(*) FROM head WHERE age > 56"
    assert examples[0].meta["context"] == RECORDS[0]["context"]
    assert all(ex.db_id.startswith("scc_") for ex in examples)
    assert examples[0].db_id == examples[4].db_id, "contexts differing only in spacing share a database"
    assert len({ex.db_id for ex in examples}) == 4
    assert context_db_id(RECORDS[1]["context"]) == examples[1].db_id
    # A directory resolves to the published file name; JSONL loads too.
    assert load_sql_create_context(scc_file.parent) == examples
    jsonl = scc_file.parent / "x.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n")
    assert [ex.sql for ex in load_sql_create_context(jsonl)] == [ex.sql for ex in examples]


def test_schemas_and_prompts(scc_file) -> None:
    examples = load_sql_create_context(scc_file)
    schemas = sql_create_context_schemas(examples)
    assert len(schemas) == 4
    two = schemas[examples[3].db_id]
    assert [t.name for t in two.tables] == ["customers", "orders"]
    assert [c.name for c in two.table("orders").columns] == ["id", "customer_id"]
    prompts = build_prompts(examples, schemas)
    assert "CREATE TABLE" in prompts[3].input and "customer_id" in prompts[3].input
    assert prompts[1].output == RECORDS[1]["answer"]


def test_schema_from_ddl_keys_and_types() -> None:
    schema = schema_from_ddl(
        "CREATE TABLE a (x INTEGER NOT NULL, y VARCHAR(20) DEFAULT 'n', PRIMARY KEY (x, y));"
        "CREATE TABLE b (id INT PRIMARY KEY, a_x INTEGER, FOREIGN KEY (a_x) REFERENCES a (x));"
        "CREATE INDEX i ON b (a_x)", "db")
    a, b = schema.tables
    assert a.primary_key == ["x", "y"] and not a.column("x").nullable and a.column("y").default == "'n'"
    assert a.column("y").type == "VARCHAR(20)"
    assert b.primary_key == ["id"]
    assert (b.foreign_keys[0].columns, b.foreign_keys[0].ref_table) == (["a_x"], "a")


@pytest.mark.parametrize(("edit", "index", "field"), [
    (lambda r: r[2].pop("answer"), 2, "answer"),
    (lambda r: r[1].update(question=""), 1, "question"),
    (lambda r: r[0].update(context=None), 0, "context"),
])
def test_malformed_records(tmp_path, edit, index, field) -> None:
    records = json.loads(json.dumps(RECORDS))
    edit(records)
    path = tmp_path / "scc.json"
    path.write_text(json.dumps(records))
    with pytest.raises(DataError) as info:
        load_sql_create_context(path)
    assert (info.value.path, info.value.index, info.value.field) == (str(path), index, field)


def test_bad_context(tmp_path) -> None:
    records = json.loads(json.dumps(RECORDS))
    records[3]["context"] = "CREATE TABLE (((("
    records[1]["context"] = "SELECT 1"
    path = tmp_path / "scc.json"
    path.write_text(json.dumps(records))
    examples = load_sql_create_context(path)
    with pytest.raises(DataError) as info:
        sql_create_context_schemas(examples, path=str(path))
    assert (info.value.index, info.value.field) == (1, "context") and "no CREATE TABLE" in str(info.value)
    with pytest.raises(DataError) as info:
        sql_create_context_schemas([examples[3]])
    assert info.value.field == "context" and "parse" in str(info.value)


def test_bad_json_and_missing_dir(tmp_path) -> None:
    path = tmp_path / "scc.json"
    path.write_text('[{"question": "q",\n "context": }]')
    with pytest.raises(DataError, match="line 2") as info:
        load_sql_create_context(path)
    assert str(path) in str(info.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"sql_create_context_v4\.json"):
        resolve_file(tmp_path / "empty")
