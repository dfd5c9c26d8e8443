"""Spider dev execution accuracy for a model + strategy + schema rendering, on a seeded subset or all of dev.

    python bench/spider_dev.py --limit 200 --strategy greedy --schema-format ddl --out runs/bench-spider
    python bench/spider_dev.py --limit 200 --strategy vote --n 8 --schema-format mschema --out runs/bench-spider
    python bench/spider_dev.py --limit 200 --strategy greedy vote --n 8 --schema-format mschema --out runs/bench-spider

The subset is a seeded random sample (``--seed``) of the dev questions whose database exists (wta_1 is missing
here), the same for every configuration, so rows of the table compare like with like. Predictions go through the
code of ``tunesql predict`` (written to ``<out>/<config>.jsonl``, resumable: re-running continues) and are scored by
the code of ``tunesql eval`` (Spider test-suite semantics). Prints a table and writes ``<out>/<config>.json`` with
the config, the seed, the model file's sha256, EX by difficulty and the wall time. Compare configurations with
``--summarize``, which prints every JSON found in ``--out`` as one table.

Several strategies in one run (``--strategy greedy vote``) go question by question: greedy first, then the vote on
the same prompt, which llama.cpp finds already evaluated in its KV cache. Each strategy still gets its own
predictions file and JSON. The vote's seconds per question then include the greedy answer's (the only time the
prompt was evaluated), so they are an upper bound for the vote alone: n + 1 completions, one prompt evaluation.
The median seconds per question come from the predictions file, where each strategy's time is its own, and the
JSON counts each strategy's own prompt and completion tokens (``tokens_this_run``) where the backend counts them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

from tqdm import tqdm

from tunesql.data.spider import resolve_spider_dir
from tunesql.eval.execution import ExecConfig, database_files
from tunesql.eval.runner import GoldSet, evaluate, load_gold, load_predictions
from tunesql.infer.backend import usage_of
from tunesql.infer.load import load_backend
from tunesql.infer.predict import PredictStats, dataset_databases, predict_dataset


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_file(model: str | None) -> tuple[str, str | None]:
    """The model's key and the sha256 of the file that ran (None for endpoints)."""
    from tunesql.models import resolve_model

    if model and "://" in model:
        return model, None
    ref = resolve_model(model)
    if ref.spec is not None and ref.path.is_file():
        return ref.key, ref.spec.sha256  # verified against this pinned hash when it was assembled
    return ref.key, file_sha256(ref.path) if ref.path.is_file() else None


def subset(gold: GoldSet, limit: int | None, seed: int) -> list:
    scorable = [ex for ex in gold.examples if database_files(gold.db_dir, ex.db_id)]
    random.Random(seed).shuffle(scorable)
    return scorable[:limit] if limit else scorable


def config_name(args: argparse.Namespace, strategy: str) -> str:
    name = args.name or (f"{args.model or 'default'}-{strategy}" + (f"{args.n}" if strategy == "vote" else "")
                         + f"-{args.schema_format}" + ("" if args.values else "-novalues"))
    if args.name and len(args.strategy) > 1:
        name = f"{args.name}-{strategy}"
    return name.replace("/", "_").replace(":", "_").replace("#", "_")


