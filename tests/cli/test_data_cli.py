"""``tunesql data export`` end to end with real files."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunesql.cli import app

runner = CliRunner()


def _invoke(*args: str):
    return runner.invoke(app, ["data", "export", *args])


def test_spider_train_alpaca_schema(spider_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    # Schemas from the databases (the default); no samples keeps introspecting ~140 databases quick.
    result = _invoke("spider", "--split", "train", "--format", "alpaca", "--prompt", "schema", "--samples", "0",
                     "--spider-dir", str(spider_dir), "--out", str(out))
    assert result.exit_code == 0, result.output
    path = out / "spider_train_schema-ddl_nl2sql_alpaca.json"
    assert "wrote 7000 records" in result.output and str(path) in result.output
    assert "schemas of 140 databases:" in result.output and "(no samples)" in result.output
    records = json.loads(path.read_text(encoding="utf-8"))
    assert len(records) == 7000 and "CREATE TABLE" in records[0]["input"]
    assert " e.g. " not in records[0]["input"]
    info = json.loads((out / "dataset_info.json").read_text(encoding="utf-8"))
    assert info["spider_train_schema-ddl_nl2sql_alpaca"]["file_name"] == path.name


@pytest.mark.parametrize(("fmt", "prompt", "direction"), [
    ("sharegpt", "dbid", "nl2sql"),
    ("messages", "schema", "sql2nl"),
])
def test_spider_dev_other_options(spider_dir: Path, tmp_path: Path, monkeypatch, fmt, prompt,
                                  direction) -> None:
    monkeypatch.setenv("TUNESQL_SPIDER_DIR", str(spider_dir))
    result = _invoke("spider", "--split", "dev", "--format", fmt, "--prompt", prompt, "--direction", direction,
                     "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "wrote 1034 records" in result.output
    info = json.loads((tmp_path / "dataset_info.json").read_text(encoding="utf-8"))
    (entry,) = info.values()
    assert entry["formatting"] == "sharegpt"
    path = tmp_path / entry["file_name"]
    text = path.read_text(encoding="utf-8")
    count = len(text.splitlines()) if fmt == "messages" else len(json.loads(text))
    assert count == 1034


def _first_row(db: Path, sql: str):
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchone()
    finally:
        conn.close()


def test_spider_dev_mschema_from_the_databases(spider_dir: Path, tmp_path: Path) -> None:
    result = _invoke("spider", "--split", "dev", "--schema-format", "mschema", "--spider-dir", str(spider_dir),
                     "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "wrote 1034 records" in result.output
    assert "schemas of 20 databases:" in result.output and "(3 sample values per column)" in result.output
    assert "from tables.json (no .sqlite file:" in result.output and "wta_1" in result.output
    records = json.loads((tmp_path / "spider_dev_schema-mschema_nl2sql_alpaca.json").read_text(encoding="utf-8"))
    assert len(records) == 1034
    text = records[0]["input"]
    assert records[0]["output"] == "SELECT count(*) FROM singer"
    (country,) = _first_row(spider_dir / "database" / "concert_singer" / "concert_singer.sqlite",
                            "SELECT Country FROM singer WHERE Country IS NOT NULL LIMIT 1")
    assert f"(Country:TEXT, Examples: [{country}, " in text
    assert "(concert_ID:INT, Primary Key, " in text and "(Singer_ID:TEXT, Primary Key, " in text
    assert "NUMBER" not in text
    wta = next(r["input"] for r in records if "【DB_ID】 wta_1" in r["input"])
    assert "Examples:" not in wta and "NUMBER" in wta  # tables.json's schema: no file to sample


def test_spider_schema_source_tables(spider_dir: Path, tmp_path: Path) -> None:
    result = _invoke("spider", "--split", "dev", "--schema-format", "mschema", "--schema-source", "tables",
                     "--spider-dir", str(spider_dir), "--out", str(tmp_path), "--limit", "3")
    assert result.exit_code == 0, result.output
    assert "schemas of" not in result.output
    records = json.loads((tmp_path / "spider_dev_schema-mschema_nl2sql_alpaca.json").read_text(encoding="utf-8"))
    assert len(records) == 3 and "(Capacity:NUMBER)" in records[0]["input"]
    assert "Examples:" not in records[0]["input"]
    result = _invoke("spider", "--split", "dev", "--schema-source", "files", "--out", str(tmp_path))
    assert result.exit_code == 2 and "files" in result.output
    result = _invoke("spider", "--split", "dev", "--samples", "-1", "--out", str(tmp_path))
    assert result.exit_code == 2


def test_spider_missing_database_falls_back(spider_dir: Path, tmp_path: Path) -> None:
    """A copy of the Spider layout with only concert_singer's database: pets_1 (records 45-86) falls back."""
    import shutil

    root = tmp_path / "spider"
    (root / "database" / "concert_singer").mkdir(parents=True)
    for name in ("tables.json", "dev.json"):
        shutil.copyfile(spider_dir / name, root / name)
    shutil.copyfile(spider_dir / "database" / "concert_singer" / "concert_singer.sqlite",
                    root / "database" / "concert_singer" / "concert_singer.sqlite")
    result = _invoke("spider", "--split", "dev", "--schema-format", "mschema", "--limit", "50", "--samples", "2",
                     "--spider-dir", str(root), "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    assert ("schemas of 2 databases: 1 read from their SQLite files (2 sample values per column), "
            "1 from tables.json (no .sqlite file: pets_1)") in result.output
    records = json.loads((tmp_path / "o" / "spider_dev_schema-mschema_nl2sql_alpaca.json").read_text())
    assert len(records) == 50
    assert "Examples:" in records[0]["input"] and "Examples:" not in records[49]["input"]
    assert "【DB_ID】 pets_1" in records[49]["input"]


