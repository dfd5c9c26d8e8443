"""The one record every dataset becomes: a question, its SQL, the database it runs on.

Loaders (Spider, BIRD, sql-create-context, the bundled shop pairs) produce ``Example`` lists; prompts, export
formats, training and the evaluator read them. ``read_examples`` / ``write_examples`` keep them as JSONL, one
record per line, so a corpus can be saved, edited by hand and read back with errors that say where it broke.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from tunesql.errors import DataError

REQUIRED_FIELDS = ("id", "question", "sql", "db_id")
"""Fields a record must have, each a non-empty string (``sql`` may be empty only for unlabeled inputs)."""


@dataclass
class Example:
    id: str
    """The source's own id where it has one (BIRD ``question_id``), else the 0-based position in the source
    file as a string. The evaluator pairs predictions with gold records by this id."""
    question: str
    sql: str
    db_id: str
    evidence: str = ""
    """External knowledge the question needs (BIRD); empty when the source has none."""
    difficulty: str | None = None
    """The source's own label (BIRD simple/moderate/challenging, shop easy/medium/hard); None when unknown."""
    dialect: str = "sqlite"
    """The sqlglot dialect the SQL is written in."""
    source: str = ""
    """Where the record came from, e.g. ``spider/dev`` or ``bird/dev``."""
    explanation: str | None = None
    """A plain-language account of what the SQL does; the SQL→NL target when present."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Anything else worth keeping (JSON-safe values only)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, *, path: str | None = None, index: int | None = None,
                  line: int | None = None) -> Example:
        """Build from a dict, checking every field; a DataError names ``path``, ``index`` and the field
        (and the 1-based ``line`` in its message when given)."""
        at = f"line {line}: " if line is not None else ""

        def fail(message: str, name: str | None = None) -> DataError:
            return DataError(at + message, path=path, index=index, field=name)

        if not isinstance(data, dict):
            raise fail(f"expected a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        for name in REQUIRED_FIELDS:
            if name not in data:
                raise fail("required field is missing", name)
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name not in known:
                raise fail(f"unknown field (known: {', '.join(sorted(known))})", name)
            problem = _field_problem(name, value)
            if problem:
                raise fail(problem, name)
            values[name] = str(value) if name == "id" else value
        return cls(**values)


def _field_problem(name: str, value: Any) -> str | None:
    """What is wrong with one field's value, or None. Integer ids are accepted (and kept as strings)."""
    if name == "id" and isinstance(value, int) and not isinstance(value, bool):
        return None
    if name in ("id", "question", "sql", "db_id", "evidence", "dialect", "source"):
        if not isinstance(value, str):
            return f"expected a string, got {type(value).__name__}"
        if name in ("id", "question", "db_id", "dialect") and not value.strip():
            return "must not be empty"
    elif name in ("difficulty", "explanation"):
        if value is not None and not isinstance(value, str):
            return f"expected a string or null, got {type(value).__name__}"
    elif name == "meta" and not isinstance(value, dict):
        return f"expected an object, got {type(value).__name__}"
    return None


def read_examples(path: str | Path) -> list[Example]:
    """Read a JSONL file of examples (blank lines skipped).

    A line that is not JSON, a missing or mistyped field, or a repeated id raises DataError naming the file,
    the 1-based line (in the message) and the 0-based record index and field.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise DataError("file not found", path=str(path)) from e
    except UnicodeDecodeError as e:
        raise DataError(f"not UTF-8 text ({e})", path=str(path)) from e
    examples: list[Example] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        index = len(examples)
        try:
            data = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"line {lineno} is not valid JSON: {e.msg} (column {e.colno})", path=str(path),
                            index=index) from e
        ex = Example.from_dict(data, path=str(path), index=index, line=lineno)
        if ex.id in seen:
            raise DataError(f"line {lineno}: id {ex.id!r} repeats record {seen[ex.id]}", path=str(path),
                            index=index, field="id")
        seen[ex.id] = index
        examples.append(ex)
    return examples


def write_examples(path: str | Path, examples: Iterable[Example]) -> int:
    """Write examples as JSONL (UTF-8, one object per line); returns how many were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for ex in examples:
            f.write(json.dumps(ex.to_dict(), ensure_ascii=False))
            f.write("\n")
            n += 1
    tmp.replace(path)
    return n



def parse_jsonl(text: str, path: str | Path) -> list[Any]:
    """One JSON value per non-blank line; a bad line raises DataError naming the file, the line and the record."""
    records: list[Any] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise DataError(f"line {lineno} is not valid JSON: {e.msg}", path=str(path),
                                index=len(records)) from e
    return records


def read_json_list(path: str | Path, what: str = "records") -> list[Any]:
    """Read a file holding one JSON list (Spider, BIRD and sql-create-context ship their data this way).

    Bad JSON raises DataError naming the file and the line and column where parsing stopped; a missing file or
    a top-level value that is not a list raises DataError naming the file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise DataError(f"file not found (expected the {what} here)", path=str(path)) from e
    except UnicodeDecodeError as e:
        raise DataError(f"not UTF-8 text ({e})", path=str(path)) from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}",
                        path=str(path)) from e
    if not isinstance(data, list):
        raise DataError(f"expected a JSON list of {what}, got a {type(data).__name__}", path=str(path))
    return data


def require_str(record: Any, name: str, *, path: str, index: int, allow_empty: bool = False) -> str:
    """``record[name]`` as a string, or a DataError naming the file, the record index and the field."""
    if not isinstance(record, dict):
        raise DataError(f"expected a JSON object, got {type(record).__name__}", path=path, index=index)
    if name not in record:
        raise DataError("required field is missing", path=path, index=index, field=name)
    value = record[name]
    if not isinstance(value, str):
        raise DataError(f"expected a string, got {type(value).__name__}", path=path, index=index, field=name)
    if not allow_empty and not value.strip():
        raise DataError("must not be empty", path=path, index=index, field=name)
    return value


PAIR_FIELDS = ("id", "question", "sql", "db_id", "evidence", "difficulty", "explanation", "dialect")


def load_pairs(path: str | Path, db_id: str, *, dialect: str = "sqlite", source: str = "") -> list[Example]:
    """A hand-written question/SQL file for one database: a JSON list of ``{question, sql}`` objects, each
    optionally with ``id`` (else its position), ``evidence``, ``difficulty``, ``explanation``; other keys go
    to ``meta``. This is the shape of the bundled shop pairs and of a company's own evaluation set."""
    where = str(path)
    examples: list[Example] = []
    seen: dict[str, int] = {}
    for index, record in enumerate(read_json_list(path, "question/SQL pairs")):
        question = require_str(record, "question", path=where, index=index)
        sql = require_str(record, "sql", path=where, index=index)
        data: dict[str, Any] = {
            "id": record.get("id", str(index)), "question": question.strip(), "sql": sql.strip(),
            "db_id": record.get("db_id", db_id), "dialect": record.get("dialect", dialect), "source": source,
        }
        for name in ("evidence", "difficulty", "explanation"):
            if record.get(name) is not None:
                data[name] = record[name]
        data["meta"] = {k: v for k, v in record.items() if k not in PAIR_FIELDS}
        ex = Example.from_dict(data, path=where, index=index)
        if ex.id in seen:
            raise DataError(f"id {ex.id!r} repeats record {seen[ex.id]}", path=where, index=index, field="id")
        seen[ex.id] = index
        examples.append(ex)
    return examples
