"""`tunesql ask` and `tunesql predict` end to end, over real HTTP, against a scripted OpenAI-compatible server.

The server answers with fixed SQL chosen by the question, so the flow (prompt → candidates → read-only runs →
vote → rows) is checked exactly; the real-model paths are covered by tests/infer and the benchmarks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.infer.openai_server import FakeOpenAIServer
from tunesql.cli import app

ANSWERS = {
    "How many customers": ["SELECT COUNT(*) FROM customers", "select count(id) from customers",
                           "SELECT COUNT(*) FROM orders"],
    "How many singers": ["SELECT count(*) FROM singer"],
    "Which stadium": ["SELECT nope FROM stadium", "SELECT name FROM stadium ORDER BY capacity DESC LIMIT 1"],
}


def _script(request: dict[str, Any], index: int) -> str:
    user_turns = [m["content"] for m in request["messages"] if m["role"] == "user"]
    if len(user_turns) > 1 and "nope" in user_turns[-1]:  # the repair turn shows the error
        return "SELECT name FROM stadium ORDER BY capacity DESC LIMIT 1"
    for key, answers in ANSWERS.items():
        if key in user_turns[-1]:
            return f"```sql\n{answers[index % len(answers)]}\n```"
    return "SELECT 1"


@pytest.fixture
def server():
    srv = FakeOpenAIServer(completion=_script)
    url = srv.start()
    yield srv, f"{url}#scripted"
    srv.stop()


def test_ask_votes_on_the_bundled_database(server) -> None:
    srv, model = server
    res = CliRunner().invoke(app, ["ask", "How many customers do we have?", "--model", model, "--n", "3",
                                   "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["rows"] == [[300]]  # the bundled shop has 300 customers
    assert out["confidence"] == pytest.approx(2 / 3)  # COUNT(*) and count(id) agree; the orders count loses
    assert "customers" in out["sql"].lower()
    prompt = srv.requests[0]["messages"][-1]["content"]
    assert "customers" in prompt and "How many customers" in prompt  # the schema and the question were sent


def test_ask_table_output_and_repair(server, spider_db_copy) -> None:
    _, model = server
    db = spider_db_copy("concert_singer")
    res = CliRunner().invoke(app, ["ask", "Which stadium is the biggest?", "--db", str(db), "--model", model,
                                   "--strategy", "greedy"])
    assert res.exit_code == 0, res.output
    assert "ORDER BY capacity DESC" in res.stdout and "repaired after an error" in res.stdout


def test_predict_is_resumable_and_scores(server, tmp_path: Path, spider_dir: Path) -> None:
    _, model = server
    out = tmp_path / "preds.jsonl"
    args = ["predict", "--dataset", "spider:dev", "--spider-dir", str(spider_dir), "--model", model,
            "--out", str(out), "--no-values"]
    res = CliRunner().invoke(app, [*args, "--limit", "3"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["id"] for x in lines] == ["0", "1", "2"]  # concert_singer: "How many singers do we have?" first
    assert lines[0]["sql"].lower() == "select count(*) from singer" and lines[0]["error"] is None
    res = CliRunner().invoke(app, [*args, "--limit", "4"])
    assert res.exit_code == 0, res.output
    assert "3 already there" in res.stdout
    assert len(out.read_text().splitlines()) == 4
    res = CliRunner().invoke(app, ["eval", "--gold", "spider:dev", "--spider-dir", str(spider_dir), "--pred",
                                   str(out), "--only-predicted", "-q", "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "over 4 scored" in res.stdout


def test_bad_choices_are_named() -> None:
    res = CliRunner().invoke(app, ["ask", "x", "--strategy", "beam"])
    assert res.exit_code != 0 and "--strategy" in res.output
    res = CliRunner().invoke(app, ["ask", "x", "--model", "no-such-model"])
    assert res.exit_code == 1 and "no-such-model" in res.stderr
