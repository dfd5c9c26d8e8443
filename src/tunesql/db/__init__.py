"""Connect to a database, describe it, render it for a prompt, and run model-written SQL safely."""

from tunesql.db.connect import Database, bundled_db_path, open_database
from tunesql.db.execute import QueryResult, run_query
from tunesql.db.schema import Column, ForeignKey, Schema, Table

__all__ = [
    "Column",
    "Database",
    "ForeignKey",
    "QueryResult",
    "Schema",
    "Table",
    "bundled_db_path",
    "open_database",
    "run_query",
]
