"""The statement-level half of the read-only rule: parse, then allow only plain queries.

Model-written SQL is untrusted input. ``check_sql`` parses it with sqlglot in the database's own dialect and
accepts exactly one query (SELECT, WITH … SELECT, set operations, VALUES). Everything else is refused before any
connection sees it: writes, DDL, PRAGMA, ATTACH, transaction control, SELECT … INTO, data-modifying CTEs, row
locks, MySQL executable comments, file paths used as tables, and functions that reach files, processes, other
sessions or sleep. The connection is read-only as well (``connect.py``); this is the first of the two locks.
"""

from __future__ import annotations

import logging

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError

from tunesql.errors import SQLSyntaxError, UnsafeSQLError

logging.getLogger("sqlglot").setLevel(logging.ERROR)

QUERY_ROOTS: tuple[type[exp.Expression], ...] = (exp.Select, exp.SetOperation, exp.Values, exp.Subquery)

# Node kinds that never belong in a read-only query, wherever they sit in the tree.
FORBIDDEN_NODES: dict[type[exp.Expression], str] = {
    exp.Insert: "INSERT writes data",
    exp.Update: "UPDATE writes data",
    exp.Delete: "DELETE writes data",
    exp.Merge: "MERGE writes data",
    exp.TruncateTable: "TRUNCATE deletes data",
    exp.Create: "CREATE is DDL",
    exp.Drop: "DROP is DDL",
    exp.Alter: "ALTER is DDL",
    exp.Comment: "COMMENT ON is DDL",
    exp.Grant: "GRANT changes privileges",
    exp.Revoke: "REVOKE changes privileges",
    exp.Command: "only queries may run",
    exp.Transaction: "transaction control is not allowed",
    exp.Commit: "transaction control is not allowed",
    exp.Rollback: "transaction control is not allowed",
    exp.Pragma: "PRAGMA can change the connection or the file",
    exp.Attach: "ATTACH opens other database files",
    exp.Detach: "DETACH changes the connection",
    exp.Install: "INSTALL loads extensions",
    exp.Set: "SET changes session settings",
    exp.Use: "USE changes the session's database",
    exp.Copy: "COPY reads or writes files",
    exp.LoadData: "LOAD DATA reads files",
    exp.Export: "EXPORT writes files",
    exp.Into: "SELECT … INTO creates a table or writes a file",
    exp.Lock: "FOR UPDATE / FOR SHARE takes row locks",
    exp.Cache: "CACHE changes state",
    exp.Uncache: "UNCACHE changes state",
    exp.Refresh: "REFRESH changes state",
    exp.Kill: "KILL stops other sessions",
    exp.Execute: "EXECUTE runs other statements",
    exp.Declare: "DECLARE is procedural",
    exp.Analyze: "ANALYZE writes statistics",
}

# Functions that reach files, processes, the network, other sessions, sequences, or sleep.
FORBIDDEN_FUNCTIONS = frozenset({
    # SQLite
    "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "zipfile", "sqlar_uncompress",
    # PostgreSQL
    "pg_read_file", "pg_read_binary_file", "pg_stat_file", "pg_sleep", "pg_sleep_for", "pg_sleep_until",
    "lo_import", "lo_export", "lo_unlink", "lo_create", "lo_creat", "lo_open", "lo_put", "lo_get",
    "lo_from_bytea", "lo_truncate", "lowrite", "loread", "pg_terminate_backend", "pg_cancel_backend",
    "pg_reload_conf", "pg_rotate_logfile", "pg_promote", "pg_switch_wal", "pg_create_restore_point",
    "pg_logical_emit_message", "pg_notify", "set_config", "nextval", "setval", "query_to_xml",
    "query_to_xmlschema", "query_to_xml_and_xmlschema", "cursor_to_xml", "cursor_to_xmlschema",
    "database_to_xml", "database_to_xmlschema", "database_to_xml_and_xmlschema", "pg_file_write",
    "pg_file_rename", "pg_file_unlink", "pg_import_system_collations", "txid_current", "pg_current_xact_id",
    "pg_backup_start", "pg_backup_stop", "pg_start_backup", "pg_stop_backup", "pg_wal_replay_pause",
    "pg_wal_replay_resume", "pg_stat_reset", "pg_stat_reset_shared",
    # MySQL / MariaDB
    "sleep", "benchmark", "load_file", "get_lock", "release_lock", "release_all_locks", "is_used_lock",
    "master_pos_wait", "source_pos_wait", "sys_exec", "sys_eval", "master_gtid_wait",
    # DuckDB
    "read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json", "read_json_auto",
    "read_json_objects", "read_ndjson", "read_ndjson_auto", "read_ndjson_objects", "read_text", "read_blob",
    "glob", "sniff_csv", "parquet_metadata", "parquet_schema", "parquet_file_metadata", "read_xlsx",
    "st_read", "iceberg_scan", "delta_scan", "query", "query_table", "getenv", "checkpoint",
    "force_checkpoint", "csv_scan", "json_scan",
})
FORBIDDEN_PREFIXES = ("pg_advisory", "pg_try_advisory", "lo_", "dblink", "pg_ls_", "pg_read_", "pg_file_",
                      "pg_create_", "pg_drop_", "pg_replication_", "read_", "pg_sleep")
FILE_SUFFIXES = (".csv", ".tsv", ".parquet", ".json", ".jsonl", ".ndjson", ".txt", ".gz", ".zst", ".xlsx",
                 ".db", ".sqlite", ".duckdb", ".arrow")


