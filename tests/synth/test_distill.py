"""Teacher distillation over real HTTP (a scripted OpenAI-compatible server) on a copy of the bundled shop database,
through to the trainer's own record builder."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from tests.infer.openai_server import FakeOpenAIServer
from tunesql.data.example import Example, read_examples, write_examples
from tunesql.db.connect import bundled_db_path
from tunesql.eval.runner import GoldSet, load_gold
from tunesql.infer.predict import dataset_databases
from tunesql.infer.prompting import REASONING_INSTRUCTION
from tunesql.synth.distill import (
    REASON_GOLD,
    REASON_NO_DB,
    REASON_NO_MATCH,
    REASON_NO_REASONING,
    REASON_NO_SQL,
    REASON_REQUEST,
    DistillConfig,
    distill,
    open_databases,
)
from tunesql.synth.llm import LLMClient

UNSURE = "I am not sure which table holds that."


def think(i: int, sql: str) -> str:
    return f"<think>reasoning {i}</think>\n<answer>\n{sql}\n</answer>"


# What the teacher answers, per gold example, choice by choice (n=4).
SCRIPTS: dict[str, list[str]] = {
    # Three correct (two spellings of one rewrite outvote the gold's own text), one wrong.
    "shop-000": [think(0, "SELECT COUNT(*) FROM customers"),
                 think(1, "SELECT COUNT(id) FROM customers"),
                 think(2, "select count(c.id)\n  from customers AS c"),
                 think(3, "SELECT COUNT(*) FROM orders")],
    # Two correct queries that normalise differently: a tie, won by the earlier one.
    "shop-001": [think(0, "SELECT COUNT(*) FROM orders WHERE status = 'shipped'"),
                 think(1, "SELECT COUNT(id) FROM orders WHERE status = 'cancelled'"),
                 think(2, "SELECT COUNT(*) FROM orders WHERE status = 'cancelled'"),
                 UNSURE],
    # Nothing right: another result, an unknown column, prose in the answer block, no SQL at all.
    "shop-004": [think(0, "SELECT name, unit_price FROM products ORDER BY unit_price ASC LIMIT 1"),
                 think(1, "SELECT nope FROM products"),
                 "<think>reasoning 2</think><answer>no idea</answer>",
                 UNSURE],
    "shop-005": [UNSURE, UNSURE, "<think>the email column, maybe", UNSURE],
    # The gold is ordered: the same rows in the other order are wrong; whitespace and a semicolon are not.
    "shop-007": [think(0, "SELECT name, city, opened_date FROM stores WHERE channel = 'retail' ORDER BY opened_date"),
                 think(1, "SELECT name,city,opened_date\nFROM stores\nWHERE channel='retail'\n"
                          "ORDER BY opened_date DESC;"),
                 UNSURE,
                 think(3, "SELECT name, city, opened_date FROM stores WHERE channel = 'retail' "
                          "ORDER BY opened_date DESC")],
    # Correct, but with no reasoning: nothing to train a reasoning model on.
    "shop-002": ["<answer>\nSELECT name, unit_price FROM products WHERE active = 0\n</answer>",
                 "SELECT name, unit_price FROM products WHERE active = 0",
                 think(2, "SELECT name FROM products"),
                 UNSURE],
}


@pytest.fixture
def shop(tmp_path: Path) -> GoldSet:
    """The bundled pairs, their database copied to tmp_path first."""
    db_dir = tmp_path / "dbs"
    db_dir.mkdir()
    shutil.copyfile(bundled_db_path(), db_dir / "shop.sqlite")
    return load_gold("shop", db_dir=db_dir)


@pytest.fixture
def examples(shop: GoldSet) -> list[Example]:
    by_id = {ex.id: ex for ex in shop.examples}
    return [by_id[i] for i in SCRIPTS]


@pytest.fixture
def server(examples: list[Example]) -> Iterator[FakeOpenAIServer]:
    def completion(body: dict[str, Any], i: int) -> str:
        last = body["messages"][-1]["content"]
        matches = [ex.id for ex in examples if ex.question in last]
        assert len(matches) == 1, last
        return SCRIPTS[matches[0]][i]

    srv = FakeOpenAIServer(completion=completion)
    srv.url = srv.start()
    yield srv
    srv.stop()


def run(shop: GoldSet, examples: list[Example], client: LLMClient, cfg: DistillConfig | None = None, **kw: Any):
    db_file, schemas = dataset_databases(shop, examples)
    with open_databases(db_file) as open_db:
        return distill(examples, open_db, schemas, client, cfg, **kw)


def test_the_majority_correct_answer_is_kept_and_trains(shop: GoldSet, examples: list[Example],
                                                       server: FakeOpenAIServer, tmp_path: Path) -> None:
    from tunesql.eval.compare import results_match
    from tunesql.train.config import DataSection
    from tunesql.train.data import build_training_data, reasoning_target

    client = LLMClient(server.url, "teacher-m", cache_dir=tmp_path / "cache")
    ticks: list[int] = []
    result = run(shop, examples, client, progress=ticks.append)
    assert len(ticks) == len(examples)

    # One request per example, n samples, with the reasoning prompt the student will be trained on.
    assert len(server.requests) == len(examples)
    for body in server.requests:
        assert body["n"] == 4 and body["temperature"] == 0.7 and body["seed"] == 0 and body["model"] == "teacher-m"
        assert body["messages"][-1]["content"].endswith(REASONING_INSTRUCTION)

    pairs = {p.id: p for p in result.pairs}
    assert [p.id for p in result.pairs] == list(SCRIPTS)
    assert {i for i, p in pairs.items() if p.accepted} == {"shop-000", "shop-001", "shop-007"}
    assert all(p.source == "distill" for p in result.pairs)

    majority = pairs["shop-000"]  # the rewrite's two spellings (1, 2) outvote the gold text (0)
    assert majority.sql == "SELECT COUNT(id) FROM customers"
    assert majority.meta["reasoning"] == "reasoning 1"
    assert (majority.meta["correct"], majority.meta["votes"], majority.meta["n"]) == (3, 2, 4)
    assert majority.meta["teacher"] == "teacher-m" and majority.meta["gold_sql"] == "SELECT COUNT(*) FROM customers"

    tie = pairs["shop-001"]
    assert tie.sql == "SELECT COUNT(id) FROM orders WHERE status = 'cancelled'"
    assert (tie.meta["reasoning"], tie.meta["correct"], tie.meta["votes"]) == ("reasoning 1", 2, 1)

    ordered = pairs["shop-007"]
    assert ordered.sql == "SELECT name,city,opened_date\nFROM stores\nWHERE channel='retail'\nORDER BY opened_date DESC"
    assert (ordered.meta["reasoning"], ordered.meta["correct"], ordered.meta["votes"]) == ("reasoning 1", 2, 2)
    # Answer 0 has the gold's rows, only in the other order: it was rejected for the order alone.
    with open_databases(dataset_databases(shop, examples)[0]) as open_db:
        db = open_db("shop")
        assert db is not None
        gold_rows = db.query(examples[4].sql).rows
        asc_rows = db.query(ordered.meta["gold_sql"].replace(" DESC", "")).rows
    assert asc_rows != gold_rows and results_match(asc_rows, gold_rows, ordered=False)

    assert pairs["shop-004"].reason == REASON_NO_MATCH
    assert pairs["shop-004"].detail.startswith("4 answers: 1 ran with another result, 2 failed, 1 had no SQL")
    assert "nope" in pairs["shop-004"].detail
    assert pairs["shop-005"].reason == REASON_NO_SQL
    assert pairs["shop-002"].reason == REASON_NO_REASONING

    summary = result.summary()
    assert summary.startswith("3 of 6 kept; rejected: ")
    for reason in (REASON_NO_MATCH, REASON_NO_SQL, REASON_NO_REASONING):
        assert f"1 {reason}" in summary

    # The kept examples: the teacher's SQL and reasoning, the gold question, id and database.
    kept = result.examples()
    assert [ex.id for ex in kept] == ["shop-000", "shop-001", "shop-007"]
    gold = {ex.id: ex for ex in examples}
    for ex in kept:
        assert ex.sql == pairs[ex.id].sql and ex.meta["reasoning"] == pairs[ex.id].meta["reasoning"]
        assert (ex.question, ex.db_id, ex.difficulty) == (gold[ex.id].question, "shop", gold[ex.id].difficulty)

    # They round-trip through the dataset layer and become the trainer's reasoning records.
    train_dir = tmp_path / "train"
    (train_dir / "database").mkdir(parents=True)
    shutil.copyfile(bundled_db_path(), train_dir / "database" / "shop.sqlite")
    path = train_dir / "distilled.jsonl"
    assert write_examples(path, kept) == 3
    assert [ex.to_dict() for ex in read_examples(path)] == [ex.to_dict() for ex in kept]
    data = build_training_data(DataSection(train=[str(path)], task="reasoning"), progress=False)
    assert not data.dropped and [r["id"] for r in data.records] == ["shop-000", "shop-001", "shop-007"]
    sent = {ex.id: body["messages"] for ex in examples for body in server.requests
            if ex.question in body["messages"][-1]["content"]}
    for record, ex in zip(data.records, kept, strict=True):
        completion = record["completion"][0]["content"]
        assert completion == reasoning_target(ex.meta["reasoning"], ex.sql)
        assert completion.startswith("<think>") and ex.sql in completion
        assert record["prompt"] == sent[ex.id], "the teacher was asked otherwise than the student is trained"


def test_a_rerun_with_the_cache_asks_nothing(shop: GoldSet, examples: list[Example], server: FakeOpenAIServer,
                                             tmp_path: Path) -> None:
    first = run(shop, examples, LLMClient(server.url, "teacher-m", cache_dir=tmp_path / "cache"))
    sent = len(server.requests)
    again_client = LLMClient(server.url, "teacher-m", cache_dir=tmp_path / "cache")
    again = run(shop, examples, again_client)
    assert len(server.requests) == sent
    assert again_client.stats.requests == 0 and again_client.stats.cache_hits == len(examples)
    assert [asdict(p) for p in again.pairs] == [asdict(p) for p in first.pairs]
    # Another seed is another set of samples: asked again.
    run(shop, examples[:1], again_client, DistillConfig(seed=1))
    assert len(server.requests) == sent + 1


def test_failing_gold_and_missing_database_are_rejected_unasked(shop: GoldSet, examples: list[Example],
                                                                server: FakeOpenAIServer) -> None:
    broken = Example("broken", examples[0].question, "SELECT nope FROM customers", "shop", evidence="hint")
    elsewhere = Example("elsewhere", examples[1].question, "SELECT 1", "no_such_db")
    batch = [broken, elsewhere, examples[0]]
    result = run(shop, batch, LLMClient(server.url, "teacher-m"))
    reasons = {p.id: p.reason for p in result.pairs}
    assert reasons == {"broken": REASON_GOLD, "elsewhere": REASON_NO_DB, "shop-000": None}
    assert "nope" in result.pairs[0].detail and "no_such_db" in result.pairs[1].detail
    assert len(server.requests) == 1, "a question whose answer cannot be judged was sent to the teacher"
    assert result.summary() == f"1 of 3 kept; rejected: 1 {REASON_GOLD}, 1 {REASON_NO_DB}"


def test_a_failed_request_is_a_rejection(shop: GoldSet, examples: list[Example], server: FakeOpenAIServer) -> None:
    server.fail_with = [500]
    client = LLMClient(server.url, "teacher-m", max_retries=0, concurrency=1)
    result = run(shop, examples[:2], client)
    assert [p.reason for p in result.pairs] == [REASON_REQUEST, None]
    assert "500" in result.pairs[0].detail


def test_evidence_comes_back_on_the_example(shop: GoldSet, examples: list[Example], server: FakeOpenAIServer) -> None:
    ex = examples[0]
    with_evidence = Example(ex.id, ex.question, ex.sql, ex.db_id, evidence="customers are rows of customers")
    result = run(shop, [with_evidence], LLMClient(server.url, "teacher-m"))
    (kept,) = result.examples()
    assert kept.evidence == "customers are rows of customers" and "evidence" not in kept.meta
    assert "customers are rows of customers" in server.requests[0]["messages"][-1]["content"]


def test_open_databases_shares_and_closes_handles(shop: GoldSet) -> None:
    db_file, _ = dataset_databases(shop, shop.examples[:1])
    with open_databases(db_file) as open_db:
        db = open_db("shop")
        assert db is not None and open_db("shop") is db
        assert db.query("SELECT COUNT(*) FROM customers").rows[0][0] > 0
        assert open_db("missing") is None
    assert db._raw is None  # closed on exit
