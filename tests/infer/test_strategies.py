"""Greedy, voting and repair, with a scripted backend that returns fixed candidates."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from tunesql.db.connect import bundled_db_path, open_database
from tunesql.infer.backend import GenerationConfig, Message, ScriptedBackend
from tunesql.infer.strategies import (
    greedy,
    has_order_by,
    predict_many,
    predict_sql,
    vote,
)

MESSAGES: list[Message] = [{"role": "system", "content": "sys"},
                           {"role": "user", "content": "Question: how many orders?"}]
COUNT, COUNT_ALT = "SELECT COUNT(*) FROM orders", "select count(id) from orders"
BAD = "SELECT COUNT(nope) FROM orders"
DELETE = "```sql\nDELETE FROM orders\n```"


@pytest.fixture(scope="module")
def shop():
    db = open_database(None)
    yield db
    db.close()


class CountingBackend(ScriptedBackend):
    """A scripted backend that also counts ``generate`` calls and records each config."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.configs: list[GenerationConfig] = []

    def generate(self, conversations: Sequence[Sequence[Message]], config: GenerationConfig) -> list[list[str]]:
        self.configs.append(config)
        return super().generate(conversations, config)


def test_majority_result_wins_even_when_the_sql_differs(shop) -> None:
    backend = CountingBackend(default=["SELECT COUNT(*) FROM customers", COUNT, COUNT_ALT, BAD])
    pred = vote(backend, MESSAGES, shop, n=4)
    assert pred.sql == COUNT and pred.confidence == 0.5 and pred.strategy == "vote"
    assert pred.result is not None and pred.result.rows[0][0] > 0 and not pred.repaired
    assert [c.votes for c in pred.candidates] == [1, 2, 2, 0]
    assert pred.candidates[3].error and pred.candidates[3].error_kind == "execution"
    assert backend.configs[0].n == 4 and backend.configs[0].temperature == 0.7


def test_the_most_frequent_sql_of_the_winning_group_is_returned(shop) -> None:
    backend = ScriptedBackend(default=[COUNT_ALT, COUNT, "SELECT count(*) FROM orders", "SELECT 1"])
    assert vote(backend, MESSAGES, shop, n=4).sql == COUNT  # COUNT(*) twice (normalised) beats count(id) once


def test_column_reordered_results_group_together(shop) -> None:
    backend = ScriptedBackend(default=["SELECT id, name FROM customers", "SELECT name, id FROM customers",
                                       "SELECT id FROM customers"])
    pred = vote(backend, MESSAGES, shop, n=3)
    assert pred.sql == "SELECT id, name FROM customers" and pred.confidence == pytest.approx(2 / 3)


def test_unsafe_candidates_never_run_and_get_no_votes(tmp_path: Path) -> None:
    path = tmp_path / "shop.sqlite"
    shutil.copy(bundled_db_path(), path)
    before = sqlite3.connect(path).execute("SELECT COUNT(*) FROM orders").fetchone()[0]
    backend = ScriptedBackend(default=[DELETE, DELETE, DELETE, COUNT])
    with open_database(path) as db:
        pred = vote(backend, MESSAGES, db, n=4)
        assert pred.sql == COUNT and pred.confidence == 0.25
        assert [c.error_kind for c in pred.candidates] == ["unsafe", "unsafe", "unsafe", None]
        assert [c.votes for c in pred.candidates] == [0, 0, 0, 1]
        # All unsafe: reported with confidence 0, never "repaired".
        only_unsafe = ScriptedBackend(default=[DELETE])
        refused = vote(only_unsafe, MESSAGES, db, n=3)
        assert refused.confidence == 0 and refused.error_kind == "unsafe" and not refused.repaired
        assert refused.sql == "DELETE FROM orders" and refused.result is None
        assert len(only_unsafe.calls) == 1  # no repair request was sent
        assert greedy(ScriptedBackend(default=[DELETE]), MESSAGES, db).error_kind == "unsafe"
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM orders").fetchone()[0] == before


def test_tie_break_is_the_earliest_group(shop) -> None:
    first = vote(ScriptedBackend(default=["SELECT 1", "SELECT 2", "SELECT 2", "SELECT 1"]), MESSAGES, shop, n=4)
    assert first.sql == "SELECT 1" and first.confidence == 0.5
    second = vote(ScriptedBackend(default=["SELECT 2", "SELECT 1", "SELECT 1", "SELECT 2"]), MESSAGES, shop, n=4)
    assert second.sql == "SELECT 2"
    again = vote(ScriptedBackend(default=["SELECT 1", "SELECT 2", "SELECT 2", "SELECT 1"]), MESSAGES, shop, n=4)
    assert again.sql == first.sql and [c.votes for c in again.candidates] == [2, 2, 2, 2]


def test_row_order_matters_only_when_both_candidates_order(shop) -> None:
    asc, desc = "SELECT id FROM regions ORDER BY id", "SELECT id FROM regions ORDER BY id DESC"
    pred = vote(ScriptedBackend(default=[asc, desc, desc]), MESSAGES, shop, n=3)
    assert pred.sql == desc and [c.votes for c in pred.candidates] == [1, 2, 2]
    unordered = vote(ScriptedBackend(default=["SELECT id FROM regions", desc]), MESSAGES, shop, n=2)
    assert unordered.confidence == 1.0
    assert has_order_by(asc, "sqlite") and not has_order_by("SELECT id FROM (SELECT id FROM t ORDER BY id)", "sqlite")
    assert has_order_by("SELECT a FROM t UNION SELECT a FROM u ORDER BY a", "sqlite")
    assert not has_order_by("not sql at all", "sqlite")


