"""Describe a live database as a ``Schema``: tables, columns, keys, comments, row counts and sample values.

One entry point, ``introspect(db)``. It reads the catalog through ``sqlalchemy.inspect`` on the read-only
engine (SQLite, PostgreSQL, MySQL/MariaDB) or through DuckDB's own ``duckdb_*()`` catalog functions (the
duckdb-engine reflection queries PostgreSQL catalog tables DuckDB does not have), then runs two kinds of cheap
read-only queries, built with SQLAlchemy Core so every identifier is quoted by the dialect:

* row counts: ``SELECT count(*) FROM t`` (skip with ``row_counts=False`` on very large server tables);
* samples: ``SELECT DISTINCT c FROM (SELECT c FROM t WHERE c IS NOT NULL LIMIT 10000) LIMIT k`` — at most k
  distinct non-null values, in the order the database returns them, from the first rows only, so the cost per
  column is bounded whatever the table's size. Binary columns are not sampled; text longer than
  ``MAX_SAMPLE_CHARS`` is cut and ends in "…"; dates and other values become strings, decimals numbers.

Choices worth knowing:

* Views (and PostgreSQL materialized views) are listed after the tables, because a model may query them.
  They are marked by a comment that starts with ``VIEW_MARK`` ("(view)") and have no keys, row count or
  samples (computing a view can cost as much as any query).
* SQLite has no ``COMMENT`` statement. Its comments are the inline SQL comments kept in ``sqlite_master``: a
  ``-- text`` on the ``CREATE TABLE name (`` line is the table's comment; a ``-- text`` at the end of a
  column's line is that column's comment, and own-line comments right below it, indented past the code,
  continue it; an own-line comment block just above a column is used when the column has no trailing one.
  See ``sqlite_ddl_comments``.
* Foreign keys are resolved against the tables found, case-insensitively (Spider mixes case), and stored with
  the tables' and columns' real names, in column order; an empty reference list means the target's primary
  key. A foreign key whose target table or columns do not exist (or live in another schema) is dropped, with
  a log message.
* Nothing here raises on one odd table, type or key: a failing step is logged and skipped, so a whole
  database is always described. Only failing to connect raises (``ConnectError``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
import warnings
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
import sqlglot
from sqlglot import exp
from sqlglot.dialects import Dialect
from sqlglot.tokens import Token, TokenType

from tunesql.db.connect import Database
from tunesql.db.schema import Column, ForeignKey, Schema, Table
from tunesql.errors import ConnectError

log = logging.getLogger(__name__)

MAX_SAMPLE_CHARS = 60
"""Sampled text longer than this is cut to this many characters, the last one "…"."""
SAMPLE_SCAN_ROWS = 10_000
"""Samples come from the first this-many non-null values of a column, so sampling a huge table stays cheap."""
VIEW_MARK = "(view)"
"""How a view is told apart from a table: its comment starts with this."""

_BINARY_TYPE_WORDS = ("BLOB", "BYTEA", "BINARY", "IMAGE", "GEOMETRY", "GEOGRAPHY", "RASTER")
_TABLE_CONSTRAINT_TOKENS = {TokenType.PRIMARY_KEY, TokenType.FOREIGN_KEY, TokenType.UNIQUE, TokenType.CONSTRAINT}
_TABLE_CONSTRAINT_WORDS = {"PRIMARY", "FOREIGN", "UNIQUE", "CONSTRAINT", "CHECK", "EXCLUDE"}


def introspect(db: Database, samples: int = 3, row_counts: bool = True, schema: str | None = None) -> Schema:
    """Describe ``db``: every table (then view) with its columns, keys, comments, row count and samples.

    ``samples`` is the number of distinct sample values per column (0 for none); ``row_counts=False`` skips
    the ``count(*)`` per table; ``schema`` picks a schema other than the connection's default (PostgreSQL
    ``public``, the MySQL database in the URL, DuckDB ``main``).

    Raises ``ConnectError`` when the database cannot be reached or its catalog cannot be read at all (not a
    database file, server down); anything narrower is logged and skipped.
    """
    where = str(db.path) if db.path else db.url.render_as_string(hide_password=True)
    with warnings.catch_warnings():
        # SQLAlchemy warns about types it cannot map (INT(11) on SQLite, unknown names); the declared type is
        # kept as text anyway, so the warnings are noise here.
        warnings.simplefilter("ignore", sa.exc.SAWarning)
        try:
            conn = db.engine.connect()
        except sa.exc.SQLAlchemyError as e:
            raise ConnectError(f"cannot connect to {where}: {_short(e)}") from e
        with conn:
            try:
                if db.backend == "duckdb":
                    tables, views = _duckdb_catalog(conn, schema)
                else:
                    tables, views = _inspector_catalog(conn, db.backend, schema)
            except ConnectError as e:
                raise ConnectError(f"{where}: {e}") from e
            _resolve_foreign_keys(tables)
            for table in tables:
                if table.name in views:
                    continue
                if row_counts:
                    table.row_count = _row_count(conn, table.name, schema)
                if samples > 0:
                    for column in table.columns:
                        column.samples = _samples(conn, table.name, column, samples, schema)
            conn.rollback()
    return Schema(name=db.name, dialect=db.dialect, tables=tables)


# --- catalog: SQLAlchemy inspector (SQLite, PostgreSQL, MySQL) ------------------------------------------------


def _inspector_catalog(conn: sa.Connection, backend: str, schema: str | None) -> tuple[list[Table], set[str]]:
    try:
        insp = sa.inspect(conn)
        table_names = [n for n in insp.get_table_names(schema=schema) if not n.lower().startswith("sqlite_")]
        view_names = list(insp.get_view_names(schema=schema))
    except sa.exc.SQLAlchemyError as e:
        raise ConnectError(f"cannot read the catalog: {_short(e)}") from e
    if backend == "postgresql":
        view_names += _try(lambda: insp.get_materialized_view_names(schema=schema), [], "materialized views")
        # Relations an extension installed (pg_stat_statements' views, PostGIS's spatial_ref_sys) are not the
        # user's data: describing them would have prompts and synthesis ask about them.
        owned = _try(lambda: _extension_relations(conn, schema), set(), "extension-owned relations", conn)
        table_names = [n for n in table_names if n not in owned]
        view_names = [n for n in view_names if n not in owned]
    view_names = [n for n in view_names if not n.lower().startswith("sqlite_")]

    tables: list[Table] = []
    for name in _sorted(table_names) + _sorted(set(view_names) - set(table_names)):
        is_view = name in view_names and name not in table_names
        table = _inspect_table(conn, insp, backend, name, schema, is_view)
        if table is not None:
            tables.append(table)
    return tables, {t.name for t in tables if t.name in view_names and t.name not in table_names}


def _extension_relations(conn: sa.Connection, schema: str | None) -> set[str]:
    rows = conn.execute(sa.text(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e' "
        "WHERE n.nspname = COALESCE(:schema, current_schema())"), {"schema": schema})
    return {r[0] for r in rows}


def _inspect_table(conn: sa.Connection, insp: sa.Inspector, backend: str, name: str, schema: str | None,
                   is_view: bool) -> Table | None:
    try:
        reflected = insp.get_columns(name, schema=schema)
    except Exception as e:  # one unreadable table must not stop the others
        log.warning("skipping %s: cannot read its columns (%s)", name, _short(e))
        _reset(conn)
        return None
    declared: dict[str, str] = {}
    table_comment: str | None = None
    column_comments: dict[str, str] = {}
    if backend == "sqlite":
        declared = _sqlite_declared_types(conn, name, schema)
        if not is_view:
            table_comment, column_comments = sqlite_ddl_comments(_sqlite_create_sql(conn, name, schema) or "")
    else:
        table_comment = _try(lambda: insp.get_table_comment(name, schema=schema).get("text"), None,
                             f"comment of {name}", conn)

    # SQLAlchemy's MySQL reflection leaves a backtick inside a name doubled, as SHOW CREATE TABLE writes it.
    fix = (lambda n: str(n).replace("``", "`")) if backend == "mysql" else str
    columns = []
    for col in reflected:
        cname = fix(col["name"])
        columns.append(Column(
            name=cname,
            type=declared.get(cname, "") if backend == "sqlite" else _type_text(col.get("type"), conn.dialect),
            nullable=bool(col.get("nullable", True)),
            default=_clean_default(col.get("default"), backend),
            comment=_clean_comment(col.get("comment")) or column_comments.get(cname.lower()),
        ))
    table = Table(name=name, columns=columns, comment=_clean_comment(table_comment))
    if is_view:
        table.comment = _view_comment(table.comment)
        return table

    pk = _try(lambda: insp.get_pk_constraint(name, schema=schema), {}, f"primary key of {name}", conn)
    _mark_primary_key(table, [fix(c) for c in pk.get("constrained_columns") or []])
    fks = _try(lambda: insp.get_foreign_keys(name, schema=schema), [], f"foreign keys of {name}", conn)
    for fk in fks:
        if fk.get("referred_schema") not in (None, schema) and backend != "sqlite":
            log.info("%s: dropping a foreign key into schema %s", name, fk.get("referred_schema"))
            continue
        table.foreign_keys.append(ForeignKey(
            columns=[fix(c) for c in fk.get("constrained_columns") or []],
            ref_table=str(fk.get("referred_table") or ""),
            ref_columns=[fix(c) for c in fk.get("referred_columns") or [] if c is not None],
        ))
    return table


def _clean_default(default: Any, backend: str) -> str | None:
    """The default as SQL text; PostgreSQL's casts of plain literals (``'new'::character varying``) dropped."""
    if default is None:
        return None
    text = str(default).strip()
    if backend == "postgresql" and "::" in text:
        try:
            parsed = sqlglot.parse_one(text, read="postgres")
        except Exception:  # keep what the catalog says
            return text
        if isinstance(parsed, exp.Cast) and isinstance(parsed.this, (exp.Literal, exp.Neg)):
            return parsed.this.sql(dialect="postgres")
    return text


