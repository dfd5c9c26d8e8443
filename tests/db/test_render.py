"""Rendering a Schema for prompts: exact output of every format, and DDL that parses and round-trips."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from tunesql.db import Column, ForeignKey, Schema, Table, open_database
from tunesql.db.introspect import introspect
from tunesql.db.render import (
    RENDER_FORMATS,
    quote_identifier,
    render_cards,
    render_ddl,
    render_json,
    render_mschema,
    render_schema,
    sql_literal,
)


def small_schema(dialect: str = "sqlite") -> Schema:
    customers = Table(
        name="customers", comment="People who buy things", row_count=3,
        columns=[
            Column("id", "INTEGER", nullable=False, primary_key=True, samples=[1, 2, 3]),
            Column("name", "TEXT", nullable=False, comment="Full name", samples=["Ann", "O'Brien"]),
            Column("Signup Date", "DATE", samples=["2024-01-01"]),
            Column("vip", "BOOLEAN", default="FALSE", samples=[True, False]),
        ])
    orders = Table(
        name="orders", comment="Customer orders", row_count=2000,
        columns=[
            Column("id", "INTEGER", nullable=False, primary_key=True, comment="Order id", samples=[1, 2]),
            Column("customer_id", "INTEGER", nullable=False, samples=[1, 3]),
            Column("status", "TEXT", default="'new'", comment="Order status:\n new or shipped",
                   samples=["delivered", "shipped"]),
            Column("amount", "DECIMAL(10,2)", samples=[10.5, 3]),
            Column("order", "TEXT", samples=["line one\nline two"]),
        ],
        foreign_keys=[ForeignKey(["customer_id"], "customers", ["id"])])
    lines = Table(
        name="order lines", row_count=1,
        columns=[
            Column("order_id", "INTEGER", primary_key=True),
            Column("line_no", "INTEGER", primary_key=True),
            Column("note", ""),
        ],
        foreign_keys=[ForeignKey(["order_id", "line_no"], "orders", ["id", "id"])])
    view = Table(name="big_orders", comment="(view)", columns=[Column("id", "INTEGER")])
    return Schema(name="shop", dialect=dialect, tables=[customers, lines, orders, view])


DDL = """\
CREATE TABLE customers ( -- People who buy things
  id INTEGER, -- e.g. 1, 2, 3
  name TEXT NOT NULL, -- Full name; e.g. 'Ann', 'O''Brien'
  "Signup Date" DATE, -- e.g. '2024-01-01'
  vip BOOLEAN DEFAULT FALSE, -- e.g. TRUE, FALSE
  PRIMARY KEY (id)
);

CREATE TABLE "order lines" (
  order_id INTEGER,
  line_no INTEGER,
  note,
  PRIMARY KEY (order_id, line_no),
  FOREIGN KEY (order_id, line_no) REFERENCES orders (id, id)
);

CREATE TABLE orders ( -- Customer orders
  id INTEGER, -- Order id; e.g. 1, 2
  customer_id INTEGER NOT NULL, -- e.g. 1, 3
  status TEXT DEFAULT 'new', -- Order status: new or shipped; e.g. 'delivered', 'shipped'
  amount DECIMAL(10,2), -- e.g. 10.5, 3
  "order" TEXT, -- e.g. 'line one line two'
  PRIMARY KEY (id),
  FOREIGN KEY (customer_id) REFERENCES customers (id)
);

CREATE TABLE big_orders ( -- (view)
  id INTEGER
);"""

CARDS = """\
customers (3 rows) — People who buy things
  id INTEGER PK e.g. 1, 2, 3 | name TEXT (Full name) e.g. 'Ann', 'O''Brien' | "Signup Date" DATE e.g. \
'2024-01-01' | vip BOOLEAN e.g. TRUE, FALSE
"order lines" (1 row)
  order_id INTEGER PK | line_no INTEGER PK | note | FK (order_id, line_no) → orders(id, id)
orders (2,000 rows) — Customer orders
  id INTEGER PK (Order id) e.g. 1, 2 | customer_id INTEGER → customers.id e.g. 1, 3 | status TEXT \
