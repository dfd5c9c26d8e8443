"""Difficulty levels for "accuracy by difficulty" tables: Spider's hardness and BIRD's own label.

Spider's easy / medium / hard / extra is computed from the gold SQL's structure by the official evaluator
(``Evaluator.eval_hardness`` in taoyds/test-suite-sql-eval ``evaluation.py``), from three counts taken on the
outermost SELECT only (for ``A UNION B`` that is ``A``; an ORDER BY / LIMIT after the set operation belongs to
``B`` in Spider's parser and is not counted):

- component 1: +1 each for WHERE, GROUP BY, ORDER BY, LIMIT; + (number of FROM items - 1) (joined tables and
  FROM subqueries); +1 per ``OR`` and +1 per ``LIKE`` (``NOT LIKE`` too) in the JOIN ... ON, WHERE and HAVING
  conditions;
- component 2: +1 per subquery used as a value in those conditions (``x IN (SELECT ...)``,
  ``x > (SELECT ...)``), +1 if a set operation (UNION / INTERSECT / EXCEPT) follows;
- others: +1 if there is more than one "aggregation", +1 for more than one SELECT item, +1 for more than one
  WHERE condition, +1 for more than one GROUP BY column.

The "aggregation" count reproduces the official code's arithmetic exactly, quirks included: SELECT items whose
outermost expression is an aggregate; WHERE conditions carrying ``NOT`` (``NOT IN``, ``NOT LIKE``,
``NOT BETWEEN``, ``IS NOT``; the official code reads the condition's not-flag where it means the aggregate);
aggregates in GROUP BY; aggregates in the ORDER BY terms; and in HAVING the conditions carrying ``NOT`` plus
one per AND/OR connector (again the official indexing), while ``HAVING count(*) > 1`` itself adds nothing.
One parser quirk is reproduced too: a condition whose value is a column (``T2.mar < T2.jul OR ...``) swallows
the conditions after an ``OR`` up to the next ``AND``, so they (and their OR / LIKE / NOT) are not counted.

Then: easy if c1 <= 1, others == 0, c2 == 0; medium if (others <= 2, c1 <= 1, c2 == 0) or
(c1 <= 2, others < 2, c2 == 0); hard if (others > 2, c1 <= 2, c2 == 0) or (2 < c1 <= 3, others <= 2, c2 == 0)
or (c1 <= 1, others == 0, c2 <= 1); extra otherwise.

Counting is done on the sqlglot tree, so queries Spider's own parser rejects (parenthesised condition groups,
comma joins, CTEs, functions) still get a level. It equals the official label on all 1034 Spider dev gold
queries and on all 8658 train gold queries Spider's parser accepts.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from tunesql.sql.transpile import parse_statement

SPIDER_LEVELS = ("easy", "medium", "hard", "extra")
BIRD_LEVELS = ("simple", "moderate", "challenging")

_PREDICATES = (exp.Predicate, exp.Like, exp.ILike, exp.In, exp.Between, exp.Is, exp.Exists)


def spider_hardness(sql: str, dialect: str = "sqlite") -> str:
    """Spider's hardness level of ``sql`` ("easy", "medium", "hard" or "extra"); SQLSyntaxError if it does not
    parse as one query in ``dialect``."""
    tree = parse_statement(sql, dialect, queries_only=True)
    c1, c2, others = _spider_counts(tree)
    if c1 <= 1 and others == 0 and c2 == 0:
        return "easy"
    if (others <= 2 and c1 <= 1 and c2 == 0) or (c1 <= 2 and others < 2 and c2 == 0):
        return "medium"
    if ((others > 2 and c1 <= 2 and c2 == 0) or (2 < c1 <= 3 and others <= 2 and c2 == 0)
            or (c1 <= 1 and others == 0 and c2 <= 1)):
        return "hard"
    return "extra"


def bird_difficulty(example: Any) -> str | None:
    """BIRD's own label (simple / moderate / challenging) from the record; None when it has none."""
    return _get(example, "difficulty")


def difficulty_of(example: Any) -> str | None:
    """The difficulty an "accuracy by difficulty" table should use for one record.

    BIRD records (``source`` starting with ``bird``) and any record already carrying a label keep the label;
    Spider records (and unlabeled ones) get ``spider_hardness`` of their gold SQL; None when the SQL is empty or
    does not parse. Accepts an ``Example`` or a dict with the same fields.
    """
    source = str(_get(example, "source") or "")
    label = _get(example, "difficulty")
    if source.startswith("bird") or (label and not source.startswith("spider")):
        return label
    sql = _get(example, "sql") or ""
    if not sql.strip():
        return label
    try:
        return spider_hardness(sql, _get(example, "dialect") or "sqlite")
    except Exception:  # an unparsable gold query has no structural level
        return label


def _get(example: Any, name: str) -> Any:
    if isinstance(example, dict):
        return example.get(name)
    return getattr(example, name, None)


# ----------------------------------------------------------------------------------------------- counting


def _first_select(tree: exp.Expr) -> tuple[exp.Expr, bool]:
    """The outermost SELECT Spider's parser sees first, and whether a set operation follows it."""
    node, has_set_op = tree, False
    while True:
        if isinstance(node, exp.SetOperation):
            has_set_op = True
            node = node.this
        elif isinstance(node, exp.Subquery):
            node = node.this
        else:
            return node, has_set_op


