"""Chat messages for one inference request, built with the very function the training exports use.

``build_messages`` wraps ``tunesql.data.prompts.build_prompt`` + ``to_chat_messages``: with no few-shot pairs,
no value hints and no family, the messages are exactly a training record's minus the assistant answer, so a
fine-tuned model reads what it was trained on. Everything else is added around that text, never inside it:

- few-shot pairs become earlier user/assistant turns, each user turn built by ``build_prompt`` for that pair
  (the pair's own schema if it has one, else the request's), so every demonstration looks like a training
  record. The schema is repeated per turn: costly, but the format stays identical; few-shot is off by default.
- value hints (``retrieval.ValueHit``) are appended to the last user turn as one paragraph, ``Values that may
  be relevant: stores.name = 'Beijing Sanlitun'; …``. ``build_prompt`` has no hook for extra hints, so they go
  after the question; training prompts did not have them, so they are opt-in.
- ``family`` picks a small, documented deviation for a model family that needs one (``FAMILIES``). Use it for
  off-the-shelf models; a checkpoint fine-tuned with tunesql should get ``family=None``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tunesql.data.example import Example
from tunesql.data.prompts import build_prompt, dialect_name, render_schema_text, to_chat_messages
from tunesql.db.render import quote_identifier, sql_literal
from tunesql.errors import ConfigError

if TYPE_CHECKING:
    from tunesql.db.schema import Schema
    from tunesql.infer.backend import Message
    from tunesql.infer.retrieval import ValueHit

HINT_HEADER = "Values that may be relevant:"


@dataclass(frozen=True)
class FamilyTemplate:
    """Per-family deviations from the training prompt, each with the reason it exists."""

    name: str
    answer_suffix: str = ""
    """Appended to the last user turn (after any hints)."""
    system_in_user: bool = False
    """Fold the system text into the first user turn, for chat templates without a system role."""
    why: str = ""


REASONING_INSTRUCTION = (
    "This time, before the SQL, think the problem through inside <think>...</think>; then reply with the SQL "
    "alone inside <answer>...</answer>."
)
"""Appended after the training prompt's "Reply with the SQL alone" line, which it amends (the reasoning goes in
its own block, the answer stays bare SQL) rather than contradicts."""

FAMILIES: dict[str, FamilyTemplate] = {
    "default": FamilyTemplate(
        "default", why="The training prompt, unchanged: what a tunesql fine-tuned checkpoint expects."),
    "qwen-coder": FamilyTemplate(
        "qwen-coder", answer_suffix="Write the query in a ```sql code block.",
        why="Off-the-shelf Qwen2.5-Coder-Instruct models answer with prose around a fence whatever they are "
            "told; asking for the fence makes the answer's boundary explicit for extract_sql."),
    "gemma": FamilyTemplate(
        "gemma", system_in_user=True,
        why="Gemma's chat template has no system role (it raises on one); the system text goes first in the "
            "user turn, which is what the template itself does for Gemma 3."),
    "mistral": FamilyTemplate(
        "mistral", system_in_user=True,
        why="Older Mistral-Instruct templates accept only alternating user/assistant turns, no system turn."),
    "reasoning": FamilyTemplate(
        "reasoning", answer_suffix=REASONING_INSTRUCTION,
        why="The SQL-R1 output format, <think>reasoning</think><answer>SQL</answer>: what `tunesql train` teaches "
            "with data.task=reasoning and what GRPO's format reward checks; a model trained so is asked so."),
    "deepseek-r1": FamilyTemplate(
        "deepseek-r1", system_in_user=True,
        why="DeepSeek-R1 (and its distills) are documented to work best with every instruction in the user turn "
            "and no system prompt; their <think> block is skipped by extract_sql."),
}

_MODEL_HINTS = (("qwen2.5-coder", "qwen-coder"), ("qwen-coder", "qwen-coder"), ("gemma", "gemma"),
                ("mistral", "mistral"), ("deepseek-r1", "deepseek-r1"))


def family_for_model(model_id: str | None) -> str | None:
    """The family registry key a model id suggests (``Qwen/Qwen2.5-Coder-1.5B-Instruct`` → ``qwen-coder``)."""
    low = (model_id or "").lower()
    return next((fam for hint, fam in _MODEL_HINTS if hint in low), None)


def get_family(family: str | None) -> FamilyTemplate:
    if family is None:
        return FAMILIES["default"]
    if family not in FAMILIES:
        raise ConfigError(f"unknown model family {family!r}; known: {', '.join(sorted(FAMILIES))}")
    return FAMILIES[family]


@dataclass(frozen=True)
class FewShot:
    """One demonstration: a question and its SQL, optionally with its own schema and evidence."""

    question: str
    sql: str
    schema: Schema | None = None
    evidence: str = ""


def format_value_hints(hits: Iterable[ValueHit], dialect: str = "sqlite") -> str:
    """``Values that may be relevant: stores.name = 'Beijing Sanlitun'; …`` (one entry per distinct value)."""
    seen: set[tuple[str, str, str]] = set()
    parts = []
    for h in hits:
        key = (h.table, h.column, h.value)
        if key in seen:
            continue
        seen.add(key)
        parts.append(f"{quote_identifier(h.table, dialect)}.{quote_identifier(h.column, dialect)} = "
                     f"{sql_literal(h.value)}")
    return f"{HINT_HEADER} {'; '.join(parts)}" if parts else ""


def build_messages(
    question: str,
    schema: Schema,
    *,
    evidence: str = "",
    schema_format: str = "ddl",
    fewshot: Sequence[FewShot | Example | tuple[str, str]] = (),
    value_hits: Sequence[ValueHit] = (),
    family: str | None = None,
    dialect: str | None = None,
    system: str | None = None,
    samples: bool = True,
    comments: bool = True,
) -> list[Message]:
    """The conversation to send for ``question`` (see the module docstring)."""
    fam = get_family(family)
    dialect = dialect or schema.dialect
    rendered = render_schema_text(schema, schema_format, samples=samples, comments=comments)
    target = Example(id="request", question=question, sql="", db_id=schema.name, evidence=evidence or "",
                     dialect=dialect)
    prompt = build_prompt(target, schema, "schema", "nl2sql", schema_format, rendered_schema=rendered,
                          samples=samples, comments=comments, system=system)
    messages = to_chat_messages(prompt, include_answer=False)
    system_turn = messages[0] if messages and messages[0]["role"] == "system" else None
    turns: list[dict[str, Any]] = []
    for shot in fewshot:
        ex, shot_schema = _as_example(shot, schema, dialect)
        shot_rendered = rendered if shot_schema is schema else None
        p = build_prompt(ex, shot_schema, "schema", "nl2sql", schema_format, rendered_schema=shot_rendered,
                         samples=samples, comments=comments, system=system)
        turns.extend(m for m in to_chat_messages(p, include_answer=True) if m["role"] != "system")
    last = messages[-1]["content"]
    extras = [format_value_hints(value_hits, dialect), fam.answer_suffix]
    last = "\n\n".join([last, *[e for e in extras if e]])
    turns.append({"role": "user", "content": last})
    if system_turn is not None:
        if fam.system_in_user:
            turns[0] = {"role": "user", "content": f"{system_turn['content']}\n\n{turns[0]['content']}"}
        else:
            turns.insert(0, system_turn)
    return turns


def build_explain_messages(sql: str, schema: Schema, *, schema_format: str = "ddl", dialect: str | None = None,
                           system: str | None = None, samples: bool = True, comments: bool = True,
                           family: str | None = None) -> list[Message]:
    """The SQL→NL request (``build_prompt``'s ``sql2nl`` direction): "say what this query asks"."""
    fam = get_family(family)
    ex = Example(id="explain", question="", sql=sql, db_id=schema.name, dialect=dialect or schema.dialect)
    prompt = build_prompt(ex, schema, "schema", "sql2nl", schema_format, samples=samples, comments=comments,
                          system=system)
    messages = to_chat_messages(prompt, include_answer=False)
    if fam.system_in_user and messages[0]["role"] == "system":
        return [{"role": "user", "content": f"{messages[0]['content']}\n\n{messages[1]['content']}"}]
    return messages


def repair_message(error: str, dialect: str) -> str:
    """The user turn of an execution-guided repair: the database's error, and a request for a corrected query."""
    return (f"The query failed on the {dialect_name(dialect)} database with this error:\n{error.strip()}\n\n"
            "Write a corrected query that answers the same question. Reply with the SQL alone, without "
            "explanation.")


def _as_example(shot: FewShot | Example | tuple[str, str], schema: Schema, dialect: str) -> tuple[Example, Schema]:
    if isinstance(shot, Example):
        return shot, schema
    if isinstance(shot, FewShot):
        ex = Example(id="shot", question=shot.question, sql=shot.sql,
                     db_id=(shot.schema or schema).name, evidence=shot.evidence, dialect=dialect)
        return ex, shot.schema or schema
    question, sql = shot
    return Example(id="shot", question=question, sql=sql, db_id=schema.name, dialect=dialect), schema
