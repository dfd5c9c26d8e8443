"""The request and response bodies of the API, as pydantic models.

They are the contract: FastAPI validates every request against them (a bad field is a 422 naming its path) and
builds ``/openapi.json`` from them, so every field carries the description a client author reads there.
Chat completion bodies follow OpenAI's shape closely enough that the official client and its look-alikes work
unchanged; unknown OpenAI parameters are accepted and ignored rather than refused.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ColumnKind = Literal["integer", "number", "text", "date", "boolean", "null"]
SchemaFormat = Literal["ddl", "mschema", "cards", "json"]
QUESTION_MAX = 4000
SQL_MAX = 20000
N_MAX = 64
"""A hard ceiling on samples per request; the server's own ``max_n`` is usually lower."""


# --- errors and service info --------------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    code: str = Field(description="A stable machine-readable code: bad_request, validation_error, unauthorized, "
                                  "not_found, too_large, rate_limited, unsafe_sql, sql_error, timeout, "
                                  "model_error, internal.")
    message: str = Field(description="What is wrong and what to do about it.")


class ErrorResponse(BaseModel):
    error: ErrorBody


class Health(BaseModel):
    status: Literal["ok"] = Field(description="Always ok when the server answers.")
    model: str = Field(description="The model backend this server answers with.")
    databases: list[str] = Field(description="The database names a request may send as `db`.")


class ModelCard(BaseModel):
    id: str = Field(description="The model name to send as `model` (any name is accepted).")
    object: Literal["model"] = "model"
    created: int = Field(description="Unix time the server started.")
    owned_by: str = "tunesql"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# --- OpenAI chat completions --------------------------------------------------------------------------------------


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["text"] = Field(description="Only text parts are understood.")
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"] = Field(
        description="Who speaks; `developer` is treated as `system`.")
    content: str | list[TextPart] | None = Field(default=None, description="The text, or a list of text parts.")

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content)


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str | None = Field(default=None, description="Ignored: the server answers with the model it loaded.")
    messages: list[ChatMessage] = Field(min_length=1, description="The conversation so far.")
    temperature: float | None = Field(default=None, ge=0.0, le=2.0, description="0 = greedy decoding (default).")
    top_p: float | None = Field(default=None, gt=0.0, le=1.0, description="Nucleus sampling mass (default 1).")
    max_tokens: int | None = Field(default=None, ge=1, description="Most tokens to generate (capped by the server).")
    max_completion_tokens: int | None = Field(default=None, ge=1, description="Newer name for `max_tokens`.")
    n: int = Field(default=1, ge=1, le=N_MAX, description="Completions to return (1 when streaming).")
    stop: str | list[str] | None = Field(default=None, description="Strings that end a completion.")
    seed: int | None = Field(default=None, description="Sampling seed, where the backend supports one.")
    stream: bool = Field(default=False, description="Send the answer as server-sent `chat.completion.chunk`s.")


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: Literal["stop", "length"] = "stop"


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(description="Unix time of the answer.")
    model: str
    choices: list[ChatChoice]
    usage: Usage | None = Field(default=None, description=(
        "Tokens the model read and wrote for this answer; null where the backend does not count them. A greedy "
        "answer returned n times was generated once and is counted once."))


# --- databases ----------------------------------------------------------------------------------------------------


class DatabaseInfo(BaseModel):
    name: str = Field(description="The name to send as `db`.")
    dialect: str = Field(description="The SQL dialect: sqlite, duckdb, postgres or mysql.")
    tables: int = Field(description="How many tables and views it has.")


class DatabaseList(BaseModel):
    databases: list[DatabaseInfo]


class ColumnInfo(BaseModel):
    name: str
    type: str = Field(description="The column's declared type (schema) or its kind from the values (results).")


class TableInfo(BaseModel):
    name: str
    columns: list[ColumnInfo]


class SchemaResponse(BaseModel):
    db: str
    dialect: str
    format: SchemaFormat
    text: str = Field(description="The schema rendered as the model reads it (in `format`).")
    tables: list[TableInfo]


# --- text to SQL and back -----------------------------------------------------------------------------------------


class Nl2SqlRequest(BaseModel):
    question: str = Field(min_length=1, max_length=QUESTION_MAX, description="The question, in plain language.")
    db: str = Field(description="A database name from /v1/databases.")
    strategy: Literal["greedy", "vote"] | None = Field(
        default=None, description="greedy: one answer; vote: n answers run read-only, the most common result wins.")
    n: int | None = Field(default=None, ge=1, le=N_MAX, description="Vote samples (capped by the server's max_n).")


class Nl2SqlResponse(BaseModel):
    sql: str = Field(description="The chosen SQL; empty when the model gave none.")
    confidence: float = Field(description="The winning share of the vote (0..1); 1 or 0 for greedy.")
    dialect: str
    error: str | None = Field(description="Why the SQL did not run, or null when it ran.")


class Sql2NlRequest(BaseModel):
    sql: str = Field(min_length=1, max_length=SQL_MAX, description="The SQL to explain (it is not run).")
    db: str = Field(description="The database whose schema gives the SQL its meaning.")


class Sql2NlResponse(BaseModel):
    explanation: str


class Chart(BaseModel):
    type: Literal["bar", "line", "scatter", "none"]
    x: str | None = Field(description="The column on the x axis (categories or time).")
    y: str | None = Field(description="The numeric column on the y axis.")
    reason: str = Field(description="Why this chart (or why none), in a few words.")


class ResultColumn(BaseModel):
    name: str
    type: ColumnKind = Field(description="The kind of the column's values.")


class AskRequest(BaseModel):
    question: str = Field(min_length=1, max_length=QUESTION_MAX, description="The question, in plain language.")
    db: str = Field(description="A database name from /v1/databases.")
    n: int | None = Field(default=None, ge=1, le=N_MAX, description="Vote samples (capped by the server's max_n).")
    explain: bool | None = Field(default=None, description="Also explain the SQL in plain language "
                                                           "(default: the server's setting).")
    max_rows: int | None = Field(default=None, ge=1, description="Rows to return at most (capped by the server).")


class AskResponse(BaseModel):
    question: str
    db: str
    sql: str
    confidence: float
    samples: int = Field(description="Candidates the vote was taken over (1 for greedy); confidence is their share.")
    columns: list[ResultColumn]
    rows: list[list[Any]] = Field(description="JSON-safe values: dates and decimals as text, bytes as hex.")
    row_count: int = Field(description="Rows returned here (see `truncated`).")
    truncated: bool = Field(description="True when the query had more rows than returned.")
    explanation: str | None
    chart: Chart
    error: str | None = Field(description="Why no SQL ran, or null.")
    seconds: float = Field(description="Wall time of the whole answer.")


class SqlRunRequest(BaseModel):
    sql: str = Field(min_length=1, max_length=SQL_MAX, description="One read-only query.")
    db: str = Field(description="A database name from /v1/databases.")
    max_rows: int | None = Field(default=None, ge=1, description="Rows to return at most (capped by the server).")


class SqlRunResponse(BaseModel):
    columns: list[ResultColumn]
    rows: list[list[Any]]
    row_count: int
    truncated: bool
    chart: Chart
