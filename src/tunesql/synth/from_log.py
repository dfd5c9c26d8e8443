"""Mine a query log into training pairs: the SQL a company really runs, with questions written for it.

A log is the best source of SQL there is: the queries are the ones people need, in the proportions they need
them. Two logs are read: a ``.sql`` file (statements separated by semicolons, as exported from a BI tool or a
client's history) and PostgreSQL's ``pg_stat_statements`` view. Each distinct query becomes one ``Pair``
(``source="log"``), rejected when it cannot be training data:

- "not a SELECT": it parses but writes, defines or configures (INSERT, UPDATE, DDL, SET, SHOW, …);
- "has parameters": placeholders (``$1``, ``?``, ``%s``, ``:name``) stand where values were, as in every
  ``pg_stat_statements`` text with a constant: such a query cannot run as logged, and a question cannot
  mention values nobody knows;
- "reads no table": ``SELECT 1``, ``SELECT version()``: driver and health-check chatter, which fills real
  logs and asks nothing of the data;
- then ``validate_sql``'s reasons (it must parse, name only known tables and columns, run read-only within the
  time limit and return rows), then "duplicate SQL template" (``dedupe``'s rule: the same query with other
  constants; the most-run one is kept).

Only then is the LLM asked for the questions (``backtranslate``), so no request is paid for SQL that was going
to be rejected; a written question is checked like any other (``check_question``), and ``dedupe`` finally
rejects near-duplicate questions.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import TokenError
from sqlglot.tokens import Token, TokenType

from tunesql.errors import ConfigError, ConnectError, DataError, SQLSyntaxError
from tunesql.sql.schema_check import referenced_tables
from tunesql.sql.transpile import parse_statement, resolve_dialect
from tunesql.synth.backtranslate import backtranslate
from tunesql.synth.dedupe import DUPLICATE_TEMPLATE, dedupe, sql_template
from tunesql.synth.record import REJECTED, Pair
from tunesql.synth.validate import check_question, validate_sql

if TYPE_CHECKING:
    from tunesql.db.connect import Database
    from tunesql.db.schema import Schema
    from tunesql.synth.llm import LLMClient

PARAM_PATTERN = re.compile(r"\$\d+|%\(\w+\)s|%s\b|(?<![:\w]):[A-Za-z_]\w*|\?")
"""Bind placeholders: ``$1`` (PostgreSQL, pg_stat_statements), ``?`` (SQLite, JDBC, ODBC), ``%s`` and
``%(name)s`` (Python drivers), ``:name`` (SQLAlchemy, Oracle). Matched only outside strings and comments;
``::type`` casts are not ``:name``."""

_QUERY_KEYWORDS = {TokenType.SELECT, TokenType.WITH, TokenType.VALUES, TokenType.FROM, TokenType.TABLE}
_STRING_TYPES = {t for t in TokenType if t.name.endswith("STRING")} | {TokenType.IDENTIFIER}
_MASK_STRINGS_AND_COMMENTS = re.compile(  # for text the tokenizer refuses: an unterminated one runs to the end
    r"'(?:[^']|'')*(?:'|\Z)|\"(?:[^\"]|\"\")*(?:\"|\Z)|--[^\n]*|/\*.*?(?:\*/|\Z)", re.DOTALL)
_PG_STAT_SQL = """
SELECT queryid, min(query) AS query, sum(calls) AS calls
FROM {view}
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
GROUP BY queryid
HAVING sum(calls) >= :min_calls
ORDER BY calls DESC, queryid
LIMIT :limit
"""
_PG_MISSING = ("the pg_stat_statements extension is missing: CREATE EXTENSION pg_stat_statements in this "
               "database (the server must preload it: shared_preload_libraries = 'pg_stat_statements' in "
               "postgresql.conf, then a restart)")


@dataclass
class LogQuery:
    sql: str
    where: str
    """Where it was logged: ``queries.sql:12`` (file and 1-based line of the statement) or
    ``pg_stat_statements:<queryid>``."""
    calls: int = 1
    """How often it ran: ``pg_stat_statements.calls``, or how often the statement occurs in the file."""


# --- reading logs ---------------------------------------------------------------------------------------------


def read_sql_file(path: str | Path, dialect: str) -> list[LogQuery]:
    """The statements of a ``.sql`` file, each once, in first-seen order, with how often it occurs.

    Statements are split at semicolons by the dialect's own tokenizer, so a semicolon in a string, a quoted name
    or a comment does not split; comments before a statement are not part of it, and its line is that of its
    first keyword. Identical statements (same tokens: spacing, comments and keyword case aside) count as one.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as e:
        raise DataError("query log not found", path=str(path)) from e
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read the query log ({e})", path=str(path)) from e
    dialect = resolve_dialect(dialect)
    try:
        tokens = Dialect.get_or_raise(dialect).tokenize(text)
    except TokenError as e:
        raise DataError(f"cannot split into {dialect} statements: {str(e).splitlines()[0]} "
                        "(an unterminated string or comment?)", path=str(path)) from e
    found: dict[tuple[tuple[str, str], ...], LogQuery] = {}
    for statement in _split(tokens):
        first, last = statement[0], statement[-1]
        key = _token_key(statement)
        if key in found:
            found[key].calls += 1
            continue
        line = text.count("\n", 0, first.start) + 1
        found[key] = LogQuery(sql=text[first.start:last.end + 1], where=f"{path.name}:{line}")
    return list(found.values())


