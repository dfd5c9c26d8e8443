"""Export formats: each written file loads back with the right shape and count; dataset_info.json entries."""

from __future__ import annotations

import json

import pytest

from tunesql.data.example import Example
from tunesql.data.formats import (
    FORMATS,
    dataset_info_entry,
    export,
    read_records,
    write_dataset_info,
)
from tunesql.data.prompts import DEFAULT_SYSTEM
from tunesql.db.schema import Column, Schema, Table
from tunesql.errors import DataError

SCHEMAS = {
    "a": Schema("a", "sqlite", [Table("t", [Column("x", "INTEGER", primary_key=True)])]),
    "b": Schema("b", "sqlite", [Table("u", [Column("y", "TEXT")])]),
}
EXAMPLES = [
    Example(id=str(i), question=f"question {i} — ünïcode?", sql=f"SELECT {i} FROM {'t' if i % 2 else 'u'}",
            db_id="a" if i % 2 else "b")
    for i in range(5)
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("style", ["schema", "dbid"])
def test_round_trip(tmp_path, fmt, style) -> None:
    path = tmp_path / f"out.{fmt}"
    assert export(EXAMPLES, path, fmt, schemas=SCHEMAS, style=style) == len(EXAMPLES)
    records = read_records(path, fmt)
    assert len(records) == len(EXAMPLES)
    assert "ünïcode" in path.read_text(encoding="utf-8"), "non-ASCII text is written as is"
    for ex, rec in zip(EXAMPLES, records, strict=True):
        assert (rec["id"], rec["db_id"]) == (ex.id, ex.db_id)
        if fmt == "alpaca":
            assert set(rec) == {"instruction", "input", "output", "system", "id", "db_id"}
            user, answer, system = f"{rec['instruction']}\n{rec['input']}", rec["output"], rec["system"]
        elif fmt == "sharegpt":
            turns = rec["conversations"]
            assert [t["from"] for t in turns] == ["human", "gpt"]
            user, answer, system = turns[0]["value"], turns[1]["value"], rec["system"]
        else:
            msgs = rec["messages"]
            assert [m["role"] for m in msgs] == ["system", "user", "assistant"]
            system, user, answer = (m["content"] for m in msgs)
        assert answer == ex.sql and system == DEFAULT_SYSTEM
        assert ex.question in user
        assert ("CREATE TABLE" in user) == (style == "schema")


def test_messages_is_jsonl_and_json_formats_are_lists(tmp_path) -> None:
    export(EXAMPLES, tmp_path / "m.jsonl", "messages", schemas=SCHEMAS)
    lines = (tmp_path / "m.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 5 and all(json.loads(line)["messages"] for line in lines)
    export(EXAMPLES, tmp_path / "a.json", "alpaca", schemas=SCHEMAS)
    assert isinstance(json.loads((tmp_path / "a.json").read_text(encoding="utf-8")), list)
    export([], tmp_path / "empty.json", "sharegpt", schemas=SCHEMAS)
    assert json.loads((tmp_path / "empty.json").read_text(encoding="utf-8")) == []


def test_missing_schema_names_record_and_db_id(tmp_path) -> None:
    bad = [*EXAMPLES, Example(id="9", question="q", sql="SELECT 1", db_id="nowhere")]
    with pytest.raises(DataError) as info:
        export(bad, tmp_path / "x.json", "alpaca", schemas=SCHEMAS)
    assert (info.value.index, info.value.field) == (5, "db_id") and "nowhere" in str(info.value)
    assert not (tmp_path / "x.json").exists()
    # dbid prompts need no schema.
    assert export(bad, tmp_path / "x.json", "alpaca", style="dbid") == 6


def test_unknown_format(tmp_path) -> None:
    with pytest.raises(DataError, match="unknown export format"):
        export(EXAMPLES, tmp_path / "x", "csv", schemas=SCHEMAS)


def test_dataset_info(tmp_path) -> None:
    path = write_dataset_info(tmp_path, {"d_alpaca": ("d.json", "alpaca"), "d_sg": ("s.json", "sharegpt"),
                                         "d_msg": ("m.jsonl", "messages")})
    info = json.loads(path.read_text(encoding="utf-8"))
    assert path.name == "dataset_info.json" and set(info) == {"d_alpaca", "d_sg", "d_msg"}
    assert info["d_alpaca"] == {"file_name": "d.json", "formatting": "alpaca", "columns": {
        "prompt": "instruction", "query": "input", "response": "output", "system": "system"}}
    sg = info["d_sg"]
    assert sg["formatting"] == "sharegpt" and sg["columns"] == {"messages": "conversations", "system": "system"}
    assert sg["tags"] == {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                          "assistant_tag": "gpt"}
    msg = info["d_msg"]
    assert msg["columns"] == {"messages": "messages"}
    assert msg["tags"]["role_tag"] == "role" and msg["tags"]["system_tag"] == "system"
    # A later export adds to the file rather than replacing it.
    write_dataset_info(tmp_path, {"d_dev": ("dev.json", "alpaca")})
    assert set(json.loads(path.read_text(encoding="utf-8"))) == {"d_alpaca", "d_sg", "d_msg", "d_dev"}
    write_dataset_info(tmp_path, {"only": ("o.json", "alpaca")}, merge=False)
    assert set(json.loads(path.read_text(encoding="utf-8"))) == {"only"}
    with pytest.raises(DataError):
        dataset_info_entry("x", "csv")


def test_broken_dataset_info_is_not_overwritten(tmp_path) -> None:
    (tmp_path / "dataset_info.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        write_dataset_info(tmp_path, {"d": ("d.json", "alpaca")})
    assert (tmp_path / "dataset_info.json").read_text() == "{not json"
