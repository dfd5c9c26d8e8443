"""Render a ``Schema`` as prompt text: CREATE TABLE DDL, compact table cards, M-Schema, or JSON.

Every renderer is a pure function of the schema (tables and columns in the schema's order, nothing random),
so the same database always gives the same prompt. ``samples=False`` leaves out sample values and
``comments=False`` leaves out table and column comments (a view keeps its "(view)" mark).

* ``ddl`` — one ``CREATE TABLE`` per table (views too, marked by their comment) in the schema's dialect, with
  ``PRIMARY KEY`` / ``FOREIGN KEY`` clauses. Comments are SQL comments: the table's on the ``CREATE TABLE
  name (`` line and each column's at the end of its line, the same convention ``introspect`` reads back from
  SQLite; sample values join the column's comment as ``e.g. 'a', 'b'``. Identifiers are quoted only when the
  dialect needs it (odd characters, reserved words, upper case on PostgreSQL).
* ``cards`` — one short block per table: ``name (N rows) — comment`` then one line of ``col TYPE PK →
  ref.col (comment) e.g. 'a', 'b'`` entries separated by `` | ``.
* ``mschema`` — XiYan-SQL's M-Schema: ``【DB_ID】``, ``【Schema】``, ``# Table: name, comment``, one
  ``(col:TYPE, Primary Key, comment, Examples: [a, b])`` per column, then ``【Foreign keys】`` as
  ``table.col=ref_table.ref_col``. Names are written raw, as M-Schema does.
* ``json`` — ``Schema.to_dict()`` as compact JSON (``render_json(indent=2)`` for people).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from sqlglot import exp
from sqlglot.dialects import Dialect

from tunesql.db.introspect import VIEW_MARK
from tunesql.db.schema import Column, Schema, Table

RENDER_FORMATS = ("ddl", "cards", "mschema", "json")

_SAFE_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESERVED: dict[str, frozenset[str]] = {}


def render_schema(schema: Schema, fmt: str = "ddl", *, samples: bool = True, comments: bool = True) -> str:
    """Render ``schema`` in one of ``RENDER_FORMATS``."""
    renderers: dict[str, Callable[..., str]] = {
        "ddl": render_ddl, "cards": render_cards, "mschema": render_mschema, "json": render_json,
    }
    if fmt not in renderers:
        raise ValueError(f"unknown schema format {fmt!r}; choose one of {', '.join(RENDER_FORMATS)}")
    return renderers[fmt](schema, samples=samples, comments=comments)


# --- DDL ----------------------------------------------------------------------------------------------------


def render_ddl(schema: Schema, *, samples: bool = True, comments: bool = True) -> str:
    """``CREATE TABLE`` statements in the schema's dialect, one per table, separated by a blank line."""
    return "\n\n".join(_table_ddl(t, schema.dialect, samples, comments) for t in schema.tables)


def _table_ddl(table: Table, dialect: str, samples: bool, comments: bool) -> str:
    q = lambda name: quote_identifier(name, dialect)  # noqa: E731
    items: list[tuple[str, str | None]] = []  # (clause, trailing comment)
    pk = table.primary_key
    for col in table.columns:
        parts = [q(col.name)]
        if col.type:
            parts.append(col.type)
        if not col.nullable and col.name not in pk:
            parts.append("NOT NULL")
        if col.default is not None:
            parts.append(f"DEFAULT {col.default}")
        notes = []
        if comments and col.comment:
            notes.append(_one_line(col.comment))
        if samples and col.samples:
            notes.append("e.g. " + ", ".join(sql_literal(v) for v in col.samples))
        items.append((" ".join(parts), "; ".join(notes) or None))
    if pk:
        items.append((f"PRIMARY KEY ({', '.join(q(c) for c in pk)})", None))
    for fk in table.foreign_keys:
        items.append((f"FOREIGN KEY ({', '.join(q(c) for c in fk.columns)}) REFERENCES {q(fk.ref_table)} "
                      f"({', '.join(q(c) for c in fk.ref_columns)})", None))
    head_note = _table_note(table, comments)
    lines = [f"CREATE TABLE {q(table.name)} (" + (f" -- {head_note}" if head_note else "")]
    for i, (clause, note) in enumerate(items):
        line = "  " + clause + ("," if i < len(items) - 1 else "")
        lines.append(line + (f" -- {note}" if note else ""))
    lines.append(");")
    return "\n".join(lines)


# --- cards --------------------------------------------------------------------------------------------------


def render_cards(schema: Schema, *, samples: bool = True, comments: bool = True) -> str:
    """Compact table cards: a header line per table, then its columns on one indented line."""
    return "\n".join(_table_card(t, schema.dialect, samples, comments) for t in schema.tables)


