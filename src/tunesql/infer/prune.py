"""Schema pruning: when a database's schema is too long for the prompt, keep the part the question needs.

Nothing happens when the rendered schema fits the budget: the model then sees exactly what training showed it.
Otherwise (deterministically, the same question always gives the same pruned schema):

1. Relevance. Every column gets a score from the question's words matching its name (weight 3), its comment
   (1) and its sample values (0.5), each word weighted by its IDF over all columns, so words that occur in
   every table ("id", "name") count little; a value hit from ``retrieval`` adds its BM25 score. A table scores
   its own name (3) and comment (1) matches plus its best column. Words are compared after a light stemming
   (plural and -ed/-ing endings), so "customers", "customer" and "ordered" / "orders" meet.
2. Seeds and bridges. Tables with a positive score of at least ``SEED_SHARE`` of the best are seeds, best first
   (a foreign-key column's name counts little: ``order_id`` names another table). Seeds are connected through the
   foreign-key graph (undirected) by cheapest paths, where passing through a table costs ``1 / (1 + score)``:
   a join path through relevant tables is preferred over an equally short one through unrelated tables. The
   tables on those paths are kept as bridges, so every join the question might need stays possible.
3. Fitting. Kept tables keep their primary-key columns and the foreign-key columns that link them to other kept
   tables (and a relevant table's label column, its ``name``/``title``, scores a share of the table's score);
   first only columns with no relevance at all may be dropped, and if the seeds do not fit that way the
   lowest-ranked seed is given up; only the best seed alone may lose relevant columns too. Columns are dropped
   lowest relevance first (ties: least relevant table, then later in the table first) as far as needed to fit
   (a binary search over how many to drop). When everything fits with room to spare, more whole tables are
   added back, neighbours of kept tables first, then by score, while it still fits. With no positive score
   at all, the tables are taken in schema order.
4. Report. ``PruneResult`` lists the dropped tables and ``table.column`` names and why each kept table was kept;
   ``summary()`` says it in one line for the CLI. Foreign keys that point at a dropped table are removed from the
   pruned schema (the column itself stays while it is not dropped), so the renderer never names a missing table.

The budget counts the schema text only, rendered with the same function, format and options the prompt uses,
with ``count_tokens`` (``len_approx`` by default: about 4 ASCII characters per token, one token per other
character, which over-counts English slightly and is close for CJK; pass a real tokenizer's counter for exact
numbers).
"""

from __future__ import annotations

import copy
import heapq
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from tunesql.data.prompts import render_schema_text
from tunesql.db.schema import Column, Schema, Table
from tunesql.infer.retrieval import ValueHit, hit_columns

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_STOP_TEXT = """
a an the of in on at to for from by with and or not no is are was were be been do does did has have had what which
who whom whose when where why how many much list show give find tell return count number all each every any some
that this these those there their its it as than then per me my our we you your i please id
"""
_STOP = frozenset(_STOP_TEXT.split())

NAME_WEIGHT, COMMENT_WEIGHT, SAMPLE_WEIGHT, TABLE_NAME_WEIGHT = 3.0, 1.0, 0.5, 3.0
FK_NAME_WEIGHT = 0.5
"""A foreign-key column's name mostly names the table it points to (``order_id``); matching it says little
about its own table, so it weighs less than other column names."""
LABEL_SHARE = 0.2
"""A relevant table's label column (see ``label_column``) gets this share of the table's score."""
SEED_SHARE = 0.25
"""A table is a seed when its score is at least this share of the best table's score; weaker matches only
come back as bridges or when there is room left."""


def len_approx(text: str) -> int:
    """Approximate token count: ASCII characters / 4, plus one per non-ASCII character (CJK is ~1 token each)."""
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    return math.ceil(ascii_chars / 4) + (len(text) - ascii_chars)


@dataclass
class PruneResult:
    schema: Schema
    dropped_tables: list[str] = field(default_factory=list)
    dropped_columns: list[str] = field(default_factory=list)
    """``table.column`` of the columns dropped from tables that were kept."""
    kept_reason: dict[str, str] = field(default_factory=dict)
    """Table → why it was kept: "fits the budget", "relevant (score …)", "joins A and B", "room left"."""
    tokens: int = 0
    """The pruned schema's rendered size, by the counter used."""
    budget: int = 0
    fits: bool = True
    """False only when even the most relevant table, stripped to its keys and relevant columns, is too long."""

    @property
    def pruned(self) -> bool:
        return bool(self.dropped_tables or self.dropped_columns)

    def summary(self) -> str:
        """One line for people: what was dropped to fit, or that nothing was."""
        if not self.pruned:
            return f"schema kept whole ({self.tokens} of {self.budget} tokens)"
        parts = []
        if self.dropped_tables:
            parts.append(f"dropped {len(self.dropped_tables)} table(s): {', '.join(self.dropped_tables)}")
        if self.dropped_columns:
            parts.append(f"dropped {len(self.dropped_columns)} column(s): {', '.join(self.dropped_columns)}")
        note = "" if self.fits else " (still over budget)"
        return f"schema pruned to {self.tokens} of {self.budget} tokens{note}; " + "; ".join(parts)


