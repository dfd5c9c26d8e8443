"""The one result comparator: does a predicted query's result equal the gold query's result?

Everything that judges execution accuracy calls :func:`results_match`: the evaluator, the GRPO reward,
self-consistency voting and data validation. Published numbers disagree mostly because evaluators compare
results differently, so there is exactly one definition here, with two named semantics.

``semantics="spider"`` (the default) is the Spider test-suite evaluator's ``result_eq`` (taoyds/test-suite-sql-eval,
``exec_eval.py``), verdict for verdict:

- two empty results match; otherwise the row counts and the column counts (of the first row) must be equal;
- rows are a bag: duplicates count, ``[(1,), (1,)]`` is not ``[(1,)]``;
- columns may come in any order: the results match if some permutation of the predicted columns makes them
  equal (``SELECT name, age`` matches ``SELECT age, name``);
- row order matters only when ``ordered`` is true. The official evaluator sets it when the lower-cased gold SQL
  contains the text ``order by`` (after it strips ``DISTINCT``); the caller decides, this module only compares;
- values compare with Python ``==`` (hash-consistent): ``1 == 1.0 == True``, ``None`` equals only ``None``,
  ``'1' != 1``, ``Decimal('1.5') == 1.5``;
- one quirk kept on purpose, because it is official: before the permutation search every row is "unordered" by
  sorting its values on ``str(value) + str(type(value))`` and the two results must agree on those sorted rows
  (as a list when ordered, as a set otherwise). Equal values of different types can sort differently, so
  ``[(1, 1.5)]`` does NOT match ``[(1.0, 1.5)]`` (``1`` sorts after ``1.5``, ``1.0`` before it), while
  ``[(1,)]`` matches ``[(1.0,)]``. SQLite results rarely mix int and float for one value.

``semantics="bird"`` is BIRD's evaluator: ``set(pred) == set(gold)``. Duplicates and row order never matter
(``ordered`` is ignored) and columns are compared by position (BIRD does not permute columns), so a
column-reordered prediction that Spider accepts is wrong under BIRD; two empty results match.

Float tolerance: ``float_tol`` defaults to ``FLOAT_TOL`` (1e-9): every float and ``Decimal`` is replaced by its
value rounded to ``d = floor(-log10(float_tol))`` significant digits (9 for 1e-9) before comparing, so
``0.1 + 0.2`` matches ``0.3`` and a ``SUM`` that added the same floats in another order still matches. Rounding
(rather than a pairwise tolerance) keeps the rule transitive and the comparison hash-based, hence fast; values
on either side of a rounding boundary at the 9th digit stay different. The official evaluators compare floats
exactly, so a verdict can differ from theirs only when two floats differ past the 9th significant digit — a
one-ulp difference that the official counts wrong. ``float_tol=0`` is bit-exact official behaviour
(``tunesql eval --float-tol 0``); ``bench/eval_speed.py`` checks agreement with the official at the default.

Cost: linear in the number of values plus the column-permutation search, which only tries columns whose value
multisets are equal and prunes on partial row bags, so wide results with many look-alike columns stay fast
(a 10,000 × 10 result compares in about 0.1-0.3 s). The official code's random sampling of candidate
permutations is sound (it never discards a valid permutation), so its verdict is deterministic and equals the
existence of a valid permutation, which is what is computed here.

Values must be hashable (what sqlite3 returns always is); lists, dicts and sets from other drivers (DuckDB
arrays, JSON) are frozen to tuples first. Rows may be tuples, lists or row objects that iterate as values.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from decimal import Decimal
from operator import itemgetter
from typing import Any, Literal

Semantics = Literal["spider", "bird"]
SEMANTICS: tuple[str, ...] = ("spider", "bird")
FLOAT_TOL = 1e-9
"""A tolerance suggested for callers that want rounding noise ignored (not the default, see the module doc)."""

Row = tuple[Any, ...]


def results_match(
    pred_rows: Iterable[Sequence[Any]],
    gold_rows: Iterable[Sequence[Any]],
    ordered: bool,
    semantics: str = "spider",
    *,
    float_tol: float = FLOAT_TOL,
) -> bool:
    """Whether the predicted result equals the gold result under ``semantics`` (see the module docstring).

    ``ordered``: the gold SQL has ORDER BY, so row order matters (Spider semantics only; BIRD ignores it).
    ``float_tol``: floats are rounded to ``floor(-log10(float_tol))`` significant digits on both sides first
    (default 1e-9: 9 digits); 0 compares floats exactly, like the official evaluators.
    Raises ValueError for an unknown semantics, a negative tolerance, or rows of different lengths in one result.
    """
    if semantics not in SEMANTICS:
        raise ValueError(f"unknown semantics {semantics!r}; expected one of {', '.join(SEMANTICS)}")
    if not (isinstance(float_tol, (int, float)) and float_tol >= 0 and math.isfinite(float_tol)):
        raise ValueError(f"float_tol must be a finite number >= 0, got {float_tol!r}")
    digits = _digits_for(float_tol)
    pred = _prepare(pred_rows, digits, "pred_rows")
    gold = _prepare(gold_rows, digits, "gold_rows")
    if semantics == "bird":
        return set(pred) == set(gold)
    return _spider_eq(gold, pred, ordered)


# ----------------------------------------------------------------------------------------------- preparation


def _digits_for(float_tol: float) -> int | None:
    if float_tol == 0:
        return None
    return max(1, min(17, math.floor(-math.log10(float_tol)))) if float_tol < 1 else 1


_PLAIN = frozenset({int, float, str, bytes, type(None), bool})


def _prepare(rows: Iterable[Sequence[Any]], digits: int | None, what: str) -> list[Row]:
    out: list[Row] = []
    width: int | None = None
    for row in rows:
        if type(row) is tuple and (digits is None or float not in map(type, row)) and _PLAIN.issuperset(
                map(type, row)):
            values = row  # the common case (sqlite3 rows): nothing to convert
        else:
            values = tuple(_freeze(v, digits) for v in row)
        if width is None:
            width = len(values)
        elif len(values) != width:
            raise ValueError(f"{what}: rows have different lengths ({width} and {len(values)})")
        out.append(values)
    return out


def _freeze(value: Any, digits: int | None) -> Hashable:
    if digits is not None:
        if isinstance(value, float) and math.isfinite(value):
            return float(f"{value:.{digits}g}")
        if isinstance(value, Decimal) and value.is_finite():
            return float(f"{float(value):.{digits}g}")
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v, digits) for v in value)
    if isinstance(value, dict):
        return tuple(sorted(((str(k), _freeze(v, digits)) for k, v in value.items()), key=lambda kv: kv[0]))
    if isinstance(value, (set, frozenset)):
        return frozenset(_freeze(v, digits) for v in value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return value


# ----------------------------------------------------------------------------------------------- spider


_SIMPLE = frozenset({str, bytes, type(None)})
_NUMERIC = frozenset({int, float, bool})


def _quirk_possible(gold: list[Row], pred: list[Row]) -> bool:
    """Whether two equal values in these results could differ in ``str(value) + str(type(value))``."""
    types = set(map(type, itertools.chain.from_iterable(gold))) | set(map(type, itertools.chain.from_iterable(pred)))
    numeric = types & _NUMERIC
    if len(numeric) > 1 or not types <= _SIMPLE | _NUMERIC:
        return True
    if float in numeric:
        zeros = [v for v in itertools.chain.from_iterable(gold + pred) if type(v) is float and v == 0.0]
        return any(math.copysign(1.0, v) < 0 for v in zeros)
    return False


def _unorder_row(row: Row) -> Row:
    """The official pre-check's canonical row: values stably sorted on ``str(value) + str(type(value))``
    (spelled with maps, an index breaking ties, so it runs at C speed)."""
    keys = map(operator.add, map(str, row), map(str, map(type, row)))
    return tuple(v for _, _, v in sorted(zip(keys, range(len(row)), row, strict=True)))


def _spider_eq(gold: list[Row], pred: list[Row], ordered: bool) -> bool:
    if not gold and not pred:
        return True
    if len(gold) != len(pred):
        return False
    ncols = len(gold[0])
    if len(pred[0]) != ncols:
        return False
    # The official quick rejection, kept in effect (it can reject equal results, see module doc). It can only
    # change the verdict when equal values differ in type or spelling (1 / 1.0 / True, 0.0 / -0.0); otherwise
    # a matching column permutation implies it, and the costly per-value sort is skipped.
    if _quirk_possible(gold, pred):
        g_un = [_unorder_row(r) for r in gold]
        p_un = [_unorder_row(r) for r in pred]
        if ordered:
            if g_un != p_un:
                return False
        elif set(g_un) != set(p_un):
            return False
    if ncols == 0:
        return True
    gold_cols = list(zip(*gold, strict=True))
    pred_cols = list(zip(*pred, strict=True))
    if ordered:
        return _ordered_perm_exists(gold_cols, pred_cols)
    return _bag_perm_exists(gold, pred, gold_cols, pred_cols)


def _ordered_perm_exists(gold_cols: list[tuple[Any, ...]], pred_cols: list[tuple[Any, ...]]) -> bool:
    """Ordered rows: the results are equal under a column permutation iff the columns, as sequences, are the
    same multiset (a column must equal its partner position by position, and equality is an equivalence)."""
    return Counter(gold_cols) == Counter(pred_cols)


def _bag_perm_exists(gold: list[Row], pred: list[Row], gold_cols: list[tuple[Any, ...]],
                     pred_cols: list[tuple[Any, ...]]) -> bool:
    """Unordered rows: is there a permutation ``perm`` with bag(gold) == bag(pred rows permuted by perm)?

    Gold column ``i`` may only take predicted column ``j`` when both hold the same multiset of values; columns
    are assigned most-constrained first, and after each assignment the bag of partial rows (the assigned
    columns) must already agree, which prunes look-alike columns quickly.
    """
    ncols = len(gold_cols)
    if Counter(gold) == Counter(pred) and ncols >= 1:
        return True  # the identity permutation
    g_sig = [_multiset_key(c) for c in gold_cols]
    p_sig = [_multiset_key(c) for c in pred_cols]
    by_sig: dict[Hashable, list[int]] = defaultdict(list)
    for j, sig in enumerate(p_sig):
        by_sig[sig].append(j)
    candidates = [by_sig.get(sig, []) for sig in g_sig]
    if any(not c for c in candidates):
        return False
    if Counter(g_sig) != Counter(p_sig):
        return False
    order = sorted(range(ncols), key=lambda i: len(candidates[i]))
    used = [False] * ncols
    chosen: list[int] = []

    def partial_ok(k: int) -> bool:
        return Counter(map(itemgetter(*order[:k]), gold)) == Counter(map(itemgetter(*chosen[:k]), pred))

    def search(k: int) -> bool:
        if k == ncols:
            return partial_ok(ncols)
        ambiguous = len(candidates[order[k]]) > 1
        for j in candidates[order[k]]:
            if used[j]:
                continue
            used[j] = True
            chosen.append(j)
            # Prune only where there was a choice (a forced column is checked with the full rows at the end);
            # a single column's bag already agrees by construction.
            if (k == 0 or not ambiguous or partial_ok(k + 1)) and search(k + 1):
                return True
            chosen.pop()
            used[j] = False
        return False

    return search(0)


def _multiset_key(column: tuple[Any, ...]) -> Hashable:
    return frozenset(Counter(column).items())
