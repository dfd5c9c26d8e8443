"""Spider dev execution accuracy for a model + strategy + schema rendering, on a seeded subset or all of dev.

    python bench/spider_dev.py --limit 200 --strategy greedy --schema-format ddl --out runs/bench-spider
    python bench/spider_dev.py --limit 200 --strategy vote --n 8 --schema-format mschema --out runs/bench-spider

The subset is a seeded random sample (``--seed``) of the dev questions whose database exists (wta_1 is missing
here), the same for every configuration, so rows of the table compare like with like. Predictions go through the
code of ``tunesql predict`` (written to ``<out>/<config>.jsonl``, resumable: re-running continues) and are scored by
the code of ``tunesql eval`` (Spider test-suite semantics). Prints a table and writes ``<out>/<config>.json`` with
the config, the seed, the model file's sha256, EX by difficulty and the wall time. Compare configurations with
``--summarize``, which prints every JSON found in ``--out`` as one table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import random
import sys
import time
from pathlib import Path

from tqdm import tqdm

from tunesql.data.spider import resolve_spider_dir
from tunesql.eval.execution import ExecConfig, database_files
from tunesql.eval.runner import GoldSet, evaluate, load_gold, load_predictions
from tunesql.infer.load import load_backend
from tunesql.infer.predict import dataset_databases, predict_dataset


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


def run(args: argparse.Namespace) -> dict:
    spider_dir = resolve_spider_dir(args.spider_dir)
    gold = load_gold("spider:dev", spider_dir=spider_dir)
    examples = subset(gold, args.limit, args.seed)
    name = args.name or (f"{args.model or 'default'}-{args.strategy}"
                         + (f"{args.n}" if args.strategy == "vote" else "") + f"-{args.schema_format}"
                         + ("" if args.values else "-novalues"))
    name = name.replace("/", "_").replace(":", "_").replace("#", "_")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    preds_path = out / f"{name}.jsonl"
    db_file, schemas = dataset_databases(gold, examples)
    backend = load_backend(args.model, args.backend, n_threads=args.threads) if args.threads else \
        load_backend(args.model, args.backend)

    start = time.perf_counter()
    with tqdm(total=len(examples), desc=name, unit="q", file=sys.stderr, dynamic_ncols=True) as bar:
        stats = predict_dataset(examples, db_file, schemas, backend, preds_path, strategy=args.strategy, n=args.n,
                                temperature=args.temperature, schema_format=args.schema_format,
                                values=args.values, repair=args.repair, progress=bar.update)
    predict_seconds = time.perf_counter() - start
    ids = {ex.id for ex in examples}
    gold.examples = [ex for ex in gold.examples if ex.id in ids]
    report = evaluate(gold, [load_predictions(preds_path, gold)], config=ExecConfig(), workers=1)[0]
    summary = report["summary"]
    key, sha = model_file(args.model)
    record = {
        "name": name,
        "config": {"model": key, "backend": backend.name, "strategy": args.strategy,
                   "n": args.n if args.strategy == "vote" else 1,
                   "temperature": args.temperature if args.strategy == "vote" else 0.0,
                   "schema_format": args.schema_format, "values": args.values, "repair": args.repair,
                   "limit": args.limit, "seed": args.seed},
        "model_sha256": sha,
        "questions": len(examples),
        "ex": summary["ex"],
        "correct": summary["correct"],
        "exec_success": summary["exec_success"],
        "exact_match": summary["exact_match"],
        "by_difficulty": {k: {"count": v["count"], "ex": v["ex"]} for k, v in summary["by_difficulty"].items()},
        "predict_seconds_this_run": round(predict_seconds, 1),
        "seconds_per_question_this_run": round(predict_seconds / max(1, stats.written), 2),
        "resumed_predictions": stats.skipped,
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
    }
    (out / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def summarize(out: Path) -> None:
    rows = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    if not rows:
        print(f"no results in {out}")
        return
    levels = ("easy", "medium", "hard", "extra")
    print(f"{'configuration':44} {'n':>4} {'EX':>7} {'exec ok':>8} " + " ".join(f"{lv:>7}" for lv in levels)
          + f" {'s/q':>6}")
    for r in rows:
        by = r["by_difficulty"]
        cells = " ".join(f"{by[lv]['ex'] * 100:6.1f}%" if lv in by else f"{'-':>7}" for lv in levels)
        print(f"{r['name']:44} {r['questions']:>4} {r['ex'] * 100:6.1f}% {r['exec_success'] * 100:7.1f}% {cells} "
              f"{r['seconds_per_question_this_run']:>6}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="registry key, .gguf, HF folder or endpoint (default model)")
    p.add_argument("--backend", default="auto")
    p.add_argument("--strategy", choices=("greedy", "vote"), default="greedy")
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
    record = run(args)
    summarize(Path(args.out))
    print(json.dumps({k: record[k] for k in ("name", "questions", "ex", "predict_seconds_this_run")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
