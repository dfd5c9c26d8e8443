"""Spider loading against the real benchmark copy and malformed copies of it; exporting it in every format."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tunesql.data.spider import (
    load_spider,
    load_spider_schemas,
    resolve_spider_dir,
    spider_db_path,
)
from tunesql.errors import DataError


@pytest.fixture(scope="module")
def schemas(spider_dir: Path):
    return load_spider_schemas(spider_dir / "tables.json")


def test_split_sizes_and_ids(spider_dir: Path, schemas) -> None:
    train = load_spider(spider_dir, "train", schemas=schemas)
    dev = load_spider(spider_dir, "dev", schemas=schemas)
    assert (len(train), len(dev)) == (7000, 1034)
    assert [ex.id for ex in dev] == [str(i) for i in range(1034)]
    first = dev[0]
    assert (first.question, first.sql, first.db_id) == (
        "How many singers do we have?", "SELECT count(*) FROM singer", "concert_singer")
    assert first.source == "spider/dev" and first.dialect == "sqlite"
    assert train[0].db_id == "department_management" and train[0].source == "spider/train"


def test_dev_order_matches_dev_gold(spider_dir: Path, schemas) -> None:
    """The evaluator pairs by id = position; dev_gold.sql lists the same SQL in the same order."""
    gold = (spider_dir / "dev_gold.sql").read_text(encoding="utf-8").splitlines()
    dev = load_spider(spider_dir, "dev", schemas=schemas)
    assert len(gold) == len(dev)
    for ex, line in zip(dev, gold, strict=True):
        sql, db_id = line.rsplit("\t", 1)
        assert (ex.sql, ex.db_id) == (sql.strip(), db_id)


def test_schemas(spider_dir: Path, schemas) -> None:
    assert len(schemas) == 166
    concert = schemas["concert_singer"]
    assert concert.name == "concert_singer" and concert.dialect == "sqlite"
    assert [t.name for t in concert.tables] == ["stadium", "singer", "concert", "singer_in_concert"]
    stadium = concert.table("stadium")
    assert stadium.primary_key == ["Stadium_ID"]
    assert stadium.column("capacity").type == "number"
    concert_fks = {(tuple(fk.columns), fk.ref_table, tuple(fk.ref_columns)) for fk in concert.table("concert")
                   .foreign_keys}
    assert concert_fks == {(("Stadium_ID",), "stadium", ("Stadium_ID",))}
    assert "sqlite_sequence" not in [t.name for t in schemas["world_1"].tables]
    # Databases missing from this copy still have schemas.
    for db_id in ("wta_1", "baseball_1", "soccer_1"):
        assert schemas[db_id].tables
    assert spider_db_path(spider_dir, "concert_singer").is_file()
    assert spider_db_path(spider_dir, "concert_singer") == (
        spider_dir / "database" / "concert_singer" / "concert_singer.sqlite")


def test_schema_names_match_the_database_files(spider_dir: Path, schemas) -> None:
    """Original table names in tables.json are the ones the .sqlite files have (case-insensitively)."""
    import sqlite3

    for db_id in ("concert_singer", "pets_1", "world_1", "car_1"):
        conn = sqlite3.connect(f"file:{spider_db_path(spider_dir, db_id)}?mode=ro", uri=True)
        try:
            names = {r[0].lower() for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            conn.close()
        assert {t.name.lower() for t in schemas[db_id].tables} <= names


@pytest.fixture
def dev_copy(spider_dir: Path, tmp_path: Path):
    """A writable Spider dir in tmp_path with tables.json and a dev.json that a test may break."""

    def make(edit=None, *, raw=None) -> Path:
        """``edit`` changes the records in place; ``raw`` maps them to the file's text instead."""
        shutil.copyfile(spider_dir / "tables.json", tmp_path / "tables.json")
        records = json.loads((spider_dir / "dev.json").read_text(encoding="utf-8"))
        if edit is not None:
            edit(records)
        text = raw(records) if raw is not None else json.dumps(records, indent=1)
        (tmp_path / "dev.json").write_text(text, encoding="utf-8")
        return tmp_path

    return make


