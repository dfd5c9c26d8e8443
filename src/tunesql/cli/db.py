"""``tunesql db …``: describe a database, run one query safely."""

from __future__ import annotations

from typing import Annotated

import typer

from tunesql.cli.common import fail_cleanly, print_rows

app = typer.Typer(help="Connect to a database: describe it, run one read-only query.", no_args_is_help=True)

FORMATS = ("table", "json", "csv")


@app.command("query")
def query(
    args: Annotated[list[str], typer.Argument(
        help="[URL] SQL — the database URL or file path (the bundled shop database when left out), then the SQL.",
        metavar="[URL] SQL")],
    timeout: Annotated[float, typer.Option(help="Seconds before the database stops the query.")] = 10.0,
    max_rows: Annotated[int, typer.Option(help="Rows to fetch at most; the rest are never fetched.")] = 1000,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
) -> None:
    """Run one query read-only, with a time and row limit. Writes, DDL and file access are refused."""
    from tunesql.db.execute import run_query

    if len(args) not in (1, 2):
        raise typer.BadParameter("give the SQL, or a database URL and then the SQL", param_hint="[URL] SQL")
    if fmt not in FORMATS:
        raise typer.BadParameter(f"{fmt!r} is not one of {', '.join(FORMATS)}", param_hint="--format")
    url, sql = (None, args[0]) if len(args) == 1 else (args[0], args[1])
    with fail_cleanly():
        result = run_query(url, sql, timeout=timeout, max_rows=max_rows)
    print_rows(result.columns, result.rows, fmt)
    if result.truncated:
        typer.echo(f"(showing the first {max_rows} rows; the result has more)", err=True)


@app.command("inspect")
def inspect(
    url: Annotated[str | None, typer.Argument(
        help="Database URL or file path (sqlite/duckdb by suffix); the bundled shop database when left out.",
        metavar="[URL]")] = None,
    fmt: Annotated[str, typer.Option("--format", help="ddl, cards, mschema or json.")] = "ddl",
    samples: Annotated[int, typer.Option(help="Distinct sample values per column (0 for none).", min=0)] = 3,
    row_counts: Annotated[bool, typer.Option("--row-counts/--no-row-counts",
                                             help="Count the rows of every table.")] = True,
    comments: Annotated[bool, typer.Option("--comments/--no-comments",
                                           help="Show table and column comments.")] = True,
    schema: Annotated[str | None, typer.Option(
        help="Schema to describe instead of the default one (PostgreSQL public, DuckDB main).")] = None,
) -> None:
    """Describe a database: tables, columns, keys, comments, row counts and sample values, as prompt text."""
    from tunesql.db.connect import open_database
    from tunesql.db.introspect import introspect
    from tunesql.db.render import RENDER_FORMATS, render_json, render_schema

    if fmt not in RENDER_FORMATS:
        raise typer.BadParameter(f"{fmt!r} is not one of {', '.join(RENDER_FORMATS)}", param_hint="--format")
    with fail_cleanly(), open_database(url) as db:
        described = introspect(db, samples=samples, row_counts=row_counts, schema=schema)
    if fmt == "json":
        typer.echo(render_json(described, samples=samples > 0, comments=comments, indent=2))
    else:
        typer.echo(render_schema(described, fmt, samples=samples > 0, comments=comments))