(Order status: new or shipped) e.g. 'delivered', 'shipped' | amount DECIMAL(10,2) e.g. 10.5, 3 | "order" TEXT \
e.g. 'line one line two'
big_orders — (view)
  id INTEGER"""

MSCHEMA = """\
【DB_ID】 shop
【Schema】
# Table: customers, People who buy things
[
(id:INTEGER, Primary Key, Examples: [1, 2, 3]),
(name:TEXT, Full name, Examples: [Ann, O'Brien]),
(Signup Date:DATE, Examples: [2024-01-01]),
(vip:BOOLEAN, Examples: [True, False])
]
# Table: order lines
[
(order_id:INTEGER, Primary Key),
(line_no:INTEGER, Primary Key),
(note)
]
# Table: orders, Customer orders
[
(id:INTEGER, Primary Key, Order id, Examples: [1, 2]),
(customer_id:INTEGER, Examples: [1, 3]),
(status:TEXT, Order status: new or shipped, Examples: [delivered, shipped]),
(amount:DECIMAL(10,2), Examples: [10.5, 3]),
(order:TEXT, Examples: [line one line two])
]
# Table: big_orders, (view)
[
(id:INTEGER)
]
【Foreign keys】
order lines.order_id=orders.id
order lines.line_no=orders.id
orders.customer_id=customers.id"""


def test_exact_output_of_each_format() -> None:
    schema = small_schema()
    assert render_ddl(schema) == DDL
    assert render_cards(schema) == CARDS
    assert render_mschema(schema) == MSCHEMA
    assert render_schema(schema) == DDL  # ddl is the default
    for fmt, text in {"ddl": DDL, "cards": CARDS, "mschema": MSCHEMA}.items():
        assert render_schema(schema, fmt) == text
        assert render_schema(small_schema(), fmt) == text  # deterministic


def test_json_round_trips() -> None:
    schema = small_schema()
    text = render_schema(schema, "json")
    assert "\n" not in text  # compact for prompts
    assert Schema.from_dict(json.loads(text)) == schema
    assert Schema.from_dict(json.loads(render_json(schema, indent=2))) == schema
    bare = json.loads(render_json(schema, samples=False, comments=False))
    assert all(c["samples"] == [] and c["comment"] is None for t in bare["tables"] for c in t["columns"])
    assert [t["comment"] for t in bare["tables"]] == [None, None, None, "(view)"]


def test_samples_and_comments_can_be_left_out() -> None:
    schema = small_schema()
    for fmt in ("ddl", "cards", "mschema"):
        text = render_schema(schema, fmt, samples=False, comments=False)
        assert "e.g." not in text and "Examples" not in text
        assert "Customer orders" not in text and "Full name" not in text
        assert "(view)" in text  # a view stays marked
        with_comments = render_schema(schema, fmt, samples=False)
        assert "Customer orders" in with_comments and "e.g." not in with_comments
    assert render_cards(schema, samples=False, comments=False).splitlines()[4:6] == [
        "orders (2,000 rows)",
        "  id INTEGER PK | customer_id INTEGER → customers.id | status TEXT | amount DECIMAL(10,2) | \"order\" TEXT",
    ]


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="mschema"):
        render_schema(small_schema(), "yaml")
    assert RENDER_FORMATS == ("ddl", "cards", "mschema", "json")


@pytest.mark.parametrize("dialect", ["sqlite", "duckdb", "postgres", "mysql"])
def test_ddl_parses_back_with_sqlglot(dialect: str) -> None:
    schema = small_schema(dialect)
    statements = sqlglot.parse(render_ddl(schema), read=dialect)
    assert len(statements) == len(schema.tables)
    for statement, table in zip(statements, schema.tables, strict=True):
        assert isinstance(statement, exp.Create)
        assert statement.this.this.name == table.name
        # An untyped column (SQLite allows them) parses as a bare identifier.
        columns = [e.name for e in statement.this.expressions if isinstance(e, (exp.ColumnDef, exp.Identifier))]
        assert columns == [c.name for c in table.columns]
        pk = statement.find(exp.PrimaryKey)
        assert (pk is not None) == bool(table.primary_key)
        assert len(list(statement.find_all(exp.ForeignKey))) == len(table.foreign_keys)


def test_ddl_runs_in_sqlite_and_introspects_back_the_same(tmp_path: Path) -> None:
    schema = small_schema()
    path = tmp_path / "roundtrip.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(render_ddl(schema, samples=False))
    conn.close()
    with open_database(path) as db:
        back = introspect(db, samples=0, row_counts=False)
    original = {t.name: t for t in schema.tables}
    assert {t.name for t in back.tables} == set(original)
    for table in back.tables:
        if table.name == "big_orders":
            continue  # rendered as a table, read back as one
        source = original[table.name]
        assert table.comment == source.comment
        assert table.foreign_keys == source.foreign_keys
        assert table.primary_key == source.primary_key
        for got, want in zip(table.columns, source.columns, strict=True):
            assert (got.name, got.type, got.default) == (want.name, want.type, want.default)
            assert got.comment == (" ".join(want.comment.split()) if want.comment else None)
            assert got.nullable == want.nullable or want.primary_key


def test_quote_identifier() -> None:
    assert quote_identifier("orders", "sqlite") == "orders"
    assert quote_identifier("CustomerID", "sqlite") == "CustomerID"
    assert quote_identifier("CustomerID", "postgres") == '"CustomerID"'  # PostgreSQL folds bare names
    assert quote_identifier("order", "sqlite") == '"order"'
    assert quote_identifier("from", "duckdb") == '"from"'
    assert quote_identifier("rank", "mysql") == "`rank`" and quote_identifier("rank", "sqlite") == "rank"
    assert quote_identifier("Signup Date", "mysql") == "`Signup Date`"
    assert quote_identifier('a"b', "sqlite") == '"a""b"'
    assert quote_identifier("a`b", "mysql") == "`a``b`"
    assert quote_identifier("1st", "postgres") == '"1st"'
    assert quote_identifier("café", "sqlite") == '"café"'


def test_sql_literal() -> None:
    assert sql_literal(3) == "3" and sql_literal(2.5) == "2.5" and sql_literal(-1) == "-1"
    assert sql_literal(True) == "TRUE" and sql_literal(False) == "FALSE"
    assert sql_literal("O'Brien") == "'O''Brien'"
    assert sql_literal("two\nlines\t here") == "'two lines here'"
    assert sql_literal("2024-01-01") == "'2024-01-01'"
