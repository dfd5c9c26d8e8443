"""`tunesql db query`: one read-only query from the command line."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunesql.cli import app


@pytest.fixture
def singer_db(spider_db_copy) -> Path:
    return spider_db_copy("concert_singer")


def test_query_prints_json_and_csv(singer_db: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["db", "query", str(singer_db), "SELECT name, age FROM singer ORDER BY age LIMIT 2",
                              "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert rows == [{"Name": "Tribal King", "Age": 25}, {"Name": "Justin Brown", "Age": 29}]
    res = runner.invoke(app, ["db", "query", str(singer_db), "SELECT name FROM singer ORDER BY name",
                              "--format", "csv", "--max-rows", "2"])
    assert res.exit_code == 0
    parsed = list(csv.reader(io.StringIO(res.stdout)))
    assert parsed[0] == ["Name"] and len(parsed) == 3
    assert "first 2 rows" in res.stderr


def test_refused_query_exits_non_zero_with_the_reason_on_stderr(singer_db: Path) -> None:
    before = singer_db.read_bytes()
    res = CliRunner().invoke(app, ["db", "query", str(singer_db), "DROP TABLE singer"])
    assert res.exit_code == 2
    assert "UnsafeSQLError" in res.stderr and "DROP" in res.stderr
    assert res.stdout == ""
    assert singer_db.read_bytes() == before


def test_failed_and_timed_out_queries_exit_non_zero(singer_db: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["db", "query", str(singer_db), "SELECT nope FROM singer"])
    assert res.exit_code == 1 and "ExecutionError" in res.stderr and "nope" in res.stderr
    runaway = "SELECT COUNT(*) FROM " + ", ".join(f"singer t{i}" for i in range(10))
    res = runner.invoke(app, ["db", "query", str(singer_db), runaway, "--timeout", "0.5"])
    assert res.exit_code == 1 and "QueryTimeout" in res.stderr


def test_bad_arguments_are_named(singer_db: Path) -> None:
    res = CliRunner().invoke(app, ["db", "query", str(singer_db), "SELECT 1", "--format", "xml"])
    assert res.exit_code != 0 and "--format" in res.output


def test_console_script_runs_for_real(singer_db: Path) -> None:
    exe = shutil.which("tunesql") or str(Path(sys.executable).parent / "tunesql")
    proc = subprocess.run([exe, "db", "query", str(singer_db), "SELECT COUNT(*) AS n FROM singer", "--format",
                           "json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"n": 6}]
    proc = subprocess.run([exe, "db", "query", str(singer_db), "DELETE FROM singer"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "refused DELETE" in proc.stderr
