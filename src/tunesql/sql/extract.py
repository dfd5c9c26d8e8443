"""Find the final SQL query in a model's raw output.

Order of preference, all looked for after the last ``</think>`` (reasoning is never mined for SQL: a model
that did not finish thinking gave no answer):

1. the last ``<answer>…</answer>`` (an unclosed last ``<answer>`` runs to the end); inside it, the same search
   again (a fence, or SQL in prose), else its whole text, since the model marked it as its answer;
2. the last fenced block labelled ``sql`` (or a dialect name: sqlite, postgresql, mysql, duckdb, …), else the
   last unlabelled fence whose content parses as a query; an unclosed last fence runs to the end;
3. a query in prose, starting at a ``SELECT`` / ``WITH`` / ``(`` keyword, and cut where the SQL ends: at the
   first ``;`` where the text before it parses, else at the longest line-, backtick- or sentence-end that
   parses, else at the longest word end that parses. When prose holds several queries, the last one wins.

Regular expressions only find tags, fences and candidate start/end positions; whether a piece of text is SQL is
always decided by sqlglot parsing it. Chat-template leftovers (``<|im_end|>``, ``<｜end▁of▁sentence｜>``,
``</s>``) are removed first. The result has no trailing semicolons or whitespace; "" when nothing is found.
"""

from __future__ import annotations

import re

from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import TokenError
from sqlglot.tokens import TokenType

from tunesql.errors import SQLSyntaxError
from tunesql.sql.transpile import TUNESQL_DIALECTS, parse_statement, resolve_dialect

SPECIAL_TOKENS = re.compile(r"<\|[^|<>\s]{1,40}\|>|<｜[^｜<>]{1,40}｜>|</s>|<s>|<eos>|<end_of_turn>")
_THINK_OPEN = re.compile(r"<think(?:ing)?>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think(?:ing)?>", re.IGNORECASE)
_ANSWER = re.compile(r"<answer>(.*?)(?:</answer>|\Z)", re.IGNORECASE | re.DOTALL)
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+-]*)[^\n]*\n?", re.MULTILINE)
SQL_FENCE_LABELS = {"sql", "sqlite", "sqlite3", "postgres", "postgresql", "psql", "pgsql", "mysql", "mariadb",
               "duckdb", "tsql", "plsql", "plpgsql"}
_START = re.compile(r"\b(?:SELECT|WITH)\b|\(\s*SELECT\b", re.IGNORECASE)
_MAX_SCAN = 6000  # characters of prose tried per candidate start
_PARAGRAPH = re.compile(r"\n[ \t]*\n")


def extract_reasoning(text: str) -> str:
    """The content of the ``<think>`` block(s), joined by blank lines; "" when there is none.

    An output that has ``</think>`` but no opening tag (templates that put ``<think>`` in the prompt) gives
    the text before it; an unclosed ``<think>`` gives everything after it.
    """
    text = SPECIAL_TOKENS.sub("", text or "")
    parts: list[str] = []
    pos = 0
    first_close = _THINK_CLOSE.search(text)
    first_open = _THINK_OPEN.search(text)
    if first_close and (not first_open or first_close.start() < first_open.start()):
        parts.append(text[: first_close.start()])
        pos = first_close.end()
    while True:
        opened = _THINK_OPEN.search(text, pos)
        if not opened:
            break
        closed = _THINK_CLOSE.search(text, opened.end())
        parts.append(text[opened.end(): closed.start() if closed else len(text)])
        if not closed:
            break
        pos = closed.end()
    return "\n\n".join(p.strip() for p in parts if p.strip())


def extract_sql(text: str, dialect: str | None = None) -> str:
    """The final SQL query in ``text`` (see the module docstring for the order); "" when none is found."""
    dialects = (resolve_dialect(dialect),) if dialect else TUNESQL_DIALECTS
    text = SPECIAL_TOKENS.sub("", text or "")
    text = _after_reasoning(text)
    answers = list(_ANSWER.finditer(text))
    if answers:
        inner = answers[-1].group(1)
        found = _from_fences(inner, dialects) or _from_prose(inner, dialects)
        return _clean(found if found else inner)
    return _clean(_from_fences(text, dialects) or _from_prose(text, dialects))


