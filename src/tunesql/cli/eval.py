"""``tunesql eval``: score predictions against a gold set (execution accuracy, exact match, token F1; or BLEU /
ROUGE for SQL→NL), print a summary table, and write a report a person reads."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tunesql.cli.common import fail_cleanly

app = typer.Typer(help="Score predictions against a gold set.", no_args_is_help=True)

DEFAULT_TIMEOUT = 60.0
"""``tunesql.eval.execution.DEFAULT_TIMEOUT``, repeated so that ``tunesql --help`` does not import sqlglot
(a test keeps the two equal)."""
_GOLD_HELP = ("spider:dev, spider:train, a Spider/BIRD JSON file, a SQL<TAB>db_id file (like dev_gold.sql) or "
              "tunesql Example JSONL")
_PRED_HELP = ("predictions: JSONL with 'id' and 'sql' (or 'pred'/'query'), paired by id; or plain text, one "
              "SQL per line, paired by line number when gold ids are positions")


def eval_command(
    gold: Annotated[str, typer.Option("--gold", help=_GOLD_HELP)],
    pred: Annotated[Path | None, typer.Option("--pred", help=_PRED_HELP)] = None,
    db_dir: Annotated[Path | None, typer.Option(
        "--db-dir", help="directory holding <db_id>/<db_id>.sqlite (default: <spider dir>/database for spider "
                         "gold, a database/ folder next to a gold file)")] = None,
    semantics: Annotated[str, typer.Option(
        "--semantics", help="spider: bags, any column order, ordered iff the gold has ORDER BY, DISTINCT stripped "
                            "(the official test-suite evaluator); bird: set equality, SQL run as written")] = "spider",
    keep_distinct: Annotated[bool, typer.Option("--keep-distinct",
                                                help="do not strip DISTINCT (spider semantics)")] = False,
    timeout: Annotated[float | None, typer.Option(
        "--timeout", help=f"seconds a predicted query may run [default: {DEFAULT_TIMEOUT:g}]")] = None,
    float_tol: Annotated[float, typer.Option(
        "--float-tol", min=0.0, help="floats are compared after rounding to floor(-log10(tol)) significant digits; "
                                     "0 compares them exactly, like the official evaluators")] = 1e-9,
    workers: Annotated[int, typer.Option("--workers", help="worker processes (0: one per CPU)", min=0)] = 0,
    out: Annotated[Path | None, typer.Option(
        "--out", help="write report.json, report.md and difficulty.png here")] = None,
    compare: Annotated[tuple[Path, Path] | None, typer.Option(
        "--compare", help="two prediction files (base, tuned): score both, show deltas and flipped examples")] = None,
    task: Annotated[str, typer.Option(
        "--task", help="nl2sql (execution accuracy) or sql2nl (BLEU-4, ROUGE)")] = "nl2sql",
    spider_dir: Annotated[Path | None, typer.Option(
        "--spider-dir", help="Spider directory for spider:dev / spider:train [default: $TUNESQL_SPIDER_DIR or "
                             "../shared/benchmarks/spider]")] = None,
    cache_dir: Annotated[Path | None, typer.Option(
        "--cache-dir", help="keep gold results on disk between runs")] = None,
    failures: Annotated[int, typer.Option("--failures", help="failures listed in report.md", min=0)] = 20,
    only_predicted: Annotated[bool, typer.Option(
        "--only-predicted", help="score only the gold examples the prediction file(s) answer (a subset run, "
                                 "e.g. `tunesql predict --limit 200`) instead of counting the rest as wrong")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Score predictions against a gold set and print the summary; --out writes the report files.

    \b
    Examples:
      tunesql eval --gold spider:dev --pred preds.jsonl --out runs/eval
      tunesql eval --gold dev_gold.sql --pred pred.txt --db-dir spider/database
      tunesql eval --gold spider:dev --compare base.jsonl tuned.jsonl --out runs/compare
    """
    from tunesql.errors import ConfigError

    with fail_cleanly():
        if task not in ("nl2sql", "sql2nl"):
            raise ConfigError(f"--task must be nl2sql or sql2nl, got {task!r}")
        if semantics not in ("spider", "bird"):
            raise ConfigError(f"--semantics must be spider or bird, got {semantics!r}")
        if (pred is None) == (compare is None):
            raise ConfigError("give either --pred FILE or --compare A B")
        if timeout is not None and not timeout > 0:
            raise ConfigError(f"--timeout must be > 0 seconds, got {timeout}")
        _run(gold=gold, pred=pred, db_dir=db_dir, semantics=semantics, keep_distinct=keep_distinct,
             timeout=timeout, float_tol=float_tol, workers=workers, out=out, compare=compare, task=task,
             spider_dir=spider_dir, cache_dir=cache_dir, failures=failures, quiet=quiet,
             only_predicted=only_predicted)


app.command("run", help="Same as `tunesql eval` (kept for scripts that call the sub-command).")(eval_command)


def _progress(total: int, label: str, quiet: bool):
    if quiet:
        return None, None
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread: the worker pool forks right after this
    bar = tqdm(total=total, desc=label, unit="ex", file=sys.stderr, dynamic_ncols=True, leave=False)
    return bar, bar.update