def prune_schema(
    schema: Schema,
    question: str,
    *,
    budget_tokens: int,
    count_tokens: Callable[[str], int] = len_approx,
    value_hits: Sequence[ValueHit] = (),
    schema_format: str = "ddl",
    samples: bool = True,
    comments: bool = True,
) -> PruneResult:
    """Keep the part of ``schema`` the question needs so that it renders within ``budget_tokens``."""

    def size(s: Schema) -> int:
        return count_tokens(render_schema_text(s, schema_format, samples=samples, comments=comments))

    full = size(schema)
    if full <= budget_tokens or not schema.tables:
        return PruneResult(schema, tokens=full, budget=budget_tokens,
                           kept_reason={t.name: "fits the budget" for t in schema.tables})

    col_score, table_score = score_schema(schema, question, value_hits)
    position = {t.name: i for i, t in enumerate(schema.tables)}
    ranked = sorted(schema.tables, key=lambda t: (-table_score[t.name], position[t.name]))
    top = table_score[ranked[0].name]
    seeds = [t.name for t in ranked if table_score[t.name] > 0 and table_score[t.name] >= SEED_SHARE * top]
    seeds = seeds or [schema.tables[0].name]
    graph = _fk_graph(schema)

    best: tuple[Schema, dict[str, str], bool] | None = None
    # Phase 1: as many seeds as fit when only columns with no relevance at all are dropped. Phase 2 (nothing
    # fits that way): the best seed alone, dropping relevant columns too, least relevant first.
    for k, only_irrelevant in [(k, True) for k in range(len(seeds), 0, -1)] + [(1, False)]:
        kept, reasons = _connect(seeds[:k], graph, table_score, position)
        droppable = _droppable(schema, kept, col_score, table_score)
        if only_irrelevant:
            droppable = [tc for tc in droppable if col_score[tc] <= 0]
        smallest = _subschema(schema, kept, set(droppable))
        if size(smallest) > budget_tokens:
            if only_irrelevant:
                continue
            best = (smallest, reasons, False)  # one table, stripped, still too long: returned anyway, flagged
            break
        lo, hi = 0, len(droppable)  # the fewest dropped columns that fit
        while lo < hi:
            mid = (lo + hi) // 2
            if size(_subschema(schema, kept, set(droppable[:mid]))) <= budget_tokens:
                hi = mid
            else:
                lo = mid + 1
        chosen = _subschema(schema, kept, set(droppable[:lo]))
        if lo == 0:
            chosen, reasons = _add_back(schema, kept, reasons, ranked, graph, budget_tokens, size)
        best = (chosen, reasons, True)
        break
    assert best is not None
    pruned, reasons, fits = best
    kept_names = {t.name for t in pruned.tables}
    dropped_tables = [t.name for t in schema.tables if t.name not in kept_names]
    dropped_columns = []
    for t in pruned.tables:
        original = schema.table(t.name)
        assert original is not None
        names = {c.name for c in t.columns}
        dropped_columns.extend(f"{t.name}.{c.name}" for c in original.columns if c.name not in names)
    ordered_reasons = {t.name: reasons[t.name] for t in pruned.tables}
    return PruneResult(pruned, dropped_tables, dropped_columns, ordered_reasons, tokens=size(pruned),
                       budget=budget_tokens, fits=fits)


# --- relevance --------------------------------------------------------------------------------------------------


def stem(word: str) -> str:
    """A light, symmetric stemmer: plural, -ed and -ing endings (orders/ordered/ordering → order)."""
    w = word.lower()
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 5 and w.endswith("ing"):
        return w[:-3]
    if len(w) > 4 and w.endswith("ed") and not w.endswith("eed"):
        return w[:-2]
    if len(w) > 4 and w.endswith(("ses", "xes", "zes", "ches", "shes")):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


def terms(text: str | None) -> set[str]:
    """Stemmed content words of ``text``; ``snake_case`` and ``camelCase`` names split into their words."""
    if not text:
        return set()
    words = _WORD.findall(_CAMEL.sub(" ", str(text)))
    return {stem(w) for w in words if not w.isdigit() and w.lower() not in _STOP}


