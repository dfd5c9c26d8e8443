"""Column kinds from values, and the chart each kind of result gets (on real query results too)."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from tunesql.db.connect import bundled_db_path
from tunesql.db.execute import run_query
from tunesql.serve.chart import MAX_BARS, column_kind, column_types, suggest_chart, value_kind


@pytest.mark.parametrize(("value", "kind"), [
    (None, "null"), (True, "boolean"), (3, "integer"), (2.5, "number"), (Decimal("4"), "integer"),
    (Decimal("4.50"), "number"), (Decimal("NaN"), "number"), (dt.date(2024, 1, 2), "date"),
    (dt.datetime(2024, 1, 2, 3, 4), "date"), ("2024-01-02", "date"), ("2024-01", "date"),
    ("2024-01-02 10:11:12", "date"), ("2024-01-02T10:11:12.5+08:00", "date"), ("2024", "text"),
    ("Beijing", "text"), ("12", "text"), ("0a1b", "text"),
])
def test_value_kind(value: object, kind: str) -> None:
    assert value_kind(value) == kind


def test_column_kind_mixes() -> None:
    assert column_kind([1, None, 2]) == "integer"
    assert column_kind([1, 2.5]) == "number"
    assert column_kind([None, None]) == "null" and column_kind([]) == "null"
    assert column_kind(["2024-01-01", "soon"]) == "text"
    assert column_kind([1, "a"]) == "text"
    assert column_types(["a", "b"], [(1, "x"), (2, None)]) == [{"name": "a", "type": "integer"},
                                                             {"name": "b", "type": "text"}]


def _types(**kinds: str) -> list[dict[str, str]]:
    return [{"name": name, "type": kind} for name, kind in kinds.items()]


def test_bar_for_categories_with_a_measure() -> None:
    chart = suggest_chart(_types(id="integer", city="text", total="number"),
                          [(1, "a", 2.0), (2, "b", 3.0)])
    assert (chart["type"], chart["x"], chart["y"]) == ("bar", "city", "total")  # the id is a label, not a measure
    too_many = suggest_chart(_types(city="text", n="integer"), [(str(i), i) for i in range(MAX_BARS + 1)])
    assert too_many["type"] == "none" and "too many" in too_many["reason"]
    only_ids = suggest_chart(_types(name="text", store_id="integer"), [("a", 1), ("b", 2)])
    assert (only_ids["type"], only_ids["y"]) == ("bar", "store_id")  # an id is still better than no chart


def test_line_for_dates_and_rising_numbers() -> None:
    dated = suggest_chart(_types(month="date", orders="integer"), [("2024-01", 3), ("2024-02", 5)])
    assert (dated["type"], dated["x"], dated["y"]) == ("line", "month", "orders")
    rising = suggest_chart(_types(year="integer", revenue="number"), [(2020, 1.0), (2021, 3.0), (2022, 2.0)])
    assert (rising["type"], rising["x"], rising["y"]) == ("line", "year", "revenue")


def test_scatter_for_two_unordered_measures() -> None:
    chart = suggest_chart(_types(price="number", sold="integer"), [(3.0, 1), (1.0, 5), (2.0, 2)])
    assert (chart["type"], chart["x"], chart["y"]) == ("scatter", "price", "sold")
    two_points = suggest_chart(_types(price="number", sold="integer"), [(3.0, 1), (1.0, 5)])
    assert two_points["type"] == "none"


@pytest.mark.parametrize(("types", "rows"), [
    (_types(n="integer"), [(1,), (2,)]),                           # one column
    (_types(city="text", n="integer"), [("a", 1)]),                # one row
    (_types(city="text", name="text"), [("a", "b"), ("c", "d")]),  # no numbers
    (_types(a="null", b="null"), [(None, None), (None, None)]),    # nothing at all
])
def test_no_chart(types: list[dict[str, str]], rows: list[tuple[object, ...]]) -> None:
    chart = suggest_chart(types, rows)
    assert chart["type"] == "none" and chart["x"] is None and chart["y"] is None and chart["reason"]


def test_charts_for_real_results(tmp_path: Path) -> None:
    db = tmp_path / "shop.sqlite"
    shutil.copyfile(bundled_db_path(), db)

    def chart(sql: str) -> dict[str, object]:
        result = run_query(db, sql)
        return suggest_chart(column_types(result.columns, result.rows), result.rows)

    assert chart("SELECT channel, SUM(o.total_amount) AS revenue FROM orders o JOIN stores s ON s.id = o.store_id "
                 "GROUP BY channel")["type"] == "bar"
    assert chart("SELECT substr(order_date, 1, 7) AS month, COUNT(*) FROM orders GROUP BY month")["x"] == "month"
    assert chart("SELECT unit_price, cost FROM products")["type"] == "scatter"
    assert chart("SELECT name, email FROM customers LIMIT 5")["type"] == "none"
