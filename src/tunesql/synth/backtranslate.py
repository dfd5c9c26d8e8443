"""Back-translation: given SQL that is known to run, have the LLM write the question a user would ask for it.

Going from SQL to question is the easy direction for a model (the query states exactly what is asked), so even
a small local model (Qwen2.5-Coder-0.5B) writes usable questions, and the SQL side of the pair is already
correct by construction. Two choices follow from writing for small models:

- **The prompt is short.** Only the tables the query reads are shown (``referenced_tables``), and the values the
  query filters on are listed for it, because a small model drops literals it has to find in the SQL itself,
  and a question without them asks something else.
- **The answer is one plain line**, not JSON: small models break JSON more often than they break a sentence.
  ``parse_question`` still takes ``{"question": ...}``, quotes, fences and ``Question:`` prefixes, since
  larger models add them however they are asked.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence

from sqlglot import exp

from tunesql.data.prompts import dialect_name, render_schema_text
from tunesql.db.schema import Schema
from tunesql.errors import ConfigError, EndpointError, SQLSyntaxError
from tunesql.sql.schema_check import referenced_tables
from tunesql.sql.transpile import parse_statement
from tunesql.synth.llm import ChatRequest, LLMClient, parse_json_answer
from tunesql.synth.record import REJECTED, Pair

SYSTEM = (
    "You write the questions that business users ask about their company's data. "
    "You read a SQL query and say, as one plain question, what it asks. You never write SQL."
)
MAX_VALUES = 12
"""Filter values listed in the prompt; more than this and the list stops helping a small model."""
MAX_QUESTION_TOKENS = 200

_FENCE = re.compile(r"^\s*```[\w-]*\s*$")
_BULLET = re.compile(r"^(?:[-*>•]|\d+[.)])\s+")
_PREFIX = re.compile(r"^(?:(?:the\s+)?(?:natural\s+|user\s+|business\s+)?question|q)\s*[:：]\s*", re.IGNORECASE)
_QUOTES = "\"'`“”‘’「」『』"
_SQL_START = re.compile(r"^\(?\s*(?:SELECT|WITH)\b", re.IGNORECASE)


def question_request(sql: str, schema: Schema, *, dialect: str, schema_format: str = "mschema",
                     temperature: float = 0.0, seed: int | None = None) -> ChatRequest:
    """The chat request that asks for the question ``sql`` answers (schema pruned to the tables it reads)."""
    name = dialect_name(dialect)
    parts: list[str] = []
    subschema = schema_for_sql(sql, schema, dialect)
    if subschema.tables:
        schema_text = render_schema_text(subschema, schema_format).strip()
        parts.append(f"The tables of the {name} database it reads:\n{schema_text}")
    parts.append(f"The {name} query:\n{sql.strip()}")
    rules = [
        "Write ONE natural question a business user would ask whose answer is exactly this query's result.",
    ]
    values = filter_values(sql, dialect)
    if values:
        rules.append(f"- Mention the values the query filters on: {', '.join(values)}.")
    rules += [
        "- Ask for what the query returns: the same things, grouped, sorted and limited the same way.",
        "- Use everyday words: no SQL words, no table or column names with underscores "
        "(say \"order date\", not order_date).",
        "Answer with the question only, on one line.",
    ]
    parts.append("\n".join(rules))
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]
    return ChatRequest(messages=messages, temperature=temperature, seed=seed, max_tokens=MAX_QUESTION_TOKENS)


def parse_question(answer: str) -> str | None:
    """The question in a model's answer; None when there is none or the model answered with SQL instead.

    Takes plain text, ``{"question": ...}`` JSON, code fences, quotes, ``Question:`` prefixes and a lead-in
    line ending in a colon ("Here is the question:").
    """
    text = (answer or "").strip()
    if not text:
        return None
    if "{" in text and "question" in text.lower():
        try:
            data = parse_json_answer(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            value = next((v for k, v in data.items() if str(k).lower() == "question"), None)
            if isinstance(value, str):
                text = value.strip()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not _FENCE.match(line)]
    while len(lines) > 1 and lines[0].strip("*_ ").endswith((":", "：")):
        lines.pop(0)  # a lead-in on a line of its own: "Sure, here is the question:", "**Question:**"
    if not lines:
        return None
    line = lines[0]
    while True:  # bullets, bold, prefixes and quotes nest in any order: - **Question:** "…"
        before = line
        line = _BULLET.sub("", line).strip().strip("*_").strip()
        line = _PREFIX.sub("", line).strip().strip("*_").strip()
        if len(line) >= 2 and line[0] in _QUOTES and line[-1] in _QUOTES:
            line = line[1:-1].strip()
        if line == before:
            break
    if not line or _SQL_START.match(line):
        return None
    return line


def backtranslate(pairs: Sequence[Pair], client: LLMClient, schemas: Mapping[str, Schema], *,
                  schema_format: str = "mschema", progress: Callable[[int], None] | None = None) -> list[Pair]:
    """Write the question of every pair that is not rejected and has none; returns ``pairs``.

    All requests go through ``client.complete_many`` (concurrent, cached: a re-run asks nothing twice). A pair
    keeps its status when its question is written; it is rejected "LLM request failed" when the endpoint
    failed after its retries, "no question written" when the answer holds no question. A pair whose database
    is missing from ``schemas`` is a caller's error: ConfigError before any request is sent.
    """
    todo = [p for p in pairs if p.status != REJECTED and not p.question.strip()]
    missing = sorted({p.db_id for p in todo if p.db_id not in schemas})
    if missing:
        raise ConfigError(f"no schema for database(s) {', '.join(map(repr, missing))}; "
                          f"schemas were given for {', '.join(map(repr, sorted(schemas))) or 'none'}")
    requests = [question_request(p.sql, schemas[p.db_id], dialect=p.dialect, schema_format=schema_format)
                for p in todo]
    answers = client.complete_many(requests, progress=progress)
    for pair, answer in zip(todo, answers, strict=True):
        pair.meta["question_by"] = client.model
        if isinstance(answer, EndpointError):
            pair.reject("LLM request failed", str(answer))
            continue
        question = next((q for q in map(parse_question, answer) if q), None)
        if question is None:
            pair.reject("no question written", (answer[0] if answer else "")[:300])
            continue
        pair.question = question
    return list(pairs)


# --- prompt parts ---------------------------------------------------------------------------------------------


def schema_for_sql(sql: str, schema: Schema, dialect: str) -> Schema:
    """``schema`` cut down to the tables ``sql`` reads, with foreign keys among them only.

    SQL that does not parse gets the whole schema: the question writer then at least sees every name.
    """
    try:
        wanted = referenced_tables(sql, dialect)
    except (SQLSyntaxError, ValueError):
        return schema
    tables = [t for t in schema.tables if t.name.lower() in wanted]
    kept = {t.name.lower() for t in tables}
    tables = [dataclasses.replace(t, foreign_keys=[fk for fk in t.foreign_keys if fk.ref_table.lower() in kept])
              for t in tables]
    return Schema(schema.name, schema.dialect, tables)


def filter_values(sql: str, dialect: str) -> list[str]:
    """The literal values in ``sql``'s WHERE, HAVING and JOIN conditions, as SQL literals, first seen first."""
    try:
        tree = parse_statement(sql, dialect)
    except (SQLSyntaxError, ValueError):
        return []
    conditions = {id(node) for node in (*tree.find_all(exp.Where), *tree.find_all(exp.Having))}
    conditions |= {id(j.args["on"]) for j in tree.find_all(exp.Join) if j.args.get("on") is not None}
    values: list[str] = []
    for literal in tree.find_all(exp.Literal, bfs=False):  # depth first: the order they are written in
        node: exp.Expr | None = literal
        while node is not None and id(node) not in conditions:
            node = node.parent
        text = literal.sql(dialect=dialect)
        if node is not None and text not in values:
            values.append(text)
    return values[:MAX_VALUES]
