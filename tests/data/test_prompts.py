"""Prompt building: both styles, both directions, evidence, chat messages."""

from __future__ import annotations

import pytest

from tunesql.data.example import Example
from tunesql.data.prompts import (
    DEFAULT_SYSTEM,
    Prompt,
    build_prompt,
    render_schema_text,
    to_chat_messages,
)
from tunesql.db.schema import Column, ForeignKey, Schema, Table
from tunesql.errors import DataError

SCHEMA = Schema(name="shop", dialect="sqlite", tables=[
    Table("customers", [Column("id", "INTEGER", primary_key=True), Column("name", "TEXT")]),
    Table("orders", [Column("id", "INTEGER", primary_key=True), Column("customer_id", "INTEGER"),
                     Column("total", "REAL")],
          foreign_keys=[ForeignKey(["customer_id"], "customers", ["id"])]),
])
EX = Example(id="0", question="How many orders are there? ", sql=" SELECT count(*) FROM orders ", db_id="shop")


def test_schema_style_nl2sql() -> None:
    p = build_prompt(EX, SCHEMA)
    assert isinstance(p, Prompt)
    assert "SQLite" in p.instruction
    assert "CREATE TABLE" in p.input and "customers" in p.input and "customer_id" in p.input
    assert p.input.rstrip().endswith("Question: How many orders are there?")
    assert p.output == "SELECT count(*) FROM orders"
    assert p.system == DEFAULT_SYSTEM
    assert "Evidence" not in p.input


def test_dbid_style_names_only_the_database() -> None:
    p = build_prompt(EX, SCHEMA, style="dbid")
    text = p.user_text
    assert "'shop'" in text and "CREATE TABLE" not in text and "customer_id" not in text
    assert p.output == "SELECT count(*) FROM orders"
    # No schema needed at all.
    assert build_prompt(EX, None, style="dbid") == p


def test_evidence_goes_before_the_question() -> None:
    ex = Example(id="1", question="Big orders?", sql="SELECT * FROM orders WHERE total > 100", db_id="shop",
                 evidence="big means a total over 100")
    for style in ("schema", "dbid"):
        text = build_prompt(ex, SCHEMA, style=style).input
        assert text.index("Evidence: big means a total over 100") < text.index("Question: Big orders?")


def test_sql2nl() -> None:
    p = build_prompt(EX, SCHEMA, direction="sql2nl")
    assert "SQL: SELECT count(*) FROM orders" in p.input and "CREATE TABLE" in p.input
    assert p.output == "How many orders are there?"
    explained = Example(id="2", question="q", sql="SELECT 1", db_id="shop", explanation="Returns one.")
    assert build_prompt(explained, SCHEMA, direction="sql2nl").output == "Returns one."
    dbid = build_prompt(EX, None, style="dbid", direction="sql2nl")
    assert "'shop'" in dbid.instruction and "CREATE TABLE" not in dbid.input


def test_dialect_is_named() -> None:
    ex = Example(id="3", question="q", sql="SELECT 1", db_id="x", dialect="postgres")
    assert "PostgreSQL" in build_prompt(ex, style="dbid").instruction


def test_rendered_schema_override_skips_rendering() -> None:
    p = build_prompt(EX, None, rendered_schema="TABLE t(a)")
    assert "Schema:\nTABLE t(a)" in p.input


def test_errors() -> None:
    with pytest.raises(DataError, match="needs the schema") as info:
        build_prompt(EX, None)
    assert info.value.field == "db_id"
    with pytest.raises(DataError, match="prompt style"):
        build_prompt(EX, SCHEMA, style="fancy")
    with pytest.raises(DataError, match="direction"):
        build_prompt(EX, SCHEMA, direction="both")
    with pytest.raises(DataError, match="schema format"):
        render_schema_text(SCHEMA, "yaml")


def test_chat_messages() -> None:
    p = build_prompt(EX, SCHEMA)
    msgs = to_chat_messages(p)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant"]
    assert msgs[1]["content"] == f"{p.instruction}\n{p.input}"
    assert msgs[2]["content"] == p.output
    assert [m["role"] for m in to_chat_messages(p, system="")] == ["user", "assistant"]
    assert to_chat_messages(p, system="Be brief.")[0] == {"role": "system", "content": "Be brief."}
    assert [m["role"] for m in to_chat_messages(p, include_answer=False)] == ["system", "user"]
    assert build_prompt(EX, SCHEMA, system="").system == ""
