"""Helpers every command shares: how errors reach the user, how rows are printed."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import typer

from tunesql.errors import TunesqlError


@contextmanager
def fail_cleanly() -> Iterator[None]:
    """Turn a TunesqlError into one line on stderr and exit code 1 (2 for refused SQL), no traceback."""
    from tunesql.errors import SQLSyntaxError, UnsafeSQLError

    try:
        yield
    except (UnsafeSQLError, SQLSyntaxError) as e:
        typer.echo(f"error: {type(e).__name__}: {e}", err=True)
        raise typer.Exit(2) from e
    except TunesqlError as e:
        typer.echo(f"error: {type(e).__name__}: {e}", err=True)
        raise typer.Exit(1) from e


def jsonable(value: Any) -> Any:
    """Database values (Decimal, dates, bytes) as JSON-safe values."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def print_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str = "table",
               title: str | None = None, echo: Callable[[str], None] = typer.echo) -> None:
    """Print a result as a rich table, JSON (a list of objects) or CSV."""
    if fmt == "json":
        echo(json.dumps([{c: jsonable(v) for c, v in zip(columns, r, strict=False)} for r in rows], ensure_ascii=False,
                        indent=2))
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(columns)
        writer.writerows([[jsonable(v) for v in r] for r in rows])
        echo(buf.getvalue().rstrip("\n"))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, show_lines=False)
        for c in columns:
            table.add_column(str(c))
        for r in rows:
            table.add_row(*["NULL" if v is None else str(v) for v in r])
        Console(file=sys.stdout, width=200).print(table)