def _type_text(type_: Any, dialect: sa.Dialect) -> str:
    """The column type as the dialect writes it, without MySQL's noise: character set, collation, and the
    display width of integers (``INTEGER(11)``; ``TINYINT(1)``, MySQL's boolean, keeps it)."""
    if type_ is None or isinstance(type_, sa.types.NullType):
        return ""
    try:
        text = str(type_.compile(dialect=dialect))
    except Exception:  # an exotic type still gets a name
        text = type(type_).__name__.upper()
    text = re.sub(r"\s+(CHARACTER SET|COLLATE)\s+\S+", "", text).strip()
    if dialect.name in ("mysql", "mariadb") and not text.startswith("TINYINT(1)"):
        text = re.sub(r"^(TINYINT|SMALLINT|MEDIUMINT|INTEGER|INT|BIGINT)\(\d+\)", r"\1", text)
    return text


def _sqlite_declared_types(conn: sa.Connection, name: str, schema: str | None) -> dict[str, str]:
    """Column name -> the type exactly as declared (SQLAlchemy maps ``INT(11)`` or ``number`` to its own)."""
    fn = sa.func.pragma_table_xinfo(name, schema) if schema else sa.func.pragma_table_xinfo(name)
    query = sa.select(sa.column("name"), sa.column("type")).select_from(fn)
    rows = _try(lambda: conn.execute(query).all(), [], f"declared types of {name}", conn)
    return {str(r[0]): " ".join(str(r[1] or "").split()) for r in rows}


