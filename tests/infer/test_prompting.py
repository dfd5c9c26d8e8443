"""build_messages: the training prompt, plus few-shot turns, value hints and per-family differences."""

from __future__ import annotations

import pytest

from tunesql.data.example import Example
from tunesql.data.prompts import DEFAULT_SYSTEM, build_prompt, to_chat_messages
from tunesql.db.schema import Column, ForeignKey, Schema, Table
from tunesql.errors import ConfigError
from tunesql.infer.prompting import (
    FAMILIES,
    FewShot,
    build_explain_messages,
    build_messages,
    family_for_model,
    format_value_hints,
)
from tunesql.infer.retrieval import ValueHit

SCHEMA = Schema(name="shop", dialect="sqlite", tables=[
    Table("stores", [Column("id", "INTEGER", primary_key=True), Column("name", "TEXT", samples=["Online"])]),
    Table("orders", [Column("id", "INTEGER", primary_key=True), Column("store_id", "INTEGER")],
          foreign_keys=[ForeignKey(["store_id"], "stores", ["id"])]),
])
QUESTION = "How many orders were placed in Sanlitun?"
HIT = ValueHit("stores", "name", "Beijing Sanlitun", 2.8)


@pytest.mark.parametrize("fmt", ["ddl", "mschema", "cards"])
def test_plain_request_equals_the_training_prompt(fmt: str) -> None:
    messages = build_messages(QUESTION, SCHEMA, schema_format=fmt, evidence="Sanlitun is a store")
    training = build_prompt(Example(id="x", question=QUESTION, sql="SELECT 1", db_id="shop",
                                    evidence="Sanlitun is a store"), SCHEMA, "schema", "nl2sql", fmt)
    assert messages == to_chat_messages(training, include_answer=False)
    assert messages[0] == {"role": "system", "content": DEFAULT_SYSTEM}
    user = messages[-1]["content"]
    assert user.startswith(training.instruction)
    assert "stores" in user and "store_id" in user
    assert "Evidence: Sanlitun is a store" in user and user.endswith(f"Question: {QUESTION}")


def test_few_shot_turns_come_first_and_look_like_training_records() -> None:
    shots = [("How many stores?", "SELECT COUNT(*) FROM stores"),
             FewShot("List store names", "SELECT name FROM stores"),
             Example(id="e", question="Orders per store", sql="SELECT store_id, COUNT(*) FROM orders GROUP BY 1",
                     db_id="shop")]
    messages = build_messages(QUESTION, SCHEMA, fewshot=shots)
    roles = [m["role"] for m in messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user", "assistant", "user"]
    assert messages[2]["content"] == "SELECT COUNT(*) FROM stores"
    assert messages[4]["content"] == "SELECT name FROM stores"
    first = build_prompt(Example(id="s", question="How many stores?", sql="", db_id="shop"), SCHEMA)
    assert messages[1]["content"] == first.user_text
    assert messages[-1]["content"].endswith(f"Question: {QUESTION}")


def test_few_shot_with_its_own_schema() -> None:
    other = Schema("zoo", "sqlite", [Table("animals", [Column("id", "INTEGER", primary_key=True)])])
    messages = build_messages(QUESTION, SCHEMA, fewshot=[FewShot("How many animals?", "SELECT COUNT(*) FROM animals",
                                                                 schema=other)])
    assert "animals" in messages[1]["content"] and "stores" not in messages[1]["content"]


def test_value_hints_follow_the_question() -> None:
    messages = build_messages(QUESTION, SCHEMA, value_hits=[HIT, HIT])
    user = messages[-1]["content"]
    assert user.endswith("Values that may be relevant: stores.name = 'Beijing Sanlitun'")
    assert user.index("Question:") < user.index("Values that may be relevant")
    assert format_value_hints([]) == ""
    assert format_value_hints([ValueHit("Order", "Name", "O'Brien", 1.0)], "postgres") == (
        "Values that may be relevant: \"Order\".\"Name\" = 'O''Brien'")


def test_families() -> None:
    plain = build_messages(QUESTION, SCHEMA)
    qwen = build_messages(QUESTION, SCHEMA, family="qwen-coder")
    assert qwen[-1]["content"].startswith(plain[-1]["content"]) and qwen[-1]["content"].endswith("```sql code block.")
    gemma = build_messages(QUESTION, SCHEMA, family="gemma")
    assert [m["role"] for m in gemma] == ["user"] and gemma[0]["content"].startswith(DEFAULT_SYSTEM)
    assert family_for_model("Qwen/Qwen2.5-Coder-1.5B-Instruct") == "qwen-coder"
    assert family_for_model("google/gemma-3-1b-it") == "gemma" and family_for_model("gpt2") is None
    assert all(f.why for f in FAMILIES.values())
    with pytest.raises(ConfigError):
        build_messages(QUESTION, SCHEMA, family="nope")


def test_system_override_and_dialect() -> None:
    messages = build_messages(QUESTION, SCHEMA, system="", dialect="postgres")
    assert [m["role"] for m in messages] == ["user"] and "PostgreSQL" in messages[0]["content"]


def test_explain_messages_use_the_sql2nl_direction() -> None:
    messages = build_explain_messages("SELECT COUNT(*) FROM orders", SCHEMA)
    training = build_prompt(Example(id="x", question="q", sql="SELECT COUNT(*) FROM orders", db_id="shop"), SCHEMA,
                            direction="sql2nl")
    assert messages == to_chat_messages(training, include_answer=False)
    assert "SQL: SELECT COUNT(*) FROM orders" in messages[-1]["content"]
