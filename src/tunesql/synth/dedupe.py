"""Drop repeated pairs and even out difficulty, so a synthetic set teaches many queries rather than a few often.

An LLM asked for 500 pairs over one schema repeats itself: the same query with another constant
(``WHERE city = 'Beijing'`` / ``'Shanghai'``), or the same question reworded by a word. Training on those
weights a handful of query shapes heavily and inflates the set's apparent size. So pairs are deduplicated by a
SQL *template* (the normalised query with every literal replaced by a placeholder) and by near-duplicate
questions (Jaccard similarity of their content words), per database. ``balance`` then caps each measured
difficulty at its share of a target, because generators drift towards easy single-table queries whatever
level they are asked for.

Both functions change the pairs they reject in place (``Pair.reject`` with a fixed reason phrase) and return
them, so the caller appends exactly those to the run's log.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from functools import lru_cache

from sqlglot import exp
from sqlglot.errors import OptimizeError

from tunesql.errors import SQLSyntaxError
from tunesql.eval.difficulty import SPIDER_LEVELS
from tunesql.sql.normalize import normalize_tree
from tunesql.sql.transpile import parse_statement, resolve_dialect
from tunesql.synth.record import Pair

DUPLICATE_TEMPLATE = "duplicate SQL template"
NEAR_DUPLICATE = "near-duplicate question"
OVER_QUOTA = "over difficulty quota"
UNKNOWN_LEVEL = "unknown"

STOP_WORDS = frozenset([
    "a", "an", "the", "of", "in", "on", "at", "to", "for", "from", "by", "with", "and", "as", "is", "are", "was",
    "were", "be", "been", "being", "do", "does", "did", "done", "what", "which", "who", "whom", "whose", "there",
    "their", "its", "it", "this", "that", "these", "those", "me", "us", "we", "i", "you", "show", "list", "give",
    "find", "get", "return", "display", "tell", "please", "all", "every", "any",
])
"""Words that say how a question is asked, not what it asks; without them "List all customers in Beijing" and
"Show the customers in Beijing" are the same question. Words that change the answer stay: how many /
how much (a count, not a list), not, no, each, per, most, least, top, more, less, numbers, and every name."""

_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+")
_CJK_RUN = re.compile(rf"[{_CJK}]+")
_PLACEHOLDER = "?"


@lru_cache(maxsize=65536)
def sql_template(sql: str, dialect: str) -> str:
    """The query's shape: its canonical form (``tunesql.sql.normalize``) with every literal a placeholder.

    So ``SELECT name FROM customers AS T1 WHERE T1.city = 'Beijing'`` and
    ``select NAME from customers where city='Shanghai'`` share a template: the normalisation already merges
    case, whitespace, quoting and table aliases. On top of it, for deduplication only, a negative number is a
    literal too, an IN list of literals is one placeholder whatever its length, a no-op column alias
    (``name AS name``) goes, and column / CTE / subquery aliases are renamed in order of appearance, since
    ``COUNT(*) AS n`` and ``COUNT(*) AS total`` teach the same query. Text that does not parse falls back to
    itself with whitespace and case collapsed, so it still dedupes against exact repeats.
    """
    try:
        dialect = resolve_dialect(dialect)
        tree = normalize_tree(parse_statement(sql, dialect), dialect, sql=sql)
    except (SQLSyntaxError, ValueError, OptimizeError):
        return " ".join((sql or "").split()).rstrip("; ").strip().lower()
    for lit in list(tree.find_all(exp.Literal)):
        target = lit.parent if isinstance(lit.parent, exp.Neg) else lit
        if target is tree:
            return _PLACEHOLDER
        target.replace(exp.Placeholder())
    for in_ in tree.find_all(exp.In):
        items = in_.expressions
        if len(items) > 1 and all(isinstance(e, exp.Placeholder) for e in items):
            in_.set("expressions", [exp.Placeholder()])
    tree = _canonical_aliases(tree)
    return tree.sql(dialect=dialect, normalize_functions="upper", comments=False)


def question_tokens(question: str) -> frozenset[str]:
    """Lower-cased content words of a question, stop words removed.

    Jaccard on content words rather than on characters or embeddings: it ignores word order and phrasing
    ("How many orders were cancelled?" / "Count the cancelled orders"… mostly), is exact and cheap, and every
    name or number in the question counts, so "orders in 2023" and "orders in 2024" stay apart. Chinese,
    Japanese and Korean runs have no spaces, so they give overlapping character pairs (bigrams) instead.
    """
    out: set[str] = set()
    for token in _TOKEN.findall((question or "").lower()):
        if _CJK_RUN.fullmatch(token):
            out.update(token[i: i + 2] for i in range(max(1, len(token) - 1)))
        elif token not in STOP_WORDS:
            out.add(token)
    return frozenset(out)


def near_duplicate(a: frozenset[str], b: frozenset[str], threshold: float = 0.8) -> bool:
    """Whether ``|a ∩ b| / |a ∪ b| >= threshold``; two empty sets (questions of stop words only) are equal."""
    if not a and not b:
        return True
    return len(a & b) / len(a | b) >= threshold - 1e-12


def dedupe(pairs: Sequence[Pair], *, question_threshold: float = 0.8, max_per_template: int = 1,
           seen: Sequence[Pair] = ()) -> list[Pair]:
    """Reject, in order, accepted pairs that repeat an earlier kept one on the same database.

    A pair is rejected with ``"duplicate SQL template"`` when its (db_id, template) already has
    ``max_per_template`` kept pairs (detail: the first one's id), else with ``"near-duplicate question"`` when
    its question's tokens are within ``question_threshold`` Jaccard of a kept question on the same database
    (detail: the earliest such id). Pairs not accepted are left alone. ``seen`` are pairs kept by an earlier run
    being resumed: its accepted ones count as kept, and a pair in ``pairs`` with the same id as one of them is
    not judged again. Returns the pairs newly rejected, in order.

    Near-duplicate search is exact but not quadratic: questions are indexed per database by a prefix of their
    tokens, rarest first (prefix filtering: two sets with Jaccard >= t must share a token among the first
    ``|x| - ceil(t·|x|) + 1`` of each), so only questions sharing a rare word are compared.
    """
    if not 0 < question_threshold <= 1:
        raise ValueError(f"question_threshold must be in (0, 1], got {question_threshold}")
    if max_per_template < 1:
        raise ValueError(f"max_per_template must be >= 1, got {max_per_template}")
    kept_before = [p for p in seen if p.accepted]
    seen_ids = {p.id for p in kept_before}
    todo = [p for p in pairs if p.accepted and p.id not in seen_ids]

    tokens = {id(p): question_tokens(p.question) for p in (*kept_before, *todo)}
    frequency = Counter(t for toks in tokens.values() for t in toks)
    index = _QuestionIndex(question_threshold, frequency)
    templates: dict[tuple[str, str], list[str]] = defaultdict(list)

    for p in kept_before:
        templates[(p.db_id, sql_template(p.sql, p.dialect))].append(p.id)
        index.add(p.db_id, p.id, tokens[id(p)])
    rejected: list[Pair] = []
    for p in todo:
        key = (p.db_id, sql_template(p.sql, p.dialect))
        same = templates[key]
        if len(same) >= max_per_template:
            rejected.append(p.reject(DUPLICATE_TEMPLATE, same[0]))
            continue
        other = index.find(p.db_id, tokens[id(p)])
        if other is not None:
            rejected.append(p.reject(NEAR_DUPLICATE, other))
            continue
        same.append(p.id)
        index.add(p.db_id, p.id, tokens[id(p)])
    return rejected


def balance(pairs: Sequence[Pair], *, target: int | None = None,
            mix: Mapping[str, float] | None = None) -> list[Pair]:
    """Cap each difficulty level of the accepted pairs at its share of ``target``; reject the surplus.

    Levels are ``pair.difficulty`` (easy / medium / hard / extra), ``"unknown"`` for None. ``mix`` gives
    relative weights per level (normalised; default: equal over the levels present). Room a level cannot fill
    goes to the others in proportion to their weights, so the total reaches ``target`` whenever enough pairs
    exist; a level missing from ``mix`` (or weighted 0) gets only room no weighted level can use. Within a
    level the earliest pairs are kept and the latest rejected with ``"over difficulty quota"``. With ``target``
    None nothing is capped (there is no total to share) and [] is returned. Returns the newly rejected pairs, in
    input order.
    """
    if target is None:
        return []
    if target < 0:
        raise ValueError(f"target must be >= 0, got {target}")
    if mix is not None and any(w < 0 or not math.isfinite(w) for w in mix.values()):
        raise ValueError(f"mix weights must be finite and >= 0, got {dict(mix)}")
    by_level: dict[str, list[Pair]] = defaultdict(list)
    for p in pairs:
        if p.accepted:
            by_level[p.difficulty or UNKNOWN_LEVEL].append(p)
    levels = sorted(by_level, key=_level_order)
    weights = {lv: (1.0 if mix is None else float(mix.get(lv, 0.0))) for lv in levels}
    counts = {lv: len(by_level[lv]) for lv in levels}
    quotas = _quotas(counts, weights, min(target, sum(counts.values())))

    over: set[int] = set()
    for lv in levels:
        for p in by_level[lv][quotas[lv]:]:
            over.add(id(p))
            p.reject(OVER_QUOTA, f"{lv}: quota {quotas[lv]} of {counts[lv]}")
    return [p for p in pairs if id(p) in over]


# --- internals ------------------------------------------------------------------------------------------------


class _QuestionIndex:
    """Kept questions per database, indexed by their token prefix (see ``dedupe``)."""

    def __init__(self, threshold: float, frequency: Counter[str]) -> None:
        self.threshold = threshold
        self.frequency = frequency
        self.postings: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        self.entries: dict[str, list[tuple[str, frozenset[str]]]] = defaultdict(list)

    def _prefix(self, toks: frozenset[str]) -> list[str]:
        ordered = sorted(toks, key=lambda t: (self.frequency[t], t))
        # 1e-9: t·|x| is often an integer that floating point lands just above (0.8 * 5); a longer prefix is safe.
        need = math.ceil(self.threshold * len(ordered) - 1e-9)
        return ordered[: len(ordered) - need + 1]

    def find(self, db_id: str, toks: frozenset[str]) -> str | None:
        """The id of the earliest kept question on ``db_id`` that ``toks`` nearly duplicates, or None."""
        entries = self.entries[db_id]
        postings = self.postings[db_id]
        candidates = {i for t in self._prefix(toks) for i in postings.get(t, ())} if toks else \
            set(postings.get("", ()))
        for i in sorted(candidates):
            other_id, other = entries[i]
            if near_duplicate(toks, other, self.threshold):
                return other_id
        return None

    def add(self, db_id: str, pair_id: str, toks: frozenset[str]) -> None:
        entries = self.entries[db_id]
        postings = self.postings[db_id]
        for t in self._prefix(toks) if toks else [""]:  # "" indexes the empty set, equal only to itself
            postings[t].append(len(entries))
        entries.append((pair_id, toks))


def _canonical_aliases(tree: exp.Expr) -> exp.Expr:
    for alias in list(tree.find_all(exp.Alias)):
        inner = alias.this
        if isinstance(inner, exp.Column) and not inner.table and inner.name == alias.alias:
            if alias is tree:
                tree = inner
            alias.replace(inner)
    names: dict[str, str] = {}
    for node in tree.find_all(exp.Alias, exp.TableAlias):
        ident = node.args.get("alias") if isinstance(node, exp.Alias) else node.this
        if isinstance(ident, exp.Identifier) and ident.name and ident.name not in names:
            names[ident.name] = f"_alias{len(names) + 1}"
    if names:
        for ident in tree.find_all(exp.Identifier):
            if ident.name in names:
                ident.set("this", names[ident.name])
    return tree


def _level_order(level: str) -> tuple[int, str]:
    order = (*SPIDER_LEVELS, UNKNOWN_LEVEL)
    return (order.index(level) if level in order else len(order), level)


def _quotas(counts: dict[str, int], weights: dict[str, float], total: int) -> dict[str, int]:
    """Integer quotas summing to ``total`` (<= the pairs available): water-filling by weight, levels that
    cannot fill their share capped at their count, rounding by largest remainder (ties in level order)."""
    quotas = dict.fromkeys(counts, 0)
    remaining = total
    for group in ([lv for lv in counts if weights[lv] > 0], [lv for lv in counts if weights[lv] <= 0]):
        w = {lv: (weights[lv] if weights[lv] > 0 else 1.0) for lv in group}
        active = list(group)
        while active and remaining > 0:
            wsum = sum(w[lv] for lv in active)
            share = {lv: remaining * w[lv] / wsum for lv in active}
            full = [lv for lv in active if counts[lv] <= share[lv]]
            if full:
                for lv in full:
                    quotas[lv] = counts[lv]
                    remaining -= counts[lv]
                active = [lv for lv in active if lv not in full]
                continue
            floors = {lv: math.floor(share[lv]) for lv in active}
            left = remaining - sum(floors.values())
            by_fraction = sorted(active, key=lambda lv: (-(share[lv] - floors[lv]), _level_order(lv)))
            for lv in by_fraction[:left]:
                floors[lv] += 1
            for lv in active:
                quotas[lv] = floors[lv]
            remaining = 0
    return quotas