def run(args: argparse.Namespace) -> list[dict]:
    spider_dir = resolve_spider_dir(args.spider_dir)
    gold = load_gold("spider:dev", spider_dir=spider_dir)
    examples = subset(gold, args.limit, args.seed)
    strategies = list(dict.fromkeys(args.strategy))
    names = {st: config_name(args, st) for st in strategies}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {st: out / f"{names[st]}.jsonl" for st in strategies}
    db_file, schemas = dataset_databases(gold, examples)
    backend = load_backend(args.model, args.backend, n_threads=args.threads) if args.threads else \
        load_backend(args.model, args.backend)

    stats = {st: PredictStats() for st in strategies}
    seconds = dict.fromkeys(strategies, 0.0)
    counter = usage_of(backend)  # llama.cpp, transformers, vLLM and endpoints count tokens
    tokens = {st: {"prompt": 0, "completion": 0} for st in strategies}
    with tqdm(total=len(examples), desc=" + ".join(names.values()), unit="q", file=sys.stderr,
              dynamic_ncols=True) as bar:
        # Question by question, every strategy in turn: later strategies find the prompt in llama.cpp's cache.
        chunks = [[ex] for ex in examples] if len(strategies) > 1 else [examples]
        for chunk in chunks:
            for st in strategies:
                t0 = time.perf_counter()
                before = counter.snapshot() if counter is not None else (0, 0)
                got = predict_dataset(chunk, db_file, schemas, backend, paths[st], strategy=st, n=args.n,
                                      temperature=args.temperature, schema_format=args.schema_format,
                                      values=args.values, repair=args.repair,
                                      progress=bar.update if st == strategies[0] else None)
                seconds[st] += time.perf_counter() - t0
                if counter is not None:
                    used = counter.since(before)
                    tokens[st]["prompt"] += used["prompt_tokens"]
                    tokens[st]["completion"] += used["completion_tokens"]
                for f in ("written", "skipped", "missing_db", "failed"):
                    setattr(stats[st], f, getattr(stats[st], f) + getattr(got, f))
    ids = {ex.id for ex in examples}
    gold.examples = [ex for ex in gold.examples if ex.id in ids]
    key, sha = model_file(args.model)
    records = []
    for st in strategies:
        report = evaluate(gold, [load_predictions(paths[st], gold)], config=ExecConfig(), workers=1)[0]
        summary = report["summary"]
        # A later strategy's time includes the earlier ones' (they evaluated the prompt it reused).
        spent = sum(seconds[s] for s in strategies[:strategies.index(st) + 1])
        record = {
            "name": names[st],
            "config": {"model": key, "backend": backend.name, "strategy": st,
                       "n": args.n if st == "vote" else 1,
                       "temperature": args.temperature if st == "vote" else 0.0,
                       "schema_format": args.schema_format, "values": args.values, "repair": args.repair,
                       "limit": args.limit, "seed": args.seed, "run_with": strategies},
            "model_sha256": sha,
            "questions": len(examples),
            "ex": summary["ex"],
            "correct": summary["correct"],
            "exec_success": summary["exec_success"],
            "exact_match": summary["exact_match"],
            "by_difficulty": {k: {"count": v["count"], "ex": v["ex"]} for k, v in summary["by_difficulty"].items()},
            "predict_seconds_this_run": round(spent, 1),
            "seconds_per_question_this_run": round(spent / max(1, stats[st].written), 2),
            "resumed_predictions": stats[st].skipped,
            # Per-question times of every prediction in the file (resumed runs included): the median shrugs off
            # the odd question that ran while the machine was busy with something else.
            "median_seconds_per_question": median_seconds(paths[st]),
            "tokens_this_run": {**tokens[st], "completion_per_second":
                                round(tokens[st]["completion"] / seconds[st], 1) if seconds[st] else None}
            if counter is not None else None,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        }
        (out / f"{names[st]}.json").write_text(json.dumps(record, indent=2) + "\n")
        records.append(record)
    return records


def median_seconds(path: Path) -> float | None:
    times = [json.loads(line).get("seconds") for line in path.read_text().splitlines() if line.strip()]
    times = [t for t in times if isinstance(t, (int, float))]
    return round(statistics.median(times), 2) if times else None


def summarize(out: Path) -> None:
    rows = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    if not rows:
        print(f"no results in {out}")
        return
    levels = ("easy", "medium", "hard", "extra")
    print(f"{'configuration':44} {'n':>4} {'EX':>7} {'exec ok':>8} " + " ".join(f"{lv:>7}" for lv in levels)
          + f" {'s/q':>6} {'median':>6}")
    for r in rows:
        by = r["by_difficulty"]
        cells = " ".join(f"{by[lv]['ex'] * 100:6.1f}%" if lv in by else f"{'-':>7}" for lv in levels)
        print(f"{r['name']:44} {r['questions']:>4} {r['ex'] * 100:6.1f}% {r['exec_success'] * 100:7.1f}% {cells} "
              f"{r['seconds_per_question_this_run']:>6} {r.get('median_seconds_per_question') or '-':>6}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="registry key, .gguf, HF folder or endpoint (default model)")
    p.add_argument("--backend", default="auto")
    p.add_argument("--strategy", choices=("greedy", "vote"), nargs="+", default=["greedy"],
                   help="one or more; several run question by question, sharing each prompt's evaluation")
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--schema-format", choices=("ddl", "mschema", "cards"), default="mschema")
    p.add_argument("--values", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--repair", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--limit", type=int, default=200, help="questions (0 = all scorable dev questions)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="llama.cpp threads")
    p.add_argument("--spider-dir", default=None)
    p.add_argument("--name", default=None, help="result file stem (default: derived from the config)")
    p.add_argument("--out", default="runs/bench-spider")
    p.add_argument("--summarize", action="store_true", help="only print the table of results in --out")
    args = p.parse_args()
    if args.summarize:
        summarize(Path(args.out))
        return 0
    for record in run(args):
        print(json.dumps({k: record[k] for k in ("name", "questions", "ex", "predict_seconds_this_run")}))
    summarize(Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
