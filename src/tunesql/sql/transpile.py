"""Dialect names, parsing one statement, and translating SQL between dialects, all through sqlglot.

tunesql's own engines are ``sqlite``, ``duckdb``, ``postgres`` and ``mysql`` (MariaDB speaks ``mysql``); any other
dialect sqlglot knows is accepted too, and the common aliases ``postgresql``, ``sqlite3`` and ``mariadb`` are
mapped onto sqlglot's names. Every failure is a ``SQLSyntaxError`` (or ``ValueError`` for an unknown dialect)
whose message names the dialects involved, so a user can tell a bad query from a bad setting.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel, ParseError, TokenError, UnsupportedError

from tunesql.errors import SQLSyntaxError

if TYPE_CHECKING:
    from tunesql.db.schema import Schema

logging.getLogger("sqlglot").setLevel(logging.ERROR)

TUNESQL_DIALECTS = ("sqlite", "duckdb", "postgres", "mysql")
"""The engines tunesql runs queries on (sqlglot names)."""

_ALIASES = {"postgresql": "postgres", "pg": "postgres", "psql": "postgres", "sqlite3": "sqlite",
            "mariadb": "mysql"}


def resolve_dialect(name: str | None) -> str:
    """The sqlglot dialect name for ``name`` (case-insensitive; aliases such as ``postgresql`` accepted).

    Raises ValueError naming the accepted dialects when sqlglot does not know it.
    """
    if name is None or not str(name).strip():
        raise ValueError(f"no SQL dialect given; use one of {', '.join(TUNESQL_DIALECTS)}")
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key in TUNESQL_DIALECTS:
        return key
    try:
        Dialect.get_or_raise(key)
    except ValueError as e:
        known = sorted(k for k in Dialect.classes if k)
        raise ValueError(
            f"unknown SQL dialect {name!r}: tunesql runs on {', '.join(TUNESQL_DIALECTS)}; "
            f"sqlglot also knows {', '.join(k for k in known if k not in TUNESQL_DIALECTS)}"
        ) from e
    return key


def _first_error_line(e: Exception) -> str:
    errors = getattr(e, "errors", None)
    if errors:
        first = errors[0]
        desc = first.get("description") or str(e)
        line, col = first.get("line"), first.get("col")
        return f"{desc} (line {line}, col {col})" if line is not None else str(desc)
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def parse_statement(sql: str, dialect: str, *, queries_only: bool = False) -> exp.Expr:
    """Parse exactly one SQL statement in ``dialect`` (trailing semicolons allowed).

    Raises SQLSyntaxError for empty input, a token or parse error, several statements, text sqlglot could only
    keep as an opaque command, or a bare expression that is not a statement (``hello world`` parses as a column
    with an alias). With ``queries_only`` the statement must be a query (SELECT, set operation, VALUES).
    """
    dialect = resolve_dialect(dialect)
    if not isinstance(sql, str) or not sql.strip():
        raise SQLSyntaxError("empty SQL")
    try:
        parsed = [e for e in sqlglot.parse(sql, read=dialect) if e is not None]
    except (ParseError, TokenError) as e:
        raise SQLSyntaxError(f"does not parse as {dialect} SQL: {_first_error_line(e)}") from e
    except (RecursionError, ValueError, KeyError, IndexError, AttributeError, TypeError) as e:
        # sqlglot has corner cases that fail with a plain Python error on garbage input.
        raise SQLSyntaxError(f"does not parse as {dialect} SQL: {type(e).__name__}: {e}") from e
    if not parsed:
        raise SQLSyntaxError("empty SQL (only semicolons or comments)")
    if len(parsed) > 1:
        raise SQLSyntaxError(f"expected one SQL statement, got {len(parsed)}")
    tree = parsed[0]
    if isinstance(tree, exp.Command):
        raise SQLSyntaxError(f"sqlglot could not parse this {dialect} statement: {sql.strip()[:80]!r}")
    allowed: tuple[type[exp.Expr], ...] = (exp.Query, exp.Values) if queries_only else (
        exp.Query, exp.Values, exp.DML, exp.DDL, exp.Pragma, exp.Set, exp.Use, exp.Transaction, exp.Commit,
        exp.Rollback, exp.Describe, exp.Show, exp.Attach, exp.Detach, exp.Grant, exp.Revoke, exp.Copy,
    )
    if not isinstance(tree, allowed):
        what = "query" if queries_only else "statement"
        raise SQLSyntaxError(f"not a SQL {what} in {dialect}: {sql.strip()[:80]!r}")
    if isinstance(tree, exp.Select) and not tree.expressions:
        raise SQLSyntaxError("SELECT with nothing selected")
    return tree


def transpile_sql(sql: str, read: str, write: str, *, pretty: bool = False, strict: bool = False,
                  schema: Schema | None = None) -> str:
    """Translate one statement from dialect ``read`` to dialect ``write``.

    From SQLite, ``"text"`` that SQLite would read as a string (Spider writes ``country = "France"``) becomes a
    string literal first, since every other engine would look for a column: with ``schema``, any double-quoted
    name that is no column; without, those in value position (see ``normalize``, rule 2).

    ``strict`` makes sqlglot's "unsupported in the target dialect" warnings errors (SQLSyntaxError) instead of
    best-effort output. Raises ValueError for an unknown dialect, SQLSyntaxError when the SQL does not parse in
    ``read`` (the message names both dialects).
    """
    read, write = resolve_dialect(read), resolve_dialect(write)
    try:
        tree = parse_statement(sql, read)
    except SQLSyntaxError as e:
        raise SQLSyntaxError(f"cannot transpile {read} -> {write}: {e}") from e
    if read == "sqlite":
        from tunesql.sql.normalize import _resolve_sqlite_double_quotes

        _resolve_sqlite_double_quotes(tree, sql, schema)
    try:
        return tree.sql(
            dialect=write,
            pretty=pretty,
            unsupported_level=ErrorLevel.RAISE if strict else ErrorLevel.WARN,
        )
    except (UnsupportedError, ParseError) as e:
        raise SQLSyntaxError(f"cannot transpile {read} -> {write}: {_first_error_line(e)}") from e
