"""``tunesql eval`` end to end through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunesql.cli import app
from tunesql.data.spider import load_spider

runner = CliRunner()


@pytest.fixture
def files(spider_dir: Path, tmp_path: Path) -> dict[str, Path]:
    dev = [ex for ex in load_spider(spider_dir, "dev") if ex.db_id == "concert_singer"][:10]
    gold = tmp_path / "gold.sql"
    gold.write_text("".join(f"{ex.sql}\t{ex.db_id}\n" for ex in dev))
    good = tmp_path / "good.jsonl"
    good.write_text("".join(json.dumps({"id": str(i), "sql": ex.sql}) + "\n" for i, ex in enumerate(dev)))
    half = tmp_path / "half.jsonl"
    half.write_text("".join(json.dumps({"id": str(i), "sql": ex.sql if i % 2 else "SELECT 0"}) + "\n"
                            for i, ex in enumerate(dev)))
    text = tmp_path / "pred.txt"
    text.write_text("".join(f"{ex.sql}\n" for ex in dev))
    return {"gold": gold, "good": good, "half": half, "text": text, "db": spider_dir / "database"}


def invoke(*args: str):
    return runner.invoke(app, ["eval", *args])


def test_eval_is_a_command_with_help() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for option in ("--gold", "--pred", "--db-dir", "--semantics", "--keep-distinct", "--timeout", "--workers",
                   "--out", "--compare", "--task", "--spider-dir"):
        assert option in result.output


def test_cli_default_timeout_is_the_evaluator_default() -> None:
    from tunesql.cli.eval import DEFAULT_TIMEOUT as CLI_DEFAULT
    from tunesql.eval.execution import DEFAULT_TIMEOUT

    assert CLI_DEFAULT == DEFAULT_TIMEOUT


def test_eval_prints_a_summary_and_writes_the_report(files, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke("--gold", str(files["gold"]), "--pred", str(files["text"]), "--db-dir", str(files["db"]),
                    "--out", str(out), "--workers", "1")
    assert result.exit_code == 0, result.output
    assert "Execution accuracy" in result.output and "100.0%" in result.output
    assert "EX over 10 scored examples: 100.0%" in result.output
    report = json.loads((out / "report.json").read_text())
    assert report["summary"]["ex"] == 1.0 and len(report["examples"]) == 10
    assert (out / "report.md").is_file() and (out / "difficulty.png").is_file()


def test_eval_compare_two_files(files, tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    result = invoke("--gold", str(files["gold"]), "--db-dir", str(files["db"]), "--compare", str(files["half"]),
                    str(files["good"]), "--out", str(out), "--workers", "2", "-q")
    assert result.exit_code == 0, result.output
    assert "half vs good" in result.output and "flipped: 5 gained" in result.output
    cmp = json.loads((out / "compare.json").read_text())
    assert (cmp["n_gained"], cmp["n_lost"]) == (5, 0)
    for name in ("report_a.json", "report_b.json", "compare.md", "compare.png"):
        assert (out / name).is_file()


def test_eval_duplicate_id_is_a_clean_error(files, tmp_path: Path) -> None:
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"id": "0", "sql": "SELECT 1"}\n{"id": "0", "sql": "SELECT 2"}\n')
    result = invoke("--gold", str(files["gold"]), "--pred", str(dup), "--db-dir", str(files["db"]))
    assert result.exit_code == 1
    assert "DataError" in result.output and "line 2: id '0' repeats line 1" in result.output


def test_eval_needs_exactly_one_of_pred_and_compare(files) -> None:
    result = invoke("--gold", str(files["gold"]), "--db-dir", str(files["db"]))
    assert result.exit_code == 1 and "--pred FILE or --compare A B" in result.output
    result = invoke("--gold", str(files["gold"]), "--pred", str(files["good"]), "--semantics", "exact")
    assert result.exit_code == 1 and "--semantics" in result.output
