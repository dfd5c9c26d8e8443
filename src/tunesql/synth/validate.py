"""Decide whether an LLM-written (question, SQL) pair is usable as training data, and say why when it is not.

An LLM asked for text-to-SQL pairs writes plausible text, not checked SQL: queries that do not parse in the
target dialect, name columns that do not exist, write instead of read, run forever, or return nothing. A pair
like that teaches the model the mistake, so each one is checked against the real database before it is kept:
the question first (is there a question at all), then the SQL by parsing it in the database's dialect, the
read-only guard, the schema check, and finally running it read-only with a time and row limit. The first
failing check decides, and its reason is one phrase of a fixed set (``REASONS``) so a run's summary can count
rejections by cause; the specific message goes in ``detail`` for a person reading ``candidates.jsonl``.

Nothing here opens a connection of its own: execution goes through ``tunesql.db.execute.run_query`` (read-only
connection, statement guard, engine-side timeout, row limit), the same path evaluation uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import TokenError
from sqlglot.tokens import TokenType

from tunesql.db.connect import Database
from tunesql.db.execute import run_query
from tunesql.db.guard import QUERY_ROOTS, check_sql, parse_one_statement
from tunesql.db.schema import Schema
from tunesql.errors import ExecutionError, QueryTimeout, SQLSyntaxError, UnsafeSQLError
from tunesql.eval.difficulty import spider_hardness
from tunesql.sql.extract import SQL_FENCE_LABELS, extract_sql, fenced_blocks, parses_as_query
from tunesql.sql.schema_check import check_references
from tunesql.sql.transpile import TUNESQL_DIALECTS, parse_statement
from tunesql.synth.record import Pair

REASONS: dict[str, str] = {
    "empty question": "the question is blank",
    "question is SQL": "the question field holds a SQL query instead of a natural-language question",
    "question too short": "the question has fewer than 3 words, too little to say what is asked",
    "no SQL": "no SQL query could be found in the answer",
    "does not parse": "the SQL does not parse as one query in the database's dialect",
    "not read-only": "the SQL would write, reach outside the database, or run several statements",
    "unknown table or column": "the SQL names a table or column the schema does not have",
    "execution error": "the database refused or failed the query",
    "timeout": "the query ran past the time limit",
    "no rows": "the query returned no rows, so the pair teaches nothing checkable",
    "only NULLs": "every returned value is NULL (e.g. MAX() over an empty filter): no training signal",
}
"""Reason phrase -> one-line explanation. Rejections are counted by these keys, so the set stays fixed."""

MIN_QUESTION_WORDS = 3

# Text that starts like a SQL statement; a block starting so is taken whole (see ``_kept_sql``).
_STATEMENT_START = re.compile(
    r"^\s*(?:\(|--|/\*|(?:SELECT|WITH|VALUES|INSERT|UPDATE|DELETE|REPLACE|MERGE|UPSERT|CREATE|DROP|ALTER|"
    r"TRUNCATE|ATTACH|DETACH|PRAGMA|VACUUM|GRANT|REVOKE|COPY)\b)",
    re.IGNORECASE,
)
# A query can only start with one of these (DuckDB allows FROM-first); anything else is not worth parsing.
_QUERY_START = re.compile(r"^\s*(?:\(|(?:SELECT|WITH|VALUES|FROM|TABLE)\b)", re.IGNORECASE)
# Tokens that continue a query: text after a cut that starts with one of these means the SQL was cut short.
_CLAUSE_TOKENS = frozenset(
    getattr(TokenType, name) for name in (
        "WHERE", "GROUP_BY", "ORDER_BY", "HAVING", "LIMIT", "OFFSET", "FETCH", "JOIN", "INNER", "LEFT", "RIGHT",
        "FULL", "CROSS", "NATURAL", "OUTER", "ON", "USING", "AND", "OR", "NOT", "UNION", "INTERSECT", "EXCEPT",
        "FROM", "ALIAS", "IN", "IS", "LIKE", "ILIKE", "BETWEEN", "CASE", "WHEN", "THEN", "ELSE", "END", "DESC",
        "ASC", "WINDOW", "QUALIFY", "SELECT", "DISTINCT", "NULL", "COLLATE", "ESCAPE", "OVER", "FILTER",
    ) if hasattr(TokenType, name)
)
_TAGS = re.compile(r"</?(?:think|thinking|answer)>", re.IGNORECASE)
_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_WORD = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")
_TRAILING_PUNCT = " \t\r\n?？.。!！;；"


@dataclass
class Verdict:
    ok: bool
    reason: str | None
    """One of ``REASONS``' keys; None when ok."""
    detail: str
    """The specific message (the database's error, the unknown columns…); '' when ok."""
    sql: str
    """The SQL as it will be kept: stripped, no trailing semicolon, taken out of a fence or prose if need be."""
    columns: list[str] = field(default_factory=list)
    rows: int = 0
    """Rows returned, capped at ``max_rows``."""
    difficulty: str | None = None
    """Spider hardness of ``sql`` when it parses, else None (set for rejected SQL too, for the summary)."""