def _spider_counts(tree: exp.Expr) -> tuple[int, int, int]:
    select, has_set_op = _first_select(tree)
    if not isinstance(select, exp.Select):
        return 0, int(has_set_op), 0
    where = select.args.get("where")
    having = select.args.get("having")
    group = select.args.get("group")
    order = select.args.get("order")
    limit = select.args.get("limit")
    from_ = select.args.get("from_") or select.args.get("from")
    joins = select.args.get("joins") or []

    where_cond = where.this if where is not None else None
    having_cond = having.this if having is not None else None
    on_conds = [j.args["on"] for j in joins if j.args.get("on") is not None]
    conds = [c for c in [*on_conds, where_cond, having_cond] if c is not None]

    group_items = list(group.expressions) if group is not None else []
    order_items = list(order.expressions) if order is not None else []
    n_from = (1 if from_ is not None else 0) + len(joins)

    c1 = 0
    c1 += where_cond is not None
    c1 += bool(group_items)
    c1 += bool(order_items)
    c1 += limit is not None
    c1 += max(n_from - 1, 0)
    for cond in conds:
        units, connectors = _flatten(cond)
        c1 += sum(1 for op in connectors if isinstance(op, exp.Or))
        c1 += sum(1 for u in units if isinstance(_strip_not(u), exp.Like))

    c2 = sum(_count_value_subqueries(u) for cond in conds for u in _flatten(cond)[0]) + int(has_set_op)

    agg = sum(1 for item in select.expressions if _outer_agg(item))
    where_units = _flatten(where_cond)[0] if where_cond is not None else []
    agg += sum(1 for u in where_units if isinstance(u, exp.Not))
    agg += sum(1 for g in group_items if _outer_agg(g))
    for o in order_items:
        term = o.this if isinstance(o, exp.Ordered) else o
        agg += _order_term_aggs(term)
    if having_cond is not None:
        h_units, h_connectors = _flatten(having_cond)
        agg += sum(1 for u in h_units if isinstance(u, exp.Not)) + len(h_connectors)
    others = 0
    others += agg > 1
    others += len(select.expressions) > 1
    others += len(where_units) > 1
    others += len(group_items) > 1
    return c1, c2, others


def _flatten(cond: exp.Expr) -> tuple[list[exp.Expr], list[exp.Expr]]:
    """The condition units and AND/OR connectors of a condition as Spider's flat condition list has them.

    Spider's parser reads a condition's value up to the next ``,``, ``)``, ``AND``, clause or join keyword; when
    the value is a column (``T2.mar < T2.jul OR ...``) an ``OR`` does not stop it, so the conditions after it
    up to the next ``AND`` are swallowed into that value and never counted. That is reproduced here.
    """
    seq: list[exp.Expr] = []

    def walk(node: exp.Expr) -> None:
        while isinstance(node, exp.Paren):
            node = node.this
        if isinstance(node, exp.Connector):
            walk(node.this)
            seq.append(node)
            walk(node.expression)
        else:
            seq.append(node)

    walk(cond)
    units: list[exp.Expr] = [seq[0]]
    connectors: list[exp.Expr] = []
    swallowing = _value_runs_on(seq[0])
    for k in range(1, len(seq), 2):
        op, unit = seq[k], seq[k + 1]
        if swallowing and isinstance(op, exp.Or):
            continue  # still inside the previous condition's value
        connectors.append(op)
        units.append(unit)
        swallowing = _value_runs_on(unit)
    return units, connectors


def _value_runs_on(unit: exp.Expr) -> bool:
    """Whether Spider's parser would read past an OR after this condition: its (last) value is neither a
    number, a string nor a subquery."""
    unit = _strip_not(unit)
    if isinstance(unit, exp.Between):
        value = unit.args.get("high")
    elif isinstance(unit, exp.In):
        value = unit.args.get("query") or (unit.expressions[-1] if unit.expressions else None)
    else:
        value = unit.args.get("expression")
    if value is None:
        return False
    while isinstance(value, exp.Paren):
        value = value.this
    if isinstance(value, (exp.Literal, exp.Subquery, exp.Query, exp.Null, exp.Boolean)):
        return False
    if isinstance(value, exp.Neg) and isinstance(value.this, exp.Literal):
        return False
    # A double-quoted "string" is a string to Spider's tokenizer (SQLite reads it so when no such column exists).
    return not (isinstance(value, exp.Column) and value.this is not None and value.this.args.get("quoted"))


def _strip_not(node: exp.Expr) -> exp.Expr:
    while isinstance(node, (exp.Not, exp.Paren)):
        node = node.this
    return node


def _count_value_subqueries(unit: exp.Expr) -> int:
    """Subqueries used as values in one condition unit (not looking inside the subqueries themselves)."""
    count = 0
    stack = [unit]
    while stack:
        node = stack.pop()
        if isinstance(node, (exp.Subquery, exp.Query)) and node is not unit:
            count += 1
            continue
        stack.extend(node.iter_expressions())
    return count


def _outer_agg(node: exp.Expr) -> bool:
    while isinstance(node, (exp.Alias, exp.Paren)):
        node = node.this
    return isinstance(node, exp.AggFunc)


def _order_term_aggs(term: exp.Expr) -> int:
    """Aggregates among an ORDER BY term's (at most two) operands, as Spider's val_unit holds them."""
    while isinstance(term, exp.Paren):
        term = term.this
    if isinstance(term, exp.Binary) and not isinstance(term, exp.Connector):
        return int(_outer_agg(term.this)) + int(_outer_agg(term.expression))
    return int(_outer_agg(term))