def test_identical_sql_runs_once(shop, monkeypatch) -> None:
    import tunesql.infer.strategies as strategies

    ran: list[str] = []
    real = strategies.run_query

    def counting(db, sql, **kw):
        ran.append(sql)
        return real(db, sql, **kw)

    monkeypatch.setattr(strategies, "run_query", counting)
    vote(ScriptedBackend(default=[COUNT]), MESSAGES, shop, n=5)
    assert ran == [COUNT]


def test_reasoning_outputs(shop) -> None:
    raw = "<think>Maybe SELECT 1 FROM stores?</think><answer>SELECT COUNT(*) FROM orders</answer>"
    assert greedy(ScriptedBackend(default=[raw]), MESSAGES, shop).sql == COUNT
    pred = vote(ScriptedBackend(default=[raw, "<think>SELECT 1</think><answer>SELECT 2</answer>"]), MESSAGES, shop, n=3)
    assert pred.sql == COUNT and pred.confidence == pytest.approx(2 / 3)
    unfinished = greedy(ScriptedBackend(default=["<think>SELECT 1 FROM"]), MESSAGES, shop, repair=False)
    assert unfinished.error_kind == "no_sql" and unfinished.confidence == 0


def test_greedy(shop) -> None:
    backend = CountingBackend(default=[COUNT, "SELECT 1"])
    pred = greedy(backend, MESSAGES, shop, config=GenerationConfig(n=5, max_new_tokens=64))
    assert pred.sql == COUNT and pred.confidence == 1.0 and len(pred.candidates) == 1
    assert backend.configs[0].n == 1 and backend.configs[0].temperature == 0.0
    assert backend.configs[0].max_new_tokens == 64


def test_repair_shows_the_error_and_returns_the_fix(shop) -> None:
    backend = ScriptedBackend(script={"no such column": [COUNT]}, default=[BAD])
    pred = greedy(backend, MESSAGES, shop)
    assert pred.repaired and pred.sql == COUNT and pred.confidence == 1.0 and pred.error is None
    assert pred.candidates[0].sql == BAD and pred.repair is not None and pred.repair.sql == COUNT
    retry = backend.calls[1]
    assert retry[:2] == MESSAGES
    assert retry[-2] == {"role": "assistant", "content": BAD}
    assert retry[-1]["role"] == "user" and "no such column: nope" in retry[-1]["content"]


def test_vote_repairs_when_nothing_ran(shop) -> None:
    backend = ScriptedBackend(script={"no such column": [COUNT]}, default=[BAD, "SELECT nope2 FROM orders", BAD])
    pred = vote(backend, MESSAGES, shop, n=3)
    assert pred.repaired and pred.sql == COUNT and pred.confidence == 0.25
    assert backend.calls[1][-2]["content"] == BAD  # the most common failing SQL is the one repaired


def test_no_repair_when_disabled_or_when_the_fix_fails(shop) -> None:
    pred = greedy(ScriptedBackend(default=[BAD]), MESSAGES, shop, repair=False)
    assert not pred.repaired and pred.confidence == 0 and "no such column" in (pred.error or "")
    still_bad = greedy(ScriptedBackend(default=[BAD]), MESSAGES, shop)
    assert not still_bad.repaired and still_bad.repair is not None and still_bad.error
    syntax = greedy(ScriptedBackend(script={"error": [COUNT]}, default=["```sql\nSELEC * FRM orders\n```"]),
                    MESSAGES, shop)
    assert syntax.repaired and syntax.candidates[0].error_kind == "syntax"
    for statement in ("DROP TABLE orders", "VACUUM", "PRAGMA writable_schema = 1", "UPDATE orders SET id = 1"):
        refused = ScriptedBackend(script={"error": [COUNT]}, default=[f"```sql\n{statement}\n```"])
        pred = greedy(refused, MESSAGES, shop)
        assert pred.error_kind == "unsafe" and not pred.repaired and len(refused.calls) == 1, statement


def test_predict_many_batches_the_backend_calls(shop) -> None:
    # The repair key comes first: ScriptedBackend takes the first key found in the last user turn.
    backend = CountingBackend(script={"no such column": ["SELECT 2"], "one": ["SELECT 1"], "two": [BAD]},
                              default=["SELECT 3"])
    convs = [[{"role": "user", "content": q}] for q in ("one", "two", "three")]
    preds = predict_many(backend, convs, shop, "vote", n=2)
    assert [p.sql for p in preds] == ["SELECT 1", "SELECT 2", "SELECT 3"]
    assert [p.repaired for p in preds] == [False, True, False]
    assert len(backend.configs) == 2  # one call for all samples, one for all repairs
    chunked = CountingBackend(default=["SELECT 1"])
    predict_many(chunked, convs, [shop, shop, shop], "greedy", batch_size=2)
    assert len(chunked.configs) == 2
    with pytest.raises(ValueError):
        predict_many(chunked, convs, [shop], "greedy")
    with pytest.raises(ValueError):
        predict_sql(chunked, MESSAGES, shop, "beam")
