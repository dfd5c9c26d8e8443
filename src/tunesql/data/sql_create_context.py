"""sql-create-context (b-mc2, WikiSQL + Spider derived): ``{question, context, answer}`` records whose
``context`` is the CREATE TABLE statements the answer runs on.

There are no database files and no db_ids, so each distinct context becomes its own database: the db_id is
``scc_`` plus a short hash of the context (normalised for whitespace), and the schema is parsed from the
context with sqlglot, so the ``schema`` prompt style works. The context is kept in ``Example.meta["context"]``.
Reads a JSON list (the published ``sql_create_context_v4.json``) or JSONL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from tunesql.data.example import Example, parse_jsonl, read_json_list, require_str
from tunesql.db.schema import Column, ForeignKey, Schema, Table
from tunesql.errors import DataError

DEFAULT_FILE = "sql_create_context_v4.json"
DIALECT = "sqlite"


def context_db_id(context: str) -> str:
    """A stable id for one CREATE TABLE context: the same statements give the same id."""
    normal = " ".join(context.split())
    return "scc_" + hashlib.sha1(normal.encode("utf-8")).hexdigest()[:12]


def schema_from_ddl(ddl: str, name: str, dialect: str = DIALECT) -> Schema:
    """Parse CREATE TABLE statements into a Schema (columns, types, NOT NULL, defaults, keys).

    Statements other than CREATE TABLE are ignored; SQL that does not parse raises ParseError.
    """
    tables: list[Table] = []
    for statement in sqlglot.parse(ddl, read=dialect):
        if not isinstance(statement, exp.Create) or (statement.kind or "").upper() != "TABLE":
            continue
        target = statement.this
        if not isinstance(target, exp.Schema):  # CREATE TABLE … AS SELECT: no column list
            continue
        table = Table(name=target.this.name, columns=[])
        table_pk: list[str] = []
        for item in target.expressions:
            if isinstance(item, exp.ColumnDef):
                kind = item.args.get("kind")
                column = Column(name=item.name, type=kind.sql() if kind else "")
                for constraint in item.constraints:
                    ckind = constraint.args.get("kind")
                    if isinstance(ckind, exp.PrimaryKeyColumnConstraint):
                        column.primary_key = True
                    elif isinstance(ckind, exp.NotNullColumnConstraint) and not ckind.args.get("allow_null"):
                        column.nullable = False
                    elif isinstance(ckind, exp.DefaultColumnConstraint) and ckind.this is not None:
                        column.default = ckind.this.sql(dialect=dialect)
                table.columns.append(column)
            elif isinstance(item, exp.PrimaryKey):
                table_pk.extend(e.name for e in item.expressions)
            elif isinstance(item, exp.ForeignKey):
                ref = item.args.get("reference")
                ref_schema = ref.this if ref is not None else None
                if isinstance(ref_schema, exp.Schema):
                    table.foreign_keys.append(ForeignKey(
                        columns=[e.name for e in item.expressions],
                        ref_table=ref_schema.this.name,
                        ref_columns=[e.name for e in ref_schema.expressions],
                    ))
        for pk_name in table_pk:
            col = table.column(pk_name)
            if col is not None:
                col.primary_key = True
        tables.append(table)
    return Schema(name=name, dialect=dialect, tables=tables)


def _records(path: Path) -> list[object]:
    if path.suffix == ".jsonl":
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as e:
            raise DataError("file not found", path=str(path)) from e
        return parse_jsonl(text, path)
    return read_json_list(path, "sql-create-context records")


def resolve_file(path: str | Path) -> Path:
    """``path`` itself, or ``path/sql_create_context_v4.json`` when ``path`` is a directory."""
    path = Path(path)
    if path.is_dir():
        candidates = [path / DEFAULT_FILE, *sorted(path.glob("*.jsonl")), *sorted(path.glob("*.json"))]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise DataError(f"no {DEFAULT_FILE} (nor any .json/.jsonl file) in {path}; pass the file itself")
        return found
    return path


def load_sql_create_context(path: str | Path) -> list[Example]:
    """Every record as an Example (id = position, db_id = context hash, meta["context"] = the DDL).

    Each needs non-empty string ``question``, ``context`` and ``answer``; otherwise DataError names the file,
    the record index and the field.
    """
    path = resolve_file(path)
    where = str(path)
    examples = []
    for index, record in enumerate(_records(path)):
        question = require_str(record, "question", path=where, index=index)
        context = require_str(record, "context", path=where, index=index)
        answer = require_str(record, "answer", path=where, index=index)
        examples.append(Example(
            id=str(index), question=question.strip(), sql=answer.strip(), db_id=context_db_id(context),
            dialect=DIALECT, source="sql-create-context", meta={"context": context},
        ))
    return examples


def sql_create_context_schemas(examples: Iterable[Example], *, path: str | None = None) -> dict[str, Schema]:
    """The schema of every distinct context among ``examples`` (from ``meta["context"]``), keyed by db_id.

    A context that does not parse, or that defines no table, raises DataError naming the record index and the
    field ``context``.
    """
    schemas: dict[str, Schema] = {}
    for index, ex in enumerate(examples):
        if ex.db_id in schemas:
            continue
        context = ex.meta.get("context")
        if not isinstance(context, str):
            raise DataError("no CREATE TABLE context in meta", path=path, index=index, field="context")
        try:
            schema = schema_from_ddl(context, ex.db_id)
        except ParseError as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise DataError(f"CREATE TABLE statements do not parse: {first}", path=path, index=index,
                            field="context") from e
        if not schema.tables:
            raise DataError("no CREATE TABLE statement", path=path, index=index, field="context")
        schemas[ex.db_id] = schema
    return schemas
