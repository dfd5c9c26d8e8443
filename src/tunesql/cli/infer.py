"""``tunesql ask`` and ``tunesql predict``: text-to-SQL with a model, on one question or a whole dataset."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Annotated

import typer

from tunesql.cli.common import fail_cleanly, jsonable, print_rows

STRATEGIES = ("greedy", "vote")
SCHEMA_FORMATS = ("ddl", "mschema", "cards")

ModelOpt = Annotated[str | None, typer.Option(
    "--model", help="a registry key (see `tunesql models list`), a .gguf file, a transformers folder, or an "
                    "OpenAI-compatible endpoint http://host:port/v1#model [default: qwen2.5-coder-0.5b]")]
BackendOpt = Annotated[str, typer.Option(
    "--backend", help="auto, llamacpp, hf, vllm or openai (auto: llama.cpp for GGUF when installed)")]
AdapterOpt = Annotated[Path | None, typer.Option("--adapter", help="a LoRA adapter to apply (PEFT folder or GGUF)")]
StrategyOpt = Annotated[str, typer.Option(
    "--strategy", help="greedy: one answer; vote: n sampled answers, run read-only, the most common result wins")]
NOpt = Annotated[int, typer.Option("--n", min=1, help="candidates for --strategy vote")]
TempOpt = Annotated[float, typer.Option("--temperature", min=0.0, help="sampling temperature for voting")]
FormatOpt = Annotated[str, typer.Option("--schema-format", help="how the schema is shown: mschema, ddl or cards")]


def _check_choices(strategy: str, schema_format: str) -> None:
    if strategy not in STRATEGIES:
        raise typer.BadParameter(f"{strategy!r} is not one of {', '.join(STRATEGIES)}", param_hint="--strategy")
    if schema_format not in SCHEMA_FORMATS:
        raise typer.BadParameter(f"{schema_format!r} is not one of {', '.join(SCHEMA_FORMATS)}",
                                 param_hint="--schema-format")


def ask(
    question: Annotated[str, typer.Argument(help="the question, in plain language")],
    db: Annotated[str | None, typer.Option("--db", help="database URL or file [default: the bundled shop DB]")] = None,
    model: ModelOpt = None,
    backend: BackendOpt = "auto",
    adapter: AdapterOpt = None,
    strategy: StrategyOpt = "vote",
    n: NOpt = 8,
    temperature: TempOpt = 0.7,
    schema_format: FormatOpt = "mschema",
    explain: Annotated[bool, typer.Option("--explain", help="also explain the SQL in plain language")] = False,
    max_rows: Annotated[int, typer.Option("--max-rows", min=1, help="rows to show at most")] = 20,
    timeout: Annotated[float, typer.Option("--timeout", help="seconds each candidate query may run")] = 10.0,
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    samples: Annotated[bool, typer.Option("--samples/--no-samples",
                                          help="sample values in the schema (as the model was trained)")] = True,
    comments: Annotated[bool, typer.Option("--comments/--no-comments",
                                           help="column comments in the schema (as the model was trained)")] = True,
) -> None:
    """Ask a database a question: prints the SQL, the result and how confident the vote was.

    \b
    Examples:
      tunesql ask "How many customers do we have?"
      tunesql ask "Which 3 products sold the most units?" --explain
      tunesql ask "How many singers are there?" --db spider/database/concert_singer/concert_singer.sqlite
    """
    from rich.console import Console

    _check_choices(strategy, schema_format)
    if fmt not in ("table", "json"):
        raise typer.BadParameter(f"{fmt!r} is not table or json", param_hint="--format")
    console = Console(stderr=True)
    with fail_cleanly():
        from tunesql.db.connect import open_database
        from tunesql.infer.load import load_backend
        from tunesql.infer.pipeline import answer_question

        with console.status("loading the model…"):
            engine = load_backend(model, backend, adapter=adapter)
        with open_database(db) as handle:
            what = f"{n} candidates" if strategy == "vote" else "an answer"
            with console.status(f"reading {handle.name}'s schema and generating {what} with {engine.name}…"):
                answer = answer_question(question, handle, engine, strategy=strategy, n=n, temperature=temperature,
                                         schema_format=schema_format, explain=explain, timeout=timeout,
                                         max_rows=max_rows, samples=samples, comments=comments)
    if fmt == "json":
        typer.echo(json.dumps({
            "question": question, "sql": answer.sql, "confidence": answer.confidence, "error": answer.error,
            "columns": answer.columns, "rows": [[jsonable(v) for v in r] for r in answer.rows],
            "truncated": answer.truncated, "repaired": answer.prediction.repaired,
            "explanation": answer.explanation, "pruned": answer.pruned.summary(),
        }, ensure_ascii=False, indent=2))
        raise typer.Exit(1 if answer.error else 0)
    out = Console(file=sys.stdout, width=160)
    out.print(f"[bold]SQL[/bold]  {answer.sql or '(none)'}", highlight=False)
    if answer.error:
        out.print(f"[red]error[/red]  {answer.error}")
    else:
        print_rows(answer.columns, answer.rows, "table")
        if answer.truncated:
            out.print(f"(first {max_rows} rows shown)")
    votes = ""
    if strategy == "vote":
        winners = max((c.votes for c in answer.prediction.candidates), default=0)
        votes = f" ({winners} of {n} candidates agreed)"
    out.print(f"[bold]confidence[/bold]  {answer.confidence:.0%}{votes}"
              + ("; repaired after an error" if answer.prediction.repaired else ""))
    if answer.pruned.pruned:
        out.print(answer.pruned.summary())
    if answer.explanation:
        out.print(f"[bold]explanation[/bold]  {answer.explanation}")
    if answer.error:
        raise typer.Exit(1)


def predict(
    dataset: Annotated[str, typer.Option(
        "--dataset", help="spider:dev, spider:train, shop (the bundled pairs), a Spider/BIRD JSON, a SQL<TAB>db_id "
                          "file or Example JSONL")],
    out: Annotated[Path, typer.Option("--out", help="predictions JSONL (appended; ids already there are skipped)")],
    model: ModelOpt = None,
    backend: BackendOpt = "auto",
    adapter: AdapterOpt = None,
    strategy: StrategyOpt = "greedy",
    n: NOpt = 8,
    temperature: TempOpt = 0.7,
    schema_format: FormatOpt = "mschema",
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="predict only this many examples")] = None,
    shuffle_seed: Annotated[int | None, typer.Option(
        "--shuffle-seed", help="take a seeded random subset (with --limit) instead of the first ones")] = None,
    values: Annotated[bool, typer.Option("--values/--no-values", help="BM25 value hints in the prompt")] = True,
    repair: Annotated[bool, typer.Option("--repair/--no-repair", help="one retry showing the database error")] = True,
    spider_dir: Annotated[Path | None, typer.Option("--spider-dir", help="Spider directory")] = None,
    db_dir: Annotated[Path | None, typer.Option("--db-dir", help="directory of <db_id>/<db_id>.sqlite")] = None,
) -> None:
    """Predict SQL for a dataset, with a progress bar; then score it with `tunesql eval`.

    \b
    Example:
      tunesql predict --dataset spider:dev --strategy vote --n 8 --limit 200 --shuffle-seed 0 --out preds.jsonl
      tunesql eval --gold spider:dev --pred preds.jsonl --only-predicted
    """
    _check_choices(strategy, schema_format)
    with fail_cleanly():
        from tqdm import tqdm

        from tunesql.eval.runner import load_gold
        from tunesql.infer.load import load_backend
        from tunesql.infer.predict import dataset_databases, predict_dataset

        gold = load_gold(dataset, spider_dir=spider_dir, db_dir=db_dir)
        examples = list(gold.examples)
        if shuffle_seed is not None:
            random.Random(shuffle_seed).shuffle(examples)
        examples = examples[:limit] if limit else examples
        db_file, schemas = dataset_databases(gold, examples)
        engine = load_backend(model, backend, adapter=adapter)
        typer.echo(f"predicting {len(examples)} examples of {gold.source} with {engine.name} ({strategy}"
                   + (f", n={n}" if strategy == "vote" else "") + f", {schema_format}) → {out}", err=True)
        with tqdm(total=len(examples), desc="predicting", unit="q", file=sys.stderr, dynamic_ncols=True) as bar:
            stats = predict_dataset(examples, db_file, schemas, engine, out, strategy=strategy, n=n,
                                    temperature=temperature, schema_format=schema_format, values=values,
                                    repair=repair, progress=bar.update)
    typer.echo(f"wrote {stats.written} predictions to {out} in {stats.seconds:.1f}s"
               + (f"; {stats.skipped} already there" if stats.skipped else "")
               + (f"; {stats.missing_db} with no database" if stats.missing_db else "")
               + (f"; {stats.failed} whose SQL did not run" if stats.failed else ""))

