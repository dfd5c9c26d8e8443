"""`tunesql db inspect`: describe a database from the command line, in every format, on every engine."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
import sqlglot
from typer.testing import CliRunner

from tunesql.cli import app
from tunesql.db import Schema
from tunesql.db.connect import bundled_db_path


@pytest.fixture
def singer_db(spider_dir: Path) -> Path:
    return spider_dir / "database" / "concert_singer" / "concert_singer.sqlite"  # read-only is enough


@pytest.fixture
def commented_db(tmp_path: Path) -> Path:
    path = tmp_path / "notes.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE authors ( -- Who writes
          id INTEGER PRIMARY KEY, -- Author id
          name TEXT NOT NULL -- Pen name
        );
        CREATE TABLE notes ( -- Things people wrote down
          id INTEGER PRIMARY KEY,
          author_id INTEGER REFERENCES authors(id), -- Who wrote it
          body TEXT DEFAULT '' -- The text
        );
        INSERT INTO authors VALUES (1, 'Ann'), (2, 'Bob');
        INSERT INTO notes VALUES (1, 1, 'hello'), (2, 1, 'again'), (3, 2, 'bye');
    """)
    conn.close()
    return path


def _inspect(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, ["db", "inspect", *args])
    return res.exit_code, res.stdout, res.stderr


def test_every_format(commented_db: Path) -> None:
    code, out, err = _inspect(str(commented_db))
    assert code == 0, err
    assert out.startswith("CREATE TABLE authors ( -- Who writes\n")
    assert "  author_id INTEGER, -- Who wrote it; e.g. 1, 2\n" in out
    assert "FOREIGN KEY (author_id) REFERENCES authors (id)" in out
    assert len(sqlglot.parse(out, read="sqlite")) == 2

    code, out, _ = _inspect(str(commented_db), "--format", "cards", "--samples", "1")
    assert code == 0
    assert out.splitlines() == [
        "authors (2 rows) — Who writes",
        "  id INTEGER PK (Author id) e.g. 1 | name TEXT (Pen name) e.g. 'Ann'",
        "notes (3 rows) — Things people wrote down",
        "  id INTEGER PK e.g. 1 | author_id INTEGER → authors.id (Who wrote it) e.g. 1 | body TEXT (The text) "
        "e.g. 'hello'",
    ]

    code, out, _ = _inspect(str(commented_db), "--format", "mschema", "--samples", "2")
    assert code == 0
    assert out.startswith("【DB_ID】 notes\n【Schema】\n# Table: authors, Who writes\n[\n")
    assert "(name:TEXT, Pen name, Examples: [Ann, Bob])" in out
    assert out.rstrip().endswith("【Foreign keys】\nnotes.author_id=authors.id")

    code, out, _ = _inspect(str(commented_db), "--format", "json")
    assert code == 0
    schema = Schema.from_dict(json.loads(out))
    assert schema.name == "notes" and [t.name for t in schema.tables] == ["authors", "notes"]
    assert schema.table("notes").row_count == 3  # type: ignore[union-attr]
    assert schema.table("authors").column("name").samples == ["Ann", "Bob"]  # type: ignore[union-attr]


def test_switches(commented_db: Path) -> None:
    code, out, _ = _inspect(str(commented_db), "--format", "cards", "--samples", "0", "--no-row-counts",
                            "--no-comments")
    assert code == 0
    assert out.splitlines() == [
        "authors", "  id INTEGER PK | name TEXT",
        "notes", "  id INTEGER PK | author_id INTEGER → authors.id | body TEXT",
    ]
    code, out, _ = _inspect(f"sqlite:///{commented_db}", "--format", "json", "--samples", "0")
    assert code == 0
    assert all(not c["samples"] for t in json.loads(out)["tables"] for c in t["columns"])


def test_spider_database(singer_db: Path) -> None:
    code, out, err = _inspect(str(singer_db), "--format", "cards", "--samples", "2")
    assert code == 0, err
    assert "singer_in_concert (10 rows)" in out
    assert "Stadium_ID TEXT → stadium.Stadium_ID" in out