def test_bad_json_names_file_and_line(dev_copy) -> None:
    def truncate(records):
        text = json.dumps(records[:5], indent=1)
        return text[: len(text) // 2]

    root = dev_copy(raw=truncate)
    with pytest.raises(DataError) as info:
        load_spider(root, "dev")
    msg = str(info.value)
    assert str(root / "dev.json") in msg and "line" in msg and "not valid JSON" in msg


def test_missing_question_names_index_and_field(dev_copy) -> None:
    root = dev_copy(lambda records: records[3].pop("question"))
    with pytest.raises(DataError) as info:
        load_spider(root, "dev")
    e = info.value
    assert (e.path, e.index, e.field) == (str(root / "dev.json"), 3, "question")
    assert "record 3" in str(e) and "'question'" in str(e)


def test_unknown_db_id_names_field(dev_copy) -> None:
    root = dev_copy(lambda records: records[10].update(db_id="no_such_db"))
    with pytest.raises(DataError) as info:
        load_spider(root, "dev")
    e = info.value
    assert (e.index, e.field) == (10, "db_id") and "no_such_db" in str(e)


def test_wrong_type_and_not_a_list(dev_copy) -> None:
    root = dev_copy(lambda records: records[0].update(query=None))
    with pytest.raises(DataError) as info:
        load_spider(root, "dev")
    assert (info.value.index, info.value.field) == (0, "query")
    root = dev_copy(raw=lambda records: json.dumps({"not": "a list"}))
    with pytest.raises(DataError, match="expected a JSON list"):
        load_spider(root, "dev")


def test_bad_tables_json(tmp_path: Path, spider_dir: Path) -> None:
    tables = json.loads((spider_dir / "tables.json").read_text(encoding="utf-8"))
    tables[2]["foreign_keys"].append([1, 10_000])
    (tmp_path / "tables.json").write_text(json.dumps(tables))
    with pytest.raises(DataError) as info:
        load_spider_schemas(tmp_path / "tables.json")
    assert (info.value.index, info.value.field) == (2, "foreign_keys")
    del tables[2]["foreign_keys"]
    (tmp_path / "tables.json").write_text(json.dumps(tables))
    with pytest.raises(DataError) as info:
        load_spider_schemas(tmp_path / "tables.json")
    assert (info.value.index, info.value.field) == (2, "foreign_keys") and "missing" in str(info.value)


def test_composite_primary_key(tmp_path: Path) -> None:
    entry = {
        "db_id": "t", "table_names_original": ["a", "b"],
        "column_names_original": [[-1, "*"], [0, "x"], [0, "y"], [1, "x"], [1, "y"]],
        "column_types": ["text", "number", "number", "number", "number"],
        "primary_keys": [[1, 2]], "foreign_keys": [[3, 1], [4, 2]],
    }
    (tmp_path / "tables.json").write_text(json.dumps([entry]))
    schema = load_spider_schemas(tmp_path / "tables.json")["t"]
    assert schema.table("a").primary_key == ["x", "y"]
    assert [fk.ref_table for fk in schema.table("b").foreign_keys] == ["a", "a"]


def test_unknown_split(spider_dir: Path) -> None:
    with pytest.raises(DataError, match="unknown Spider split"):
        load_spider(spider_dir, "test")  # type: ignore[arg-type]


def test_resolve_spider_dir(spider_dir: Path, tmp_path: Path, monkeypatch) -> None:
    assert resolve_spider_dir(spider_dir) == spider_dir
    monkeypatch.setenv("TUNESQL_SPIDER_DIR", str(spider_dir))
    assert resolve_spider_dir() == spider_dir
    monkeypatch.setenv("TUNESQL_SPIDER_DIR", str(tmp_path))
    with pytest.raises(DataError, match="TUNESQL_SPIDER_DIR") as info:
        resolve_spider_dir()
    assert str(tmp_path) in str(info.value) and "--spider-dir" in str(info.value)
    monkeypatch.delenv("TUNESQL_SPIDER_DIR")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="shared/benchmarks/spider"):
        resolve_spider_dir()


@pytest.mark.parametrize("split", ["train", "dev"])
@pytest.mark.parametrize("style", ["schema", "dbid"])
def test_export_every_format(spider_dir: Path, schemas, tmp_path: Path, split, style) -> None:
    from tunesql.data.formats import FORMATS, export, read_records

    examples = load_spider(spider_dir, split, schemas=schemas)
    expected = {"train": 7000, "dev": 1034}[split]
    for fmt in FORMATS:
        path = tmp_path / f"{split}_{style}.{fmt}"
        assert export(examples, path, fmt, schemas=schemas, style=style) == expected
        records = read_records(path, fmt)
        assert len(records) == expected
        assert [r["id"] for r in records[:3]] == ["0", "1", "2"]
        first = records[0]
        user = {
            "alpaca": lambda r: f"{r['instruction']}\n{r['input']}",
            "sharegpt": lambda r: r["conversations"][0]["value"],
            "messages": lambda r: r["messages"][1]["content"],
        }[fmt](first)
        assert examples[0].question in user
        if style == "schema":
            # The rendered schema of the record's own database is in the prompt.
            table = schemas[examples[0].db_id].tables[0]
            assert "CREATE TABLE" in user and table.name in user and table.columns[0].name in user
        else:
            assert "CREATE TABLE" not in user and repr(examples[0].db_id) in user


def test_schema_prompts_for_databases_without_files(spider_dir: Path, schemas) -> None:
    """wta_1's .sqlite is missing from this copy; its schema prompt still comes from tables.json."""
    from tunesql.data.formats import build_prompts

    dev = [ex for ex in load_spider(spider_dir, "dev", schemas=schemas) if ex.db_id == "wta_1"]
    assert len(dev) == 62
    prompt = build_prompts(dev[:1], schemas)[0]
    assert "CREATE TABLE" in prompt.input and "players" in prompt.input
