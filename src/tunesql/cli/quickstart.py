"""``tunesql quickstart``: the whole flow on the embedded defaults, in one command, in minutes on a CPU.

bundled shop database → its schema → training pairs (a stable train / held-out split, exported as Alpaca and
chat messages for LLaMA-Factory and TRL) → LoRA on the default model (``configs/quickstart-cpu.yaml``), with
execution accuracy on the held-out pairs measured by the shared evaluator before the first step and after the
last → one question asked of the tuned model, end to end.

The before and after numbers come from the same prompts, the same greedy decoding and the same in-process
model (only the adapter differs), so the difference is the training and nothing else.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from tunesql.cli.common import fail_cleanly, print_rows

DEFAULT_QUESTION = "How many orders were cancelled?"


def quickstart(
    out: Annotated[Path, typer.Option("--out", help="where the data, adapter and reports go")] = Path(
        "runs/quickstart"),
    config: Annotated[Path | None, typer.Option("--config", help="a training recipe (default: the shipped "
                                                                 "configs/quickstart-cpu.yaml)")] = None,
    question: Annotated[str, typer.Option("--question", help="the question asked at the end")] = DEFAULT_QUESTION,
    overrides: Annotated[list[str] | None, typer.Argument(
        help="recipe overrides, e.g. train.max_steps=4", show_default=False)] = None,
) -> None:
    """Fine-tune the default model on the bundled database and show before/after accuracy (~15 min on 2 cores)."""
    from rich.console import Console

    console = Console(file=sys.stdout, width=140)
    start = time.perf_counter()
    with fail_cleanly():
        from tunesql.data.formats import export, write_dataset_info
        from tunesql.data.split import split_examples
        from tunesql.db.connect import open_database
        from tunesql.eval.runner import load_gold
        from tunesql.train.config import load_config, recipe_path

        job = load_config("sft", config or recipe_path("quickstart-cpu"),
                          [f"train.output_dir={out / 'train'}", *(overrides or [])])
        out.mkdir(parents=True, exist_ok=True)
        db = open_database(None)
        schema = db.schema(samples=3)
        rows = sum(t.row_count or 0 for t in schema.tables)
        console.rule("1. database")
        console.print(f"{db.path}: {len(schema.tables)} tables, {rows:,} rows "
                      f"({', '.join(t.name for t in schema.tables)}); opened read-only")

        console.rule("2. training data")
        gold = load_gold("shop")
        train, test = split_examples(gold.examples, job.data.held_out)
        data_dir = out / "data"
        files = {}
        for fmt, suffix in (("alpaca", "json"), ("messages", "jsonl")):
            name = f"shop_train_{fmt}"
            export(train, data_dir / f"{name}.{suffix}", fmt, schemas={db.name: schema},
                   schema_format=job.data.schema_format)
            files[name] = (f"{name}.{suffix}", fmt)
        write_dataset_info(data_dir, files)
        console.print(f"{len(gold.examples)} hand-checked pairs: {len(train)} for training, {len(test)} held out "
                      f"for evaluation; exported to {data_dir} (Alpaca + chat messages, dataset_info.json)")

        console.rule(f"3. LoRA fine-tuning of {job.model.name} (before/after EX on the held-out pairs)")
        from tunesql.train.sft import run_sft

        result = run_sft(job)
        _print_before_after(console, result, out)

        console.rule("4. ask the tuned model")
        from tunesql.infer.load import load_backend
        from tunesql.infer.pipeline import answer_question

        engine = load_backend(job.model.name, "hf", adapter=result.final_dir)
        answer = answer_question(question, db, engine, strategy="greedy", schema_format=job.data.schema_format,
                                 budget_tokens=job.data.budget_tokens, values=job.data.values,
                                 samples=job.data.samples, comments=job.data.comments, schema=schema, max_rows=10)
        console.print(f"[bold]Q[/bold] {question}\n[bold]SQL[/bold] {answer.sql or '(none)'}", highlight=False)
        if answer.error:
            console.print(f"[red]error[/red] {answer.error}")
        else:
            print_rows(answer.columns, answer.rows, "table")
        db.close()
        console.print(f"the adapter: {result.final_dir}; ask it yourself with\n  tunesql ask \"{question}\" "
                      f"--backend hf --adapter {result.final_dir} --strategy greedy"
                      + ("" if job.data.samples else " --no-samples")
                      + ("" if job.data.comments else " --no-comments"), highlight=False)
    console.rule(f"done in {time.perf_counter() - start:.0f}s")


def _print_before_after(console, result, out: Path) -> None:
    from rich.table import Table

    if len(result.ex) < 2:
        console.print("execution accuracy was not measured (ex_eval.limit is 0)")
        return
    before, after = result.ex[0], result.ex[-1]
    table = Table(title=f"held-out execution accuracy ({after['n']} questions, greedy)")
    for col in ("", "step", "EX", "SQL that runs"):
        table.add_column(col)
    for label, score in (("before", before), ("after", after)):
        table.add_row(label, str(score["step"]), f"{score['ex']:.1%}", f"{score['executed']:.1%}")
    console.print(table)
    rows = {}
    for label, score in (("before", before), ("after", after)):
        path = result.output_dir / f"ex_step{score['step']}.jsonl"
        if path.is_file():
            rows[label] = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    summary = {"before": before, "after": after, "steps": result.steps, "train_seconds": round(result.seconds, 1),
               "questions": rows}
    (out / "before_after.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    console.print(f"per-question verdicts: {out / 'before_after.json'}; loss curve: "
                  f"{result.output_dir / 'loss.png'}")
