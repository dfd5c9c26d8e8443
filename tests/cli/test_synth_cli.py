"""``tunesql synth from-log`` and ``tunesql synth distill`` from the command line, over real HTTP."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.infer.openai_server import FakeOpenAIServer
from tunesql.cli import app
from tunesql.data.example import read_examples
from tunesql.db.connect import bundled_db_path
from tunesql.eval.runner import load_gold


@pytest.fixture
def server():
    srv = FakeOpenAIServer()
    srv.url = srv.start()  # type: ignore[attr-defined]
    yield srv
    srv.stop()


def test_from_log_mines_a_sql_file(server: FakeOpenAIServer, tmp_path: Path) -> None:
    db = tmp_path / "shop.sqlite"
    shutil.copyfile(bundled_db_path(), db)
    log = tmp_path / "queries.sql"
    log.write_text("-- nightly report\nSELECT name FROM regions;\nSELECT name FROM regions;\n"
                   "UPDATE customers SET city = 'x';\nSELECT nope FROM customers;\n"
                   "SELECT COUNT(*) FROM orders WHERE status = 'shipped';\n", encoding="utf-8")
    server.completion = lambda body, i: (
        "Which regions are there?" if "SELECT name FROM regions" in body["messages"][-1]["content"]
        else "How many orders have shipped?")
    out = tmp_path / "log"
    result = CliRunner().invoke(app, ["synth", "from-log", str(log), "--db", str(db), "--llm", server.url,
                                      "--model", "m", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["accepted"] == 2 and summary["rejected_by_reason"] == {"not a SELECT": 1,
                                                                         "unknown table or column": 1}
    examples = read_examples(out / "pairs.jsonl")
    assert {e.sql for e in examples} == {"SELECT name FROM regions",
                                         "SELECT COUNT(*) FROM orders WHERE status = 'shipped'"}
    assert all(e.question.endswith("?") for e in examples)
    # The pairs find their database the way any gold file does, so the trainer and evaluator can use them.
    gold = load_gold(out / "pairs.jsonl")
    assert gold.db_dir == out / "database" and (out / "database" / "shop" / "shop.sqlite").resolve() == db.resolve()


def test_from_log_needs_a_source(server: FakeOpenAIServer) -> None:
    result = CliRunner().invoke(app, ["synth", "from-log", "--llm", server.url, "--model", "m"])
    assert result.exit_code == 1 and "--pg-stat-statements" in result.output


def test_distill_keeps_answers_that_match_the_gold(server: FakeOpenAIServer, tmp_path: Path) -> None:
    gold = {ex.question: ex.sql for ex in load_gold("shop").examples[:3]}

    def teacher(body: dict[str, Any], index: int) -> str:
        user = body["messages"][-1]["content"]
        question = next(q for q in gold if q in user)
        sql = gold[question] if index % 2 == 0 else "SELECT 1"
        return f"<think>step {index}: read the schema</think>\n<answer>\n{sql}\n</answer>"

    server.completion = teacher
    out = tmp_path / "distill"
    result = CliRunner().invoke(app, ["synth", "distill", "--gold", "shop", "--limit", "3", "--llm", server.url,
                                      "--model", "teacher", "--n", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert re.search(r"3 of 3 kept", result.output), result.output
    examples = read_examples(out / "pairs.jsonl")
    assert len(examples) == 3 and all(e.meta["reasoning"].startswith("step 0") for e in examples)
    assert {e.sql for e in examples} == set(gold.values())
    # pairs.jsonl is a training set for data.task=reasoning: its database is found beside it.
    assert load_gold(out / "pairs.jsonl").db_dir == out / "database"
