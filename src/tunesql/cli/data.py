"""``tunesql data …``: load a corpus, build its prompts, write training files for LLaMA-Factory or TRL."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tunesql.cli.common import fail_cleanly
from tunesql.errors import DataError

if TYPE_CHECKING:
    from tunesql.data.example import Example
    from tunesql.db.schema import Schema

app = typer.Typer(help="Datasets: load Spider, BIRD, sql-create-context or the shop pairs; export them for "
                       "training.", no_args_is_help=True)

SOURCES = ("spider", "bird", "sql-create-context", "shop")
FORMATS = ("alpaca", "sharegpt", "messages")
PROMPTS = ("schema", "dbid")
DIRECTIONS = ("nl2sql", "sql2nl")
SCHEMA_FORMATS = ("ddl", "cards", "mschema", "json")
SCHEMA_SOURCES = ("db", "tables")
ROW_COUNT_FORMATS = ("cards", "json")
"""Schema formats that show row counts; only these pay for ``count(*)`` on every table (BIRD's are large)."""
BIRD_ENV = "TUNESQL_BIRD_DIR"


@dataclass
class Corpus:
    examples: list[Example]
    schemas: dict[str, Schema]
    split: str
    root: Path | None = None
    """Spider / BIRD only: where the databases can be introspected from (see ``db_schemas``)."""


def _choice(value: str, allowed: tuple[str, ...], hint: str) -> str:
    if value not in allowed:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(allowed)}", param_hint=hint)
    return value


def load_corpus(source: str, split: str | None, *, spider_dir: Path | None = None,
                data_dir: Path | None = None, samples: int = 3) -> Corpus:
    """Load ``source`` (one of SOURCES) with the schemas its prompts need.

    Spider and BIRD come with their tables.json schemas (cheap); ``db_schemas`` swaps in the introspected ones
    for just the databases an export uses. The shop database is introspected here, with ``samples`` values
    per column.
    """
    if source in ("spider", "bird"):
        if split not in ("train", "dev"):
            raise DataError(f"{source} needs --split train or --split dev")
    elif split not in (None, "all"):
        raise DataError(f"{source} is one file without splits; leave --split out (or pass --split all)")
    if source == "spider":
        from tunesql.data.spider import load_spider, load_spider_schemas, resolve_spider_dir

        root = resolve_spider_dir(spider_dir or data_dir)
        schemas = load_spider_schemas(root / "tables.json")
        return Corpus(load_spider(root, split, schemas=schemas), schemas, split, root)  # type: ignore[arg-type]
    if source == "bird":
        from tunesql.data.bird import load_bird, load_bird_schemas

        root = data_dir or (Path(os.environ[BIRD_ENV]) if os.environ.get(BIRD_ENV) else None)
        if root is None:
            raise DataError(f"BIRD has no default location: pass --data-dir PATH or set {BIRD_ENV}")
        schemas = load_bird_schemas(root, split)  # type: ignore[arg-type]
        return Corpus(load_bird(root, split, schemas=schemas), schemas, split, root)  # type: ignore[arg-type]
    if source == "sql-create-context":
        from tunesql.data.sql_create_context import (
            load_sql_create_context,
            resolve_file,
            sql_create_context_schemas,
        )

        if data_dir is None:
            raise DataError("sql-create-context has no default location: pass --data-dir FILE (the "
                            "sql_create_context_v4.json file, or its directory)")
        path = resolve_file(data_dir)
        examples = load_sql_create_context(path)
        return Corpus(examples, sql_create_context_schemas(examples, path=str(path)), "all")
    if source == "shop":
        from importlib import resources

        from tunesql.data.example import load_pairs
        from tunesql.db.connect import open_database

        pairs = data_dir or Path(str(resources.files("tunesql.resources").joinpath("shop_pairs.json")))
        with open_database(None) as db:
            schema = db.schema(samples=samples)
            examples = load_pairs(pairs, db.name, dialect=db.dialect, source="shop")
        return Corpus(examples, {db.name: schema}, "all")
    raise DataError(f"unknown source {source!r}; use one of {', '.join(SOURCES)}")


def db_schemas(source: str, corpus: Corpus, examples: list[Example], *, samples: int, row_counts: bool,
               progress: Callable[[int], None] | None = None,
               notify: Callable[[str], None] | None = None) -> dict[str, Schema]:
    """Spider / BIRD: the schemas of the databases ``examples`` use, introspected from their SQLite files once
    each (tables.json's for missing files); other sources keep the schemas they were loaded with."""
    db_ids = [ex.db_id for ex in examples]
    if source == "spider" and corpus.root is not None:
        from tunesql.data.spider import load_db_schemas

        return load_db_schemas(corpus.root, db_ids, samples, corpus.schemas, row_counts=row_counts,
                               progress=progress, notify=notify)
    if source == "bird" and corpus.root is not None:
        from tunesql.data.bird import load_bird_db_schemas

        return load_bird_db_schemas(corpus.root, corpus.split, db_ids, samples,  # type: ignore[arg-type]
                                    corpus.schemas, row_counts=row_counts, progress=progress, notify=notify)
    return corpus.schemas


