"""``tunesql synth``: training pairs from your own database, written by any OpenAI-compatible LLM.

    tunesql synth --db URL --llm http://127.0.0.1:8000/v1 --model NAME --n 500 --out runs/synth
    tunesql synth --config job.yaml --set generate.batch_size=8      (any config key; --check prints them)
    tunesql synth from-log queries.sql --db URL --llm … --model …      (or --pg-stat-statements)
    tunesql synth distill --gold shop --llm … --model … --n 4          (reasoning SFT data from a teacher)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tunesql.cli.common import fail_cleanly

app = typer.Typer(help="Training pairs from your database: LLM synthesis, query logs, teacher distillation.",
                  invoke_without_command=True)

DbOpt = Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL or file (default: the bundled database)")]
LlmOpt = Annotated[str | None, typer.Option("--llm", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")]
ModelOpt = Annotated[str | None, typer.Option("--model", help="the model name the endpoint serves")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="output folder")]
CacheOpt = Annotated[Path | None, typer.Option("--cache-dir", help="LLM answer cache (default: <out>/llm-cache)")]
ConcOpt = Annotated[int, typer.Option("--concurrency", help="requests in flight at once")]


@app.callback()
def synth(
    ctx: typer.Context,
    db: DbOpt = None,
    llm: LlmOpt = None,
    model: ModelOpt = None,
    n: Annotated[int | None, typer.Option("--n", help="pairs to accept")] = None,
    out: OutOpt = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="a YAML synth job")] = None,
    overrides: Annotated[list[str] | None, typer.Option(
        "--set", help="a config override as dotted key=value (repeatable), e.g. --set generate.batch_size=8",
        show_default=False)] = None,
    check: Annotated[bool, typer.Option("--check", help="print the resolved config and stop")] = False,
) -> None:
    """Plan topics → generate question/SQL pairs → validate (parse, schema, read-only execution) → dedupe →
    balance → export. Resumable: re-run the same command to continue; answers are cached on disk."""
    if ctx.invoked_subcommand is not None:
        return
    import yaml

    from tunesql.synth.config import load_synth_config

    flags = {"db.url": db, "llm.base_url": llm, "llm.model": model, "generate.n": n,
             "output.dir": str(out) if out else None}
    items = [*(overrides or []), *(f"{k}={json.dumps(v)}" for k, v in flags.items() if v is not None)]
    with fail_cleanly():
        job = load_synth_config(config, items)
        if check:
            typer.echo(yaml.safe_dump(job.model_dump(by_alias=True), sort_keys=False, allow_unicode=True))
            return
        from tunesql.synth.pipeline import run_synth

        result = run_synth(job)
    print_summary(result.summary(), Path(job.output.dir))


def print_summary(summary: dict[str, Any], out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=sys.stdout, width=140)
    table = Table(title=f"accepted {summary['accepted']} of {summary['candidates']} candidates "
                        f"(target {summary.get('target', '-')})")
    table.add_column("rejected because")
    table.add_column("pairs", justify="right")
    table.add_column("share", justify="right")
    total = max(1, summary["candidates"])
    for reason, count in summary["rejected_by_reason"].items():
        table.add_row(reason, str(count), f"{count / total:.0%}")
    console.print(table)
    if summary.get("accepted_by_difficulty"):
        console.print("accepted by difficulty: " + ", ".join(f"{k} {v}" for k, v in
                                                              summary["accepted_by_difficulty"].items()))
    llm = summary.get("llm", {})
    if llm:
        console.print(f"LLM: {llm.get('requests', 0)} requests, {llm.get('cache_hits', 0)} answered from the "
                      f"cache, {llm.get('failures', 0)} failed")
    if summary.get("target") and summary["accepted"] < summary["target"]:
        console.print(f"[yellow]short of the target by {summary['target'] - summary['accepted']}: raise "
                      "generate.max_rounds or generate.oversample, or use a stronger model[/yellow]")
    console.print(f"pairs: {out / 'pairs.jsonl'} (train with: tunesql train sft data.train=[{out / 'pairs.jsonl'}])",
                  markup=False)


def _client(llm: str | None, model: str | None, cache_dir: Path | None, out: Path, concurrency: int) -> Any:
    from tunesql.errors import ConfigError
    from tunesql.synth.llm import LLMClient

    if not llm or not model:
        raise ConfigError("--llm (an OpenAI-compatible base URL) and --model are required")
    return LLMClient(llm, model, api_key=os.environ.get("OPENAI_API_KEY"), concurrency=concurrency,
                     cache_dir=cache_dir or out / "llm-cache")


@app.command("from-log")
def from_log(
    file: Annotated[Path | None, typer.Argument(help="a .sql file of queries (omit with --pg-stat-statements)")]
    = None,
    db: DbOpt = None,
    llm: LlmOpt = None,
    model: ModelOpt = None,
    pg_stat_statements: Annotated[bool, typer.Option(
        "--pg-stat-statements", help="mine the PostgreSQL database's pg_stat_statements view")] = False,
    min_calls: Annotated[int, typer.Option(help="pg_stat_statements: queries run at least this often")] = 1,
    timeout: Annotated[float, typer.Option(help="seconds each query may run (read-only)")] = 5.0,
    out: Annotated[Path, typer.Option("--out")] = Path("runs/synth-log"),
    cache_dir: CacheOpt = None,
    concurrency: ConcOpt = 4,
) -> None:
    """Mine a query log into pairs: SELECTs only, validated like generated SQL, questions written by the LLM."""
    from tunesql.db.connect import open_database
    from tunesql.errors import ConfigError
    from tunesql.synth.from_log import mine_log, read_pg_stat_statements, read_sql_file

    with fail_cleanly():
        if (file is None) == (not pg_stat_statements):
            raise ConfigError("give either a .sql FILE or --pg-stat-statements")
        client = _client(llm, model, cache_dir, out, concurrency)
        with open_database(db) as handle:
            schema = handle.schema(samples=3)
            queries = (read_pg_stat_statements(handle, min_calls=min_calls) if pg_stat_statements
                       else read_sql_file(file, handle.dialect))  # type: ignore[arg-type]
            pairs = mine_log(queries, handle, schema, client, db_id=schema.name, timeout=timeout)
            _finish(out, pairs, schema, handle, client)


@app.command("distill")
def distill_command(
    gold: Annotated[str, typer.Option("--gold", help="questions with gold SQL: shop, spider:train, or a file")]
    = "shop",
    llm: LlmOpt = None,
    model: ModelOpt = None,
    n: Annotated[int, typer.Option("--n", help="teacher answers per question")] = 4,
    temperature: Annotated[float, typer.Option(help="teacher sampling temperature")] = 0.7,
    limit: Annotated[int | None, typer.Option(help="only the first N questions")] = None,
    out: Annotated[Path, typer.Option("--out")] = Path("runs/distill"),
    cache_dir: CacheOpt = None,
    concurrency: ConcOpt = 4,
) -> None:
    """A teacher answers each question n times with reasoning; answers whose SQL returns the gold result are kept
    (majority among the correct ones) as reasoning SFT data (train with data.task=reasoning)."""
    from tunesql.data.example import write_examples
    from tunesql.eval.runner import load_gold
    from tunesql.infer.predict import dataset_databases
    from tunesql.synth.distill import DistillConfig, distill, open_databases
    from tunesql.synth.record import append_pairs

    with fail_cleanly():
        client = _client(llm, model, cache_dir, out, concurrency)
        gold_set = load_gold(gold)
        examples = gold_set.examples[:limit] if limit else gold_set.examples
        db_file, schemas = dataset_databases(gold_set, examples)
        with open_databases(db_file) as open_db:
            result = distill(examples, open_db, schemas, client, DistillConfig(n=n, temperature=temperature))
        out.mkdir(parents=True, exist_ok=True)
        (out / "candidates.jsonl").unlink(missing_ok=True)
        append_pairs(out / "candidates.jsonl", result.pairs)
        kept = result.examples()
        write_examples(out / "pairs.jsonl", kept)
        _link_gold_databases(out, gold_set, kept)
    typer.echo(result.summary())
    typer.echo(f"reasoning pairs: {out / 'pairs.jsonl'} (train with: tunesql train sft data.task=reasoning "
               f"data.train=[{out / 'pairs.jsonl'}])")


def _finish(out: Path, pairs: list[Any], schema: Any, db: Any, client: Any) -> None:
    from tunesql.data.example import write_examples
    from tunesql.synth.pipeline import link_database
    from tunesql.synth.record import append_pairs, rejection_counts

    out.mkdir(parents=True, exist_ok=True)
    (out / "candidates.jsonl").unlink(missing_ok=True)
    append_pairs(out / "candidates.jsonl", pairs)
    kept = [p.to_example() for p in pairs if p.accepted]
    write_examples(out / "pairs.jsonl", kept)
    link_database(out, db, schema.name)
    rejected = rejection_counts(pairs)
    summary = {"accepted": len(kept), "candidates": len(pairs), "rejected": sum(rejected.values()),
               "rejected_by_reason": dict(rejected.most_common()),
               "llm": {"requests": client.stats.requests, "cache_hits": client.stats.cache_hits,
                       "failures": client.stats.failures}}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print_summary(summary, out)


def _link_gold_databases(out: Path, gold: Any, examples: list[Any]) -> None:
    """Make the distilled pairs.jsonl find the gold set's databases (a link to its database folder)."""
    if gold.db_dir is None:
        return
    link = out / "database"
    if link.is_symlink():
        link.unlink()
    if not link.exists():
        link.symlink_to(Path(gold.db_dir).resolve(), target_is_directory=True)
    if gold.db_urls:
        (out / "databases.json").write_text(json.dumps(gold.db_urls, indent=2) + "\n", encoding="utf-8")