def _table_card(table: Table, dialect: str, samples: bool, comments: bool) -> str:
    q = lambda name: quote_identifier(name, dialect)  # noqa: E731
    head = q(table.name)
    if table.row_count is not None:
        head += f" ({table.row_count:,} row{'' if table.row_count == 1 else 's'})"
    note = _table_note(table, comments)
    if note:
        head += f" — {note}"
    refs: dict[str, list[str]] = {}
    multi: list[str] = []
    for fk in table.foreign_keys:
        if len(fk.columns) == 1:
            refs.setdefault(fk.columns[0], []).append(f"{q(fk.ref_table)}.{q(fk.ref_columns[0])}")
        else:
            multi.append(f"FK ({', '.join(q(c) for c in fk.columns)}) → {q(fk.ref_table)}"
                         f"({', '.join(q(c) for c in fk.ref_columns)})")
    entries = []
    for col in table.columns:
        parts = [q(col.name)]
        if col.type:
            parts.append(col.type)
        if col.primary_key:
            parts.append("PK")
        parts.extend(f"→ {r}" for r in refs.get(col.name, []))
        if comments and col.comment:
            parts.append(f"({_one_line(col.comment)})")
        if samples and col.samples:
            parts.append("e.g. " + ", ".join(sql_literal(v) for v in col.samples))
        entries.append(" ".join(parts))
    return head + "\n  " + " | ".join(entries + multi)


# --- M-Schema -----------------------------------------------------------------------------------------------


def render_mschema(schema: Schema, *, samples: bool = True, comments: bool = True) -> str:
    """XiYan-SQL's M-Schema text."""
    lines = [f"【DB_ID】 {schema.name}", "【Schema】"]
    fk_lines: list[str] = []
    for table in schema.tables:
        note = _table_note(table, comments)
        lines.append(f"# Table: {table.name}" + (f", {note}" if note else ""))
        lines.append("[")
        lines.append(",\n".join(_mschema_field(c, samples, comments) for c in table.columns))
        lines.append("]")
        for fk in table.foreign_keys:
            pairs = zip(fk.columns, fk.ref_columns, strict=False)
            fk_lines.extend(f"{table.name}.{a}={fk.ref_table}.{b}" for a, b in pairs)
    if fk_lines:
        lines.append("【Foreign keys】")
        lines.extend(fk_lines)
    return "\n".join(lines)


def _mschema_field(col: Column, samples: bool, comments: bool) -> str:
    type_text = col.type if "'" in col.type else col.type.upper()  # ENUM('a','b') keeps its values' case
    parts = [f"{col.name}:{type_text}" if type_text else col.name]
    if col.primary_key:
        parts.append("Primary Key")
    if comments and col.comment:
        parts.append(_one_line(col.comment))
    if samples and col.samples:
        parts.append(f"Examples: [{', '.join(_raw_value(v) for v in col.samples)}]")
    return "(" + ", ".join(parts) + ")"


# --- JSON ---------------------------------------------------------------------------------------------------


def render_json(schema: Schema, *, samples: bool = True, comments: bool = True, indent: int | None = None) -> str:
    """``schema.to_dict()`` as JSON: compact by default, ``indent=2`` to read it."""
    data = schema.to_dict()
    for table in data["tables"]:
        if not comments:
            table["comment"] = VIEW_MARK if _is_view(table.get("comment")) else None
        for col in table["columns"]:
            if not samples:
                col["samples"] = []
            if not comments:
                col["comment"] = None
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps(data, ensure_ascii=False, indent=indent, separators=separators, default=str)


# --- shared pieces ------------------------------------------------------------------------------------------


def quote_identifier(name: str, dialect: str) -> str:
    """``name`` as the dialect must write it: bare when it can be, quoted (and escaped) when it must be."""
    needs = (
        not _SAFE_IDENTIFIER.fullmatch(name)
        or name.lower() in _reserved(dialect)
        or (dialect == "postgres" and name != name.lower())
    )
    if not needs:
        return name
    return exp.to_identifier(name, quoted=True).sql(dialect=dialect)


def sql_literal(value: Any) -> str:
    """A sample value as a one-line SQL literal: numbers bare, text in single quotes, booleans TRUE/FALSE."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + _one_line(str(value)).replace("'", "''") + "'"


def _raw_value(value: Any) -> str:
    """A sample value as M-Schema writes it: unquoted."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (int, float)):
        return repr(value)
    return _one_line(str(value))


def _table_note(table: Table, comments: bool) -> str | None:
    if comments:
        return _one_line(table.comment) if table.comment else None
    return VIEW_MARK if _is_view(table.comment) else None


def _is_view(comment: str | None) -> bool:
    return bool(comment) and str(comment).startswith(VIEW_MARK)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _reserved(dialect: str) -> frozenset[str]:
    if dialect not in _RESERVED:
        # DuckDB's list is PostgreSQL's reserved words plus a few: a safe superset for SQLite and PostgreSQL.
        source = "mysql" if dialect == "mysql" else "duckdb"
        words = getattr(Dialect.get_or_raise(source).generator_class, "RESERVED_KEYWORDS", set())
        _RESERVED[dialect] = frozenset(w.lower() for w in words)
    return _RESERVED[dialect]