def score_schema(schema: Schema, question: str,
                 value_hits: Iterable[ValueHit] = ()) -> tuple[dict[tuple[str, str], float], dict[str, float]]:
    """(column scores keyed by (table, column), table scores keyed by table name); see the module docstring."""
    q = terms(question)
    docs: dict[tuple[str, str], tuple[set[str], set[str], set[str]]] = {}
    fk_columns: set[tuple[str, str]] = set()
    for t in schema.tables:
        for c in t.columns:
            sample_terms = set().union(*(terms(str(v)) for v in c.samples)) if c.samples else set()
            docs[(t.name, c.name)] = (terms(c.name), terms(c.comment), sample_terms)
        fk_columns.update((t.name, c) for fk in t.foreign_keys for c in fk.columns)
    df: Counter[str] = Counter()
    for name_t, comment_t, sample_t in docs.values():
        df.update(name_t | comment_t | sample_t)
    n = max(1, len(docs))

    def idf(term: str) -> float:
        return math.log(1 + n / (1 + df[term]))

    hits = hit_columns(value_hits)
    col_score: dict[tuple[str, str], float] = {}
    for (table, column), (name_t, comment_t, sample_t) in docs.items():
        name_weight = FK_NAME_WEIGHT if (table, column) in fk_columns else NAME_WEIGHT
        s = (name_weight * sum(idf(w) for w in q & name_t) + COMMENT_WEIGHT * sum(idf(w) for w in q & comment_t)
             + SAMPLE_WEIGHT * sum(idf(w) for w in q & sample_t))
        s += hits.get((table.lower(), column.lower()), 0.0)
        col_score[(table, column)] = round(s, 9)
    table_score: dict[str, float] = {}
    for t in schema.tables:
        s = TABLE_NAME_WEIGHT * sum(idf(w) for w in q & terms(t.name)) + COMMENT_WEIGHT * sum(
            idf(w) for w in q & terms(t.comment))
        s += max((col_score[(t.name, c.name)] for c in t.columns), default=0.0)
        table_score[t.name] = round(s, 9)
        label = label_column(t, fk_columns)
        if label is not None and s > 0:
            col_score[(t.name, label)] = round(col_score[(t.name, label)] + LABEL_SHARE * s, 9)
    return col_score, table_score


def label_column(table: Table, fk_columns: set[tuple[str, str]] = frozenset()) -> str | None:  # type: ignore[assignment]
    """The column that names a row (``name``, ``title``, else the first text column): "which customers …"
    answers with it, so a relevant table keeps it as long as possible."""
    plain = [c for c in table.columns if not c.primary_key and (table.name, c.name) not in fk_columns]
    for c in plain:
        if any(w in c.name.lower() for w in ("name", "title")):
            return c.name
    for c in plain:
        if any(t in (c.type or "").upper() for t in ("CHAR", "TEXT", "STRING")):
            return c.name
    return None


# --- foreign-key graph ------------------------------------------------------------------------------------------


def _fk_graph(schema: Schema) -> dict[str, list[str]]:
    """Undirected adjacency by foreign keys (table names as the schema spells them, sorted by schema order)."""
    names = {t.name.lower(): t.name for t in schema.tables}
    position = {t.name: i for i, t in enumerate(schema.tables)}
    adj: dict[str, set[str]] = {t.name: set() for t in schema.tables}
    for t in schema.tables:
        for fk in t.foreign_keys:
            ref = names.get(fk.ref_table.lower())
            if ref is not None and ref != t.name:
                adj[t.name].add(ref)
                adj[ref].add(t.name)
    return {k: sorted(v, key=position.__getitem__) for k, v in adj.items()}


def _connect(seeds: list[str], graph: dict[str, list[str]], table_score: dict[str, float],
             position: dict[str, int]) -> tuple[list[str], dict[str, str]]:
    """Seeds plus the tables on the cheapest FK paths joining each seed to those kept before it (a greedy
    Steiner tree). Seeds with no path to the others are kept on their own."""
    kept = [seeds[0]]
    reasons = {seeds[0]: f"relevant (score {table_score[seeds[0]]:.2f})" if table_score[seeds[0]] > 0
               else "first table"}
    for seed in seeds[1:]:
        if seed in reasons:
            continue
        path = _cheapest_path(seed, set(kept), set(seeds), graph, table_score, position)
        reasons[seed] = f"relevant (score {table_score[seed]:.2f})"
        kept.append(seed)
        if path:
            for bridge in path[1:-1]:
                if bridge not in reasons:
                    reasons[bridge] = f"joins {seed} and {path[-1]}"
                    kept.append(bridge)
    return kept, reasons