def test_errors_are_one_line_not_tracebacks(tmp_path: Path, commented_db: Path) -> None:
    code, out, err = _inspect(str(tmp_path / "missing.sqlite"))
    assert code == 1 and out == ""
    assert err.startswith("error: ConnectError:") and "missing.sqlite" in err and "Traceback" not in err
    junk = tmp_path / "junk.db"
    junk.write_text("not a database " * 50)
    code, _, err = _inspect(str(junk))
    assert code == 1 and "ConnectError" in err
    code, _, err = _inspect("postgresql://nobody@127.0.0.1:1/none")
    assert code == 1 and "ConnectError" in err and "Traceback" not in err
    code, _, err = _inspect("oracle://x@y/z")
    assert code == 1 and "unsupported database" in err
    res = CliRunner().invoke(app, ["db", "inspect", str(commented_db), "--format", "yaml"])
    assert res.exit_code == 2 and "--format" in res.output
    res = CliRunner().invoke(app, ["db", "inspect", str(commented_db), "--samples", "-1"])
    assert res.exit_code == 2


def test_bundled_database_when_no_url() -> None:
    if not bundled_db_path().is_file():
        pytest.skip("the bundled shop database is not built yet")
    code, out, err = _inspect("--format", "cards", "--samples", "1")
    assert code == 0, err
    headers = [line for line in out.splitlines() if not line.startswith("  ")]
    assert headers and all("rows)" in h and " — " in h for h in headers)  # counted and commented
    code, out, _ = _inspect()
    assert code == 0 and out.startswith("CREATE TABLE ")


def test_db_group_keeps_query() -> None:
    res = CliRunner().invoke(app, ["db", "--help"])
    assert res.exit_code == 0 and "inspect" in res.output and "query" in res.output


@pytest.mark.servers
def test_postgresql_and_mariadb(pg_url: str, mysql_url: str) -> None:
    for url, create in [
        (pg_url, ["CREATE TABLE teams (id INT PRIMARY KEY, name TEXT)",
                  "CREATE TABLE players (id INT PRIMARY KEY, team_id INT REFERENCES teams(id), \"Full Name\" TEXT)",
                  "COMMENT ON TABLE players IS 'People on teams'",
                  "INSERT INTO teams VALUES (1, 'Reds')",
                  "INSERT INTO players VALUES (1, 1, 'Ann')"]),
        (mysql_url, ["CREATE TABLE teams (id INT PRIMARY KEY, name TEXT)",
                     "CREATE TABLE players (id INT PRIMARY KEY, team_id INT, `Full Name` TEXT, "
                     "FOREIGN KEY (team_id) REFERENCES teams(id)) COMMENT='People on teams'",
                     "INSERT INTO teams VALUES (1, 'Reds')",
                     "INSERT INTO players VALUES (1, 1, 'Ann')"]),
    ]:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            for statement in create:
                conn.exec_driver_sql(statement)
        engine.dispose()
        for fmt in ("ddl", "cards", "mschema", "json"):
            code, out, err = _inspect(url, "--format", fmt)
            assert code == 0, (url, fmt, err)
            assert "players" in out and "teams" in out
        code, out, _ = _inspect(url, "--format", "cards")
        assert "players (1 row) — People on teams" in out
        assert "team_id INTEGER → teams.id e.g. 1" in out


def _console_script() -> str:
    script = Path(sys.executable).with_name("tunesql")
    found = str(script) if script.is_file() else shutil.which("tunesql")
    if found is None:
        pytest.fail("the tunesql console script is not installed (pip install -e .)")
    return found


def test_installed_console_script(commented_db: Path) -> None:
    proc = subprocess.run([_console_script(), "db", "inspect", str(commented_db), "--format", "mschema"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("【DB_ID】 notes\n")
    assert "(body:TEXT, The text, Examples: [hello, again, bye])" in proc.stdout
    proc = subprocess.run([_console_script(), "db", "inspect", str(commented_db.with_name("nope.sqlite"))],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1 and proc.stderr.startswith("error: ConnectError:")
