"""How fast `tunesql eval` scores all of Spider dev, and whether its verdicts agree with the official evaluator.

    python bench/eval_speed.py --out runs/bench-eval
    python bench/eval_speed.py --official /path/to/test-suite-sql-eval --official-python /path/to/python \
        --out runs/bench-eval

What it does:

1. Writes, under ``--out``: the Spider dev gold as ``SQL<TAB>db_id`` files (all 1034, and the examples whose
   database exists), the gold queries as a prediction file (gold vs gold), and a perturbed prediction set built
   deterministically (``--seed``) with sqlglot from the gold: reordered columns, dropped / added DISTINCT,
   changed ORDER BY (flipped, dropped, added) and LIMIT (changed, dropped), wrong filters (another value,
   another operator, dropped WHERE), syntax errors, cross joins (JOIN conditions dropped), runaway joins (the
   largest table cross-joined in twice), a slow but correct MIN/MAX over such a join, ``> =`` spacing,
   string case, ``* 1.0`` casts, ``value`` placeholders, and unchanged queries. ``perturbations.json`` says
   which perturbation each example got.
2. Times `tunesql eval` on gold vs gold, two ways, ``--repeat`` times each (median reported): end to end as a
   subprocess (``python -c 'from tunesql.cli import app; app()' eval --gold ... --pred ... -q``: interpreter
   start, imports, loading, scoring, printing), and in-process (loading + ``runner.evaluate``, imports excluded).
   Then scores the perturbed set in-process.
3. With ``--official PATH`` (a checkout of taoyds/test-suite-sql-eval; never copied into this repository), runs
   it with ``--official-python`` on the same files, restricted to the examples whose database exists (it stops
   on a missing one):

   - time: its command line, ``<script> --gold G --pred P --db DIR --etype exec`` (``--official-script``,
     default ``evaluation.py``), end to end as a subprocess, ``--repeat`` times, interleaved with ours;
   - verdicts: a small driver written to a temporary directory imports the official ``exec_eval.eval_exec_match``
     from PATH and calls it per example exactly as ``evaluation.py`` does (line ``strip()`` and tab split,
     ``" value "`` → ``" 1 "``, ``plug_value`` off, ``keep_distinct`` as given), recording each verdict. The
     official ``TIMEOUT = 60`` is declared but not enforced (``asyncio.wait_for`` around a blocking sqlite3 call
     cannot interrupt it), so a runaway join would run for hours; the driver enforces that same 60 s
     (``--official-timeout``) with ``sqlite3.Connection.interrupt()`` from a watchdog thread, which makes the
     official code take its own exception path: the verdict it was written to give.

   It prints the time ratio and the verdict agreement, listing every disagreement.

Exit status: 0 when gold vs gold is 100% EX and (with --official) every verdict agrees; 1 otherwise.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SPIDER = REPO.parent / "shared" / "benchmarks" / "spider"

# --- perturbations ---------------------------------------------------------------------------------------------


def _sql(tree: exp.Expression) -> str:
    return tree.sql(dialect="sqlite")


def _outer_select(tree: exp.Expression) -> exp.Select | None:
    node = tree
    while isinstance(node, exp.SetOperation):
        node = node.this
    return node if isinstance(node, exp.Select) else None


def p_reorder_columns(tree, rng, ctx):
    sel = _outer_select(tree)
    if sel is None or len(sel.expressions) < 2 or isinstance(tree, exp.SetOperation):
        return None
    cols = list(sel.expressions)
    rotated = cols[1:] + cols[:1] if rng.random() < 0.5 else list(reversed(cols))
    sel.set("expressions", rotated)
    return _sql(tree)


def p_drop_distinct(tree, rng, ctx):
    changed = False
    for sel in tree.find_all(exp.Select):
        if sel.args.get("distinct"):
            sel.set("distinct", None)
            changed = True
    for d in list(tree.find_all(exp.Distinct)):
        if d.parent is not None and isinstance(d.parent, exp.AggFunc) and d.expressions:
            d.replace(d.expressions[0])
            changed = True
    return _sql(tree) if changed else None


def p_add_distinct(tree, rng, ctx):
    sel = _outer_select(tree)
    if sel is None or sel.args.get("distinct"):
        return None
    sel.set("distinct", exp.Distinct())
    return _sql(tree)


def p_order_flip(tree, rng, ctx):
    order = tree.args.get("order") or (_outer_select(tree) or exp.Select()).args.get("order")
    if order is None:
        return None
    first = order.expressions[0]
    first.set("desc", not first.args.get("desc"))
    return _sql(tree)


def p_order_drop(tree, rng, ctx):
    for node in (tree, _outer_select(tree)):
        if node is not None and node.args.get("order") is not None:
            node.set("order", None)
            return _sql(tree)
    return None


def p_order_add(tree, rng, ctx):
    sel = _outer_select(tree)
    if sel is None or isinstance(tree, exp.SetOperation) or sel.args.get("order") is not None:
        return None
    return _sql(tree) + (" ORDER BY 1 DESC" if rng.random() < 0.5 else " ORDER BY 1")


def p_limit_change(tree, rng, ctx):
    sel = tree if tree.args.get("limit") is not None else _outer_select(tree)
    if sel is None:
        return None
    limit = sel.args.get("limit")
    if limit is None:
        if isinstance(tree, exp.SetOperation):
            return None
        return _sql(tree) + " LIMIT 1"
    value = limit.expression
    if isinstance(value, exp.Literal) and value.is_int:
        limit.set("expression", exp.Literal.number(int(value.this) + 1))
        return _sql(tree)
    return None


def p_limit_drop(tree, rng, ctx):
    for node in (tree, _outer_select(tree)):
        if node is not None and node.args.get("limit") is not None:
            node.set("limit", None)
            return _sql(tree)
    return None


_FLIP = {exp.EQ: exp.NEQ, exp.NEQ: exp.EQ, exp.GT: exp.LT, exp.LT: exp.GT, exp.GTE: exp.LTE, exp.LTE: exp.GTE}


def p_filter_value(tree, rng, ctx):
    lits = [lit for w in tree.find_all(exp.Where) for lit in w.find_all(exp.Literal)]
    if not lits:
        return None
    lit = rng.choice(lits)
    if lit.is_string:
        lit.replace(exp.Literal.string(lit.this + "x"))
    else:
        try:
            lit.replace(exp.Literal.number(float(lit.this) + 1 if "." in lit.this else int(lit.this) + 1))
        except ValueError:
            return None
    return _sql(tree)


def p_filter_op(tree, rng, ctx):
    preds = [c for w in tree.find_all(exp.Where) for c in w.find_all(*_FLIP)]
    if not preds:
        return None
    node = rng.choice(preds)
    node.replace(_FLIP[type(node)](this=node.this, expression=node.expression))
    return _sql(tree)


def p_filter_drop(tree, rng, ctx):
    sel = _outer_select(tree)
    if sel is None or sel.args.get("where") is None:
        return None
    sel.set("where", None)
    return _sql(tree)


def p_syntax_error(tree, rng, ctx):
    gold = ctx["gold"]
    kind = rng.randrange(5)
    if kind == 0:
        return re.sub(r"\bFROM\b", "FORM", gold, count=1, flags=re.IGNORECASE)
    if kind == 1:
        return gold + " )"
    if kind == 2:
        return re.sub(r"^\s*SELECT\b", "SELEC", gold, flags=re.IGNORECASE)
    if kind == 3:
        return gold[: max(1, len(gold) * 2 // 3)]
    return gold.replace(" ", " , ", 1)


def p_cross_join(tree, rng, ctx):
    sel = _outer_select(tree)
    joins = sel.args.get("joins") if sel is not None else None
    if not joins:
        return None
    tables = [sel.args["from_"].this, *[j.this for j in joins]]
    sizes = ctx["table_rows"]
    product = 1
    for t in tables:
        product *= max(1, sizes.get(t.name.lower(), 1_000_000) if isinstance(t, exp.Table) else 1_000_000)
    if product > 2_000_000:
        return None  # keep it a wrong answer, not a memory test for the official evaluator
    for j in joins:
        j.set("on", None)
        j.set("using", None)
    return _sql(tree)


def p_runaway_join(tree, rng, ctx):
    sel = _outer_select(tree)
    big, rows = ctx["largest"]
    if sel is None or rows < 1000:
        return None
    for alias in ("rj1", "rj2"):
        sel.append("joins", exp.Join(this=exp.to_table(big).as_(alias)))
    return _sql(tree)


def p_slow_correct(tree, rng, ctx):
    """MIN / MAX over the gold's rows cross-joined with the largest table twice: the same value, slowly."""
    sel = _outer_select(tree)
    if sel is None or not ctx.get("slow_tables"):
        return None
    for i, table in enumerate(ctx["slow_tables"], start=1):
        sel.append("joins", exp.Join(this=exp.to_table(table).as_(f"sc{i}")))
    return _sql(tree)