def _sqlite_create_sql(conn: sa.Connection, name: str, schema: str | None) -> str | None:
    master = sa.table("sqlite_master", sa.column("sql"), sa.column("name"), sa.column("type"), schema=schema)
    query = sa.select(master.c.sql).where(master.c.type == "table", master.c.name == name)
    return _try(lambda: conn.execute(query).scalar(), None, f"CREATE TABLE text of {name}", conn)


# --- catalog: DuckDB ----------------------------------------------------------------------------------------


def _duckdb_catalog(conn: sa.Connection, schema: str | None) -> tuple[list[Table], set[str]]:
    try:
        database, current = conn.execute(sa.text("SELECT current_database(), current_schema()")).one()
        where = {"db": database, "schema": schema or current}
        filt = "database_name = :db AND schema_name = :schema AND NOT internal"
        table_rows = conn.execute(sa.text(
            f"SELECT table_name, comment FROM duckdb_tables() WHERE {filt} AND NOT temporary"), where).all()
        view_rows = conn.execute(sa.text(
            f"SELECT view_name, comment FROM duckdb_views() WHERE {filt} AND NOT temporary"), where).all()
        column_rows = conn.execute(sa.text(
            "SELECT table_name, column_name, data_type, is_nullable, column_default, comment "
            f"FROM duckdb_columns() WHERE {filt} ORDER BY table_name, column_index"), where).all()
        constraint_rows = conn.execute(sa.text(
            "SELECT table_name, constraint_type, constraint_column_names, referenced_table, "
            "referenced_column_names FROM duckdb_constraints() "
            "WHERE database_name = :db AND schema_name = :schema "
            "AND constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY') ORDER BY table_name, constraint_index"),
            where).all()
    except sa.exc.SQLAlchemyError as e:
        raise ConnectError(f"cannot read the DuckDB catalog: {_short(e)}") from e

    columns: dict[str, list[Column]] = {}
    for tname, cname, dtype, nullable, default, comment in column_rows:
        columns.setdefault(tname, []).append(Column(
            name=cname, type=str(dtype or ""), nullable=bool(nullable),
            default=None if default is None else str(default), comment=_clean_comment(comment)))
    tables: dict[str, Table] = {}
    for tname, comment in sorted(table_rows, key=lambda r: _sort_key(r[0])):
        if columns.get(tname):
            tables[tname] = Table(name=tname, columns=columns[tname], comment=_clean_comment(comment))
    for tname, ctype, cols, ref_table, ref_cols in constraint_rows:
        table = tables.get(tname)
        if table is None:
            continue
        if ctype == "PRIMARY KEY":
            _mark_primary_key(table, list(cols or []))
        else:
            table.foreign_keys.append(ForeignKey(list(cols or []), str(ref_table or ""), list(ref_cols or [])))
    views: set[str] = set()
    for vname, comment in sorted(view_rows, key=lambda r: _sort_key(r[0])):
        if columns.get(vname) and vname not in tables:
            tables[vname] = Table(name=vname, columns=columns[vname],
                                  comment=_view_comment(_clean_comment(comment)))
            views.add(vname)
    return list(tables.values()), views


