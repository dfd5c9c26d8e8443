"""Report files a person reads, and comparing two prediction files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunesql.data.example import Example, write_examples
from tunesql.eval.report import compare_reports, render_markdown, write_compare, write_report
from tunesql.eval.runner import evaluate, load_gold, load_predictions

PNG = b"\x89PNG\r\n\x1a\n"
GOLD = [("SELECT count(*) FROM singer", "easy"), ("SELECT name FROM singer ORDER BY age", "medium"),
        ("SELECT country, count(*) FROM singer GROUP BY country", "medium"),
        ("SELECT name FROM stadium WHERE capacity > 5000", "easy")]


@pytest.fixture
def reports(spider_dir: Path, tmp_path: Path):
    examples = [Example(id=f"q{i}", question="?", sql=sql, db_id="concert_singer") for i, (sql, _) in enumerate(GOLD)]
    examples.append(Example(id="gone", question="?", sql="SELECT 1", db_id="no_such_db"))
    write_examples(tmp_path / "gold.jsonl", examples)
    gold = load_gold(tmp_path / "gold.jsonl", db_dir=spider_dir / "database")
    base = {"q0": "SELECT count(*) FROM singer", "q1": "SELECT name FROM singer ORDER BY age DESC",
            "q2": "SELECT country FROM singer", "q3": "SELECT name FROM stadium WHERE capacity > 5000"}
    tuned = {"q0": "SELECT count(*) FROM singer", "q1": "SELECT name FROM singer ORDER BY age",
             "q2": "SELECT count(*), country FROM singer GROUP BY country", "q3": "SELECT name FROM stadium"}
    sets = []
    for name, preds in (("base", base), ("tuned", tuned)):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"id": k, "sql": v}) + "\n" for k, v in preds.items()))
        sets.append(load_predictions(path, gold))
    return evaluate(gold, sets, workers=1)


def test_report_files_have_the_documented_shape(reports, tmp_path: Path) -> None:
    paths = write_report(reports[0], tmp_path / "out")
    assert {p.name for p in paths.values()} == {"report.json", "report.md", "difficulty.png"}
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert set(data) == {"summary", "examples"}
    assert [e["id"] for e in data["examples"]] == ["q0", "q1", "q2", "q3", "gone"]
    for e in data["examples"]:
        assert {"id", "correct", "error", "seconds"} <= set(e)
    s = data["summary"]
    assert (s["examples"], s["scored"], s["correct"], s["database_missing"]) == (5, 4, 2, 1)
    assert s["ex"] == 0.5 and s["ex_all"] == 0.4
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| level | examples | scored | correct | EX |" in md and "| **all** | 5 | 4 | 2 | **50.0%** |" in md
    assert "database missing: 1 examples (no_such_db: 1)" in md
    assert "## First 2 of 2 failures" in md and "SELECT name FROM singer ORDER BY age DESC" in md
    assert (tmp_path / "out" / "difficulty.png").read_bytes().startswith(PNG)


def test_markdown_limits_failures(reports) -> None:
    md = render_markdown(reports[0], failures=1)
    assert "## First 1 of 2 failures" in md
    assert "## First" not in render_markdown(reports[0], failures=0)


def test_compare_shows_deltas_and_flips_both_ways(reports, tmp_path: Path) -> None:
    cmp = compare_reports(reports[0], reports[1], label_a="base", label_b="tuned")
    assert [f["id"] for f in cmp["gained"]] == ["q1", "q2"]
    assert [f["id"] for f in cmp["lost"]] == ["q3"]
    assert (cmp["n_gained"], cmp["n_lost"]) == (2, 1)
    overall = cmp["overall"]
    assert (overall["scored"], overall["correct_a"], overall["correct_b"]) == (4, 2, 3)
    assert overall["delta"] == pytest.approx(0.25)
    assert sum(r["scored"] for r in cmp["by_difficulty"].values()) == 4
    gained = cmp["gained"][0]
    assert gained["pred_a"] == "SELECT name FROM singer ORDER BY age DESC" and gained["gold"]
    paths = write_compare(cmp, tmp_path / "cmp")
    assert {p.name for p in paths.values()} == {"compare.json", "compare.md", "compare.png"}
    md = (tmp_path / "cmp" / "compare.md").read_text()
    assert "Flipped: 2 gained" in md and "1 lost" in md and "+25.0 pts" in md
    assert (tmp_path / "cmp" / "compare.png").read_bytes().startswith(PNG)
    assert json.loads((tmp_path / "cmp" / "compare.json").read_text())["n_lost"] == 1
