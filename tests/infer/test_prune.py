"""Schema pruning: a no-op when the schema fits; FK bridges kept; what was dropped is reported."""

from __future__ import annotations

import pytest

from tunesql.data.prompts import render_schema_text
from tunesql.db.connect import open_database
from tunesql.db.schema import Column, ForeignKey, Schema, Table
from tunesql.infer.prune import len_approx, prune_schema, stem
from tunesql.infer.retrieval import ValueHit


@pytest.fixture(scope="module")
def shop_schema() -> Schema:
    with open_database(None) as db:
        return db.schema(samples=3)


def _wide(name: str, n: int) -> Table:
    return Table(name, [Column("id", "INTEGER", primary_key=True)]
                 + [Column(f"{name}_attr_{i}", "TEXT", comment=f"some detail number {i}") for i in range(n)])


def _bridge_schema() -> Schema:
    """customers → orders → order_items → products is the only way from customers to products."""
    return Schema("bridge", "sqlite", [
        Table("customers", [Column("id", "INTEGER", primary_key=True), Column("full_name", "TEXT")]),
        Table("orders", [Column("id", "INTEGER", primary_key=True), Column("customer_id", "INTEGER"),
                         Column("placed", "TEXT")],
              foreign_keys=[ForeignKey(["customer_id"], "customers", ["id"])]),
        Table("order_items", [Column("id", "INTEGER", primary_key=True), Column("order_id", "INTEGER"),
                              Column("product_id", "INTEGER"), Column("qty", "INTEGER")],
              foreign_keys=[ForeignKey(["order_id"], "orders", ["id"]),
                            ForeignKey(["product_id"], "products", ["id"])]),
        Table("products", [Column("id", "INTEGER", primary_key=True), Column("title", "TEXT")]),
        _wide("warehouses", 30),
        _wide("vendors", 30),
        _wide("audits", 30),
    ])


def test_noop_when_the_schema_fits(shop_schema: Schema) -> None:
    result = prune_schema(shop_schema, "How many orders?", budget_tokens=100_000)
    assert result.schema is shop_schema
    assert not result.pruned and result.dropped_tables == [] and result.dropped_columns == []
    assert result.fits and "kept whole" in result.summary()
    assert set(result.kept_reason) == {t.name for t in shop_schema.tables}


def test_fk_bridges_are_kept() -> None:
    schema = _bridge_schema()
    question = "Which customers bought the product titled Widget?"
    full = len_approx(render_schema_text(schema, "ddl"))
    result = prune_schema(schema, question, budget_tokens=full // 3)
    kept = [t.name for t in result.schema.tables]
    assert {"customers", "products", "orders", "order_items"} <= set(kept)
    assert result.kept_reason["orders"].startswith("joins")
    assert result.kept_reason["order_items"].startswith("joins")
    assert set(result.dropped_tables) == {"warehouses", "vendors", "audits"}
    assert result.fits and result.tokens <= full // 3
    # The join columns survive, and the foreign keys between kept tables too.
    items = result.schema.table("order_items")
    assert items is not None and {"id", "order_id", "product_id"} <= {c.name for c in items.columns}
    assert len(items.foreign_keys) == 2
    summary = result.summary()
    assert "warehouses" in summary and "dropped 3 table(s)" in summary


def test_shop_customers_and_products(shop_schema: Schema) -> None:
    question = "Which customers ordered products from the Audio category?"
    hits = [ValueHit("categories", "name", "Audio", 3.25)]
    result = prune_schema(shop_schema, question, budget_tokens=1200, value_hits=hits, schema_format="mschema")
    kept = {t.name for t in result.schema.tables}
    assert {"customers", "orders", "order_items", "products", "categories"} <= kept
    assert "employees" in result.dropped_tables and "regions" in result.dropped_tables
    assert result.tokens <= 1200 and result.fits
    assert result.dropped_tables and set(result.dropped_tables).isdisjoint(kept)
    for name in result.dropped_columns:  # "table.column" of kept tables, now gone from them
        table, column = name.split(".")
        assert table in kept and result.schema.table(table).column(column) is None  # type: ignore[union-attr]
    # Every kept table keeps its primary key; the label column of a relevant table survives.
    for t in result.schema.tables:
        assert t.primary_key == shop_schema.table(t.name).primary_key  # type: ignore[union-attr]
    assert result.schema.table("customers").column("name") is not None  # type: ignore[union-attr]
    # No foreign key points at a table that is gone.
    text = render_schema_text(result.schema, "mschema")
    for dropped in result.dropped_tables:
        assert f"={dropped}." not in text
    # Deterministic.
    again = prune_schema(shop_schema, question, budget_tokens=1200, value_hits=hits, schema_format="mschema")
    assert again.schema == result.schema and again.dropped_columns == result.dropped_columns


def test_value_hits_make_a_table_relevant(shop_schema: Schema) -> None:
    question = "How many orders were placed in Sanlitun?"
    without = prune_schema(shop_schema, question, budget_tokens=500, schema_format="mschema")
    with_hit = prune_schema(shop_schema, question, budget_tokens=500, schema_format="mschema",
                            value_hits=[ValueHit("stores", "name", "Beijing Sanlitun", 2.8)])
    assert "stores" in {t.name for t in with_hit.schema.tables}
    assert with_hit.schema.table("stores").column("name") is not None  # type: ignore[union-attr]
    assert "stores" in without.dropped_tables


def test_tiny_budget_returns_the_best_table_flagged(shop_schema: Schema) -> None:
    result = prune_schema(shop_schema, "average monthly salary of employees", budget_tokens=10)
    assert [t.name for t in result.schema.tables] == ["employees"]
    assert not result.fits and "still over budget" in result.summary()


def test_no_relevant_table_takes_schema_order(shop_schema: Schema) -> None:
    result = prune_schema(shop_schema, "xyzzy?", budget_tokens=400, schema_format="mschema")
    assert result.schema.tables[0].name == shop_schema.tables[0].name
    assert result.tokens <= 400


def test_stem_and_len_approx() -> None:
    assert stem("orders") == stem("ordered") == stem("order") == "order"
    assert stem("categories") == "category"
    assert len_approx("abcd" * 10) == 10 and len_approx("北京") == 2
