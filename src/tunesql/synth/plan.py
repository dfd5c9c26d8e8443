"""Plan what to ask about: groups of related tables, a business topic for each, and how many pairs each gets.

Asking an LLM for "500 questions about this database" gives 500 questions about its two most obvious tables. So
the schema is cut first into small groups of tables connected by foreign keys (a table with its neighbours:
the joins a real question would make), every table in at least one group, and the LLM is asked only to name
each group's business topic and weigh how much a company would ask about it. The budget of pairs is then shared
out by those weights, at least one batch per group, so nothing in the schema is left unasked.

When the LLM's plan cannot be read (small models often cannot write the JSON), the plan falls back to the
tables' names and equal weights, and says so: synthesis goes on, and the summary shows who named the topics.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from tunesql.db.schema import Schema
from tunesql.synth.llm import ChatRequest, parse_json_answer


@dataclass
class Topic:
    name: str
    tables: list[str]
    weight: float = 1.0
    budget: int = 0
    """Pairs to accept for this topic."""
    named_by: str = "llm"
    """``llm`` or ``fallback`` (the LLM's plan could not be read for this group)."""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def table_groups(schema: Schema, max_tables: int = 4) -> list[list[str]]:
    """Groups of at most ``max_tables`` tables joined by foreign keys, covering every table.

    Hubs (the most connected tables) come first, each with its best-connected neighbours; a group contained in
    an earlier one is skipped. Deterministic: ties break by table order in the schema.
    """
    names = [t.name for t in schema.tables]
    neighbours: dict[str, set[str]] = {n: set() for n in names}
    lower = {n.lower(): n for n in names}
    for table in schema.tables:
        for fk in table.foreign_keys:
            ref = lower.get(fk.ref_table.lower())
            if ref and ref != table.name:
                neighbours[table.name].add(ref)
                neighbours[ref].add(table.name)
    order = {n: i for i, n in enumerate(names)}
    by_degree = sorted(names, key=lambda n: (-len(neighbours[n]), order[n]))
    groups: list[list[str]] = []
    covered: set[str] = set()
    for hub in by_degree:
        near = sorted(neighbours[hub], key=lambda n: (n in covered, -len(neighbours[n]), order[n]))
        group = [hub, *near[: max(0, max_tables - 1)]]
        if any(set(group) <= set(g) for g in groups):
            continue
        if hub in covered and set(group) <= covered:
            continue
        groups.append(group)
        covered.update(group)
    return groups


PLAN_SYSTEM = (
    "You are a data analyst planning questions that business users ask about a company database. "
    "Answer with JSON only."
)


def plan_request(groups: Sequence[Sequence[str]], schema: Schema, *, seed: int = 0) -> ChatRequest:
    """Ask for a topic name and a weight (1–5: how much people would ask about it) for each group."""
    from tunesql.db.render import render_cards

    lines = []
    for i, group in enumerate(groups, start=1):
        sub = Schema(schema.name, schema.dialect, [t for t in schema.tables if t.name in set(group)])
        lines.append(f"Group {i}:\n{render_cards(sub, samples=False)}")
    user = (
        f"Database {schema.name!r} ({schema.dialect}). Its tables, in groups of related tables:\n\n"
        + "\n\n".join(lines)
        + "\n\nFor every group, name the business topic its tables describe (2-5 words) and weigh from 1 to 5 "
          "how many questions business users would ask about it. Answer with a JSON list, one object per group:\n"
          '[{"group": 1, "topic": "...", "weight": 3}, ...]'
    )
    return ChatRequest(messages=[{"role": "system", "content": PLAN_SYSTEM}, {"role": "user", "content": user}],
                       temperature=0.0, max_tokens=80 + 40 * len(groups), seed=seed)


def parse_plan(answer: str | None, groups: Sequence[Sequence[str]]) -> list[Topic]:
    """Topics for ``groups`` from the LLM's answer; any group it did not name well falls back to its tables."""
    named: dict[int, tuple[str, float]] = {}
    try:
        data = parse_json_answer(answer or "")
    except ValueError:
        data = []
    if isinstance(data, dict):
        data = next((v for v in data.values() if isinstance(v, list)), [data])
    for position, item in enumerate(data if isinstance(data, list) else [], start=1):
        if not isinstance(item, dict):
            continue
        index = item.get("group", position)
        topic = item.get("topic") or item.get("name")
        try:
            index = int(index)
            weight = float(item.get("weight", 1))
        except (TypeError, ValueError):
            continue
        if 1 <= index <= len(groups) and isinstance(topic, str) and topic.strip():
            named[index] = (" ".join(topic.split())[:80], min(5.0, max(1.0, weight)))
    topics = []
    for i, group in enumerate(groups, start=1):
        if i in named:
            topics.append(Topic(named[i][0], list(group), named[i][1], named_by="llm"))
        else:
            topics.append(Topic(" & ".join(group), list(group), 1.0, named_by="fallback"))
    return topics


def share_budget(topics: Sequence[Topic], total: int) -> None:
    """Give each topic its share of ``total`` by weight (largest remainders), at least one pair each when the
    total allows. Sets ``topic.budget`` in place."""
    if not topics:
        return
    floor = 1 if total >= len(topics) else 0
    rest = total - floor * len(topics)
    weights = [t.weight for t in topics]
    exact = [rest * w / sum(weights) for w in weights]
    shares = [int(x) for x in exact]
    for i in sorted(range(len(topics)), key=lambda i: (-(exact[i] - shares[i]), i))[: rest - sum(shares)]:
        shares[i] += 1
    for topic, share in zip(topics, shares, strict=True):
        topic.budget = floor + share


def describe_plan(topics: Sequence[Topic]) -> str:
    return json.dumps([t.to_dict() for t in topics], indent=2, ensure_ascii=False)
