"""``tunesql quickstart``: the whole flow that exists today, on the embedded defaults, in one command.

bundled shop database → its schema → training pairs (a stable train / held-out split, exported as Alpaca and
chat messages for LLaMA-Factory and TRL) → execution accuracy of the default model on the held-out pairs,
scored by the shared evaluator → one question asked end to end. LoRA training slots in between the export and
the scoring once it lands, turning the single score into a before/after comparison.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from tunesql.cli.common import fail_cleanly, print_rows
from tunesql.cli.infer import BackendOpt, FormatOpt, ModelOpt

DEFAULT_QUESTION = "How many orders were cancelled?"


def quickstart(
    out: Annotated[Path, typer.Option("--out", help="where the data, predictions and report go")] = Path(
        "runs/quickstart"),
    model: ModelOpt = None,
    backend: BackendOpt = "auto",
    schema_format: FormatOpt = "mschema",
    held_out: Annotated[float, typer.Option("--held-out", min=0.05, max=0.95,
                                            help="fraction of the pairs kept out of training")] = 0.25,
    question: Annotated[str, typer.Option("--question", help="the question asked at the end")] = DEFAULT_QUESTION,
) -> None:
    """Run every stage that exists on the bundled database and the default model (a few minutes on a CPU)."""
    from rich.console import Console

    console = Console(file=sys.stdout, width=140)
    start = time.perf_counter()
    with fail_cleanly():
        from tqdm import tqdm

        from tunesql.data.formats import export, write_dataset_info
        from tunesql.data.split import split_examples
        from tunesql.db.connect import bundled_db_path, open_database
        from tunesql.eval.execution import ExecConfig
        from tunesql.eval.report import write_report
        from tunesql.eval.runner import evaluate, load_gold, load_predictions
        from tunesql.infer.load import load_backend
        from tunesql.infer.pipeline import answer_question
        from tunesql.infer.predict import predict_dataset

        out.mkdir(parents=True, exist_ok=True)
        db = open_database(None)
        schema = db.schema(samples=3)
        rows = sum(t.row_count or 0 for t in schema.tables)
        console.rule("1. database")
        console.print(f"{db.path}: {len(schema.tables)} tables, {rows:,} rows "
                      f"({', '.join(t.name for t in schema.tables)}); opened read-only")

        console.rule("2. training data")
        gold = load_gold("shop")
        train, test = split_examples(gold.examples, held_out)
        data_dir = out / "data"
        files = {}
        for fmt, suffix in (("alpaca", "json"), ("messages", "jsonl")):
            name = f"shop_train_{fmt}"
            export(train, data_dir / f"{name}.{suffix}", fmt, schemas={db.name: schema}, schema_format=schema_format)
            files[name] = (f"{name}.{suffix}", fmt)
        write_dataset_info(data_dir, files)
        console.print(f"{len(gold.examples)} hand-checked pairs: {len(train)} for training → {data_dir} "
                      f"(Alpaca + chat messages, dataset_info.json), {len(test)} held out for evaluation")

        console.rule("3. execution accuracy on the held-out pairs")
        engine = load_backend(model, backend)
        preds = out / "preds_base.jsonl"
        preds.unlink(missing_ok=True)
        with tqdm(total=len(test), desc="predicting", unit="q", file=sys.stderr, dynamic_ncols=True) as bar:
            predict_dataset(test, lambda _: bundled_db_path(), {db.name: schema}, engine, preds,
                            strategy="greedy", schema_format=schema_format, progress=bar.update)
        ids = {ex.id for ex in test}
        gold.examples = [ex for ex in gold.examples if ex.id in ids]
        report = evaluate(gold, [load_predictions(preds, gold)], config=ExecConfig(), workers=1)[0]
        written = write_report(report, out / "eval_base")
        s = report["summary"]
        console.print(f"{engine.name}, greedy: EX {s['ex']:.1%} ({s['correct']}/{s['scored']}), "
                      f"SQL that runs {s['exec_success']:.1%}; report: {written.get('md', out / 'eval_base')}")

        console.rule("4. ask")
        answer = answer_question(question, db, engine, strategy="vote", n=4, schema_format=schema_format,
                                 schema=schema, max_rows=10)
        console.print(f"[bold]Q[/bold] {question}\n[bold]SQL[/bold] {answer.sql or '(none)'}", highlight=False)
        if answer.error:
            console.print(f"[red]error[/red] {answer.error}")
        else:
            print_rows(answer.columns, answer.rows, "table")
        console.print(f"confidence {answer.confidence:.0%}")
        db.close()
    console.rule(f"done in {time.perf_counter() - start:.0f}s")