def test_two_exports_share_dataset_info(spider_dir: Path, tmp_path: Path) -> None:
    for split in ("train", "dev"):
        result = _invoke("spider", "--split", split, "--prompt", "dbid", "--spider-dir", str(spider_dir),
                         "--out", str(tmp_path), "--limit", "5", "--name", f"mine_{split}")
        assert result.exit_code == 0, result.output
    info = json.loads((tmp_path / "dataset_info.json").read_text(encoding="utf-8"))
    assert set(info) == {"mine_train_alpaca", "mine_dev_alpaca"}
    assert len(json.loads((tmp_path / "mine_train_alpaca.json").read_text(encoding="utf-8"))) == 5


def test_sql_create_context(tmp_path: Path) -> None:
    data = tmp_path / "scc.json"
    data.write_text(json.dumps([
        {"question": "How many heads?", "context": "CREATE TABLE head (age INTEGER)",
         "answer": "SELECT COUNT(*) FROM head"},
        {"question": "Oldest?", "context": "CREATE TABLE head (age INTEGER)", "answer": "SELECT MAX(age) FROM head"},
    ]))
    result = _invoke("sql-create-context", "--data-dir", str(data), "--format", "messages", "--out",
                     str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "o" / "sql_create_context_all_schema-ddl_nl2sql_messages.jsonl").read_text().splitlines()
    assert len(lines) == 2 and "CREATE TABLE" in json.loads(lines[0])["messages"][1]["content"]


@pytest.mark.skipif(
    not Path(str(resources.files("tunesql.resources").joinpath("shop_pairs.json"))).is_file()
    or not Path(str(resources.files("tunesql.resources").joinpath("shop.sqlite"))).is_file(),
    reason="the bundled shop database and its pairs are not in this checkout yet")
def test_shop(tmp_path: Path) -> None:
    result = _invoke("shop", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    pairs = json.loads(resources.files("tunesql.resources").joinpath("shop_pairs.json").read_text())
    records = json.loads((tmp_path / "shop_all_schema-ddl_nl2sql_alpaca.json").read_text(encoding="utf-8"))
    assert len(records) == len(pairs) and [r["id"] for r in records] == [str(p["id"]) for p in pairs]
    three = _shop_mschema(tmp_path / "three")
    one = _shop_mschema(tmp_path / "one", "--samples", "1")
    assert "Examples: [" in three and "Examples: [" in one and len(one) < len(three)
    assert "Examples:" not in _shop_mschema(tmp_path / "none", "--samples", "0")


def _shop_mschema(out: Path, *args: str) -> str:
    result = _invoke("shop", "--schema-format", "mschema", "--limit", "1", "--out", str(out), *args)
    assert result.exit_code == 0, result.output
    return json.loads((out / "shop_all_schema-mschema_nl2sql_alpaca.json").read_text(encoding="utf-8"))[0]["input"]


def test_errors(spider_dir: Path, tmp_path: Path, monkeypatch) -> None:
    result = _invoke("spider", "--format", "alpaca", "--spider-dir", str(spider_dir), "--out", str(tmp_path))
    assert result.exit_code == 1 and "--split train or --split dev" in result.output
    result = _invoke("spider", "--split", "dev", "--format", "csv", "--out", str(tmp_path))
    assert result.exit_code == 2 and "csv" in result.output
    result = _invoke("nosuch", "--out", str(tmp_path))
    assert result.exit_code == 2
    monkeypatch.delenv("TUNESQL_SPIDER_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    result = _invoke("spider", "--split", "dev", "--out", str(tmp_path))
    assert result.exit_code == 1 and "--spider-dir" in result.output and "Traceback" not in result.output
    result = _invoke("bird", "--split", "dev", "--out", str(tmp_path))
    assert result.exit_code == 1 and "--data-dir" in result.output
    result = _invoke("sql-create-context", "--split", "dev", "--out", str(tmp_path))
    assert result.exit_code == 1 and "without splits" in result.output


def test_malformed_input_reports_where(spider_dir: Path, tmp_path: Path) -> None:
    import shutil

    shutil.copyfile(spider_dir / "tables.json", tmp_path / "tables.json")
    records = json.loads((spider_dir / "dev.json").read_text(encoding="utf-8"))
    del records[3]["question"]
    (tmp_path / "dev.json").write_text(json.dumps(records))
    result = _invoke("spider", "--split", "dev", "--spider-dir", str(tmp_path), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1
    assert "dev.json" in result.output and "record 3" in result.output and "'question'" in result.output