def function_name(node: exp.Func) -> str:
    """The lower-case name a function is called by in SQL (anonymous or known to sqlglot)."""
    name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
    return (name or "").lower()


# Names that are dangerous in one engine only: SQLite's glob() is the GLOB operator, DuckDB's lists files.
ONLY_IN: dict[str, frozenset[str]] = {"glob": frozenset({"duckdb"})}


def is_forbidden_function(name: str, dialect: str | None = None) -> bool:
    """Whether calling ``name`` could reach files, processes, other sessions or sleep (in ``dialect``).

    With no dialect, a name dangerous in any engine counts.
    """
    name = name.lower()
    if name in ONLY_IN and dialect is not None and dialect not in ONLY_IN[name]:
        return False
    return name in FORBIDDEN_FUNCTIONS or name.startswith(FORBIDDEN_PREFIXES)


def parse_one_statement(sql: str, dialect: str) -> exp.Expression:
    """Parse ``sql`` as exactly one statement in ``dialect``; SQLSyntaxError / UnsafeSQLError otherwise."""
    if not sql or not sql.strip():
        raise SQLSyntaxError("empty SQL: there is no statement to run")
    try:
        grammar = Dialect.get_or_raise(dialect)
        tokens = grammar.tokenize(sql)  # tokenised once: parsed below and searched for executable comments
        statements = [
            s for s in grammar.parser().parse(tokens, sql)
            if s is not None and not isinstance(s, exp.Semicolon)  # a trailing "; -- note" is no statement
        ]
    except (ParseError, TokenError) as e:
        raise SQLSyntaxError(f"SQL does not parse as {dialect}: {_first_line(e)}") from e
    except RecursionError as e:
        raise SQLSyntaxError(f"SQL nests too deeply to parse as {dialect}") from e
    except (ValueError, KeyError, IndexError, AttributeError, TypeError) as e:
        # sqlglot has corner cases that fail with a plain Python error on garbage input.
        raise SQLSyntaxError(f"SQL does not parse as {dialect}: {type(e).__name__}: {_first_line(e)}") from e
    for token in tokens:
        for comment in token.comments:
            if comment.lstrip().startswith(("!", "M!")):
                raise UnsafeSQLError(
                    "MySQL executable comment (/*! … */) refused: the server would run what it hides"
                )
    if not statements:
        raise SQLSyntaxError("no statement found (only comments or semicolons)")
    if len(statements) > 1:
        raise UnsafeSQLError(f"exactly one statement may run; found {len(statements)}")
    return statements[0]


def check_sql(sql: str, dialect: str) -> exp.Expression:
    """Return the parsed query if it is a single read-only query; raise UnsafeSQLError naming why not.

    >>> check_sql("SELECT name FROM singer WHERE age > 30", "sqlite").key
    'select'
    >>> check_sql("DELETE FROM singer", "sqlite")
    Traceback (most recent call last):
    ...
    tunesql.errors.UnsafeSQLError: refused DELETE: DELETE writes data
    """
    tree = parse_one_statement(sql, dialect)
    try:
        return _check_tree(tree, sql, dialect)
    except RecursionError as e:
        raise SQLSyntaxError(f"SQL nests too deeply to check as {dialect}") from e


def _check_tree(tree: exp.Expression, sql: str, dialect: str) -> exp.Expression:
    if not isinstance(tree, QUERY_ROOTS):
        if not _is_statement(tree):
            # sqlglot reads gibberish such as "SELEC * FRM t" as a bare expression: a typo, not an attack.
            raise SQLSyntaxError(f"not a SQL statement in {dialect}: {sql.strip()[:80]!r}")
        reason = FORBIDDEN_NODES.get(type(tree), "only queries (SELECT, WITH … SELECT, UNION, VALUES) may run")
        raise UnsafeSQLError(f"refused {_statement_label(tree)}: {reason}")
    for node in tree.walk():
        for kind, reason in FORBIDDEN_NODES.items():
            if isinstance(node, kind):
                raise UnsafeSQLError(f"refused {_statement_label(node)}: {reason}")
        if isinstance(node, exp.Func) and is_forbidden_function(function_name(node), dialect):
            raise UnsafeSQLError(
                f"refused function {function_name(node)}(): it can reach files, processes, other sessions "
                "or sleep"
            )
        if isinstance(node, exp.Table):
            _check_table(node)
    return tree


def _is_statement(node: exp.Expression) -> bool:
    """A statement of some kind (refused unless a query), as opposed to a stray expression."""
    statement_kinds = (exp.DDL, exp.DML, exp.Command, exp.Show, exp.Describe, exp.Summarize, *FORBIDDEN_NODES)
    return isinstance(node, statement_kinds)


def _check_table(node: exp.Table) -> None:
    target = node.this
    if isinstance(target, exp.Func) and is_forbidden_function(function_name(target)):
        # A table function that lists or reads files in any engine (glob, read_csv, …) has no place in FROM.
        raise UnsafeSQLError(f"refused table function {function_name(target)}(): it reads files")
    if isinstance(target, exp.Literal) and target.is_string:
        raise UnsafeSQLError(f"refused table {target.this!r}: a string in FROM reads a file")
    name = node.name
    if name and ("/" in name or "\\" in name or name.lower().endswith(FILE_SUFFIXES)):
        raise UnsafeSQLError(f"refused table {name!r}: it names a file, not a table")


def _statement_label(node: exp.Expression) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    return node.key.upper().replace("TRUNCATETABLE", "TRUNCATE")


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
