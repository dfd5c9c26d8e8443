"""Ask the LLM for question/SQL pairs about one topic at one difficulty level, in the database's own dialect.

Each request is one batch: the topic's tables (rendered with sample values, so questions name values that exist
and filters return rows), the dialect, a level, and one "angle" per batch (a join, a HAVING, a set operation…).
The angles cycle through each level's list, which spreads a topic's batches over kinds of queries instead of
letting the model write the same COUNT(*) twenty times; the dedupe stage catches what repeats anyway.

Every request has its own seed, derived from where it sits in the plan, so a re-run asks exactly the same
requests (answered from the cache) and gives every pair the same id: that is what makes a run resumable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from tunesql.data.prompts import dialect_name
from tunesql.db.schema import Schema
from tunesql.synth.llm import ChatRequest, parse_json_answer
from tunesql.synth.plan import Topic
from tunesql.synth.record import Pair

LEVELS: dict[str, str] = {
    "easy": "one table; a filter, a count, a sort or a single lookup",
    "medium": "a join of two tables, or an aggregate with GROUP BY",
    "hard": "several joins, a nested subquery, HAVING, or a set operation (UNION / INTERSECT / EXCEPT)",
}

ANGLES: dict[str, tuple[str, ...]] = {
    "easy": ("a filter on a text value", "a count of rows", "a sorted list with LIMIT", "a minimum or maximum",
             "a filter on a number or date range"),
    "medium": ("a join of two tables", "an aggregate with GROUP BY", "COUNT(DISTINCT ...)",
               "an average or sum per group", "a join with a filter on the joined table"),
    "hard": ("a nested subquery in WHERE", "GROUP BY with HAVING", "a set operation (UNION, INTERSECT or EXCEPT)",
             "three tables joined", "ORDER BY an aggregate with LIMIT over a join"),
}

SYSTEM = (
    "You write realistic question/SQL pairs for training a text-to-SQL model on a company database. "
    "Answer with JSON only."
)


@dataclass
class Batch:
    """One generation request and where it sits in the plan (which gives its pairs their ids)."""

    topic_index: int
    topic: Topic
    level: str
    round: int
    index: int
    size: int

    @property
    def id_prefix(self) -> str:
        return f"t{self.topic_index}-{self.level}-r{self.round}-b{self.index}"

    @property
    def angle(self) -> str:
        angles = ANGLES.get(self.level, ("",))
        return angles[(self.index + self.round) % len(angles)]


def topic_schema(schema: Schema, topic: Topic) -> Schema:
    wanted = {t.lower() for t in topic.tables}
    return Schema(schema.name, schema.dialect, [t for t in schema.tables if t.name.lower() in wanted])


def generation_request(batch: Batch, schema: Schema, *, schema_format: str = "mschema", temperature: float = 0.8,
                       max_tokens: int = 1500, seed: int = 0) -> ChatRequest:
    from tunesql.db.render import render_schema

    sub = topic_schema(schema, batch.topic)
    dialect = dialect_name(schema.dialect)
    user = (
        f"Topic: {batch.topic.name}\n"
        f"Tables ({dialect}):\n{render_schema(sub, schema_format, samples=True, comments=True)}\n\n"
        f"Write {batch.size} different question/SQL pairs at the {batch.level.upper()} level: "
        f"{LEVELS.get(batch.level, batch.level)}. Include at least one that uses {batch.angle}.\n"
        "- Each question is what a business user would type: plain English, no SQL words, no column names "
        "in snake_case; use real values from the examples shown.\n"
        f"- Each SQL is ONE read-only {dialect} query that answers its question exactly, using only the tables "
        "and columns above.\n"
        "- The questions must ask different things.\n"
        'Answer with a JSON list only: [{"question": "...", "sql": "..."}, ...]'
    )
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
    batch_seed = int(hashlib.sha256(f"{seed}-{batch.id_prefix}".encode()).hexdigest()[:8], 16)
    return ChatRequest(messages=messages, temperature=temperature, max_tokens=max_tokens, seed=batch_seed)


def parse_pairs(answer: str, batch: Batch, *, db_id: str, dialect: str, seed: int = 0) -> list[Pair]:
    """The batch's pairs, ids ``<seed>-<batch>-<j>``; an answer with no readable pairs becomes ONE rejected pair
    (reason ``unreadable LLM answer``) so the summary counts it and a resumed run does not ask again."""
    prefix = f"s{seed}-{batch.id_prefix}"
    common = dict(db_id=db_id, dialect=dialect, topic=batch.topic.name, requested=batch.level, source="synth")
    try:
        data = parse_json_answer(answer)
    except ValueError as e:
        return [Pair(id=f"{prefix}-x", question="", sql="", **common).reject("unreadable LLM answer", str(e))]
    if isinstance(data, dict):
        data = next((v for v in data.values() if isinstance(v, list)), [data])
    items = data if isinstance(data, list) else []
    pairs = []
    for j, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        question = _text(item, ("question", "q", "nl"))
        sql = _text(item, ("sql", "query", "SQL"))
        pairs.append(Pair(id=f"{prefix}-{j}", question=question, sql=sql, **common))
    if not pairs:
        return [Pair(id=f"{prefix}-x", question="", sql="", **common).reject(
            "unreadable LLM answer", f"no question/sql objects in {answer[:120]!r}")]
    return pairs


def failed_batch(batch: Batch, error: Exception, *, db_id: str, dialect: str, seed: int = 0) -> Pair:
    """A request that failed after its retries, recorded as one rejected pair (not asked again on resume:
    delete its line from candidates.jsonl to retry it)."""
    return Pair(id=f"s{seed}-{batch.id_prefix}-x", question="", sql="", db_id=db_id, dialect=dialect,
                topic=batch.topic.name, requested=batch.level).reject("LLM request failed", str(error)[:300])


def plan_batches(topics: Sequence[Topic], needs: Sequence[int], levels: dict[str, float], batch_size: int,
                 round_: int) -> list[Batch]:
    """Batches for one round: topic i needs ``needs[i]`` more pairs, shared over ``levels`` by weight."""
    batches: list[Batch] = []
    total_weight = sum(levels.values()) or 1.0
    for ti, (topic, need) in enumerate(zip(topics, needs, strict=True)):
        if need <= 0:
            continue
        for level, weight in levels.items():
            want = max(1, round(need * weight / total_weight)) if weight > 0 else 0
            index = 0
            while want > 0:
                size = min(batch_size, want)
                batches.append(Batch(ti, topic, level, round_, index, size))
                want -= size
                index += 1
    return batches


def _text(item: dict[str, object], keys: tuple[str, ...]) -> str:
    for key in keys:
        value = item.get(key)
        if isinstance(value, str):
            return value.strip()
    return ""