def check_question(question: str) -> tuple[str, str] | None:
    """(reason, detail) when the question cannot be used, None when it is fine.

    "Question is SQL" catches generators that put the query in both fields: the whole question (trailing
    punctuation aside) parses as a query in one of tunesql's dialects. A natural-language question almost never
    does; one that does ("Select customers from Beijing") reads as SQL to a model too. Words are counted so
    that a Chinese or Japanese question (no spaces) counts each character, since a whitespace split would call
    any such question one word long.
    """
    text = (question or "").strip()
    if not text:
        return "empty question", ""
    if _parses_as_query(text.rstrip(_TRAILING_PUNCT)):
        return "question is SQL", text[:200]
    words = _WORD.findall(text)
    if len(words) < MIN_QUESTION_WORDS:
        return "question too short", f"{len(words)} word(s), at least {MIN_QUESTION_WORDS} needed: {text!r}"
    return None


def validate_sql(sql: str, db: Database, schema: Schema, *, timeout: float = 5.0, max_rows: int = 1000,
                 require_rows: bool = True) -> Verdict:
    """Check one LLM answer against the real database; the first failing check gives the reason.

    ``sql`` may be a bare query or a whole LLM answer (a fenced block, SQL in prose). Parsing, the guard and the
    schema check use ``db.dialect``, because the query will run there whatever dialect the generator thought
    it was writing. ``require_rows`` off accepts empty results (for questions whose honest answer is "none").
    """
    dialect = db.dialect
    kept = _kept_sql(sql or "", dialect)
    if not kept:
        return Verdict(False, "no SQL", _snippet(sql), "")
    difficulty = _difficulty(kept, dialect)

    def fail(reason: str, detail: str, columns: list[str] | None = None, rows: int = 0) -> Verdict:
        return Verdict(False, reason, detail, kept, columns or [], rows, difficulty)

    # The guard parses first, so a syntax error is reported as one even when the text also holds a write.
    try:
        check_sql(kept, dialect)
    except SQLSyntaxError as e:
        return fail("does not parse", str(e))
    except UnsafeSQLError as e:
        return fail("not read-only", str(e))
    try:
        parse_statement(kept, dialect, queries_only=True)
    except SQLSyntaxError as e:
        return fail("does not parse", str(e))
    try:
        problems = check_references(kept, schema, dialect)
    except SQLSyntaxError as e:
        return fail("does not parse", str(e))
    if problems:
        return fail("unknown table or column", "; ".join(problems))
    try:
        result = run_query(db, kept, timeout=timeout, max_rows=max_rows)
    except QueryTimeout as e:
        return fail("timeout", str(e))
    except UnsafeSQLError as e:  # the read-only connection refused what the guard let through
        return fail("not read-only", str(e))
    except SQLSyntaxError as e:
        return fail("does not parse", str(e))
    except ExecutionError as e:
        return fail("execution error", str(e))
    n = len(result.rows)
    if n == 0 and require_rows:
        return fail("no rows", "the query returned 0 rows", result.columns)
    if n and all(value is None for row in result.rows for value in row):
        return fail("only NULLs", f"{n} row(s), every value NULL", result.columns, n)
    return Verdict(True, None, "", kept, result.columns, n, difficulty)


