"""The Example record and its JSONL form: round trip, and errors that say file, line, record and field."""

from __future__ import annotations

import json

import pytest

from tunesql.data.example import Example, read_examples, read_json_list, write_examples
from tunesql.errors import DataError


def _examples() -> list[Example]:
    return [
        Example(id="0", question="How many singers?", sql="SELECT count(*) FROM singer",
                db_id="concert_singer"),
        Example(id="q7", question="Average price — in €?", sql="SELECT avg(price) FROM products",
                db_id="shop",
                evidence="price is in euros", difficulty="easy", source="shop", explanation="Mean price.",
                meta={"tags": ["agg"]}),
    ]


def test_defaults() -> None:
    ex = Example(id="1", question="q", sql="SELECT 1", db_id="d")
    assert (ex.evidence, ex.difficulty, ex.dialect, ex.source, ex.explanation, ex.meta) == (
        "", None, "sqlite", "", None, {})
    other = Example(id="2", question="q", sql="SELECT 1", db_id="d")
    other.meta["x"] = 1
    assert ex.meta == {}, "meta must not be shared between records"


def test_jsonl_round_trip(tmp_path) -> None:
    path = tmp_path / "sub" / "ex.jsonl"
    assert write_examples(path, _examples()) == 2
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and "€" in lines[1], "one object per line, UTF-8 kept as is"
    assert read_examples(path) == _examples()


def test_integer_id_becomes_string(tmp_path) -> None:
    path = tmp_path / "ex.jsonl"
    path.write_text(json.dumps({"id": 5, "question": "q", "sql": "SELECT 1", "db_id": "d"}) + "\n\n")
    assert read_examples(path)[0].id == "5"


def _write_lines(path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_bad_json_line_names_file_and_line(tmp_path) -> None:
    path = tmp_path / "ex.jsonl"
    good = json.dumps(_examples()[0].to_dict())
    _write_lines(path, [good, "", '{"id": "1", "question": '])
    with pytest.raises(DataError) as info:
        read_examples(path)
    msg = str(info.value)
    assert str(path) in msg and "line 3" in msg and "record 1" in msg
    assert info.value.index == 1


@pytest.mark.parametrize(("change", "field", "expect"), [
    (lambda d: d.pop("question"), "question", "missing"),
    (lambda d: d.update(sql=3), "sql", "string"),
    (lambda d: d.update(db_id=" "), "db_id", "empty"),
    (lambda d: d.update(meta=[1]), "meta", "object"),
    (lambda d: d.update(colour="red"), "colour", "unknown field"),
])
def test_bad_field_names_record_and_field(tmp_path, change, field, expect) -> None:
    records = [ex.to_dict() for ex in _examples()]
    change(records[1])
    path = tmp_path / "ex.jsonl"
    _write_lines(path, [json.dumps(r) for r in records])
    with pytest.raises(DataError) as info:
        read_examples(path)
    e = info.value
    assert (e.path, e.index, e.field) == (str(path), 1, field)
    assert expect in str(e) and "line 2" in str(e) and repr(field) in str(e)


def test_repeated_id_is_refused(tmp_path) -> None:
    path = tmp_path / "ex.jsonl"
    ex = _examples()[0].to_dict()
    _write_lines(path, [json.dumps(ex), json.dumps(ex)])
    with pytest.raises(DataError, match="repeats record 0") as info:
        read_examples(path)
    assert info.value.field == "id"


def test_missing_file(tmp_path) -> None:
    with pytest.raises(DataError, match="file not found"):
        read_examples(tmp_path / "nope.jsonl")


def test_read_json_list_errors(tmp_path) -> None:
    path = tmp_path / "x.json"
    path.write_text('[\n  {"a": 1},\n  {"a": 2,,}\n]')
    with pytest.raises(DataError, match="line 3") as info:
        read_json_list(path)
    assert str(path) in str(info.value)
    path.write_text('{"a": 1}')
    with pytest.raises(DataError, match="expected a JSON list"):
        read_json_list(path)
