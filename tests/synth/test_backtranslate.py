"""Back-translation over real HTTP (the fake OpenAI server) on the bundled shop database's schema."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infer.openai_server import FakeOpenAIServer
from tunesql.db.connect import bundled_db_path, open_database
from tunesql.db.schema import Schema
from tunesql.errors import ConfigError
from tunesql.synth.backtranslate import backtranslate, filter_values, parse_question, question_request
from tunesql.synth.llm import LLMClient
from tunesql.synth.record import ACCEPTED, PENDING, Pair

# SQL -> what the scripted model answers for it, and the question that must come out (None: rejected).
SCRIPT: dict[str, tuple[str, str | None]] = {
    "SELECT COUNT(*) FROM customers": ("How many customers are registered?", "How many customers are registered?"),
    "SELECT name FROM customers WHERE city = 'Beijing'": ('"Which customers live in Beijing?"',
                                                          "Which customers live in Beijing?"),
    "SELECT p.name FROM products p JOIN categories c ON c.id = p.category_id WHERE c.name = 'Audio'": (
        "Question: Which products are in the Audio category?", "Which products are in the Audio category?"),
    "SELECT name FROM suppliers WHERE country = 'Japan'": ('{"question": "Which suppliers are based in Japan?"}',
                                                           "Which suppliers are based in Japan?"),
    "SELECT AVG(rating) FROM reviews": ("SELECT AVG(rating) FROM reviews", None),
}


def sql_in_prompt(body: dict[str, Any]) -> str:
    user = body["messages"][-1]["content"]
    match = re.search(r"query:\n(.*?)\n\n", user, re.DOTALL)
    assert match, f"no SQL in the prompt: {user[:200]}"
    return match.group(1)


def scripted(body: dict[str, Any], index: int) -> str:
    return SCRIPT[sql_in_prompt(body)][0]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    srv = FakeOpenAIServer(completion=scripted)
    srv.url = srv.start()  # type: ignore[attr-defined]
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Schema:
    path = tmp_path_factory.mktemp("shop") / "shop.sqlite"
    shutil.copyfile(bundled_db_path(), path)
    with open_database(path) as db:
        return db.schema()


def new_pairs() -> list[Pair]:
    return [Pair(id=f"p{i}", question="", sql=sql, db_id="shop", dialect="sqlite") for i, sql in enumerate(SCRIPT)]


def test_questions_are_written_and_parsed(server: FakeOpenAIServer, shop: Schema, tmp_path: Path) -> None:
    client = LLMClient(server.url, "writer", cache_dir=tmp_path / "cache")  # type: ignore[attr-defined]
    pairs = new_pairs()
    done: list[int] = []
    out = backtranslate(pairs, client, {"shop": shop}, progress=done.append)
    assert out == pairs and len(done) == len(SCRIPT) == len(server.requests)
    for pair in pairs:
        expected = SCRIPT[pair.sql][1]
        if expected is None:
            assert (pair.status, pair.reason) == ("rejected", "no question written")
            assert "SELECT AVG" in pair.detail
        else:
            assert (pair.question, pair.status) == (expected, PENDING)
        assert pair.meta["question_by"] == "writer"


def test_the_prompt_shows_the_sql_and_only_the_tables_it_reads(server: FakeOpenAIServer, shop: Schema) -> None:
    client = LLMClient(server.url, "writer")  # type: ignore[attr-defined]
    backtranslate(new_pairs(), client, {"shop": shop})
    prompts = {sql_in_prompt(body): body["messages"][-1]["content"] for body in server.requests}
    assert set(prompts) == set(SCRIPT)
    join = prompts["SELECT p.name FROM products p JOIN categories c ON c.id = p.category_id WHERE c.name = 'Audio'"]
    assert "# Table: products" in join and "# Table: categories" in join
    assert "products.category_id=categories.id" in join
    for unrelated in ("customers", "orders", "suppliers", "reviews"):
        assert f"# Table: {unrelated}" not in join
    assert "products.supplier_id=suppliers.id" not in join  # no foreign key to a table that is not shown
    assert "'Audio'" in join.split("filters on:")[1]
    count = prompts["SELECT COUNT(*) FROM customers"]
    assert "# Table: customers" in count and "# Table: orders" not in count
    assert "filters on" not in count  # no values to mention
    assert "question only" in count and "snake_case" not in count
    system = server.requests[0]["messages"][0]
    assert system["role"] == "system" and "never write SQL" in system["content"]


def test_pairs_with_a_question_or_rejected_are_not_sent(server: FakeOpenAIServer, shop: Schema) -> None:
    client = LLMClient(server.url, "writer")  # type: ignore[attr-defined]
    pairs = new_pairs()
    pairs[0].question = "How many customers do we have?"
    pairs[0].accept()
    pairs[1].reject("no rows")
    pairs[2].accept()  # accepted but still without a question: written
    backtranslate(pairs, client, {"shop": shop})
    assert len(server.requests) == len(SCRIPT) - 2
    assert pairs[0].question == "How many customers do we have?" and "question_by" not in pairs[0].meta
    assert pairs[1].question == "" and pairs[1].reason == "no rows"
    assert pairs[2].status == ACCEPTED and pairs[2].question == "Which products are in the Audio category?"


def test_a_failing_server_rejects_with_the_error(server: FakeOpenAIServer, shop: Schema) -> None:
    server.fail_with = [500] * len(SCRIPT)
    client = LLMClient(server.url, "writer", max_retries=0, concurrency=1)  # type: ignore[attr-defined]
    pairs = backtranslate(new_pairs(), client, {"shop": shop})
    assert {(p.status, p.reason) for p in pairs} == {("rejected", "LLM request failed")}
    assert all("500" in p.detail for p in pairs)
    assert all(p.question == "" for p in pairs)


def test_a_rerun_with_the_same_cache_sends_nothing(server: FakeOpenAIServer, shop: Schema, tmp_path: Path) -> None:
    first = backtranslate(new_pairs(), LLMClient(server.url, "writer", cache_dir=tmp_path),  # type: ignore[attr-defined]
                          {"shop": shop})
    sent = len(server.requests)
    assert sent == len(SCRIPT)
    again_client = LLMClient(server.url, "writer", cache_dir=tmp_path)  # type: ignore[attr-defined]
    again = backtranslate(new_pairs(), again_client, {"shop": shop})
    assert len(server.requests) == sent
    assert again_client.stats.cache_hits == len(SCRIPT)
    assert [(p.question, p.status, p.reason) for p in again] == [(p.question, p.status, p.reason) for p in first]


def test_a_missing_schema_is_refused_before_any_request(server: FakeOpenAIServer, shop: Schema) -> None:
    pairs = new_pairs()
    pairs[0].db_id = "elsewhere"
    with pytest.raises(ConfigError, match="elsewhere"):
        backtranslate(pairs, LLMClient(server.url, "writer"), {"shop": shop})  # type: ignore[attr-defined]
    assert server.requests == []


@pytest.mark.parametrize("answer, expected", [
    ("Which customers live in Beijing?", "Which customers live in Beijing?"),
    ('"Which customers live in Beijing?"', "Which customers live in Beijing?"),
    ("“Which customers live in Beijing?”", "Which customers live in Beijing?"),
    ("Question: Which customers live in Beijing?", "Which customers live in Beijing?"),
    ('**Question:** "Which customers live in Beijing?"', "Which customers live in Beijing?"),
    ("Q: Which customers live in Beijing?", "Which customers live in Beijing?"),
    ('{"question": "Which customers live in Beijing?"}', "Which customers live in Beijing?"),
    ('```json\n{"question": "Which customers live in Beijing?"}\n```', "Which customers live in Beijing?"),
    ("```\nWhich customers live in Beijing?\n```", "Which customers live in Beijing?"),
    ("Sure! Here is the question:\n\nWhich customers live in Beijing?\n\nIt lists names.",
     "Which customers live in Beijing?"),
    ("\n  Which customers live in Beijing?  \nExplanation: the query filters on city.",
     "Which customers live in Beijing?"),
    ("- Which customers live in Beijing?", "Which customers live in Beijing?"),
    ("哪些客户住在北京？", "哪些客户住在北京？"),
    ("", None),
    ("   \n ", None),
    ('""', None),
    ("SELECT name FROM customers WHERE city = 'Beijing'", None),
    ("```sql\nSELECT name FROM customers\n```", None),
    ("Question: with t as (select 1) select * from t", None),
])
def test_parse_question(answer: str, expected: str | None) -> None:
    assert parse_question(answer) == expected


def test_request_settings(shop: Schema) -> None:
    request = question_request("SELECT name FROM regions", shop, dialect="sqlite", temperature=0.7, seed=3)
    assert (request.temperature, request.seed, request.n) == (0.7, 3, 1)
    assert request.key("m") != question_request("SELECT name FROM regions", shop, dialect="sqlite").key("m")
    ddl = question_request("SELECT name FROM regions", shop, dialect="sqlite", schema_format="ddl")
    assert "CREATE TABLE regions" in ddl.messages[-1]["content"]


def test_filter_values_are_in_written_order() -> None:
    sql = ("SELECT c.name FROM customers c JOIN orders o ON o.customer_id = c.id AND o.status = 'delivered' "
           "WHERE c.city = 'Beijing' AND o.total_amount > 100 GROUP BY c.name HAVING COUNT(*) >= 2 LIMIT 5")
    assert filter_values(sql, "sqlite") == ["'delivered'", "'Beijing'", "100", "2"]
    assert filter_values("SELECT 'x' FROM t", "sqlite") == []
    assert filter_values("not sql at all (", "sqlite") == []
