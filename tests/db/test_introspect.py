"""Introspection on real databases: SQLite (inline comments), DuckDB, PostgreSQL, MariaDB, and all of Spider."""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
import sqlglot

from tunesql.db import ForeignKey, Schema, open_database
from tunesql.db.connect import bundled_db_path
from tunesql.db.introspect import MAX_SAMPLE_CHARS, VIEW_MARK, introspect, sqlite_ddl_comments
from tunesql.db.render import RENDER_FORMATS, render_schema
from tunesql.errors import ConnectError

# --- SQLite ---------------------------------------------------------------------------------------------------

SHOP_DDL = """
CREATE TABLE customers ( -- People who buy things
  id INTEGER PRIMARY KEY AUTOINCREMENT, -- Customer id
  name TEXT NOT NULL, -- Full name; may contain -- dashes
  "e-mail address" TEXT DEFAULT 'none', -- Where to write; 'quoted -- not a comment'
  [order] INTEGER, -- a reserved word as a column
  photo BLOB,
  bio TEXT
);
CREATE TABLE orders ( -- Customer orders
  id INTEGER PRIMARY KEY, -- Order id
  customer_id INTEGER NOT NULL REFERENCES customers(id), -- Who ordered
  status TEXT NOT NULL DEFAULT 'new', -- Order status:
                                     -- new, shipped or delivered
  -- When the order was placed (YYYY-MM-DD)
  placed_on TEXT,
  amount NUMERIC(10, 2) /* in EUR */ CHECK (amount >= 0),
  note
);
CREATE TABLE order_lines (
  order_id INTEGER, -- the order
  line_no INTEGER,
  sku TEXT,
  PRIMARY KEY (order_id, line_no), -- a comment on a constraint is nobody's
  FOREIGN KEY (order_id) REFERENCES ORDERS (ID)
);
CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 100;
"""