def _run(*, gold: str, pred: Path | None, db_dir: Path | None, semantics: str, keep_distinct: bool,
         timeout: float | None, float_tol: float, workers: int, out: Path | None,
         compare: tuple[Path, Path] | None, task: str, spider_dir: Path | None, cache_dir: Path | None,
         failures: int, quiet: bool, only_predicted: bool = False) -> None:
    from tunesql.eval.execution import ExecConfig
    from tunesql.eval.runner import evaluate, evaluate_text, load_gold, load_predictions

    gold_set = load_gold(gold, spider_dir=spider_dir, db_dir=db_dir)
    files = [pred] if pred is not None else list(compare or ())
    pred_sets = [load_predictions(p, gold_set, task=task) for p in files]
    if only_predicted:
        answered = set.intersection(*(set(ps.by_id) for ps in pred_sets))
        gold_set.examples = [ex for ex in gold_set.examples if ex.id in answered]
        if not gold_set.examples:
            raise typer.BadParameter("no gold example has a prediction", param_hint="--only-predicted")
        pred_sets = [load_predictions(p, gold_set, task=task) for p in files]
    for ps in pred_sets:
        for w in ps.warnings:
            typer.echo(f"warning: {w}", err=True)
    if task == "sql2nl":
        reports = [evaluate_text(gold_set, ps) for ps in pred_sets]
    else:
        config = ExecConfig(semantics=semantics, keep_distinct=keep_distinct, float_tol=float_tol,
                            **({} if timeout is None else {"timeout": timeout}))
        bar, update = _progress(len(gold_set.examples), "scoring", quiet)
        try:
            reports = evaluate(gold_set, pred_sets, config=config, workers=workers or None, cache_dir=cache_dir,
                               progress=update)
        finally:
            if bar is not None:
                bar.close()
    labels = _labels(files)
    for label, report in zip(labels, reports, strict=True):
        _print_summary(report, label if len(reports) > 1 else None)
    cmp = None
    if len(reports) == 2 and task == "nl2sql":
        from tunesql.eval.report import compare_reports

        cmp = compare_reports(reports[0], reports[1], label_a=labels[0], label_b=labels[1])
        _print_compare(cmp)
    if out is not None:
        from tunesql.eval.report import write_compare, write_report

        written = []
        if len(reports) == 1:
            written += write_report(reports[0], out, failures=failures).values()
        else:
            for label, report in zip(("a", "b"), reports, strict=True):
                written += write_report(report, out, failures=failures, stem=f"report_{label}").values()
            if cmp is not None:
                written += write_compare(cmp, out, limit=failures).values()
        typer.echo("wrote " + ", ".join(str(p) for p in written))


def _labels(files: list[Path]) -> list[str]:
    stems = [Path(f).stem for f in files]
    if len(stems) == 2 and stems[0] == stems[1]:
        return ["A", "B"]
    return stems


def _pct(v: Any) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _print_summary(report: dict[str, Any], label: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    s = report["summary"]
    console = Console(file=sys.stdout, width=120)
    if s.get("task") == "sql2nl":
        table = Table(title=f"SQL→NL{f' ({label})' if label else ''}: {s['examples']} examples")
        for col in ("BLEU-4", "ROUGE-1", "ROUGE-2", "ROUGE-L"):
            table.add_column(col, justify="right")
        table.add_row(f"{s['bleu4']:.2f}", f"{s['rouge1']:.3f}", f"{s['rouge2']:.3f}", f"{s['rougeL']:.3f}")
        console.print(table)
        return
    title = f"Execution accuracy{f' ({label})' if label else ''}"
    table = Table(title=title)
    for col, just in (("level", "left"), ("examples", "right"), ("scored", "right"), ("correct", "right"),
                      ("EX", "right"), ("exact match", "right"), ("token F1", "right"), ("exec ok", "right")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    table.add_row("all", str(s["examples"]), str(s["scored"]), str(s["correct"]), f"[bold]{_pct(s['ex'])}[/]",
                  _pct(s["exact_match"]), f"{s['token_f1']:.3f}", _pct(s["exec_success"]))
    for level, r in s["by_difficulty"].items():
        table.add_row(level, str(r["count"]), str(r["scored"]), str(r["correct"]), _pct(r["ex"]),
                      _pct(r["exact_match"]), "n/a" if r["token_f1"] is None else f"{r['token_f1']:.3f}",
                      _pct(r["exec_success"]))
    console.print(table)
    lines = [f"EX over {s['scored']} scored examples: {_pct(s['ex'])}; over all {s['examples']}: "
             f"{_pct(s['ex_all'])}"]
    if s["database_missing"]:
        by_db = ", ".join(f"{d}: {n}" for d, n in s["database_missing_by_db"].items())
        lines.append(f"database missing: {s['database_missing']} examples ({by_db}) are not scored")
    for key, text in (("gold_errors", "gold query failed"), ("no_prediction", "no prediction"),
                      ("timeouts", "stopped by the timeout")):
        if s.get(key):
            lines.append(f"{text}: {s[key]}")
    lines.append(f"{s['seconds']:.2f} s, {s['examples_per_second']} examples/s, {s['config']['workers']} workers")
    for line in lines:
        console.print(line, highlight=False)


def _print_compare(cmp: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    la, lb = cmp["label_a"], cmp["label_b"]
    table = Table(title=f"{la} vs {lb}")
    for col in ("level", "scored", f"EX {la}", f"EX {lb}", "Δ"):
        table.add_column(col, justify="left" if col == "level" else "right")
    rows = [("all", cmp["overall"]), *cmp["by_difficulty"].items()]
    for name, r in rows:
        delta = "n/a" if r["delta"] is None else f"{100 * r['delta']:+.1f} pts"
        table.add_row(name, str(r["scored"]), _pct(r["ex_a"]), _pct(r["ex_b"]), delta)
    console = Console(file=sys.stdout, width=120)
    console.print(table)
    console.print(f"flipped: {cmp['n_gained']} gained ({la} wrong → {lb} right), {cmp['n_lost']} lost "
                  f"({la} right → {lb} wrong)", highlight=False)
