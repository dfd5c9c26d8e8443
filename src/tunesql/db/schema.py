"""The one description of a database that every stage shares.

Introspection fills it from a live database, the Spider loader fills it from ``tables.json``; renderers,
schema checks and prompts read it. Plain dataclasses so it round-trips through JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Column:
    name: str
    type: str
    nullable: bool = True
    default: str | None = None
    comment: str | None = None
    primary_key: bool = False
    samples: list[Any] = field(default_factory=list)
    """Up to k distinct non-null values, in the database's order; empty when not sampled."""


@dataclass
class ForeignKey:
    columns: list[str]
    ref_table: str
    ref_columns: list[str]


@dataclass
class Table:
    name: str
    columns: list[Column]
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    comment: str | None = None
    row_count: int | None = None

    @property
    def primary_key(self) -> list[str]:
        return [c.name for c in self.columns if c.primary_key]

    def column(self, name: str) -> Column | None:
        low = name.lower()
        return next((c for c in self.columns if c.name.lower() == low), None)


@dataclass
class Schema:
    name: str
    """The database's id (Spider's db_id, or the file / database name)."""
    dialect: str
    """The sqlglot dialect name: sqlite, duckdb, postgres or mysql."""
    tables: list[Table] = field(default_factory=list)

    def table(self, name: str) -> Table | None:
        """Case-insensitive lookup, as the engines themselves resolve unquoted names."""
        low = name.lower()
        return next((t for t in self.tables if t.name.lower() == low), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        tables = [
            Table(
                name=t["name"],
                columns=[Column(**c) for c in t["columns"]],
                foreign_keys=[ForeignKey(**fk) for fk in t.get("foreign_keys", [])],
                comment=t.get("comment"),
                row_count=t.get("row_count"),
            )
            for t in data["tables"]
        ]
        return cls(name=data["name"], dialect=data["dialect"], tables=tables)

    def sqlglot_mapping(self) -> dict[str, dict[str, str]]:
        """``{table: {column: type}}``, the shape sqlglot's optimizer and qualifier take."""
        return {t.name: {c.name: c.type or "TEXT" for c in t.columns} for t in self.tables}
