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
