"""The bundled sample shop database and its question→SQL pairs.

Checks the packaged file (integrity, foreign keys, row counts, comment convention), that every pair runs
read-only through ``run_query`` and leaves the file untouched, that the build script reproduces the shipped
files, and, for a set of pairs, that the pair's answer matches one computed independently in plain Python
from ``SELECT *`` rows (so a wrong SQL is caught, not just a broken one).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from tunesql.db.connect import bundled_db_path
from tunesql.db.execute import run_query

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "scripts" / "build_sample_db.py"
PAIRS_PATH = bundled_db_path().with_name("shop_pairs.json")

ROW_COUNT_RANGES = {
    "regions": (5, 15),
    "stores": (8, 20),
    "employees": (20, 60),
    "customers": (250, 350),
    "categories": (10, 30),
    "suppliers": (5, 20),
    "products": (40, 100),
    "orders": (1800, 2200),
    "order_items": (4000, 6000),
    "payments": (1700, 2300),
    "reviews": (400, 1000),
}


@pytest.fixture(scope="module")
def db_path() -> Path:
    path = bundled_db_path()
    assert path.is_file(), f"bundled database missing at {path}; run scripts/build_sample_db.py"
    return path


@pytest.fixture(scope="module")
def conn(db_path: Path):
    c = sqlite3.connect(f"{db_path.as_uri()}?mode=ro", uri=True)
    yield c
    c.close()


@pytest.fixture(scope="module")
def pairs() -> list[dict]:
    return json.loads(PAIRS_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def pair_sql(pairs):
    return {p["id"]: p["sql"] for p in pairs}


def _rows(conn: sqlite3.Connection, table: str) -> list[dict]:
    cur = conn.execute(f"SELECT * FROM {table}")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


@pytest.fixture(scope="module")
def t(conn):
    """Every table as a list of dicts, fetched with plain ``SELECT *``."""
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {name: _rows(conn, name) for name in tables}


def _run(sql: str):
    res = run_query(None, sql)
    assert not res.truncated
    return res.rows


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the file ----------------------------------------------------------------------------------------------


def test_bundled_file_is_small_and_sound(db_path: Path, conn) -> None:
    assert db_path.stat().st_size < 2_000_000
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_row_counts_in_range(conn) -> None:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == set(ROW_COUNT_RANGES)
    for table, (lo, hi) in ROW_COUNT_RANGES.items():
        n = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        assert lo <= n <= hi, f"{table}: {n} rows, expected {lo}..{hi}"


def test_foreign_keys_declared(conn) -> None:
    fks = {(table, r[2]) for table in ROW_COUNT_RANGES
           for r in conn.execute(f"PRAGMA foreign_key_list({table})")}
    for edge in [("customers", "regions"), ("orders", "customers"), ("orders", "stores"),
                 ("orders", "employees"), ("order_items", "orders"), ("order_items", "products"),
                 ("products", "categories"), ("categories", "categories"), ("employees", "employees"),
                 ("payments", "orders"), ("reviews", "products")]:
        assert edge in fks


def test_comment_convention(conn) -> None:
    """Table comment on the ``CREATE TABLE name (`` line, each column's comment at the end of its line."""
    for name, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"):
        lines = sql.splitlines()
        assert lines[0].startswith(f"CREATE TABLE {name} ( -- "), lines[0]
        assert " / " in lines[0]
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info({name})")]
        for col in columns:
            line = next(ln for ln in lines[1:] if ln.strip().split()[0] == col)
            definition, sep, comment = line.partition(" -- ")
            assert sep and comment.strip(), f"{name}.{col} has no comment"
            assert "--" not in definition
            assert " / " in comment, f"{name}.{col}: expected 'English / 中文'"


# --- the pairs ---------------------------------------------------------------------------------------------


def test_pairs_well_formed(pairs) -> None:
    assert len(pairs) >= 40
    ids = [p["id"] for p in pairs]
    assert len(set(ids)) == len(ids)
    counts = Counter(p["difficulty"] for p in pairs)
    assert set(counts) <= {"easy", "medium", "hard", "extra"}
    assert all(counts[d] >= 5 for d in ("easy", "medium", "hard", "extra"))
    for p in pairs:
        assert set(p) <= {"id", "question", "question_zh", "sql", "difficulty"}
        assert p["question"].strip() and p["sql"].strip()


def test_every_pair_runs_and_leaves_db_unchanged(pairs, db_path: Path) -> None:
    before = _sha256(db_path)
    for p in pairs:
        res = run_query(None, p["sql"])
        assert res.rows, f"{p['id']} returned no rows"
        assert not res.truncated, p["id"]
    assert _sha256(db_path) == before


# --- independent cross-checks: the expected answer computed in Python from SELECT * rows ----------------


def _year(date: str) -> str:
    return date[:4]


def test_cancelled_orders(t, pair_sql) -> None:
    expected = sum(o["status"] == "cancelled" for o in t["orders"])
    assert _run(pair_sql["shop-001"]) == [(expected,)]


def test_missing_emails(t, pair_sql) -> None:
    assert _run(pair_sql["shop-005"]) == [(sum(c["email"] is None for c in t["customers"]),)]


def test_delivered_revenue_by_year(t, pair_sql) -> None:
    revenue: dict[str, float] = defaultdict(float)
    for o in t["orders"]:
        if o["status"] == "delivered":
            revenue[_year(o["order_date"])] += o["total_amount"]
    got = _run(pair_sql["shop-014"])
    assert [r[0] for r in got] == sorted(revenue)
    for year, value in got:
        assert value == pytest.approx(revenue[year], abs=0.01)


def test_most_used_payment_method(t, pair_sql) -> None:
    counts = Counter(p["method"] for p in t["payments"]).most_common()
    assert counts[0][1] > counts[1][1], "tie for first place: the LIMIT 1 pair would be ambiguous"
    assert _run(pair_sql["shop-016"]) == [counts[0]]


def test_products_never_ordered(t, pair_sql) -> None:
    ordered = {i["product_id"] for i in t["order_items"]}
    expected = sorted(p["name"] for p in t["products"] if p["id"] not in ordered)
    assert expected
    assert sorted(r[0] for r in _run(pair_sql["shop-020"])) == expected


def test_customers_never_ordered(t, pair_sql) -> None:
    buyers = {o["customer_id"] for o in t["orders"]}
    assert _run(pair_sql["shop-021"]) == [(sum(c["id"] not in buyers for c in t["customers"]),)]


def test_categories_without_products(t, pair_sql) -> None:
    cat_of = {c["id"]: c for c in t["categories"]}
    used: set[int] = set()
    for p in t["products"]:
        used.add(p["category_id"])
        parent = cat_of[p["category_id"]]["parent_id"]
        if parent is not None:
            used.add(parent)
    expected = sorted(c["name"] for c in t["categories"] if c["id"] not in used)
    assert sorted(r[0] for r in _run(pair_sql["shop-023"])) == expected


def test_busiest_day(t, pair_sql) -> None:
    counts = Counter(o["order_date"] for o in t["orders"]).most_common()
    assert counts[0][1] > counts[1][1]
    assert _run(pair_sql["shop-024"]) == [counts[0]]


def test_top_products_by_units(t, pair_sql) -> None:
    status = {o["id"]: o["status"] for o in t["orders"]}
    name = {p["id"]: p["name"] for p in t["products"]}
    units: Counter[str] = Counter()
    for i in t["order_items"]:
        if status[i["order_id"]] not in ("cancelled", "returned"):
            units[name[i["product_id"]]] += i["quantity"]
    ranked = units.most_common()
    assert ranked[4][1] > ranked[5][1], "tie at the LIMIT 5 boundary"
    assert sorted(_run(pair_sql["shop-031"])) == sorted(ranked[:5])


def test_top_customers_by_spend(t, pair_sql) -> None:
    spent: dict[int, float] = defaultdict(float)
    for o in t["orders"]:
        if o["status"] == "delivered":
            spent[o["customer_id"]] += o["total_amount"]
    cust = {c["id"]: c for c in t["customers"]}
    region = {r["id"]: r["name"] for r in t["regions"]}
    top = sorted(spent.items(), key=lambda kv: -kv[1])
    assert top[2][1] > top[3][1] + 0.01
    got = _run(pair_sql["shop-032"])
    assert [(r[0], r[1]) for r in got] == [(cust[c]["name"], region[cust[c]["region_id"]]) for c, _ in top[:3]]
    for row, (_, value) in zip(got, top[:3], strict=True):
        assert row[2] == pytest.approx(value, abs=0.01)


def test_customers_in_both_years(t, pair_sql) -> None:
    by_year: dict[str, set[int]] = defaultdict(set)
    for o in t["orders"]:
        by_year[_year(o["order_date"])].add(o["customer_id"])
    assert _run(pair_sql["shop-035"]) == [(len(by_year["2023"] & by_year["2024"]),)]


def test_churned_customers(t, pair_sql) -> None:
    by_year: dict[str, set[int]] = defaultdict(set)
    for o in t["orders"]:
        by_year[_year(o["order_date"])].add(o["customer_id"])
    churned = by_year["2023"] - by_year["2024"]
    expected = sorted(c["name"] for c in t["customers"] if c["id"] in churned)
    assert expected
    assert sorted(r[0] for r in _run(pair_sql["shop-036"])) == expected


def test_well_rated_products(t, pair_sql) -> None:
    ratings: dict[int, list[int]] = defaultdict(list)
    for r in t["reviews"]:
        ratings[r["product_id"]].append(r["rating"])
    name = {p["id"]: p["name"] for p in t["products"]}
    expected = sorted(name[pid] for pid, rs in ratings.items() if len(rs) >= 10 and sum(rs) / len(rs) >= 4.5)
    assert expected
    assert sorted(r[0] for r in _run(pair_sql["shop-038"])) == expected


def test_highest_cancellation_rate(t, pair_sql) -> None:
    total: Counter[int] = Counter()
    cancelled: Counter[int] = Counter()
    for o in t["orders"]:
        total[o["store_id"]] += 1
        cancelled[o["store_id"]] += o["status"] == "cancelled"
    rates = sorted(((cancelled[s] / total[s], s) for s in total), reverse=True)
    assert rates[0][0] > rates[1][0]
    store = {s["id"]: s["name"] for s in t["stores"]}
    (got,) = _run(pair_sql["shop-042"])
    assert got[0] == store[rates[0][1]]
    assert got[1] == pytest.approx(rates[0][0])


def test_products_per_top_category(t, pair_sql) -> None:
    parent = {c["id"]: c["parent_id"] for c in t["categories"]}
    counts = {c["name"]: 0 for c in t["categories"] if c["parent_id"] is None}
    top_name = {c["id"]: c["name"] for c in t["categories"] if c["parent_id"] is None}
    for p in t["products"]:
        cid = p["category_id"]
        counts[top_name[parent[cid] if parent[cid] is not None else cid]] += 1
    assert dict(_run(pair_sql["shop-043"])) == counts


def test_top_supplier_2024(t, pair_sql) -> None:
    orders = {o["id"]: o for o in t["orders"]}
    supplier_of = {p["id"]: p["supplier_id"] for p in t["products"]}
    revenue: dict[int, float] = defaultdict(float)
    for i in t["order_items"]:
        o = orders[i["order_id"]]
        if o["status"] == "delivered" and _year(o["order_date"]) == "2024":
            revenue[supplier_of[i["product_id"]]] += i["quantity"] * i["unit_price"] * (1 - i["discount"])
    ranked = sorted(revenue.items(), key=lambda kv: -kv[1])
    assert ranked[0][1] > ranked[1][1] + 1
    name = {s["id"]: s["name"] for s in t["suppliers"]}
    (got,) = _run(pair_sql["shop-046"])
    assert got[0] == name[ranked[0][0]]
    assert got[1] == pytest.approx(ranked[0][1], abs=0.01)


def test_month_over_month_change(t, pair_sql) -> None:
    per_month = Counter(o["order_date"][:7] for o in t["orders"])
    months = sorted(per_month)
    expected = []
    for prev, month in itertools.pairwise(months):
        if month.startswith("2024"):
            expected.append((month, per_month[month], per_month[month] - per_month[prev]))
    assert len(expected) == 12
    assert _run(pair_sql["shop-050"]) == expected


def test_first_orders_per_quarter_2024(t, pair_sql) -> None:
    first: dict[int, str] = {}
    for o in t["orders"]:
        cid = o["customer_id"]
        first[cid] = min(first.get(cid, o["order_date"]), o["order_date"])
    quarters = Counter((int(d[5:7]) + 2) // 3 for d in first.values() if d.startswith("2024"))
    assert _run(pair_sql["shop-051"]) == sorted(quarters.items())


# --- reproducible build ------------------------------------------------------------------------------------

# SQLite writes "version-valid-for" and the library version number at header offsets 92..99; they depend on
# the SQLite that ran the build, not on the content, so they are masked when comparing with the shipped file.
_VERSION_BYTES = slice(92, 100)


def _masked(data: bytes) -> bytes:
    return data[:_VERSION_BYTES.start] + b"\0" * 8 + data[_VERSION_BYTES.stop:]


def test_build_script_reproduces_shipped_files(tmp_path: Path, db_path: Path) -> None:
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        subprocess.run([sys.executable, str(BUILD_SCRIPT), "--out-dir", str(out)], check=True,
                       capture_output=True, timeout=300)
        outs.append(out)
    a, b = outs
    # Two runs here are byte-identical, header included.
    assert (a / "shop.sqlite").read_bytes() == (b / "shop.sqlite").read_bytes()
    assert (a / "shop_pairs.json").read_bytes() == (b / "shop_pairs.json").read_bytes()
    # And they match what ships in the package.
    assert (a / "shop_pairs.json").read_bytes() == PAIRS_PATH.read_bytes()
    assert _masked((a / "shop.sqlite").read_bytes()) == _masked(db_path.read_bytes())