def p_spacing(tree, rng, ctx):
    gold = ctx["gold"]
    spaced = re.sub(r"(>|<|!)=", r"\1 =", gold)
    return spaced if spaced != gold else None


def p_string_case(tree, rng, ctx):
    lits = [lit for lit in tree.find_all(exp.Literal) if lit.is_string and lit.this.lower() != lit.this.upper()]
    if not lits:
        return None
    lit = rng.choice(lits)
    new = lit.this.swapcase()
    if new == lit.this:
        return None
    lit.replace(exp.Literal.string(new))
    return _sql(tree)


def p_float_cast(tree, rng, ctx):
    sel = _outer_select(tree)
    if sel is None or isinstance(tree, exp.SetOperation):
        return None
    cols = [c for c in sel.expressions if not isinstance(c, exp.Star)]
    if not cols:
        return None
    col = rng.choice(cols)
    inner = col.this if isinstance(col, exp.Alias) else col
    inner.replace(exp.Mul(this=inner.copy(), expression=exp.Literal.number("1.0")))
    return _sql(tree)


def p_value_placeholder(tree, rng, ctx):
    gold = ctx["gold"]
    m = list(re.finditer(r"(?<=[=<>] )\d+(?= |$)", gold))
    if not m:
        return None
    hit = rng.choice(m)
    return gold[: hit.start()] + "value" + gold[hit.end():]