def dataset_name(source: str, split: str, prompt: str, direction: str, schema_format: str) -> str:
    """``spider_train_schema-ddl_nl2sql``: what the file holds, used for its name and in dataset_info.json."""
    style = f"schema-{schema_format}" if prompt == "schema" else prompt
    return f"{source.replace('-', '_')}_{split}_{style}_{direction}"


@app.command("export")
def export_cmd(
    source: Annotated[str, typer.Argument(help="spider, bird, sql-create-context or shop.")],
    split: Annotated[str | None, typer.Option(
        help="train or dev (spider, bird); leave out for single-file sources.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="alpaca, sharegpt (JSON lists) or messages (JSONL).")]
        = "alpaca",
    prompt: Annotated[str, typer.Option(
        help="schema (rendered schema + question) or dbid (names only the database id).")] = "schema",
    direction: Annotated[str, typer.Option(help="nl2sql (question → SQL) or sql2nl (SQL → question).")]
        = "nl2sql",
    schema_format: Annotated[str, typer.Option(help="How the schema is rendered: ddl, cards, mschema, json.")]
        = "ddl",
    schema_source: Annotated[str, typer.Option(
        help="spider, bird: db introspects each database's .sqlite file (declared types, real keys, sample "
             "values; tables.json for missing files) or tables reads only tables.json (fast, no database "
             "files needed).")] = "db",
    samples: Annotated[int, typer.Option(
        help="Distinct sample values per column in the schema (0 = none); with --schema-source db and for "
             "shop.", min=0)] = 3,
    out: Annotated[Path, typer.Option(help="Directory for the data file and dataset_info.json.")]
        = Path("out/data"),
    spider_dir: Annotated[Path | None, typer.Option(
        help="Spider directory (tables.json, dev.json, train_spider.json). Default: $TUNESQL_SPIDER_DIR, "
             "else ../shared/benchmarks/spider.")] = None,
    data_dir: Annotated[Path | None, typer.Option(
        help="Where the source's data is: BIRD directory, the sql-create-context file, a pairs file for "
             "shop.")] = None,
    name: Annotated[str | None, typer.Option(help="Dataset name in dataset_info.json and the file name.")]
        = None,
    limit: Annotated[int | None, typer.Option(help="Export only the first N records.", min=1)] = None,
    system: Annotated[str | None, typer.Option(help="System prompt (default: tunesql's; '' for none).")]
        = None,
) -> None:
    """Export a corpus as a training file plus LLaMA-Factory's dataset_info.json.

    Example: tunesql data export spider --split train --format alpaca --prompt schema
    """
    from tunesql.data.formats import SUFFIXES, build_prompts, format_record, write_dataset_info, write_records

    _choice(source, SOURCES, "SOURCE")
    _choice(fmt, FORMATS, "--format")
    _choice(prompt, PROMPTS, "--prompt")
    _choice(direction, DIRECTIONS, "--direction")
    _choice(schema_format, SCHEMA_FORMATS, "--schema-format")
    _choice(schema_source, SCHEMA_SOURCES, "--schema-source")
    with fail_cleanly():
        started = time.perf_counter()
        corpus = load_corpus(source, split, spider_dir=spider_dir, data_dir=data_dir, samples=samples)
        examples = corpus.examples[:limit] if limit else corpus.examples
        schemas = corpus.schemas
        if prompt == "schema" and schema_source == "db":
            n_dbs = len({ex.db_id for ex in examples})
            notes: list[str] = []  # echoed once the progress bar is gone
            with _progress(n_dbs, f"reading database schemas ({source} {corpus.split})") as advance:
                schemas = db_schemas(source, corpus, examples, samples=samples,
                                     row_counts=schema_format in ROW_COUNT_FORMATS, progress=advance,
                                     notify=notes.append)
            for note in notes:
                typer.echo(note)
        stem = name or dataset_name(source, corpus.split, prompt, direction, schema_format)
        file_name = f"{stem}_{fmt}{SUFFIXES[fmt]}"
        with _progress(len(examples), f"building prompts ({source} {corpus.split})") as advance:
            prompts = build_prompts(examples, schemas, style=prompt, direction=direction,
                                    schema_format=schema_format, system=system, progress=advance)
        records = (format_record(p, fmt, example=ex) for p, ex in zip(prompts, examples, strict=True))
        n = write_records(records, out / file_name, fmt)
        info = write_dataset_info(out, {f"{stem}_{fmt}": (file_name, fmt)})
        seconds = time.perf_counter() - started
    typer.echo(f"wrote {n} records to {out / file_name} ({fmt}, prompt {prompt}, {direction}) "
               f"in {seconds:.1f}s")
    typer.echo(f"registered {stem}_{fmt} in {info}")


class _progress:
    """A rich progress bar on stderr while a long step runs (silent when stderr is not a terminal)."""

    def __init__(self, total: int, description: str) -> None:
        self.total, self.description = total, description
        self._bar = None

    def __enter__(self):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(file=sys.stderr)
        if not console.is_terminal:
            return lambda n: None
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), console=console, transient=True)
        self._bar.start()
        task = self._bar.add_task(self.description, total=self.total)
        bar = self._bar
        return lambda n: bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
