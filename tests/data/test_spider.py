"""Spider loading against the real benchmark copy and malformed copies of it; exporting it in every format."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tunesql.data.spider import (
    find_db_file,
    load_db_schemas,
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


# --- schemas introspected from the .sqlite files ---------------------------------------------------------------


def _read_db(path: Path, sql: str) -> list[tuple]:
    import sqlite3

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_db_schemas_have_declared_types_real_keys_and_samples(spider_dir: Path, schemas) -> None:
    messages: list[str] = []
    db = load_db_schemas(spider_dir, ["concert_singer", "concert_singer"], samples=3, tables_json_schemas=schemas,
                         notify=messages.append)
    assert list(db) == ["concert_singer"]
    concert = db["concert_singer"]
    assert concert.name == "concert_singer" and concert.dialect == "sqlite"
    # tables.json keeps only concert_ID as singer_in_concert's key; the database declares both columns.
    assert schemas["concert_singer"].table("singer_in_concert").primary_key == ["concert_ID"]
    assert concert.table("singer_in_concert").primary_key == ["concert_ID", "Singer_ID"]
    # Declared types (`"Capacity" int`; SQLite's catalog reports them upper-cased) instead of tables.json's labels.
    assert schemas["concert_singer"].table("stadium").column("Capacity").type == "number"
    declared = dict(_read_db(spider_db_path(spider_dir, "concert_singer"),
                             "SELECT name, type FROM pragma_table_info('stadium')"))
    assert concert.table("stadium").column("Capacity").type == declared["Capacity"] == "INT"
    assert concert.table("singer").column("Name").type.lower() == "text"
    assert concert.table("singer").column("Is_male").type.lower() == "bool"
    names = [r[0] for r in _read_db(spider_db_path(spider_dir, "concert_singer"), "SELECT Name FROM singer")]
    samples = concert.table("singer").column("Name").samples
    assert len(samples) == 3 and set(samples) <= set(names) and names[0] in samples
    assert messages == ["schemas of 1 database: 1 read from their SQLite files (3 sample values per column)"]


def test_mschema_prompts_from_the_database(spider_dir: Path, schemas) -> None:
    from tunesql.data.formats import build_prompts

    dev = [ex for ex in load_spider(spider_dir, "dev", schemas=schemas) if ex.db_id == "concert_singer"]
    db = load_db_schemas(spider_dir, {ex.db_id for ex in dev}, tables_json_schemas=schemas, notify=lambda m: None)
    text = build_prompts(dev[:1], db, schema_format="mschema")[0].input
    (first_name,) = _read_db(spider_db_path(spider_dir, "concert_singer"),
                             "SELECT Name FROM singer WHERE Name IS NOT NULL LIMIT 1")[0]
    assert "Examples: [" in text and first_name in text
    assert "(Capacity:INT, Examples: [" in text and "(Name:TEXT, Examples: [" in text
    assert "NUMBER" not in text
    in_concert = text.split("# Table: singer_in_concert", 1)[1].split("# Table:", 1)[0]
    assert "(concert_ID:INT, Primary Key, " in in_concert and "(Singer_ID:TEXT, Primary Key, " in in_concert
    assert "singer_in_concert.Singer_ID=singer.Singer_ID" in text
    without = build_prompts(dev[:1], load_db_schemas(spider_dir, ["concert_singer"], samples=0,
                                                     tables_json_schemas=schemas, notify=lambda m: None),
                            schema_format="mschema")[0].input
    assert "Examples:" not in without and "(Capacity:INT)" in without


def test_every_dev_prompt_from_the_databases(spider_dir: Path, schemas) -> None:
    """All 1034 dev prompts build from the introspected schemas; wta_1 (no file here) falls back."""
    from tunesql.data.formats import build_prompts

    dev = load_spider(spider_dir, "dev", schemas=schemas)
    messages: list[str] = []
    db = load_db_schemas(spider_dir, [ex.db_id for ex in dev], samples=0, tables_json_schemas=schemas,
                         row_counts=False, notify=messages.append)
    assert len(db) == 20 and len(build_prompts(dev, db, schema_format="mschema")) == 1034
    expected_missing = sorted(d for d in db if find_db_file(spider_dir, d) is None)
    assert db["wta_1"] is schemas["wta_1"] and "wta_1" in expected_missing
    assert f"{len(expected_missing)} from tables.json (no .sqlite file: {', '.join(expected_missing)})" in messages[0]


@pytest.fixture
def spider_layout(spider_dir: Path, tmp_path: Path):
    """A Spider-shaped directory in tmp_path holding tables.json and copies of the given databases only."""

    def make(*db_ids: str) -> Path:
        root = tmp_path / "spider"
        (root / "database").mkdir(parents=True)
        shutil.copyfile(spider_dir / "tables.json", root / "tables.json")
        for db_id in db_ids:
            (root / "database" / db_id).mkdir()
            shutil.copyfile(spider_db_path(spider_dir, db_id), root / "database" / db_id / f"{db_id}.sqlite")
        return root

    return make


def test_missing_database_falls_back_to_tables_json(spider_layout) -> None:
    root = spider_layout("concert_singer")
    assert find_db_file(root, "concert_singer") is not None and find_db_file(root, "pets_1") is None
    (root / "database" / "car_1").mkdir()
    (root / "database" / "car_1" / "car_1.sqlite").write_bytes(b"not a database" * 100)
    messages: list[str] = []
    ticks: list[int] = []
    db = load_db_schemas(root, ["concert_singer", "pets_1", "car_1"], notify=messages.append,
                         progress=ticks.append)  # tables.json read from root
    assert ticks == [1, 1, 1]
    assert db["concert_singer"].table("stadium").column("Capacity").type == "INT"
    assert db["pets_1"].table("Student").column("Age").type == "number"  # tables.json's label
    assert all(not c.samples for t in db["pets_1"].tables for c in t.columns)
    (message,) = messages
    assert message.startswith("schemas of 3 databases: 1 read from their SQLite files")
    assert "2 from tables.json (no .sqlite file: pets_1; cannot open it (" in message and "): car_1" in message


def test_missing_database_without_tables_json_entry(spider_layout) -> None:
    root = spider_layout()
    with pytest.raises(DataError, match=r"'pets_1': no \.sqlite file"):
        load_db_schemas(root / "database", ["pets_1"])  # a databases root: no tables.json to fall back on


def test_tables_json_foreign_keys_kept_where_the_database_declares_none(tmp_path: Path) -> None:
    import sqlite3

    (tmp_path / "shop").mkdir()
    conn = sqlite3.connect(tmp_path / "shop" / "shop.sqlite")
    conn.executescript("""
        CREATE TABLE Customer (id INTEGER PRIMARY KEY, name VARCHAR(40));
        CREATE TABLE purchase (id INTEGER PRIMARY KEY, customer_id INTEGER, amount REAL);
        CREATE TABLE note (id INTEGER PRIMARY KEY, purchase_id INTEGER REFERENCES purchase(id));
        INSERT INTO Customer VALUES (1, 'Ada'), (2, 'Bo');
    """)
    conn.close()
    entry = {
        "db_id": "shop", "table_names_original": ["customer", "purchase", "note"],
        "column_names_original": [[-1, "*"], [0, "ID"], [0, "name"], [1, "id"], [1, "customer_id"],
                                  [1, "amount"], [2, "id"], [2, "purchase_id"]],
        "column_types": ["text", "number", "text", "number", "number", "number", "number", "number"],
        "primary_keys": [1, 3, 6], "foreign_keys": [[4, 1], [7, 1]],
    }
    (tmp_path / "tables.json").write_text(json.dumps([entry]))
    messages: list[str] = []
    schema = load_db_schemas(tmp_path, ["shop"], notify=messages.append)["shop"]
    fks = {t.name: [(fk.columns, fk.ref_table, fk.ref_columns) for fk in t.foreign_keys] for t in schema.tables}
    # purchase declares no foreign key: tables.json's, with the database's spelling of the names.
    assert fks["purchase"] == [(["customer_id"], "Customer", ["id"])]
    # note declares its own, which wins over tables.json's (wrong) one.
    assert fks["note"] == [(["purchase_id"], "purchase", ["id"])]
    assert schema.table("Customer").column("name").samples == ["Ada", "Bo"]
    assert "tables.json's foreign keys kept for 1 table(s) that declare none" in messages[0]
