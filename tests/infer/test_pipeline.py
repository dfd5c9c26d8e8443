"""answer_question: the whole ask-my-database flow on the bundled shop database, with a scripted backend."""

from __future__ import annotations

import pytest

from tunesql.db.connect import open_database
from tunesql.infer.backend import ScriptedBackend
from tunesql.infer.pipeline import answer_question, explain_sql

SANLITUN = ("SELECT COUNT(*) FROM orders AS o JOIN stores AS s ON o.store_id = s.id "
            "WHERE s.name = 'Beijing Sanlitun'")
QUESTION = "How many orders were placed in Sanlitun?"


@pytest.fixture(scope="module")
def shop():
    db = open_database(None)
    yield db
    db.close()


@pytest.fixture(scope="module")
def shop_schema(shop):
    return shop.schema(samples=3)


def test_answer_with_vote_hints_and_explanation(shop, shop_schema) -> None:
    backend = ScriptedBackend(script={"SQL: SELECT": ["<think>it counts</think>How many orders came from Sanlitun?"]},
                              default=[SANLITUN, SANLITUN.replace("COUNT(*)", "COUNT(o.id)"),
                                       "SELECT COUNT(*) FROM orders"])
    answer = answer_question(QUESTION, shop, backend, n=3, explain=True, schema=shop_schema)
    assert answer.sql == SANLITUN and answer.confidence == pytest.approx(2 / 3)
    assert answer.columns and len(answer.rows) == 1 and answer.rows[0][0] > 0 and not answer.truncated
    assert answer.error is None and answer.prediction.strategy == "vote"
    assert not answer.pruned.pruned  # the shop schema fits the default budget
    assert answer.value_hits[0].value == "Beijing Sanlitun"
    prompt = backend.calls[0][-1]["content"]
    assert "【Schema】" in prompt and f"Question: {QUESTION}" in prompt
    assert "Values that may be relevant: stores.name = 'Beijing Sanlitun'" in prompt
    assert answer.explanation == "How many orders came from Sanlitun?"
    assert f"SQL: {SANLITUN}" in backend.calls[-1][-1]["content"]


def test_greedy_with_a_tight_budget_prunes_and_filters_hints(shop, shop_schema) -> None:
    backend = ScriptedBackend(default=[SANLITUN])
    answer = answer_question(QUESTION, shop, backend, strategy="greedy", budget_tokens=500, schema=shop_schema,
                             schema_format="ddl")
    assert answer.confidence == 1.0 and answer.rows[0][0] > 0
    assert answer.pruned.pruned and answer.pruned.dropped_tables and "dropped" in answer.pruned.summary()
    kept = {t.name for t in answer.pruned.schema.tables}
    assert {"orders", "stores"} <= kept
    prompt = backend.calls[0][-1]["content"]
    for table in answer.pruned.dropped_tables:
        assert f"CREATE TABLE {table} (" not in prompt
    assert all(h.table in kept for h in answer.value_hits)
    assert answer.explanation is None and len(backend.calls) == 1


def test_failed_answer_is_reported_not_raised(shop, shop_schema) -> None:
    backend = ScriptedBackend(default=["```sql\nDROP TABLE orders\n```"])
    answer = answer_question(QUESTION, shop, backend, strategy="greedy", schema=shop_schema, values=False)
    assert answer.rows == [] and answer.columns == [] and answer.confidence == 0
    assert answer.error and answer.prediction.error_kind == "unsafe" and answer.value_hits == []
    assert not answer.prediction.repaired and len(backend.calls) == 1  # refused SQL is not retried


def test_explain_sql_alone(shop_schema) -> None:
    backend = ScriptedBackend(default=["  Counts the orders.  "])
    assert explain_sql("SELECT COUNT(*) FROM orders", shop_schema, backend) == "Counts the orders."