def _clean(sql: str) -> str:
    sql = sql.strip()
    while sql.endswith(";"):
        sql = sql[:-1].rstrip()
    return sql


def _after_reasoning(text: str) -> str:
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:
        return text[closes[-1].end():]
    opened = _THINK_OPEN.search(text)
    if opened:  # thinking never finished: no answer was given
        return text[: opened.start()]
    return text


def parses_as_query(sql: str, dialects: tuple[str, ...]) -> bool:
    """Whether ``sql`` (trailing semicolons and fences trimmed) parses as one query in any of ``dialects``."""
    sql = _clean(sql)
    if not sql:
        return False
    for d in dialects:
        try:
            parse_statement(sql, d, queries_only=True)
            return True
        except SQLSyntaxError:
            continue
    return False


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(label, content) of each fenced block, in order; an unclosed last fence runs to the end."""
    blocks: list[tuple[str, str]] = []
    pos = 0
    while True:
        opened = _FENCE.search(text, pos)
        if not opened:
            return blocks
        marker = opened.group(1)
        close = re.compile(rf"^[ \t]*{re.escape(marker[0])}{{{len(marker)},}}[ \t]*$", re.MULTILINE)
        closed = close.search(text, opened.end())
        if closed is None:
            # A closing fence written inline at the end of the SQL line (``...;```) also counts.
            inline = text.find(marker, opened.end())
            end, nxt = (inline, inline + len(marker)) if inline >= 0 else (len(text), len(text))
        else:
            end, nxt = closed.start(), closed.end()
        blocks.append((opened.group(2).lower(), text[opened.end(): end]))
        pos = nxt


def _from_fences(text: str, dialects: tuple[str, ...]) -> str:
    blocks = fenced_blocks(text)
    for label, content in reversed(blocks):
        if label in SQL_FENCE_LABELS and content.strip():
            return content if parses_as_query(content, dialects) else (_from_prose(content, dialects) or content)
    for label, content in reversed(blocks):
        if not label:
            if parses_as_query(content, dialects):
                return content
            found = _from_prose(content, dialects)
            if found:
                return found
    return ""


def _from_prose(text: str, dialects: tuple[str, ...]) -> str:
    """The last query found by scanning ``text`` from each SELECT/WITH start for the SQL's end."""
    found: list[str] = []
    pos = 0
    while True:
        start = _START.search(text, pos)
        if not start:
            break
        span = _longest_query(text, start.start(), dialects)
        if span is None:
            pos = start.end()
            continue
        found.append(text[start.start(): span])
        pos = span
    return found[-1] if found else ""


def _longest_query(text: str, start: int, dialects: tuple[str, ...]) -> int | None:
    """End offset of the SQL that starts at ``start``, or None when no prefix parses as a query."""
    para = _PARAGRAPH.search(text, start)
    limit = min(len(text), start + _MAX_SCAN, para.start() if para else len(text))
    region = text[start:limit]
    semis: list[int] = []
    strong: list[int] = [len(region)]
    weak: list[int] = []
    for i, ch in enumerate(region):
        if ch == ";":
            semis.append(i)
        elif ch in "\n`" or (ch == "." and (i + 1 == len(region) or region[i + 1].isspace())):
            strong.append(i)
        elif ch in " \t":
            weak.append(i)
    for end in semis:
        if parses_as_query(region[:end], dialects):
            return start + end
    for end in sorted(set(strong), reverse=True):
        if parses_as_query(region[:end], dialects):
            return start + end
    for end in sorted(set(weak), reverse=True):
        # Prose on the same line as the SQL: "SELECT a FROM t This returns…" parses with "This" as an alias.
        if not _ends_in_bare_alias(region[:end], dialects[0]) and parses_as_query(region[:end], dialects):
            return start + end
    return None


def _ends_in_bare_alias(sql: str, dialect: str) -> bool:
    """Whether the last token is a word that would be read as an alias written without AS."""
    try:
        tokens = Dialect.get_or_raise(dialect).tokenize(sql)
    except (TokenError, ValueError):
        return False
    if len(tokens) < 2 or tokens[-1].token_type != TokenType.VAR:
        return False
    return tokens[-2].token_type in (TokenType.VAR, TokenType.R_PAREN, TokenType.NUMBER, TokenType.STRING,
                                     TokenType.STAR)
