"""Column kinds and a chart suggestion, from a query result's values alone.

Declared types are not enough: SQLite stores dates as TEXT, and an expression column (``COUNT(*)``,
``strftime(...)``) has no declared type at all. So the kinds come from the values the query returned, and the
chart follows from the kinds with a few plain rules the page can show as the reason:

- ``line``: a date-like column as x (or a numeric x that only goes up) and a numeric y;
- ``bar``: a text column as x and a numeric y, at most ``MAX_BARS`` rows (more bars cannot be read);
- ``scatter``: two numeric columns whose x is not ordered;
- ``none``: anything else (one row, one column, no numbers).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

KINDS = ("integer", "number", "text", "date", "boolean", "null")
MAX_BARS = 50
MIN_POINTS = 3
"""Fewer points than this make no line or scatter worth drawing."""

_DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")
_ID = re.compile(r"(^|_)id$", re.IGNORECASE)


def value_kind(value: Any) -> str:
    """The kind of one value; ``null`` for None."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, Decimal):
        exact = value.is_finite() and int(value.as_tuple().exponent) >= 0
        return "integer" if exact else "number"
    if isinstance(value, float):
        return "number"
    if isinstance(value, (dt.date, dt.datetime)):
        return "date"
    if isinstance(value, str) and _DATE.match(value.strip()):
        return "date"
    return "text"


def column_kind(values: Sequence[Any]) -> str:
    """One kind for a column: integers with any float make ``number``; any other mix is ``text``."""
    kinds = {value_kind(v) for v in values} - {"null"}
    if not kinds:
        return "null"
    if len(kinds) == 1:
        return kinds.pop()
    if kinds <= {"integer", "number"}:
        return "number"
    return "text"


def column_types(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[dict[str, str]]:
    """``[{"name", "type"}]`` for each column, the type being one of ``KINDS``."""
    return [{"name": str(name), "type": column_kind([r[i] for r in rows if i < len(r)])}
            for i, name in enumerate(columns)]


def _numeric(kind: str) -> bool:
    return kind in ("integer", "number")


def _rising(values: Sequence[Any]) -> bool:
    nums = [v for v in values if v is not None]
    return len(nums) >= MIN_POINTS and all(a < b for a, b in itertools.pairwise(nums))


def _pick_y(types: list[dict[str, str]], exclude: str) -> str | None:
    """The first numeric column other than ``exclude``, preferring ones that are not ids (an id is a label,
    not a quantity to plot)."""
    numeric = [t["name"] for t in types if _numeric(t["type"]) and t["name"] != exclude]
    measures = [n for n in numeric if not _ID.search(n)]
    return (measures or numeric or [None])[0]


def _chart(kind: str, x: str | None, y: str | None, reason: str) -> dict[str, Any]:
    return {"type": kind, "x": x, "y": y, "reason": reason}


def suggest_chart(types: list[dict[str, str]], rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """A chart for the result: ``{"type": "bar"|"line"|"scatter"|"none", "x", "y", "reason"}``."""
    if len(types) < 2:
        return _chart("none", None, None, "a chart needs two columns")
    if len(rows) < 2:
        return _chart("none", None, None, "one row or none: the table says it all")
    names = [t["name"] for t in types]
    date_x = next((t["name"] for t in types if t["type"] == "date"), None)
    if date_x is not None:
        y = _pick_y(types, date_x)
        if y is not None:
            return _chart("line", date_x, y, f"{y} over time ({date_x})")
    text_x = next((t["name"] for t in types if t["type"] == "text"), None)
    if text_x is not None:
        y = _pick_y(types, text_x)
        if y is None:
            return _chart("none", None, None, "no numeric column to plot")
        if len(rows) > MAX_BARS:
            return _chart("none", None, None, f"{len(rows)} categories are too many bars (at most {MAX_BARS})")
        return _chart("bar", text_x, y, f"{y} for each {text_x}")
    numeric = [t["name"] for t in types if _numeric(t["type"])]
    if len(numeric) >= 2:
        x = numeric[0]
        y = _pick_y(types, x)
        column = [r[names.index(x)] for r in rows]
        if _rising(column):
            return _chart("line", x, y, f"{y} along increasing {x}")
        if len(rows) >= MIN_POINTS:
            return _chart("scatter", x, y, f"{y} against {x}")
    return _chart("none", None, None, "no text or date column with a numeric one to plot")