def _cheapest_path(start: str, targets: set[str], free: set[str], graph: dict[str, list[str]],
                   table_score: dict[str, float], position: dict[str, int]) -> list[str] | None:
    """Dijkstra from ``start`` to the nearest of ``targets``; entering a table costs 1 / (1 + its score), or
    nothing for a ``free`` table (another seed, kept anyway); ties broken by schema order (deterministic)."""
    heap: list[tuple[float, int, list[str]]] = [(0.0, 0, [start])]
    done: set[str] = set()
    while heap:
        cost, _, path = heapq.heappop(heap)
        node = path[-1]
        if node in done:
            continue
        done.add(node)
        if node in targets:
            return path
        for nxt in graph.get(node, ()):
            if nxt not in done:
                step = 0.0 if nxt in targets or nxt in free else 1.0 / (1.0 + max(0.0, table_score.get(nxt, 0.0)))
                tie = sum(position[p] for p in path) + position[nxt]
                heapq.heappush(heap, (round(cost + step, 9), tie, [*path, nxt]))
    return None


# --- building the pruned schema ---------------------------------------------------------------------------------


def _key_columns(table: Table, kept: set[str], schema: Schema) -> set[str]:
    """Primary-key columns and the columns of foreign keys between ``table`` and other kept tables."""
    keys = {c.name for c in table.columns if c.primary_key}
    low_kept = {k.lower() for k in kept}
    for fk in table.foreign_keys:
        if fk.ref_table.lower() in low_kept:
            keys.update(fk.columns)
    for other in schema.tables:
        if other.name not in kept:
            continue
        for fk in other.foreign_keys:
            if fk.ref_table.lower() == table.name.lower():
                keys.update(fk.ref_columns)
    return keys


def _droppable(schema: Schema, kept: list[str], col_score: dict[tuple[str, str], float],
               table_score: dict[str, float]) -> list[tuple[str, str]]:
    """Non-key columns of the kept tables, in the order they would be dropped: lowest score first, then from
    the least relevant tables (bridges) first, then later columns first (a table's first columns tend to be its
    identifying ones, such as a name)."""
    kept_set = set(kept)
    out = []
    for name in kept:
        table = schema.table(name)
        assert table is not None
        keys = _key_columns(table, kept_set, schema)
        for i, c in enumerate(table.columns):
            if c.name not in keys:
                out.append((col_score[(table.name, c.name)], table_score[table.name], -i, table.name, c.name))
    out.sort()
    return [(t, c) for *_, t, c in out]


def _subschema(schema: Schema, kept: Iterable[str], drop: set[tuple[str, str]]) -> Schema:
    """``schema`` with only the ``kept`` tables (in schema order), without the ``drop`` columns, and without
    foreign keys that name a missing table or column."""
    kept_set = set(kept)
    tables = []
    for t in schema.tables:
        if t.name not in kept_set:
            continue
        columns: list[Column] = [copy.copy(c) for c in t.columns if (t.name, c.name) not in drop]
        tables.append(Table(t.name, columns, [], t.comment, t.row_count))
    by_low = {t.name.lower(): t for t in tables}
    for t, original in zip(tables, [schema.table(t.name) for t in tables], strict=True):
        assert original is not None
        names = {c.name for c in t.columns}
        for fk in original.foreign_keys:
            ref = by_low.get(fk.ref_table.lower())
            if ref is None or not set(fk.columns) <= names:
                continue
            if not {c.lower() for c in fk.ref_columns} <= {c.name.lower() for c in ref.columns}:
                continue
            t.foreign_keys.append(copy.deepcopy(fk))
    return Schema(schema.name, schema.dialect, tables)


def _add_back(schema: Schema, kept: list[str], reasons: dict[str, str], ranked: list[Table],
              graph: dict[str, list[str]], budget: int, size: Callable[[Schema], int]) -> tuple[Schema, dict[str, str]]:
    """Add whole tables back while the schema fits: FK neighbours of the kept tables first (likely join
    partners), then the rest, each group by relevance; stops at the first table that does not fit."""
    kept_list = list(kept)
    reasons = dict(reasons)
    current = _subschema(schema, kept_list, set())
    rank = {t.name: i for i, t in enumerate(ranked)}
    while True:
        kept_set = set(kept_list)
        rest = [t.name for t in ranked if t.name not in kept_set]
        if not rest:
            return current, reasons
        neighbours = {n for k in kept_list for n in graph.get(k, ())}
        nxt = min(rest, key=lambda name: (name not in neighbours, rank[name]))
        trial = _subschema(schema, [*kept_list, nxt], set())
        if size(trial) > budget:
            return current, reasons
        kept_list.append(nxt)
        reasons[nxt] = "room left in the budget"
        current = trial