def read_pg_stat_statements(db: Database, *, min_calls: int = 1, limit: int = 5000) -> list[LogQuery]:
    """The queries PostgreSQL's ``pg_stat_statements`` recorded for this database, most-run first.

    Read through the introspection connection (``db.engine``, read-only), not the model-SQL path: this is
    tunesql's own query. One row per ``queryid`` (the view has one per user and nesting level; their calls are
    added). Texts that another user's query hides (``<insufficient privilege>``) are left out.
    """
    import sqlalchemy as sa

    if db.backend != "postgresql":
        raise ConfigError(f"pg_stat_statements is a PostgreSQL view; database {db.name!r} is {db.backend}: "
                          "give the query log as a .sql file instead")
    try:
        with db.engine.connect() as conn:
            schema = conn.execute(sa.text(
                "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                "WHERE e.extname = 'pg_stat_statements'")).scalar()
            if schema is None:
                raise ConfigError(_PG_MISSING)
            view = f'"{schema.replace(chr(34), chr(34) * 2)}".pg_stat_statements'
            rows = conn.execute(sa.text(_PG_STAT_SQL.format(view=view)),
                                {"min_calls": int(min_calls), "limit": int(limit)}).all()
    except sa.exc.DBAPIError as e:
        message = str(e.orig or e).strip().splitlines()[0]
        if "shared_preload_libraries" in message:
            raise ConfigError(f"{_PG_MISSING}; the server says: {message}") from e
        raise ConnectError(f"could not read pg_stat_statements in {db.name!r}: {message}") from e
    return [
        LogQuery(sql=query.strip(), where=f"pg_stat_statements:{queryid}", calls=int(calls))
        for queryid, query, calls in rows
        if query and query.strip() and query.strip() != "<insufficient privilege>"
    ]


# --- mining ---------------------------------------------------------------------------------------------------


def find_parameters(sql: str, dialect: str) -> list[str]:
    """The bind placeholders in ``sql`` outside strings, quoted names and comments, each once, in order."""
    try:
        tokens = Dialect.get_or_raise(resolve_dialect(dialect)).tokenize(sql)
    except (TokenError, ValueError):
        masked = _MASK_STRINGS_AND_COMMENTS.sub(lambda m: " " * len(m.group()), sql)
    else:
        chars = [" "] * len(sql)
        for token in tokens:
            if token.token_type not in _STRING_TYPES:
                chars[token.start:token.end + 1] = sql[token.start:token.end + 1]
        masked = "".join(chars)
    return list(dict.fromkeys(m.group() for m in PARAM_PATTERN.finditer(masked)))


def mine_log(queries: Sequence[LogQuery], db: Database, schema: Schema, client: LLMClient | None, *, db_id: str,
             timeout: float = 5.0, schema_format: str = "mschema", question_threshold: float = 0.8,
             progress: Callable[[int], None] | None = None) -> list[Pair]:
    """One Pair per distinct query (identical texts merged, their calls added), accepted or rejected with a reason.

    Ids are ``log-`` and 12 hex of the SQL template's sha256, so a re-run files each query under the same id; a
    query that shares its template with a more-run one gets the hash of its own text appended. ``progress``
    advances once per question requested. The LLM is asked only for pairs that passed every check; ``client``
    is required (ConfigError before anything runs without one).
    """
    if client is None:
        raise ConfigError("mining a query log needs an LLM to write the questions: configure the llm endpoint "
                          "(base_url and model) of tunesql synth")
    dialect = db.dialect
    distinct: dict[str, LogQuery] = {}
    for query in queries:
        key = _normalised(query.sql, dialect)
        if not key:
            continue
        if key in distinct:
            distinct[key].calls += query.calls
        else:
            distinct[key] = LogQuery(query.sql.strip(), query.where, query.calls)
    entries = list(distinct.values())
    # The most-run query of a template gets the template's own id and is the one dedupe keeps.
    ranked = sorted(range(len(entries)), key=lambda i: -entries[i].calls)  # stable: ties keep the log's order
    by_entry: dict[int, Pair] = {}
    used_ids: set[str] = set()
    for i in ranked:
        query = entries[i]
        pair = Pair(id=_pair_id(query.sql, dialect, used_ids), question="", sql=query.sql, db_id=db_id,
                    dialect=dialect, source="log", meta={"where": query.where, "calls": query.calls})
        used_ids.add(pair.id)
        _check(pair, db, schema, timeout)
        by_entry[i] = pair

    accepted = [by_entry[i] for i in ranked if by_entry[i].accepted]
    _dedupe_templates(accepted)
    accepted = [p for p in accepted if p.accepted]
    backtranslate(accepted, client, {db_id: schema}, schema_format=schema_format, progress=progress)
    for pair in accepted:
        if pair.status == REJECTED:
            continue
        problem = check_question(pair.question)
        if problem is not None:
            pair.reject(*problem)
    dedupe(accepted, question_threshold=question_threshold, max_per_template=1)
    return [by_entry[i] for i in range(len(entries))]


def _dedupe_templates(pairs: Sequence[Pair]) -> None:
    """``dedupe``'s template rule alone, before any question exists.

    ``dedupe`` itself runs after the questions are written (it also compares questions, and two empty
    questions are equal to it); this pass keeps the LLM from being paid for queries that differ from a
    more-run one only in their constants.
    """
    first: dict[str, str] = {}
    for pair in pairs:
        template = sql_template(pair.sql, pair.dialect)
        if template in first:
            pair.reject(DUPLICATE_TEMPLATE, first[template])
        else:
            first[template] = pair.id


def _check(pair: Pair, db: Database, schema: Schema, timeout: float) -> None:
    """Accept or reject ``pair`` by its SQL alone (the question comes later)."""
    sql, dialect = pair.sql, pair.dialect
    tree: exp.Expr | None
    try:
        tree = parse_statement(sql, dialect)
    except SQLSyntaxError:
        tree = None  # a query sqlglot cannot read goes on to validate_sql, which says why
        if not _starts_like_query(sql, dialect):
            pair.reject("not a SELECT", _first_words(sql))
            return
    if tree is not None and not isinstance(tree, exp.Query):
        pair.reject("not a SELECT", _first_words(sql))
        return
    params = find_parameters(sql, dialect)
    if params:
        pair.reject("has parameters", "placeholders " + ", ".join(params))
        return
    if tree is not None and not _reads_a_table(sql, dialect):
        pair.reject("reads no table", _first_words(sql))
        return
    verdict = validate_sql(sql, db, schema, timeout=timeout)
    if verdict.sql:
        pair.sql = verdict.sql
    pair.difficulty = verdict.difficulty
    if verdict.ok:
        pair.accept()
    else:
        pair.reject(verdict.reason or "invalid", verdict.detail)


def _reads_a_table(sql: str, dialect: str) -> bool:
    try:
        return bool(referenced_tables(sql, dialect))
    except SQLSyntaxError:
        return True  # cannot tell: validate_sql decides


def _pair_id(sql: str, dialect: str, used: set[str]) -> str:
    template = sql_template(sql, dialect)
    base = "log-" + hashlib.sha256(template.encode()).hexdigest()[:12]
    if base not in used:
        return base
    return f"{base}-{hashlib.sha256(_normalised(sql, dialect).encode()).hexdigest()[:8]}"


# --- tokens ---------------------------------------------------------------------------------------------------


def _split(tokens: list[Token]) -> list[list[Token]]:
    statements: list[list[Token]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            statements.append([])
        else:
            statements[-1].append(token)
    return [s for s in statements if s]


def _token_key(tokens: Sequence[Token]) -> tuple[tuple[str, str], ...]:
    """Tokens as (type, text), keywords and unquoted names lower-cased: what makes two statements the same."""
    return tuple((t.token_type.name, t.text if t.token_type in _STRING_TYPES else t.text.lower()) for t in tokens)


def _normalised(sql: str, dialect: str) -> str:
    try:
        tokens = Dialect.get_or_raise(resolve_dialect(dialect)).tokenize(sql)
    except (TokenError, ValueError):
        return " ".join(sql.split()).rstrip(";").strip()
    return "\x1f".join(f"{kind}\x1e{text}" for statement in _split(tokens) for kind, text in _token_key(statement))


def _starts_like_query(sql: str, dialect: str) -> bool:
    try:
        tokens = Dialect.get_or_raise(resolve_dialect(dialect)).tokenize(sql)
    except (TokenError, ValueError):
        return re.match(r"\s*\(*\s*(?:SELECT|WITH|VALUES|FROM|TABLE)\b", sql, re.IGNORECASE) is not None
    first = next((t for t in tokens if t.token_type != TokenType.L_PAREN), None)
    return first is not None and first.token_type in _QUERY_KEYWORDS


def _first_words(sql: str, n: int = 8) -> str:
    words = sql.split()
    return " ".join(words[:n]) + (" …" if len(words) > n else "")