def validate_pair(pair: Pair, db: Database, schema: Schema, **kw: Any) -> Pair:
    """Validate ``pair`` in place: keep the extracted SQL and its difficulty, then accept or reject it.

    The question is checked first because it costs nothing; a pair with no usable question is not run. When no
    SQL could be extracted, ``pair.sql`` keeps the raw answer so a person can see what the generator wrote.
    ``kw`` goes to ``validate_sql`` (timeout, max_rows, require_rows).
    """
    problem = check_question(pair.question)
    if problem is not None:
        return pair.reject(*problem)
    verdict = validate_sql(pair.sql, db, schema, **kw)
    if verdict.sql:
        pair.sql = verdict.sql
    pair.difficulty = verdict.difficulty
    if verdict.ok:
        return pair.accept()
    assert verdict.reason is not None
    return pair.reject(verdict.reason, verdict.detail)


# --- internals ------------------------------------------------------------------------------------------------


def _kept_sql(text: str, dialect: str) -> str:
    """The SQL to validate out of an LLM answer.

    The block (the last SQL fence, else the whole answer when it has no reasoning/answer tags) is kept as
    written when it starts like SQL and parses as statements, so ``SELECT …; DELETE …`` reaches the guard whole
    and is refused, instead of ``extract_sql`` quietly keeping the SELECT. Otherwise ``extract_sql`` looks for
    the query in fences or prose, but a block that starts like SQL is never cut short: a query that stops
    mid-clause (``… WHERE``) would otherwise be kept as its shorter, different prefix.
    """
    block = ""
    if _TAGS.search(text) is None:
        fences = fenced_blocks(text)
        fenced = ([c for label, c in fences if label in SQL_FENCE_LABELS and c.strip()]
                  or [c for label, c in fences if not label and c.strip()])
        block = _clean(fenced[-1] if fenced else "" if fences else text)
    if not block or _STATEMENT_START.match(block) is None:
        return _clean(extract_sql(text, dialect))
    try:
        tree = parse_one_statement(block, dialect)
        parsed = True
    except UnsafeSQLError:  # several statements or an executable comment: it parsed, and the guard will refuse it
        return block
    except SQLSyntaxError:
        parsed = False
    if parsed:
        try:
            parse_statement(block, dialect)
            return block
        except SQLSyntaxError:
            # A query with a trailing "; -- note" (sqlglot counts a second statement) is cut to the query;
            # anything else (an opaque command) goes to the guard as written.
            if not isinstance(tree, QUERY_ROOTS):
                return block
    extracted = _clean(extract_sql(text, dialect))
    if not extracted:
        return block
    if parsed or not block.startswith(extracted) or not _continues_sql(block[len(extracted):], dialect):
        return extracted
    return block


def _continues_sql(rest: str, dialect: str) -> bool:
    """Whether the text after an extracted prefix carries on the query (a clause, an operator, a comma) rather
    than starting prose or a new statement."""
    rest = rest.lstrip()
    if not rest or rest[0] == ";" or re.match(r"\.(?:\s|$)", rest):
        return False
    if not (rest[0].isalnum() or rest[0] == "_"):
        return True
    try:
        tokens = Dialect.get_or_raise(dialect).tokenize(" ".join(rest.split()[:2]))
    except (TokenError, ValueError):
        return False
    return bool(tokens) and tokens[0].token_type in _CLAUSE_TOKENS


def _parses_as_statements(sql: str, dialect: str) -> bool:
    try:
        parse_one_statement(sql, dialect)
    except UnsafeSQLError:  # several statements, or an executable comment: it parsed, the guard will say no
        return True
    except SQLSyntaxError:
        return False
    return True


def _parses_as_query(text: str) -> bool:
    return bool(text) and _QUERY_START.match(text) is not None and parses_as_query(text, TUNESQL_DIALECTS)


def _difficulty(sql: str, dialect: str) -> str | None:
    try:
        return spider_hardness(sql, dialect)
    except Exception:  # no parse, or a sqlglot corner case: no structural level, but the pair is still judged
        return None


def _clean(sql: str) -> str:
    sql = sql.strip()
    while sql.endswith(";"):
        sql = sql[:-1].rstrip()
    return sql


def _snippet(text: str | None, limit: int = 200) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
