"""SQL utilities on sqlglot: normalise for exact match, transpile between dialects, extract the final SQL from
model output, and check the tables/columns a query references against a schema. SQL structure is only ever
read through sqlglot's parser, never with regular expressions."""

from tunesql.sql.extract import extract_reasoning, extract_sql
from tunesql.sql.normalize import exact_match, normalize_sql, try_normalize
from tunesql.sql.schema_check import check_references, referenced_columns, referenced_tables
from tunesql.sql.transpile import TUNESQL_DIALECTS, parse_statement, resolve_dialect, transpile_sql

__all__ = [
    "TUNESQL_DIALECTS",
    "check_references",
    "exact_match",
    "extract_reasoning",
    "extract_sql",
    "normalize_sql",
    "parse_statement",
    "referenced_columns",
    "referenced_tables",
    "resolve_dialect",
    "transpile_sql",
    "try_normalize",
]
