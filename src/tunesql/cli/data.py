"""``tunesql data …``: load a corpus, build its prompts, write training files for LLaMA-Factory or TRL."""

from __future__ import annotations

import os
import sys
import time
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
BIRD_ENV = "TUNESQL_BIRD_DIR"


@dataclass
class Corpus:
    examples: list[Example]
    schemas: dict[str, Schema]
    split: str


def _choice(value: str, allowed: tuple[str, ...], hint: str) -> str:
    if value not in allowed:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(allowed)}", param_hint=hint)
    return value


def load_corpus(source: str, split: str | None, *, spider_dir: Path | None = None,
                data_dir: Path | None = None) -> Corpus:
    """Load ``source`` (one of SOURCES) with the schemas its prompts need."""
    if source in ("spider", "bird"):
        if split not in ("train", "dev"):
            raise DataError(f"{source} needs --split train or --split dev")
    elif split not in (None, "all"):
        raise DataError(f"{source} is one file without splits; leave --split out (or pass --split all)")
    if source == "spider":
        from tunesql.data.spider import load_spider, load_spider_schemas, resolve_spider_dir

        root = resolve_spider_dir(spider_dir or data_dir)
        schemas = load_spider_schemas(root / "tables.json")
        return Corpus(load_spider(root, split, schemas=schemas), schemas, split)  # type: ignore[arg-type]
    if source == "bird":
        from tunesql.data.bird import load_bird, load_bird_schemas

        root = data_dir or (Path(os.environ[BIRD_ENV]) if os.environ.get(BIRD_ENV) else None)
        if root is None:
            raise DataError(f"BIRD has no default location: pass --data-dir PATH or set {BIRD_ENV}")
        schemas = load_bird_schemas(root, split)  # type: ignore[arg-type]
        return Corpus(load_bird(root, split, schemas=schemas), schemas, split)  # type: ignore[arg-type]
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
            schema = db.schema()
            examples = load_pairs(pairs, db.name, dialect=db.dialect, source="shop")
        return Corpus(examples, {db.name: schema}, "all")
    raise DataError(f"unknown source {source!r}; use one of {', '.join(SOURCES)}")


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
    with fail_cleanly():
        started = time.perf_counter()
        corpus = load_corpus(source, split, spider_dir=spider_dir, data_dir=data_dir)
        examples = corpus.examples[:limit] if limit else corpus.examples
        stem = name or dataset_name(source, corpus.split, prompt, direction, schema_format)
        file_name = f"{stem}_{fmt}{SUFFIXES[fmt]}"
        with _progress(len(examples), f"{source} {corpus.split}") as advance:
            prompts = build_prompts(examples, corpus.schemas, style=prompt, direction=direction,
                                    schema_format=schema_format, system=system, progress=advance)
        records = (format_record(p, fmt, example=ex) for p, ex in zip(prompts, examples, strict=True))
        n = write_records(records, out / file_name, fmt)
        info = write_dataset_info(out, {f"{stem}_{fmt}": (file_name, fmt)})
        seconds = time.perf_counter() - started
    typer.echo(f"wrote {n} records to {out / file_name} ({fmt}, prompt {prompt}, {direction}) "
               f"in {seconds:.1f}s")
    typer.echo(f"registered {stem}_{fmt} in {info}")


class _progress:
    """A rich progress bar on stderr while prompts are built (silent when stderr is not a terminal)."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label = total, label
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
        task = self._bar.add_task(f"building prompts ({self.label})", total=self.total)
        bar = self._bar
        return lambda n: bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