def _make_shop(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(SHOP_DDL)
    conn.executemany("INSERT INTO customers (name, \"e-mail address\", [order], photo, bio) VALUES (?, ?, ?, ?, ?)",
                     [("Ann", "ann@x.org", 1, b"\x89PNG", "x" * 200), ("Bob", None, 2, None, "short"),
                      ("Ann", "ann2@x.org", 3, None, None)])
    conn.executemany("INSERT INTO orders (customer_id, status, placed_on, amount) VALUES (?, ?, ?, ?)",
                     [(1, "new", "2024-01-01", 10.5), (1, "shipped", "2024-01-02", 250),
                      (2, "delivered", None, 99.99), (3, "new", "2024-01-05", 5)])
    conn.executemany("INSERT INTO order_lines VALUES (?, ?, ?)", [(1, 1, "A"), (1, 2, "B"), (2, 1, "A")])
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return _make_shop(tmp_path / "shop.sqlite")


def test_sqlite_tables_columns_keys_comments_defaults(shop: Path) -> None:
    before = hashlib.sha256(shop.read_bytes()).hexdigest()
    with open_database(shop) as db:
        schema = introspect(db, samples=3)
    assert hashlib.sha256(shop.read_bytes()).hexdigest() == before  # read-only

    assert schema.name == "shop" and schema.dialect == "sqlite"
    # sqlite_sequence (from AUTOINCREMENT) is skipped; tables sorted by name, then the view.
    assert [t.name for t in schema.tables] == ["customers", "order_lines", "orders", "big_orders"]

    customers = schema.table("customers")
    assert customers is not None
    assert customers.comment == "People who buy things"
    assert customers.row_count == 3
    assert [c.name for c in customers.columns] == ["id", "name", "e-mail address", "order", "photo", "bio"]
    by = {c.name: c for c in customers.columns}
    assert by["id"].primary_key and by["id"].type == "INTEGER" and by["id"].comment == "Customer id"
    assert by["name"].nullable is False and by["name"].comment == "Full name; may contain -- dashes"
    assert by["e-mail address"].default == "'none'"
    assert by["e-mail address"].comment == "Where to write; 'quoted -- not a comment'"
    assert by["order"].comment == "a reserved word as a column"
    assert by["photo"].comment is None and by["photo"].samples == []  # blobs are never sampled
    assert by["name"].samples == ["Ann", "Bob"]  # distinct, non-null, in table order
    assert by["e-mail address"].samples == ["ann@x.org", "ann2@x.org"]
    long_text = by["bio"].samples[0]
    assert len(long_text) == MAX_SAMPLE_CHARS and long_text.endswith("…")

    orders = schema.table("orders")
    assert orders is not None
    assert orders.comment == "Customer orders" and orders.row_count == 4
    by = {c.name: c for c in orders.columns}
    assert by["status"].default == "'new'" and by["status"].nullable is False
    assert by["status"].comment == "Order status: new, shipped or delivered"  # continued on the next line
    assert by["placed_on"].comment == "When the order was placed (YYYY-MM-DD)"  # own-line block above it
    assert by["amount"].type == "NUMERIC(10, 2)" and by["amount"].comment == "in EUR"
    assert by["amount"].samples == [10.5, 250, 99.99]
    assert by["note"].type == "" and by["note"].samples == []  # untyped, all NULL
    assert orders.foreign_keys == [ForeignKey(["customer_id"], "customers", ["id"])]

    lines = schema.table("order_lines")
    assert lines is not None and lines.comment is None
    assert lines.primary_key == ["order_id", "line_no"]
    # Declared against "ORDERS (ID)": stored with the real names.
    assert lines.foreign_keys == [ForeignKey(["order_id"], "orders", ["id"])]
    assert {c.name: c.comment for c in lines.columns} == {"order_id": "the order", "line_no": None, "sku": None}

    view = schema.table("big_orders")
    assert view is not None and view.comment == VIEW_MARK
    assert [c.name for c in view.columns] == [c.name for c in orders.columns]
    assert view.row_count is None and view.foreign_keys == [] and all(not c.samples for c in view.columns)


def test_sample_and_row_count_switches(shop: Path) -> None:
    with open_database(shop) as db:
        schema = introspect(db, samples=0, row_counts=False)
        one = db.schema(samples=1)  # the lead's Database.schema() goes through introspect()
    assert all(t.row_count is None for t in schema.tables)
    assert all(not c.samples for t in schema.tables for c in t.columns)
    assert one.table("orders").row_count == 4  # type: ignore[union-attr]
    assert all(len(c.samples) <= 1 for t in one.tables for c in t.columns)
    assert one.table("customers").column("name").samples == ["Ann"]  # type: ignore[union-attr]


def test_odd_schemas_do_not_crash(tmp_path: Path) -> None:
    path = tmp_path / "odd.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE "Parent Table" ("Key" INT PRIMARY KEY, "a""b" character varchar(3), x INT(11));
        CREATE TABLE child (
          id INT,
          parent INT REFERENCES "parent table", -- no column list: the target's primary key
          ghost INT REFERENCES nowhere(id),
          bad INT REFERENCES "Parent Table"(no_such_column),
          mixed INT REFERENCES PARENT_TABLE_TYPO(Key),
          v JSON,
          d DATE
        );
        CREATE TABLE empty_table (only_col TEXT);
        CREATE TABLE t_as AS SELECT 1 AS one;
        INSERT INTO "Parent Table" VALUES (1, 'x''y', 5);
        INSERT INTO child VALUES (1, 1, 9, 9, 9, '{"a": [1, 2]}', '2024-02-29');
    """)
    conn.close()
    with open_database(path) as db:
        schema = introspect(db)
    parent, child = schema.table("Parent Table"), schema.table("child")
    assert parent is not None and child is not None
    assert [c.type for c in parent.columns] == ["INT", "character varchar(3)", "INT(11)"]
    assert parent.column('a"b').samples == ["x'y"]  # type: ignore[union-attr]
    # Only the foreign key that points somewhere real survives.
    assert child.foreign_keys == [ForeignKey(["parent"], "Parent Table", ["Key"])]
    assert child.column("v").samples == ['{"a": [1, 2]}']  # type: ignore[union-attr]
    assert schema.table("empty_table").row_count == 0  # type: ignore[union-attr]
    assert schema.table("t_as").column("one").samples == [1]  # type: ignore[union-attr]
    for fmt in RENDER_FORMATS:
        assert render_schema(schema, fmt)


def test_sqlite_ddl_comment_parser() -> None:
    table, cols = sqlite_ddl_comments(
        "CREATE TABLE IF NOT EXISTS \"t\" ( -- the table\n"
        "   -- and more about the table\n"
        "  a INT, -- first\n"
        "  b TEXT DEFAULT '--x', /* block */\n"
        "  \"c d\" REAL -- last, no comma\n"
        ")")
    assert table == "the table and more about the table"
    assert cols == {"a": "first", "b": "block", "c d": "last, no comma"}

    # Commented-out clauses between constraints belong to no column (Spider's sakila_1 / college_2 style).
    table, cols = sqlite_ddl_comments(
        "CREATE TABLE staff (\n  staff_id INT,\n  PRIMARY KEY (staff_id),\n"
        "  --FOREIGN KEY (store_id) REFERENCES store (store_id),\n"
        "  FOREIGN KEY (address_id) REFERENCES address (address_id)\n)")
    assert table is None and cols == {}
    table, cols = sqlite_ddl_comments(
        "CREATE TABLE course (course_id varchar(8),\n  FOREIGN KEY (d) REFERENCES `department` (d)\n"
        "  ON DELETE SET NULL\n--    ON UPDATE NO ACTION\n-- on delete set null\n   )")
    assert table is None and cols == {}

    assert sqlite_ddl_comments("CREATE TABLE t (a INT)") == (None, {})
    assert sqlite_ddl_comments("CREATE TABLE t AS SELECT 1 -- x") == (None, {})
    assert sqlite_ddl_comments("not sql at all -- really ( x") == (None, {})


def test_bundled_database_comments() -> None:
    if not bundled_db_path().is_file():
        pytest.skip("the bundled shop database is not built yet")
    with open_database(None) as db:
        schema = introspect(db, samples=2)
    assert schema.tables and all(t.comment for t in schema.tables)
    columns = [c for t in schema.tables for c in t.columns]
    assert sum(1 for c in columns if c.comment) >= 0.9 * len(columns)
    assert any(t.foreign_keys for t in schema.tables)


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConnectError, match="not found"):
        open_database(tmp_path / "nope.sqlite")
    junk = tmp_path / "junk.sqlite"
    junk.write_text("this is not a database " * 100)
    with open_database(junk) as db, pytest.raises(ConnectError):
        introspect(db)


# --- DuckDB ---------------------------------------------------------------------------------------------------


def test_duckdb_file(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "shop.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL DEFAULT 'anon', "
                 "\"Odd Name\" DOUBLE)")
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id), "
                 "status VARCHAR DEFAULT 'new', amount DECIMAL(10, 2), placed DATE, payload BLOB, tags VARCHAR[])")
    conn.execute("COMMENT ON TABLE orders IS 'Customer orders'")
    conn.execute("COMMENT ON COLUMN orders.status IS 'Order status'")
    conn.execute("CREATE VIEW recent AS SELECT * FROM orders")
    conn.execute("INSERT INTO customers VALUES (1, 'Ann', 1.5), (2, 'Bob', NULL)")
    conn.execute("INSERT INTO orders VALUES (1, 1, 'new', 10.50, DATE '2024-01-01', '\\xAA'::BLOB, ['a', 'b']), "
                 "(2, 2, 'shipped', 3, NULL, NULL, NULL)")
    conn.close()

    with open_database(path) as db:
        assert db.dialect == "duckdb"
        schema = introspect(db, samples=3)
    assert [t.name for t in schema.tables] == ["customers", "orders", "recent"]
    customers, orders, recent = schema.tables
    assert customers.primary_key == ["id"] and customers.row_count == 2
    name = customers.column("name")
    assert name is not None and name.default == "'anon'" and not name.nullable
    assert customers.column("Odd Name").samples == [1.5]  # type: ignore[union-attr]
    assert orders.comment == "Customer orders"
    assert orders.column("status").comment == "Order status"  # type: ignore[union-attr]
    assert orders.foreign_keys == [ForeignKey(["customer_id"], "customers", ["id"])]
    by = {c.name: c for c in orders.columns}
    assert by["amount"].type == "DECIMAL(10,2)" and by["amount"].samples == [10.5, 3]
    assert by["placed"].samples == ["2024-01-01"]
    assert by["payload"].samples == []
    assert by["tags"].samples == ['["a", "b"]']
    assert recent.comment == VIEW_MARK and recent.row_count is None
    for fmt in RENDER_FORMATS:
        assert render_schema(schema, fmt)
    sqlglot.parse(render_schema(schema, "ddl"), read="duckdb")


# --- PostgreSQL and MariaDB -----------------------------------------------------------------------------------


@pytest.mark.servers
def test_postgresql(pg_url: str) -> None:
    admin = sa.create_engine(pg_url)
    with admin.begin() as conn:
        for statement in [
            'CREATE TABLE customers (id SERIAL PRIMARY KEY, name TEXT NOT NULL DEFAULT \'anon\', '
            '"Signup Date" DATE, profile JSON, avatar BYTEA)',
            "CREATE TABLE orders (id INT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            "customer_id INT NOT NULL REFERENCES customers(id), status VARCHAR(20) DEFAULT 'new', "
            "amount NUMERIC(10, 2))",
            'CREATE TABLE "Order Lines" (order_id INT REFERENCES orders(id), line_no INT, '
            '"order" TEXT, PRIMARY KEY (order_id, line_no))',
            "COMMENT ON TABLE orders IS 'Customer orders'",
            "COMMENT ON COLUMN orders.status IS 'Order status: new or shipped'",
            "COMMENT ON COLUMN customers.name IS 'Full name'",
            "INSERT INTO customers (name, \"Signup Date\", profile, avatar) VALUES "
            "('Ann', '2024-01-01', '{\"vip\": true}', '\\xAA'), ('Bob', NULL, '{\"vip\": true}', NULL)",
            "INSERT INTO orders (customer_id, status, amount) VALUES (1, 'new', 10.50), (2, 'shipped', 7)",
            "CREATE VIEW shipped AS SELECT * FROM orders WHERE status = 'shipped'",
            'CREATE SCHEMA "Sales"',
            'CREATE TABLE "Sales"."Leads" (id INT PRIMARY KEY, "Lead Name" TEXT)',
            'CREATE TABLE "Sales".calls (id INT PRIMARY KEY, lead_id INT REFERENCES "Sales"."Leads"(id))',
            'INSERT INTO "Sales"."Leads" VALUES (1, \'Acme\')',
        ]:
            conn.exec_driver_sql(statement)
    admin.dispose()

    with open_database(pg_url) as db:
        assert db.dialect == "postgres"
        schema = introspect(db, samples=3)
        sales = introspect(db, schema="Sales")
    assert [t.name for t in sales.tables] == ["calls", "Leads"]
    assert sales.table("Leads").row_count == 1  # type: ignore[union-attr]
    assert sales.table("Leads").column("Lead Name").samples == ["Acme"]  # type: ignore[union-attr]
    assert sales.table("calls").foreign_keys == [ForeignKey(["lead_id"], "Leads", ["id"])]  # type: ignore[union-attr]
    assert [t.name for t in schema.tables] == ["customers", "Order Lines", "orders", "shipped"]
    customers, lines, orders, shipped = schema.tables
    assert customers.row_count == 2 and orders.row_count == 2 and lines.row_count == 0
    by = {c.name: c for c in customers.columns}
    assert by["name"].comment == "Full name" and by["name"].default == "'anon'"
    assert by["name"].samples == ["Ann", "Bob"] or by["name"].samples == ["Bob", "Ann"]
    assert by["Signup Date"].type == "DATE" and by["Signup Date"].samples == ["2024-01-01"]
    assert by["profile"].samples == ['{"vip": true}']  # json has no equality: deduped client-side
    assert by["avatar"].samples == []
    assert orders.comment == "Customer orders"
    assert orders.column("status").comment == "Order status: new or shipped"  # type: ignore[union-attr]
    assert orders.column("status").default == "'new'"  # type: ignore[union-attr]
    assert sorted(orders.column("amount").samples) == [7, 10.5]  # type: ignore[union-attr]
    assert orders.foreign_keys == [ForeignKey(["customer_id"], "customers", ["id"])]
    assert lines.primary_key == ["order_id", "line_no"]
    assert lines.foreign_keys == [ForeignKey(["order_id"], "orders", ["id"])]
    assert shipped.comment == VIEW_MARK
    for fmt in RENDER_FORMATS:
        assert render_schema(schema, fmt)
    ddl = render_schema(schema, "ddl")
    assert 'CREATE TABLE "Order Lines"' in ddl and '"order" TEXT' in ddl
    sqlglot.parse(ddl, read="postgres")


@pytest.mark.servers
def test_mariadb(mysql_url: str) -> None:
    admin = sa.create_engine(mysql_url)
    with admin.begin() as conn:
        for statement in [
            "CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, "
            "name VARCHAR(50) NOT NULL DEFAULT 'anon' COMMENT 'Full name', `Odd Name` DOUBLE, photo BLOB, "
            "tier ENUM('gold', 'silver'), flag TINYINT(1), visits INT UNSIGNED) COMMENT='People who buy things'",
            "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, "
            "status VARCHAR(20) DEFAULT 'new' COMMENT 'Order status', amount DECIMAL(10, 2), "
            "FOREIGN KEY (customer_id) REFERENCES customers(id)) COMMENT='Customer orders'",
            "INSERT INTO customers (name, `Odd Name`, photo, tier) VALUES ('Ann', 1.5, 'xx', 'gold'), "
            "('Bob', NULL, NULL, 'silver')",
            "INSERT INTO orders VALUES (1, 1, 'new', 10.50), (2, 2, 'shipped', 3)",
            "CREATE VIEW shipped AS SELECT * FROM orders WHERE status = 'shipped'",
        ]:
            conn.exec_driver_sql(statement)
    admin.dispose()

    with open_database(mysql_url) as db:
        assert db.dialect == "mysql"
        schema = introspect(db, samples=3)
    assert [t.name for t in schema.tables] == ["customers", "orders", "shipped"]
    customers, orders, shipped = schema.tables
    assert customers.comment == "People who buy things" and orders.comment == "Customer orders"
    by = {c.name: c for c in customers.columns}
    assert by["name"].comment == "Full name" and by["name"].default == "'anon'" and not by["name"].nullable
    assert by["name"].type == "VARCHAR(50)" and by["name"].samples == ["Ann", "Bob"]
    assert by["Odd Name"].samples == [1.5] and by["photo"].samples == []
    assert by["tier"].samples == ["gold", "silver"] and by["tier"].type == "ENUM('gold','silver')"
    assert by["id"].type == "INTEGER" and by["flag"].type == "TINYINT(1)" and by["visits"].type == "INTEGER UNSIGNED"
    assert customers.primary_key == ["id"] and customers.row_count == 2
    assert orders.column("status").comment == "Order status"  # type: ignore[union-attr]
    assert orders.column("amount").samples == [10.5, 3]  # type: ignore[union-attr]
    assert orders.foreign_keys == [ForeignKey(["customer_id"], "customers", ["id"])]
    assert shipped.comment == VIEW_MARK and shipped.row_count is None
    for fmt in RENDER_FORMATS:
        assert render_schema(schema, fmt)
    ddl = render_schema(schema, "ddl")
    assert "`Odd Name` DOUBLE" in ddl
    sqlglot.parse(ddl, read="mysql")


def test_unreachable_server_is_a_connect_error() -> None:
    with open_database("postgresql://nobody@127.0.0.1:1/none") as db, pytest.raises(ConnectError):
        introspect(db)


# --- Spider ---------------------------------------------------------------------------------------------------

# sqlglot cannot read SQLite's free-form type "character varchar(3)" (flight_4.airports); SQLite itself can.
DDL_SQLGLOT_UNREADABLE = {"flight_4"}


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


SPIDER_WARNINGS = _Collect()


@pytest.fixture(scope="module")
def spider_schemas(spider_dir: Path) -> dict[str, Schema]:
    """Every Spider database introspected once (samples=2), straight from the read-only shared copy."""
    logger = logging.getLogger("tunesql.db.introspect")
    logger.addHandler(SPIDER_WARNINGS)
    started = time.perf_counter()
    schemas: dict[str, Schema] = {}
    try:
        for folder in sorted((spider_dir / "database").iterdir()):
            path = folder / f"{folder.name}.sqlite"
            if path.is_file():
                with open_database(path) as db:
                    schemas[folder.name] = introspect(db, samples=2)
    finally:
        logger.removeHandler(SPIDER_WARNINGS)
    print(f"\nintrospected {len(schemas)} Spider databases in {time.perf_counter() - started:.1f} s")
    return schemas


def test_every_spider_database_inspects_and_renders(spider_schemas: dict[str, Schema], spider_dir: Path) -> None:
    folders = [f for f in (spider_dir / "database").iterdir() if (f / f"{f.name}.sqlite").is_file()]
    assert len(spider_schemas) == len(folders) >= 160
    tables_json = {d["db_id"]: d for d in json.loads((spider_dir / "tables.json").read_text())}
    started = time.perf_counter()
    unreadable = set()
    for db_id, schema in spider_schemas.items():
        assert schema.tables, db_id
        expected = {t.lower() for t in tables_json[db_id]["table_names_original"]} - {"sqlite_sequence"}
        assert {t.name.lower() for t in schema.tables} == expected, db_id
        for fmt in RENDER_FORMATS:
            assert render_schema(schema, fmt), (db_id, fmt)
        ddl = render_schema(schema, "ddl")
        sqlite3.connect(":memory:").executescript(ddl)  # valid SQLite, odd names and all
        try:
            assert len(sqlglot.parse(ddl, read="sqlite")) == len(schema.tables)
        except sqlglot.errors.ParseError:
            unreadable.add(db_id)
    print(f"rendered {len(spider_schemas)} Spider databases x 4 formats in {time.perf_counter() - started:.1f} s")
    assert unreadable <= DDL_SQLGLOT_UNREADABLE
    assert SPIDER_WARNINGS.messages == []  # nothing in Spider needed skipping


def _spider_keys(entry: dict) -> tuple[set, set]:
    tables, columns = entry["table_names_original"], entry["column_names_original"]

    def col(i: int) -> tuple[str, str]:
        t, c = columns[i]
        return tables[t].lower(), c.lower()

    pks = {col(i) for p in entry["primary_keys"] for i in (p if isinstance(p, list) else [p])}
    fks = {(col(a), col(b)) for a, b in entry["foreign_keys"]}
    return pks, fks


def _our_keys(schema: Schema) -> tuple[set, set]:
    pks = {(t.name.lower(), c.lower()) for t in schema.tables for c in t.primary_key}
    fks = {((t.name.lower(), a.lower()), (fk.ref_table.lower(), b.lower()))
           for t in schema.tables for fk in t.foreign_keys for a, b in zip(fk.columns, fk.ref_columns, strict=True)}
    return pks, fks


def test_spider_keys_match_tables_json(spider_schemas: dict[str, Schema], spider_dir: Path) -> None:
    tables_json = {d["db_id"]: d for d in json.loads((spider_dir / "tables.json").read_text())}

    concert = spider_schemas["concert_singer"]
    pks, fks = _spider_keys(tables_json["concert_singer"])
    ours_pk, ours_fk = _our_keys(concert)
    assert ours_fk == fks
    # tables.json lists one column of a composite key; the database declares both.
    assert pks <= ours_pk
    assert concert.table("singer_in_concert").primary_key == ["concert_ID", "Singer_ID"]  # type: ignore[union-attr]
    assert concert.table("concert").foreign_keys == [  # type: ignore[union-attr]
        ForeignKey(["Stadium_ID"], "stadium", ["Stadium_ID"])]

    # Across Spider: every key tables.json names is found; the databases declare two foreign keys more.
    extra_fks = {}
    for db_id, schema in spider_schemas.items():
        pks, fks = _spider_keys(tables_json[db_id])
        ours_pk, ours_fk = _our_keys(schema)
        assert pks <= ours_pk, db_id
        assert fks <= ours_fk, db_id
        if ours_fk - fks:
            extra_fks[db_id] = ours_fk - fks
    assert set(extra_fks) == {"loan_1", "store_product"}, extra_fks


def test_spider_inline_comments(spider_schemas: dict[str, Schema]) -> None:
    flight = spider_schemas["flight_4"]
    airports, routes = flight.table("airports"), flight.table("routes")
    assert airports is not None and routes is not None
    assert airports.column("x").comment == (  # type: ignore[union-attr]
        "Latitude of airport: Decimal degrees, usually to six significant digits. "
        "Negative is South, positive is North")
    assert routes.column("codeshare").comment == (  # type: ignore[union-attr]
        '"Y" if this flight is a codeshare (that is, not operated by Airline, but another carrier), '
        "empty otherwise")
    assert routes.column("rid").comment is None  # type: ignore[union-attr]
    # Commented-out clauses in sakila_1 and college_2 are nobody's comment.
    for db_id in ("sakila_1", "college_2"):
        assert not [c for t in spider_schemas[db_id].tables for c in t.columns if c.comment], db_id


def test_postgresql_leaves_out_relations_an_extension_owns(pg_url: str) -> None:
    """pg_stat_statements installed in the user's schema adds two views; they are not the user's data."""
    admin = sa.create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(sa.text("CREATE TABLE items (id int PRIMARY KEY, name text)"))
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements SCHEMA public"))
        owned = {r[0] for r in conn.execute(sa.text(
            "SELECT viewname FROM pg_views WHERE schemaname = 'public'"))}
    admin.dispose()
    assert "pg_stat_statements" in owned  # the views really are there, in the same schema
    with open_database(pg_url) as db:
        names = [t.name for t in db.schema().tables]
    assert names == ["items"]