# --- keys ---------------------------------------------------------------------------------------------------


def _mark_primary_key(table: Table, names: list[str]) -> None:
    for name in names:
        column = table.column(str(name))
        if column is not None:
            column.primary_key = True


def _resolve_foreign_keys(tables: list[Table]) -> None:
    """Point every foreign key at real table and column names; drop those that point nowhere; dedupe."""
    by_name = {t.name.lower(): t for t in tables}
    for table in tables:
        resolved: list[ForeignKey] = []
        for fk in table.foreign_keys:
            target = by_name.get(fk.ref_table.lower())
            ref_names = fk.ref_columns or (target.primary_key if target else [])
            cols = [table.column(c) for c in fk.columns]
            refs = [target.column(c) for c in ref_names] if target else []
            if (target is None or not cols or len(cols) != len(refs)
                    or any(c is None for c in cols) or any(r is None for r in refs)):
                log.info("%s: dropping foreign key %s -> %s(%s): no such target", table.name, fk.columns,
                         fk.ref_table, ", ".join(fk.ref_columns))
                continue
            new = ForeignKey([c.name for c in cols if c], target.name, [r.name for r in refs if r])
            if new not in resolved:
                resolved.append(new)
        # In the order of the columns (SQLite lists them last-declared first).
        position = {c.name: i for i, c in enumerate(table.columns)}
        table.foreign_keys = sorted(resolved, key=lambda fk: ([position[c] for c in fk.columns], fk.ref_table))


# --- row counts and samples ---------------------------------------------------------------------------------


def _row_count(conn: sa.Connection, table: str, schema: str | None) -> int | None:
    query = sa.select(sa.func.count()).select_from(sa.table(table, schema=schema))
    value = _try(lambda: conn.execute(query).scalar(), None, f"row count of {table}", conn)
    return None if value is None else int(value)


