"""Ask a database a question: the whole flow on one database handle.

schema (introspected, with sample values) → value retrieval (the stored values the question names) → schema
pruning to the token budget (value hits raise their columns' relevance) → messages (the training prompt, plus
value hints for the columns still shown) → greedy or self-consistency decoding with execution-guided repair →
the rows, the confidence, what was pruned, and optionally a plain-language explanation of the SQL.

The prune summary is reported to the caller (``Answer.pruned.summary()``), not written into the prompt:
training prompts never carried such a note, and the model has no use for a list of things it cannot see.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesql.infer.backend import Backend, GenerationConfig
from tunesql.infer.prompting import FewShot, build_explain_messages, build_messages
from tunesql.infer.prune import PruneResult, len_approx, prune_schema
from tunesql.infer.retrieval import ValueHit, filter_hits, get_value_index, retrieve_values
from tunesql.infer.strategies import Prediction, predict_sql

if TYPE_CHECKING:
    from tunesql.data.example import Example
    from tunesql.db.connect import Database
    from tunesql.db.schema import Schema

DEFAULT_BUDGET_TOKENS = 6000
"""Schema tokens (by ``len_approx``) before pruning starts: the bundled shop database (about 2,400 in M-Schema)
and typical Spider schemas fit whole, so pruning changes prompts only for large schemas."""

_THINK_END = re.compile(r"</think(?:ing)?>", re.IGNORECASE)


@dataclass
class Answer:
    question: str
    sql: str
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool
    confidence: float
    prediction: Prediction
    pruned: PruneResult
    value_hits: list[ValueHit] = field(default_factory=list)
    explanation: str | None = None

    @property
    def error(self) -> str | None:
        return self.prediction.error


def answer_question(
    question: str,
    db: Database,
    backend: Backend,
    *,
    strategy: str = "vote",
    n: int = 8,
    temperature: float = 0.7,
    schema_format: str = "mschema",
    budget_tokens: int = DEFAULT_BUDGET_TOKENS,
    count_tokens: Callable[[str], int] = len_approx,
    explain: bool = False,
    fewshot: Sequence[FewShot | Example | tuple[str, str]] = (),
    evidence: str = "",
    family: str | None = None,
    system: str | None = None,
    schema: Schema | None = None,
    values: bool = True,
    k_values: int = 10,
    value_cache_dir: str | Path | None = None,
    config: GenerationConfig | None = None,
    repair: bool = True,
    timeout: float | None = None,
    max_rows: int | None = None,
    samples: bool = True,
    comments: bool = True,
) -> Answer:
    """Answer ``question`` on ``db`` with ``backend`` (see the module docstring).

    ``schema`` saves the introspection when the caller has it already; ``values=False`` skips value retrieval.
    """
    if schema is None:
        schema = db.schema(samples=3)
    messages, pruned, shown_hits = request_messages(
        question, db, schema, evidence=evidence, schema_format=schema_format, budget_tokens=budget_tokens,
        count_tokens=count_tokens, fewshot=fewshot, family=family, system=system, values=values, k_values=k_values,
        value_cache_dir=value_cache_dir, samples=samples, comments=comments)
    prediction = predict_sql(backend, messages, db, strategy, n=n, temperature=temperature, config=config,
                             repair=repair, timeout=timeout, max_rows=max_rows)
    result = prediction.result
    explanation = None
    if explain and prediction.sql:
        explanation = explain_sql(prediction.sql, pruned.schema, backend, schema_format=schema_format,
                                  family=family, system=system, config=config)
    return Answer(
        question=question,
        sql=prediction.sql,
        columns=list(result.columns) if result else [],
        rows=list(result.rows) if result else [],
        truncated=bool(result.truncated) if result else False,
        confidence=prediction.confidence,
        prediction=prediction,
        pruned=pruned,
        value_hits=shown_hits,
        explanation=explanation,
    )


def request_messages(
    question: str,
    db: Database,
    schema: Schema,
    *,
    evidence: str = "",
    schema_format: str = "mschema",
    budget_tokens: int = DEFAULT_BUDGET_TOKENS,
    count_tokens: Callable[[str], int] = len_approx,
    fewshot: Sequence[FewShot | Example | tuple[str, str]] = (),
    family: str | None = None,
    system: str | None = None,
    values: bool = True,
    k_values: int = 10,
    value_cache_dir: str | Path | None = None,
    prune_hints: Sequence[ValueHit] = (),
    samples: bool = True,
    comments: bool = True,
) -> tuple[list[Any], PruneResult, list[ValueHit]]:
    """The messages sent for ``question`` (value retrieval → pruning → prompt), the prune result, the hints shown.

    Training builds its prompts with this very function, so a fine-tuned model reads at inference exactly what
    it was trained on. ``prune_hints`` raise columns' relevance for pruning only (never shown): training passes
    the gold query's columns, so a pruned training prompt never hides a table its answer needs. ``samples`` /
    ``comments`` leave the schema's sample values / column comments out of the rendering (shorter prompts).
    """
    hits: list[ValueHit] = []
    if values:
        index = get_value_index(db, schema, cache_dir=value_cache_dir)
        hits = retrieve_values(question, index, k=k_values)
    pruned = prune_schema(schema, question, budget_tokens=budget_tokens, count_tokens=count_tokens,
                          value_hits=[*hits, *prune_hints], schema_format=schema_format, samples=samples,
                          comments=comments)
    shown_hits = filter_hits(hits, pruned.schema)
    messages = build_messages(question, pruned.schema, evidence=evidence, schema_format=schema_format,
                              fewshot=fewshot, value_hits=shown_hits, family=family, system=system, samples=samples,
                              comments=comments)
    return messages, pruned, shown_hits


def explain_sql(sql: str, schema: Schema, backend: Backend, *, schema_format: str = "mschema",
                family: str | None = None, system: str | None = None,
                config: GenerationConfig | None = None) -> str:
    """One greedy backend call in the sql2nl direction: what the query asks, in plain language."""
    messages = build_explain_messages(sql, schema, schema_format=schema_format, family=family, system=system)
    base = config or GenerationConfig()
    cfg = GenerationConfig(max_new_tokens=base.max_new_tokens, temperature=0.0, top_p=1.0, n=1, stop=base.stop,
                           seed=base.seed)
    text = backend.generate([messages], cfg)[0][0]
    closes = list(_THINK_END.finditer(text))
    if closes:  # a reasoning model's thinking is not the explanation
        text = text[closes[-1].end():]
    return text.strip()
