"""BIRD loading from a tiny BIRD-shaped directory (no BIRD data ships with the project)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunesql.data.bird import bird_db_path, load_bird, load_bird_db_schemas, load_bird_schemas
from tunesql.data.formats import export, read_records
from tunesql.errors import DataError

TABLES = [{
    "db_id": "card_games",
    "table_names_original": ["cards", "sets"],
    "table_names": ["cards", "sets"],
    "column_names_original": [[-1, "*"], [0, "id"], [0, "name"], [0, "setCode"], [1, "code"],
                              [1, "releaseDate"]],
    "column_names": [[-1, "*"], [0, "id"], [0, "name"], [0, "set code"], [1, "code"], [1, "release date"]],
    "column_types": ["text", "integer", "text", "text", "text", "date"],
    "primary_keys": [1, 4],
    "foreign_keys": [[3, 4]],
}]
DEV = [
    {"question_id": 10, "db_id": "card_games", "question": "How many cards?", "evidence": "",
     "SQL": "SELECT COUNT(*) FROM cards", "difficulty": "simple"},
    {"question_id": 11, "db_id": "card_games", "question": "Newest set?",
     "evidence": "newest refers to MAX(releaseDate)",
     "SQL": "SELECT code FROM sets ORDER BY releaseDate DESC LIMIT 1", "difficulty": "moderate"},
    {"question_id": 12, "db_id": "card_games", "question": "Cards of the newest set?",
     "evidence": "newest refers to MAX(releaseDate)",
     "SQL": "SELECT name FROM cards WHERE setCode = (SELECT code FROM sets ORDER BY releaseDate DESC LIMIT 1)",
     "difficulty": "challenging"},
]


def make_bird(root: Path, records=None, split: str = "dev") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{split}_tables.json").write_text(json.dumps(TABLES))
    (root / f"{split}.json").write_text(json.dumps(DEV if records is None else records, indent=2))
    (root / f"{split}_databases" / "card_games").mkdir(parents=True)
    return root


def test_load_dev(tmp_path) -> None:
    root = make_bird(tmp_path / "bird")
    examples = load_bird(root, "dev")
    assert [ex.id for ex in examples] == ["10", "11", "12"]
    assert [ex.difficulty for ex in examples] == ["simple", "moderate", "challenging"]
    assert examples[0].evidence == "" and examples[1].evidence == "newest refers to MAX(releaseDate)"
    assert examples[2].sql.startswith("SELECT name FROM cards")
    assert {ex.source for ex in examples} == {"bird/dev"}
    schema = load_bird_schemas(root, "dev")["card_games"]
    assert schema.table("sets").primary_key == ["code"]
    assert schema.table("cards").foreign_keys[0].ref_table == "sets"
    assert bird_db_path(root, "dev", "card_games") == root / "dev_databases" / "card_games" / "card_games.sqlite"


def test_parent_dir_and_train_without_ids(tmp_path) -> None:
    train = [{k: v for k, v in r.items() if k not in ("question_id", "difficulty")} for r in DEV]
    make_bird(tmp_path / "train", train, split="train")
    examples = load_bird(tmp_path, "train")
    assert [ex.id for ex in examples] == ["0", "1", "2"]
    assert all(ex.difficulty is None for ex in examples)


def test_evidence_reaches_the_prompt(tmp_path) -> None:
    root = make_bird(tmp_path / "bird")
    out = tmp_path / "out.json"
    export(load_bird(root, "dev"), out, "alpaca", schemas=load_bird_schemas(root, "dev"))
    rec = read_records(out)[1]
    assert "Evidence: newest refers to MAX(releaseDate)" in rec["input"]
    assert "releaseDate" in rec["input"] and rec["output"].startswith("SELECT code")


@pytest.mark.parametrize(("edit", "index", "field"), [
    (lambda r: r[1].pop("SQL"), 1, "SQL"),
    (lambda r: r[2].update(db_id="nope"), 2, "db_id"),
    (lambda r: r[0].update(difficulty="hard"), 0, "difficulty"),
    (lambda r: r[2].update(question_id=10), 2, "question_id"),
    (lambda r: r[1].update(evidence=3), 1, "evidence"),
])
def test_malformed(tmp_path, edit, index, field) -> None:
    records = json.loads(json.dumps(DEV))
    edit(records)
    root = make_bird(tmp_path / "bird", records)
    with pytest.raises(DataError) as info:
        load_bird(root, "dev")
    e = info.value
    assert (e.path, e.index, e.field) == (str(root / "dev.json"), index, field)


def test_missing_dir(tmp_path) -> None:
    with pytest.raises(DataError, match="--data-dir"):
        load_bird(tmp_path, "dev")
    with pytest.raises(DataError, match="unknown BIRD split"):
        load_bird(tmp_path, "test")  # type: ignore[arg-type]


def test_db_schemas_from_the_databases(tmp_path) -> None:
    """Introspected from dev_databases/<db>/<db>.sqlite; a db_id without a file falls back to the tables file."""
    import sqlite3

    root = make_bird(tmp_path / "bird")
    tables = [*TABLES, {**TABLES[0], "db_id": "no_file"}]
    (root / "dev_tables.json").write_text(json.dumps(tables))
    conn = sqlite3.connect(bird_db_path(root, "dev", "card_games"))
    conn.executescript("""
        CREATE TABLE sets (code TEXT PRIMARY KEY, releaseDate DATE);
        CREATE TABLE cards (id INTEGER PRIMARY KEY, name TEXT, setCode TEXT);
        INSERT INTO sets VALUES ('10E', '2007-07-13'), ('2ED', '1993-12-01');
        INSERT INTO cards VALUES (1, 'Ancestor''s Chosen', '10E'), (2, 'Angel of Mercy', '10E');
    """)
    conn.close()
    messages: list[str] = []
    schemas = load_bird_db_schemas(root, "dev", ["card_games", "no_file", "card_games"], samples=2,
                                   notify=messages.append)
    cards = schemas["card_games"].table("cards")
    assert cards.column("name").samples == ["Ancestor's Chosen", "Angel of Mercy"]
    assert schemas["card_games"].table("sets").column("releaseDate").type == "DATE"
    # The database declares no foreign key; the tables file's cards.setCode -> sets.code is kept.
    assert [(fk.columns, fk.ref_table, fk.ref_columns) for fk in cards.foreign_keys] == [
        (["setCode"], "sets", ["code"])]
    assert schemas["no_file"].table("cards").column("id").type == "integer"  # from dev_tables.json
    assert messages == ["schemas of 2 databases: 1 read from their SQLite files (2 sample values per column), "
                        "1 from tables.json (no .sqlite file: no_file); tables.json's foreign keys kept for 1 "
                        "table(s) that declare none"]
    out = tmp_path / "out.json"
    export(load_bird(root, "dev"), out, "alpaca", schemas=schemas, schema_format="mschema")
    assert "Examples: [10E, 2ED]" in read_records(out)[0]["input"]