def _samples(conn: sa.Connection, table: str, column: Column, k: int, schema: str | None) -> list[Any]:
    """Up to k distinct non-null values of one column, from its first ``SAMPLE_SCAN_ROWS`` values."""
    if any(word in column.type.upper() for word in _BINARY_TYPE_WORDS):
        return []
    col = sa.table(table, sa.column(column.name), schema=schema).c[column.name]
    first = sa.select(col).where(col.is_not(None)).limit(SAMPLE_SCAN_ROWS).subquery("first_rows")
    distinct = sa.select(first.c[column.name]).distinct().limit(k)
    try:
        rows = conn.execute(distinct).all()
    except sa.exc.SQLAlchemyError:
        # Types without equality (PostgreSQL json, say): take the first values and dedupe them here.
        _reset(conn)
        plain = sa.select(col).where(col.is_not(None)).limit(k * 20)
        rows = _try(lambda: conn.execute(plain).all(), [], f"samples of {table}.{column.name}", conn)
    values: list[Any] = []
    for (raw,) in rows:
        value = _sample_value(raw)
        if value is not None and value not in values:
            values.append(value)
        if len(values) == k:
            break
    return values


def _sample_value(value: Any) -> Any:
    """A database value as a small JSON-safe value: numbers stay numbers, text is cut, bytes are dropped."""
    if value is None or isinstance(value, (bytes, bytearray, memoryview)):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (dt.date, dt.time)):
        text = value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    elif isinstance(value, (dict, list, tuple)):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    if len(text) > MAX_SAMPLE_CHARS:
        text = text[: MAX_SAMPLE_CHARS - 1] + "…"
    return text


# --- SQLite inline comments ---------------------------------------------------------------------------------


def sqlite_ddl_comments(create_sql: str) -> tuple[str | None, dict[str, str]]:
    """Read the table comment and the column comments written inline in a SQLite ``CREATE TABLE``.

    Returns ``(table_comment, {lower-cased column name: comment})``. The statement is tokenized with sqlglot's
    SQLite tokenizer (so strings and quoted names never look like comments); the comments are the text in the
    gaps between tokens. A comment belongs to the element (the table header up to ``(``, or one column or
    table constraint up to its comma) of the token before it on the same line; own-line comments on the next
    lines continue it when they are indented past the start of the code on its line (comments aligned in a
    column, as Spider's flight_4 writes them); any other own-line block belongs to the element after it, and
    is a column's comment when that column has no trailing one.
    Anything that does not tokenize yields no comments.
    """
    if "--" not in create_sql and "/*" not in create_sql:
        return None, {}
    try:
        tokens: list[Token] = Dialect.get_or_raise("sqlite").tokenize(create_sql)
    except Exception:  # a statement sqlglot cannot read simply has no comments for us
        return None, {}
    element_of, elements = _ddl_elements(tokens)
    if element_of is None:
        return None, {}

    trailing: dict[int, list[str]] = {}
    leading: dict[int, list[str]] = {}
    line_starts = [0] + [m.end() for m in re.finditer("\n", create_sql)]
    for i in range(len(tokens)):
        gap_start = tokens[i].end + 1
        gap_end = tokens[i + 1].start if i + 1 < len(tokens) else len(create_sql)
        prev_line = _line_at(line_starts, tokens[i].end)
        owner: int | None = None  # the element a continuing run of comments belongs to
        code_indent = 0  # where the code starts on the line of the trailing comment
        for pos, text in _gap_comments(create_sql, gap_start, gap_end):
            line = _line_at(line_starts, pos)
            column = pos - line_starts[line]
            if line == prev_line and owner is None:
                owner = element_of[i]
                trailing.setdefault(owner, []).append(text)
                line_text = create_sql[line_starts[line]:pos]
                code_indent = len(line_text) - len(line_text.lstrip())
            elif owner is not None and owner in trailing and line == prev_line + 1 and column > code_indent:
                trailing[owner].append(text)  # indented past the code: it continues the comment above
            else:
                owner = -1  # a leading block: it belongs to the element of the next token
                if i + 1 < len(tokens):
                    leading.setdefault(element_of[i + 1], []).append(text)
            prev_line = line

    def joined(parts: list[str]) -> str | None:
        return _clean_comment(" ".join(parts))

    table_comment = joined(trailing.get(0, []))
    comments: dict[str, str] = {}
    for index, name in elements.items():
        text = joined(trailing.get(index, [])) or joined(leading.get(index, []))
        if name is not None and text:
            comments[name.lower()] = text
    return table_comment, comments


