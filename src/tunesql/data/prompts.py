"""One place that turns an Example into the text a model sees, for training and for inference alike.

Two prompt styles:

- ``schema`` (the default): the instruction, then the rendered schema (``tunesql.db.render.render_schema``),
  the evidence when the record has any, then the question. The model is shown what it may use.
- ``dbid``: an instruction that names only the database id, and the question — the way the LLaMA-Factory
  Spider recipe frames it. The model must have memorised the schema; kept so the gain from showing the schema
  can be measured rather than assumed.

Two directions: ``nl2sql`` (question → SQL) and ``sql2nl`` (SQL → the question, or the record's explanation
when it has one).

Training and inference must build prompts with the same function and the same arguments; the returned
``Prompt`` carries everything (system, instruction, input, output), and ``to_chat_messages`` turns it into a
chat in the OpenAI/TRL shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from tunesql.db.render import RENDER_FORMATS, render_schema
from tunesql.errors import DataError

if TYPE_CHECKING:
    from tunesql.data.example import Example
    from tunesql.db.schema import Schema

Style = Literal["schema", "dbid"]
Direction = Literal["nl2sql", "sql2nl"]
STYLES = ("schema", "dbid")
DIRECTIONS = ("nl2sql", "sql2nl")
SCHEMA_FORMATS = RENDER_FORMATS

DIALECT_NAMES = {"sqlite": "SQLite", "duckdb": "DuckDB", "postgres": "PostgreSQL", "mysql": "MySQL"}

DEFAULT_SYSTEM = (
    "You are a careful data analyst who writes correct, read-only SQL for the database you are given."
)


@dataclass
class Prompt:
    """What one training record / one inference request holds. ``user_text`` is what the user turn says."""

    instruction: str
    input: str
    output: str
    system: str = DEFAULT_SYSTEM

    @property
    def user_text(self) -> str:
        """Instruction and input as one user message (LLaMA-Factory joins them with a newline; so do we)."""
        return f"{self.instruction}\n{self.input}" if self.input else self.instruction


def dialect_name(dialect: str) -> str:
    return DIALECT_NAMES.get(dialect, dialect)


def render_schema_text(schema: Schema, schema_format: str = "ddl", *, samples: bool = True,
                       comments: bool = True) -> str:
    """The schema as prompt text, through ``tunesql.db.render.render_schema``."""
    if schema_format not in SCHEMA_FORMATS:
        raise DataError(f"unknown schema format {schema_format!r}; use one of {', '.join(SCHEMA_FORMATS)}")
    return render_schema(schema, schema_format, samples=samples, comments=comments)


def build_prompt(
    example: Example,
    schema: Schema | None = None,
    style: Style | str = "schema",
    direction: Direction | str = "nl2sql",
    schema_format: str = "ddl",
    *,
    rendered_schema: str | None = None,
    samples: bool = True,
    comments: bool = True,
    system: str | None = None,
) -> Prompt:
    """The prompt for one example.

    ``schema`` is needed for the ``schema`` style (or pass ``rendered_schema``, already rendered, to render
    each database once for a whole corpus). ``output`` is the SQL for nl2sql; for sql2nl it is the record's
    explanation when it has one, else its question.
    """
    if style not in STYLES:
        raise DataError(f"unknown prompt style {style!r}; use one of {', '.join(STYLES)}")
    if direction not in DIRECTIONS:
        raise DataError(f"unknown direction {direction!r}; use one of {', '.join(DIRECTIONS)}")
    dialect = dialect_name(example.dialect)
    schema_text = ""
    if style == "schema":
        if rendered_schema is None:
            if schema is None:
                raise DataError(f"the schema prompt style needs the schema of database {example.db_id!r}",
                                field="db_id")
            rendered_schema = render_schema_text(schema, schema_format, samples=samples, comments=comments)
        schema_text = rendered_schema.strip()
    evidence = example.evidence.strip()

    if direction == "nl2sql":
        if style == "schema":
            instruction = (
                f"Write one {dialect} query that answers the question, using only the tables and columns "
                "of the schema below. Reply with the SQL alone, without explanation."
            )
            parts = [f"Schema:\n{schema_text}"]
        else:
            instruction = (
                f"Write one {dialect} query against the database {example.db_id!r} that answers the "
                "question. Reply with the SQL alone, without explanation."
            )
            parts = []
        if evidence:
            parts.append(f"Evidence: {evidence}")
        parts.append(f"Question: {example.question.strip()}")
        output = example.sql.strip()
    else:
        if style == "schema":
            instruction = (
                f"Say in one plain-English question what the {dialect} query below asks of the database "
                "whose schema is given. Reply with the question alone."
            )
            parts = [f"Schema:\n{schema_text}"]
        else:
            instruction = (
                f"Say in one plain-English question what the {dialect} query below asks of the database "
                f"{example.db_id!r}. Reply with the question alone."
            )
            parts = []
        if evidence:
            parts.append(f"Evidence: {evidence}")
        parts.append(f"SQL: {example.sql.strip()}")
        output = (example.explanation or example.question).strip()
    return Prompt(instruction=instruction, input="\n\n".join(parts), output=output,
                  system=DEFAULT_SYSTEM if system is None else system)


def to_chat_messages(prompt: Prompt, system: str | None = None, *,
                     include_answer: bool = True) -> list[dict[str, str]]:
    """``[{role: system}, {role: user}, {role: assistant}]`` (TRL / OpenAI shape).

    ``system`` overrides the prompt's own; an empty system string leaves the system turn out.
    ``include_answer=False`` gives the messages to send for inference.
    """
    system_text = prompt.system if system is None else system
    messages: list[dict[str, str]] = []
    if system_text:
        messages.append({"role": "system", "content": system_text})
    messages.append({"role": "user", "content": prompt.user_text})
    if include_answer:
        messages.append({"role": "assistant", "content": prompt.output})
    return messages