def p_unchanged(tree, rng, ctx):
    return ctx["gold"]


PERTURBATIONS = {
    "reorder_columns": p_reorder_columns, "drop_distinct": p_drop_distinct, "add_distinct": p_add_distinct,
    "order_flip": p_order_flip, "order_drop": p_order_drop, "order_add": p_order_add,
    "limit_change": p_limit_change, "limit_drop": p_limit_drop, "filter_value": p_filter_value,
    "filter_op": p_filter_op, "filter_drop": p_filter_drop, "syntax_error": p_syntax_error,
    "cross_join": p_cross_join, "spacing": p_spacing, "string_case": p_string_case, "float_cast": p_float_cast,
    "value_placeholder": p_value_placeholder, "unchanged": p_unchanged,
}


def table_stats(db_dir: Path, db_ids: set[str]) -> dict[str, tuple[dict[str, int], tuple[str, int]]]:
    import sqlite3

    stats = {}
    for db_id in sorted(db_ids):
        path = db_dir / db_id / f"{db_id}.sqlite"
        if not path.is_file():
            continue
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            rows = {n.lower(): conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
        finally:
            conn.close()
        largest = max(rows.items(), key=lambda kv: kv[1]) if rows else ("", 0)
        stats[db_id] = (rows, largest)
    return stats


def ctx_rows(db_dir: Path, ex, sel: exp.Select) -> int:
    """How many rows the gold's FROM ... WHERE yields (what a cross join multiplies)."""
    import sqlite3

    probe = sel.copy()
    probe.set("expressions", [exp.Count(this=exp.Star())])
    conn = sqlite3.connect(f"{(db_dir / ex.db_id / f'{ex.db_id}.sqlite').as_uri()}?mode=ro", uri=True)
    try:
        return int(conn.execute(probe.sql(dialect="sqlite")).fetchone()[0])
    finally:
        conn.close()


def perturb_all(examples, stats, seed: int, runaways: int, slow_correct: int, db_dir: Path) -> list[dict[str, Any]]:
    """One perturbation per example, chosen by a per-example seeded RNG among those that apply."""
    out = []
    # Runaway joins: the first `runaways` aggregate-only gold queries on databases with a table of >= 1000 rows
    # (one result row, so neither evaluator runs out of memory; the cross join makes them run for minutes).
    # Databases by their largest table, biggest first, one runaway per database. A runaway needs an
    # aggregate-only gold (one result row) whose value the cross join changes (COUNT, SUM, AVG's rounding); a
    # slow-but-correct one has MIN / MAX only (exactly unchanged by the join) and 2e7 to 1e8 joined rows.
    runaway_ids: set[str] = set()
    slow: list[tuple[int, str, tuple[str, ...]]] = []
    by_size = sorted(stats, key=lambda db: -stats[db][1][1])
    for db_id in by_size:
        rows, (_, big_rows) = stats[db_id]
        for ex in examples:
            if ex.db_id != db_id:
                continue
            tree = sqlglot.parse_one(ex.sql, read="sqlite")
            sel = _outer_select(tree)
            if (sel is None or isinstance(tree, exp.SetOperation) or sel.args.get("group")
                    or not all(isinstance(e.unalias(), exp.AggFunc) for e in sel.expressions)):
                continue
            if all(isinstance(e.unalias(), (exp.Min, exp.Max)) for e in sel.expressions):
                base = ctx_rows(db_dir, ex, sel)
                used = {t.name.lower() for t in tree.find_all(exp.Table)}
                others = [t for t in rows if t not in used]  # a table of the query's own would be ambiguous
                best = max(((base * math.prod(rows[t] for t in combo), combo)
                            for k in (1, 2, 3) for combo in itertools.combinations_with_replacement(others, k)
                            if base * math.prod(rows[t] for t in combo) <= 1e8), default=(0, ()))
                if best[0] >= 2e7:
                    slow.append((best[0], ex.id, best[1]))
            elif (big_rows >= 1000 and len(runaway_ids) < runaways
                  and not any(e.db_id == db_id for e in examples if e.id in runaway_ids)):
                runaway_ids.add(ex.id)
    slow_pick = sorted(slow, reverse=True)[:slow_correct]
    slow_ids = {i: tables for _, i, tables in slow_pick}
    kinds = list(PERTURBATIONS)
    for i, ex in enumerate(examples):
        rng = random.Random(seed * 1_000_003 + i)
        rows, largest = stats.get(ex.db_id, ({}, ("", 0)))
        ctx = {"gold": ex.sql, "table_rows": rows, "largest": largest, "slow_tables": slow_ids.get(ex.id)}
        order = (["runaway_join"] if ex.id in runaway_ids else ["slow_correct"] if ex.id in slow_ids
                 else rng.sample(kinds, len(kinds)))
        special = {"runaway_join": p_runaway_join, "slow_correct": p_slow_correct}
        for kind in order:
            fn = special.get(kind) or PERTURBATIONS[kind]
            try:
                pred = fn(sqlglot.parse_one(ex.sql, read="sqlite"), rng, ctx)
            except Exception:
                pred = None
            if pred is not None and "\n" not in pred and "\t" not in pred:
                out.append({"id": ex.id, "db_id": ex.db_id, "kind": kind, "gold": ex.sql, "pred": pred})
                break
        else:
            out.append({"id": ex.id, "db_id": ex.db_id, "kind": "unchanged", "gold": ex.sql, "pred": ex.sql})
    return out


# --- the official evaluator, from outside --------------------------------------------------------------------

DRIVER = r'''
import json, os, sys, threading, time
OFFICIAL, INPUT, OUTPUT = sys.argv[1], sys.argv[2], sys.argv[3]
TIMEOUT, KEEP_DISTINCT = float(sys.argv[4]), sys.argv[5] == "1"
sys.path.insert(0, OFFICIAL)
import exec_eval
from parse import remove_distinct

state = {"conn": None, "start": 0.0}
_original = exec_eval.get_cursor_from_path

def _tracked(path):
    cursor = _original(path)
    state["conn"], state["start"] = cursor.connection, time.monotonic()
    return cursor

exec_eval.get_cursor_from_path = _tracked

def _watchdog():
    while True:
        time.sleep(0.2)
        conn = state["conn"]
        if conn is not None and time.monotonic() - state["start"] > TIMEOUT:
            state["conn"] = None
            try:
                conn.interrupt()
            except Exception:
                pass

threading.Thread(target=_watchdog, daemon=True).start()
items = json.load(open(INPUT))
verdicts, preprocessed = {}, {}
start = time.perf_counter()
for item in items:
    p_str = item["pred_line"].strip().split("\t")[0].replace(" value ", " 1 ")
    g_str, db_id = item["gold_line"].strip().split("\t")
    db = os.path.join(item["db_dir"], db_id, db_id + ".sqlite")
    try:
        verdicts[item["id"]] = int(exec_eval.eval_exec_match(db=db, p_str=p_str, g_str=g_str, plug_value=False,
                                                              keep_distinct=KEEP_DISTINCT,
                                                              progress_bar_for_each_datapoint=False))
    except AssertionError as e:
        verdicts[item["id"]] = "gold error: " + str(e)[:200]
seconds = time.perf_counter() - start
for item in items:  # the official preprocessing of each prediction, outside the timed loop
    p_str = item["pred_line"].strip().split("\t")[0].replace(" value ", " 1 ")
    preprocessed[item["id"]] = remove_distinct(exec_eval.postprocess(p_str)) if p_str.strip() else None
json.dump({"verdicts": verdicts, "seconds": seconds, "preprocessed": preprocessed}, open(OUTPUT, "w"))
'''


def run_official_driver(official: Path, python: str, items: list[dict[str, Any]], timeout: float,
                        keep_distinct: bool, workdir: Path) -> dict[str, Any]:
    driver = workdir / "official_driver.py"
    driver.write_text(textwrap.dedent(DRIVER))
    inp, outp = workdir / "official_input.json", workdir / "official_output.json"
    inp.write_text(json.dumps(items))
    proc = subprocess.run([python, str(driver), str(official), str(inp), str(outp), str(timeout),
                           "1" if keep_distinct else "0"], capture_output=True, text=True, cwd=str(official))
    if proc.returncode != 0:
        raise SystemExit(f"official driver failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(outp.read_text())


def time_official_cli(official: Path, python: str, script: str, gold: Path, pred: Path, db_dir: Path,
                      keep_distinct: bool) -> tuple[float, str]:
    cmd = [python, str(official / script), "--gold", str(gold), "--pred", str(pred), "--db", str(db_dir),
           "--etype", "exec"] + (["--keep_distinct"] if keep_distinct else [])
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(official))
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"official evaluator failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    m = re.search(r"^execution\s+.*?([\d.]+)\s*$", proc.stdout, flags=re.MULTILINE)
    return wall, (m.group(1) if m else "?")


# --- ours ------------------------------------------------------------------------------------------------------


def time_ours_cli(gold: Path, pred: Path, db_dir: Path, workers: int, timeout: float, keep_distinct: bool,
                  out: Path | None = None) -> tuple[float, str]:
    cmd = [sys.executable, "-c", "import sys; from tunesql.cli import app; sys.argv[0] = 'tunesql'; app()",
           "eval", "--gold", str(gold), "--pred", str(pred), "--db-dir", str(db_dir), "-q",
           "--timeout", str(timeout)] + (["--workers", str(workers)] if workers else []) + (
        ["--keep-distinct"] if keep_distinct else []) + (["--out", str(out)] if out else [])
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"tunesql eval failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    m = re.search(r"EX over \d+ scored examples: ([\d.]+%)", proc.stdout)
    return wall, (m.group(1) if m else "?")


def ours_in_process(gold: str | Path, pred: Path, db_dir: Path | None, workers: int, timeout: float,
                    keep_distinct: bool, spider_dir: Path | None = None) -> tuple[float, dict[str, Any]]:
    from tunesql.eval.execution import ExecConfig
    from tunesql.eval.runner import evaluate, load_gold, load_predictions

    start = time.perf_counter()
    g = load_gold(gold, spider_dir=spider_dir, db_dir=db_dir)
    p = load_predictions(pred, g)
    report = evaluate(g, [p], config=ExecConfig(timeout=timeout, keep_distinct=keep_distinct),
                      workers=workers or None)[0]
    return time.perf_counter() - start, report


# --- main ------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spider-dir", type=Path, default=Path(os.environ.get("TUNESQL_SPIDER_DIR", DEFAULT_SPIDER)))
    ap.add_argument("--out", type=Path, default=Path("runs/bench-eval"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=0, help="tunesql eval workers (0: one per CPU)")
    ap.add_argument("--timeout", type=float, default=None, help="tunesql eval per-query timeout (default: its own)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each evaluator (median reported)")
    ap.add_argument("--runaways", type=int, default=2, help="runaway joins in the perturbed set")
    ap.add_argument("--slow-correct", type=int, default=1,
                    help="slow but correct predictions (MIN/MAX over a cross join) in the perturbed set")
    ap.add_argument("--keep-distinct", action="store_true")
    ap.add_argument("--official", type=Path, help="a test-suite-sql-eval checkout (holds evaluation.py)")
    ap.add_argument("--official-python", default=sys.executable, help="interpreter with the official's deps")
    ap.add_argument("--official-script", default="evaluation.py",
                    help="the official entry point inside --official (a wrapper of evaluation.py works too)")
    ap.add_argument("--official-timeout", type=float, default=60.0,
                    help="seconds before the driver interrupts an official query (its declared TIMEOUT)")
    args = ap.parse_args(argv)

    from tunesql.data.spider import load_spider
    from tunesql.eval.execution import DEFAULT_TIMEOUT

    timeout = args.timeout or DEFAULT_TIMEOUT
    spider = args.spider_dir
    db_dir = spider / "database"
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    examples = load_spider(spider, "dev")
    scorable = [ex for ex in examples if (db_dir / ex.db_id / f"{ex.db_id}.sqlite").is_file()]
    print(f"Spider dev: {len(examples)} examples, {len(scorable)} with their database "
          f"({len(examples) - len(scorable)} missing: "
          f"{', '.join(sorted({ex.db_id for ex in examples if ex not in scorable})) or 'none'})")

    # 1. files
    stats = table_stats(db_dir, {ex.db_id for ex in examples})
    perturbed = perturb_all(examples, stats, args.seed, args.runaways, args.slow_correct, db_dir)
    files = {
        "gold_all": out / "gold_all.sql", "gold": out / "gold.sql", "pred_gold": out / "pred_gold.sql",
        "pred_perturbed_all": out / "pred_perturbed_all.sql", "pred_perturbed": out / "pred_perturbed.sql",
    }
    scorable_ids = {ex.id for ex in scorable}
    files["gold_all"].write_text("".join(f"{ex.sql}\t{ex.db_id}\n" for ex in examples))
    files["gold"].write_text("".join(f"{ex.sql}\t{ex.db_id}\n" for ex in scorable))
    files["pred_gold"].write_text("".join(f"{ex.sql}\n" for ex in scorable))
    files["pred_perturbed_all"].write_text("".join(f"{p['pred']}\n" for p in perturbed))
    files["pred_perturbed"].write_text("".join(f"{p['pred']}\n" for p in perturbed if p["id"] in scorable_ids))
    (out / "perturbations.json").write_text(json.dumps(perturbed, indent=1))
    kinds = {}
    for p in perturbed:
        kinds[p["kind"]] = kinds.get(p["kind"], 0) + 1
    print("perturbations: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))

    # 2. EX of the full dev set (1034, missing database reported) and of the perturbed set
    (out / "pred_gold_all.sql").write_text("".join(f"{ex.sql}\n" for ex in examples))
    sec_full, full = ours_in_process("spider:dev", out / "pred_gold_all.sql", None, args.workers, timeout,
                                     args.keep_distinct, spider)
    fs = full["summary"]
    print(f"gold vs gold, spider:dev: EX {100 * fs['ex']:.1f}% over {fs['scored']} scored; "
          f"{100 * fs['ex_all']:.1f}% over all {fs['examples']} ({fs['database_missing']} database missing) "
          f"in {sec_full:.2f} s")

    # 3. timings, interleaved
    results: dict[str, Any] = {"spider_dir": str(spider), "examples": len(examples), "scorable": len(scorable),
                               "perturbations": kinds, "timeout": timeout, "seed": args.seed,
                               "gold_vs_gold_full": {k: fs[k] for k in ("ex", "ex_all", "scored", "examples",
                                                                         "database_missing")}}
    ours_cli, ours_inproc, off_cli = [], [], []
    ex_cli = ex_off = "?"
    for _ in range(max(1, args.repeat)):
        wall, ex_cli = time_ours_cli(files["gold"], files["pred_gold"], db_dir, args.workers, timeout,
                                     args.keep_distinct)
        ours_cli.append(wall)
        wall, _rep = ours_in_process(files["gold"], files["pred_gold"], db_dir, args.workers, timeout,
                                     args.keep_distinct)
        ours_inproc.append(wall)
        if args.official:
            wall, ex_off = time_official_cli(args.official, args.official_python, args.official_script,
                                             files["gold"], files["pred_gold"], db_dir, args.keep_distinct)
            off_cli.append(wall)
    n = len(scorable)
    med = statistics.median
    timing = {"ours_cli_s": [round(x, 3) for x in ours_cli], "ours_in_process_s": [round(x, 3) for x in ours_inproc],
              "ours_cli_median_s": round(med(ours_cli), 3), "ours_in_process_median_s": round(med(ours_inproc), 3),
              "ours_cli_best_s": round(min(ours_cli), 3), "ours_in_process_best_s": round(min(ours_inproc), 3),
              "ours_cli_examples_per_s": round(n / med(ours_cli), 1),
              "ours_in_process_examples_per_s": round(n / med(ours_inproc), 1), "ours_cli_ex": ex_cli}
    if off_cli:
        timing.update({"official_cli_s": [round(x, 3) for x in off_cli],
                       "official_cli_median_s": round(med(off_cli), 3), "official_cli_best_s": round(min(off_cli), 3),
                       "speedup_cli_best": round(min(off_cli) / min(ours_cli), 2),
                       "official_cli_examples_per_s": round(n / med(off_cli), 1), "official_ex": ex_off,
                       "speedup_cli": round(med(off_cli) / med(ours_cli), 2)})
    results["gold_vs_gold_timing"] = timing

    # 4. perturbed set: ours
    sec_p, rep_p = ours_in_process(files["gold"], files["pred_perturbed"], db_dir, args.workers, timeout,
                                   args.keep_distinct)
    sp = rep_p["summary"]
    results["perturbed"] = {"ours_seconds": round(sec_p, 3), "ours_ex": sp["ex"], "ours_status": sp["status"]}
    ours_verdict = {e["id"]: int(bool(e["correct"])) for e in rep_p["examples"]}
    # The scorable files re-number examples 0..n-1; map back to Spider ids.
    pos_to_id = {str(i): ex.id for i, ex in enumerate(scorable)}
    by_id = {p["id"]: p for p in perturbed}

    # 5. official verdicts
    agree = None
    if args.official:
        with tempfile.TemporaryDirectory(prefix="tunesql-bench-") as tmp:
            items = [{"id": str(i), "gold_line": f"{ex.sql}\t{ex.db_id}", "pred_line": by_id[ex.id]["pred"],
                      "db_dir": str(db_dir)} for i, ex in enumerate(scorable)]
            off = run_official_driver(args.official, args.official_python, items, args.official_timeout,
                                      args.keep_distinct, Path(tmp))
            gold_items = [{**it, "pred_line": it["gold_line"].split("\t")[0]} for it in items]
            off_gold = run_official_driver(args.official, args.official_python, gold_items, args.official_timeout,
                                           args.keep_distinct, Path(tmp))
        disagreements = []
        for pos, verdict in off["verdicts"].items():
            if verdict != ours_verdict[pos]:
                sid = pos_to_id[pos]
                ours_ex = rep_p["examples"][int(pos)]
                disagreements.append({"id": sid, "kind": by_id[sid]["kind"], "official": verdict,
                                      "ours": ours_verdict[pos], "ours_status": ours_ex["status"],
                                      "ours_error": ours_ex["error"], "gold": by_id[sid]["gold"],
                                      "pred": by_id[sid]["pred"]})
        gold_disagree = [pos_to_id[p] for p, v in off_gold["verdicts"].items() if v != 1]
        from tunesql.eval.execution import postprocess, remove_distinct

        prep_diff = []
        for it in items + gold_items:
            theirs = off["preprocessed"].get(it["id"]) if it in items else off_gold["preprocessed"].get(it["id"])
            p_str = it["pred_line"].strip().split("\t")[0].replace(" value ", " 1 ")
            if theirs is not None and remove_distinct(postprocess(p_str)).rstrip() != theirs.rstrip():
                prep_diff.append({"id": pos_to_id[it["id"]], "ours": remove_distinct(postprocess(p_str)),
                                  "official": theirs})
        results["preprocessing_mismatches"] = prep_diff
        agree = not disagreements and not gold_disagree
        results["perturbed"].update({
            "official_driver_seconds": round(off["seconds"], 3),
            "official_ex": round(sum(1 for v in off["verdicts"].values() if v == 1) / len(off["verdicts"]), 6),
            "compared": len(off["verdicts"]), "disagreements": len(disagreements),
            "disagreement_list": disagreements,
        })
        results["gold_vs_gold_official_driver"] = {
            "seconds": round(off_gold["seconds"], 3), "not_correct": gold_disagree,
            # The official's per-example exec loop (no hardness parsing, no start-up) against our load + score.
            "speedup_scoring": round(off_gold["seconds"] / timing["ours_in_process_median_s"], 2)}

    (out / "bench.json").write_text(json.dumps(results, indent=1))
    _print_table(results, n)
    ok = fs["ex"] == 1.0 and (agree is None or (agree and not results["preprocessing_mismatches"]))
    return 0 if ok else 1


def _print_table(r: dict[str, Any], n: int) -> None:
    t = r["gold_vs_gold_timing"]
    print()
    print(f"gold vs gold, {n} Spider dev examples with a database (median of {len(t['ours_cli_s'])} runs):")
    print(f"  {'evaluator':<44}{'seconds':>9}{'ex/s':>9}  EX")
    print(f"  {'tunesql eval (subprocess, end to end)':<44}{t['ours_cli_median_s']:>9.2f}"
          f"{t['ours_cli_examples_per_s']:>9.1f}  {t['ours_cli_ex']}")
    print(f"  {'tunesql eval (in-process: load + score)':<44}{t['ours_in_process_median_s']:>9.2f}"
          f"{t['ours_in_process_examples_per_s']:>9.1f}")
    if "official_cli_median_s" in t:
        print(f"  {'official evaluation.py --etype exec':<44}{t['official_cli_median_s']:>9.2f}"
              f"{t['official_cli_examples_per_s']:>9.1f}  {t['official_ex']}")
        print(f"  speed-up, end to end: {t['speedup_cli']:.1f}x (medians); best runs: {t['official_cli_best_s']:.2f} s"
              f" vs {t['ours_cli_best_s']:.2f} s = {t['speedup_cli_best']:.1f}x")
    p = r["perturbed"]
    print(f"perturbed set: tunesql EX {100 * p['ours_ex']:.1f}% in {p['ours_seconds']:.2f} s")
    if "compared" in p:
        print(f"  official EX {100 * p['official_ex']:.1f}% (driver, {p['official_driver_seconds']:.1f} s)")
        print(f"  verdict agreement: {p['compared'] - p['disagreements']}/{p['compared']} "
              f"({p['disagreements']} disagreements)")
        for d in p["disagreement_list"]:
            print(f"    id {d['id']} [{d['kind']}] official={d['official']} ours={d['ours']} ({d['ours_status']}: "
                  f"{d['ours_error']})\n      gold: {d['gold']}\n      pred: {d['pred']}")
        print(f"  DISTINCT removal / first-statement cut identical to the official's: "
              f"{'yes' if not r['preprocessing_mismatches'] else 'NO: ' + str(len(r['preprocessing_mismatches']))}")
        g = r["gold_vs_gold_official_driver"]
        print(f"  official driver, gold vs gold: {len(g['not_correct'])} not correct")
        print(f"speed-up, scoring only: official exec loop {g['seconds']:.2f} s (eval_exec_match per example, "
              f"no start-up, no hardness) vs tunesql in-process {t['ours_in_process_median_s']:.2f} s: "
              f"{g['speedup_scoring']:.1f}x")


if __name__ == "__main__":
    sys.exit(main())