def _ddl_elements(tokens: list[Token]) -> tuple[list[int] | None, dict[int, str | None]]:
    """Number each token's element: 0 the header through ``(``, then 1, 2, … per column / constraint.

    Returns the element of every token and, per element, the column it defines (None for a constraint).
    """
    open_at = next((i for i, t in enumerate(tokens) if t.token_type == TokenType.L_PAREN), None)
    if open_at is None or any(t.token_type == TokenType.ALIAS for t in tokens[:open_at]):
        return None, {}  # CREATE TABLE … AS SELECT: no column list
    element_of = [0] * len(tokens)
    elements: dict[int, str | None] = {}
    depth, current, first = 1, 1, True
    for i in range(open_at + 1, len(tokens)):
        token = tokens[i]
        element_of[i] = current
        if first:
            is_constraint = token.token_type in _TABLE_CONSTRAINT_TOKENS or (
                token.text.upper() in _TABLE_CONSTRAINT_WORDS and token.token_type != TokenType.IDENTIFIER)
            elements[current] = None if is_constraint else token.text
            first = False
        if token.token_type == TokenType.L_PAREN:
            depth += 1
        elif token.token_type == TokenType.R_PAREN:
            depth -= 1
            if depth == 0:  # the closing parenthesis of the column list, and whatever follows it
                for j in range(i + 1, len(tokens)):
                    element_of[j] = current
                break
        elif token.token_type == TokenType.COMMA and depth == 1:
            current, first = current + 1, True
    return element_of, elements


def _gap_comments(sql: str, start: int, end: int) -> list[tuple[int, str]]:
    """The comments in ``sql[start:end]``, a stretch the tokenizer skipped (only blanks and comments)."""
    found: list[tuple[int, str]] = []
    pos = start
    while pos < end:
        if sql.startswith("--", pos):
            stop = sql.find("\n", pos, end)
            stop = end if stop < 0 else stop
            found.append((pos, sql[pos + 2: stop]))
            pos = stop
        elif sql.startswith("/*", pos):
            stop = sql.find("*/", pos + 2, end)
            stop = end if stop < 0 else stop
            found.append((pos, sql[pos + 2: stop]))
            pos = stop + 2
        else:
            pos += 1
    return [(p, text.strip()) for p, text in found if text.strip()]


def _line_at(line_starts: list[int], pos: int) -> int:
    lo, hi = 0, len(line_starts)
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        if line_starts[mid] <= pos:
            lo = mid
        else:
            hi = mid
    return lo


# --- helpers ------------------------------------------------------------------------------------------------


def _clean_comment(text: Any) -> str | None:
    if text is None:
        return None
    cleaned = " ".join(str(text).split())
    return cleaned or None


def _view_comment(comment: str | None) -> str:
    return f"{VIEW_MARK} {comment}" if comment else VIEW_MARK


def _sort_key(name: str) -> tuple[str, str]:
    return name.lower(), name


def _sorted(names: Any) -> list[str]:
    return sorted({str(n) for n in names}, key=_sort_key)


def _short(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _reset(conn: sa.Connection) -> None:
    """End a failed transaction (PostgreSQL refuses every statement after an error until then)."""
    try:
        conn.rollback()
    except Exception:
        log.debug("rollback failed", exc_info=True)


def _try(fn: Any, fallback: Any, what: str, conn: sa.Connection | None = None) -> Any:
    try:
        return fn()
    except NotImplementedError:
        return fallback
    except Exception as e:  # a step that fails is skipped, never fatal
        log.warning("could not read %s: %s", what, _short(e))
        if conn is not None:
            _reset(conn)
        return fallback
