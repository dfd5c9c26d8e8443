"""Score predictions against a gold set: load both, pair them by id, execute, and summarise.

Gold sets (``load_gold``): ``spider:dev`` / ``spider:train``; a Spider- or BIRD-format JSON list (``query`` or
``SQL``, ``db_id``, ``question``, optional ``question_id`` / ``difficulty`` / ``evidence``); a ``SQL<TAB>db_id``
text file like Spider's ``dev_gold.sql``; or tunesql Example JSONL. An example's id is the record's own id
where it has one (BIRD ``question_id``, the JSONL ``id``), else its 0-based position in the file.

Predictions (``load_predictions``): JSONL (or a JSON list) of objects with ``id`` and the prediction under
``sql`` (also ``pred``, ``prediction``, ``query``; for SQL→NL ``text`` / ``question`` / ``explanation`` as well),
paired strictly by id; or plain text, one prediction per line (the official format; text after a tab is
ignored as the official does), where line i pairs with gold example i and only when the gold ids are positions;
a blank line is an empty prediction in its place (the official reads blank lines as separators between
multi-turn sessions, which would shift every later pair).
A gold example without a prediction is scored wrong with the error ``no prediction`` and counted in the summary;
a repeated id, an id the gold set does not have, or more text lines than gold examples is a DataError naming the
file and the line.

Headline EX (``summary.ex``) is over the *scored* examples: those whose databases exist and whose gold query
ran. Examples whose database is missing (Spider's ``wta_1`` in some copies: 62 dev questions) are reported with
status ``database missing``, counted in ``summary.database_missing`` and left out of ``ex``, so gold vs gold is
100%; ``summary.ex_all`` divides by every example instead, counting those as wrong, and the two always appear
side by side. Exact match, token F1 need no database and are over all examples.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from tunesql.data.example import Example
from tunesql.errors import DataError
from tunesql.eval.compare import FLOAT_TOL
from tunesql.eval.execution import (
    DEFAULT_TIMEOUT,
    ExecConfig,
    execution_match,
    map_by_database,
    run_gold,
    worker_state,
)

TASKS = ("nl2sql", "sql2nl")
SPIDER_LEVELS = ("easy", "medium", "hard", "extra")
BIRD_LEVELS = ("simple", "moderate", "challenging")
SQL_KEYS = ("sql", "pred", "prediction", "query", "predicted_sql")
TEXT_KEYS = ("text", "pred", "prediction", "question", "explanation")


@dataclass
class GoldSet:
    examples: list[Example]
    source: str
    """What was loaded, for the report (``spider:dev`` or a path)."""
    db_dir: Path | None
    """Where ``<db_id>/<db_id>.sqlite`` live (None when unknown: SQL→NL needs none)."""
    schemas: dict[str, Any] | None = None
    """Schemas by db_id (from tables.json) when available; they settle ``"x"`` quoting for exact match."""
    db_urls: dict[str, str] | None = None
    """Server databases by db_id (``databases.json`` beside a gold file, as ``tunesql synth`` writes it)."""

    @property
    def positional(self) -> bool:
        """Whether every id is the example's 0-based position (plain-text predictions may then pair by line)."""
        return all(ex.id == str(i) for i, ex in enumerate(self.examples))


@dataclass
class PredSet:
    by_id: dict[str, str | None]
    source: str
    warnings: list[str]


# --- loading --------------------------------------------------------------------------------------------------


def load_gold(gold: str | Path, *, spider_dir: str | Path | None = None,
              db_dir: str | Path | None = None) -> GoldSet:
    """Load a gold set (see the module docstring for the accepted forms)."""
    text = str(gold)
    if text in ("shop", "bundled"):
        from tunesql.data.example import load_pairs
        from tunesql.db.connect import bundled_db_path

        db_file = bundled_db_path()
        examples = load_pairs(db_file.with_name("shop_pairs.json"), db_file.stem, source="shop")
        return GoldSet(examples, "shop", Path(db_dir) if db_dir else db_file.parent, None)
    if text.startswith("spider:"):
        from tunesql.data.spider import load_spider, load_spider_schemas, resolve_spider_dir

        split = text.split(":", 1)[1] or "dev"
        root = resolve_spider_dir(spider_dir)
        schemas = load_spider_schemas(root / "tables.json")
        examples = load_spider(root, split, schemas=schemas)  # type: ignore[arg-type]
        return GoldSet(examples, text, Path(db_dir) if db_dir else root / "database", schemas)
    path = Path(gold)
    if not path.is_file():
        raise DataError("gold file not found (give spider:dev, a Spider/BIRD JSON file, a SQL<TAB>db_id file "
                        "or Example JSONL)", path=str(path))
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        from tunesql.data.example import read_examples

        examples = read_examples(path)
    elif suffix == ".json":
        examples = _read_json_gold(path)
    else:
        examples = _read_tsv_gold(path)
    schemas = _schemas_near(path)
    resolved_db_dir = Path(db_dir) if db_dir else _db_dir_near(path)
    return GoldSet(examples, str(path), resolved_db_dir, schemas, _db_urls_near(path))


def _read_json_gold(path: Path) -> list[Example]:
    from tunesql.data.example import read_json_list, require_str

    where = str(path)
    examples: list[Example] = []
    seen: dict[str, int] = {}
    for index, record in enumerate(read_json_list(path, "gold records")):
        if not isinstance(record, dict):
            raise DataError(f"expected a JSON object, got {type(record).__name__}", path=where, index=index)
        key = next((k for k in ("query", "SQL", "sql") if k in record), "query")
        sql = require_str(record, key, path=where, index=index)
        db_id = require_str(record, "db_id", path=where, index=index)
        question = record.get("question") or ""
        qid = record.get("question_id", record.get("id", index))
        ex_id = str(qid)
        if ex_id in seen:
            raise DataError(f"id {ex_id!r} repeats record {seen[ex_id]}", path=where, index=index, field="id")
        seen[ex_id] = index
        difficulty = record.get("difficulty")
        examples.append(Example(
            id=ex_id, question=str(question).strip(), sql=sql.strip(), db_id=db_id,
            evidence=str(record.get("evidence") or ""), difficulty=str(difficulty) if difficulty else None,
            explanation=record.get("explanation"), source=where,
        ))
    return examples


def _read_tsv_gold(path: Path) -> list[Example]:
    """``SQL<TAB>db_id`` per line (Spider's dev_gold.sql); blank lines are skipped, ids are positions."""
    examples: list[Example] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.strip().split("\t")
        if len(parts) < 2 or not parts[-1].strip():
            raise DataError(f"line {lineno}: expected 'SQL<TAB>db_id'", path=str(path), index=len(examples))
        examples.append(Example(id=str(len(examples)), question="", sql=parts[0].strip(),
                                db_id=parts[-1].strip(), source=str(path)))
    return examples


def _schemas_near(path: Path) -> dict[str, Any] | None:
    from tunesql.data.spider import load_spider_schemas

    for candidate in (path.parent / "tables.json", *sorted(path.parent.glob("*_tables.json"))):
        if candidate.is_file():
            try:
                return load_spider_schemas(candidate)
            except DataError:
                return None
    return None


def _db_urls_near(path: Path) -> dict[str, str] | None:
    """``databases.json`` beside ``path``: ``{db_id: SQLAlchemy URL}`` for databases that are not files."""
    near = path.parent / "databases.json"
    if not near.is_file():
        return None
    try:
        data = json.loads(near.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"not valid JSON: {e}", path=str(near)) from e
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise DataError('expected an object {"db_id": "URL", ...}', path=str(near))
    return data


def _db_dir_near(path: Path) -> Path | None:
    for name in ("database", f"{path.stem}_databases", "dev_databases", "train_databases"):
        if (path.parent / name).is_dir():
            return path.parent / name
    return None


def load_predictions(pred: str | Path, gold: GoldSet, *, task: str = "nl2sql") -> PredSet:
    """Pair a prediction file with ``gold`` by id (see the module docstring)."""
    path = Path(pred)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise DataError("prediction file not found", path=where) from e
    except UnicodeDecodeError as e:
        raise DataError(f"not UTF-8 text ({e})", path=where) from e
    gold_ids = {ex.id for ex in gold.examples}
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    by_id: dict[str, str | None] = {}
    if path.suffix.lower() in (".jsonl", ".json") or first.startswith(("{", "[")):
        by_id = _read_json_preds(text, where, gold_ids, TEXT_KEYS if task == "sql2nl" else SQL_KEYS)
    else:
        lines = text.splitlines()
        while lines and not lines[-1].strip():
            lines.pop()
        if not gold.positional:
            raise DataError("plain-text predictions pair by line number, but the gold ids are not positions; "
                            "write JSONL with an 'id' per prediction", path=where)
        if len(lines) > len(gold.examples):
            raise DataError(f"line {len(gold.examples) + 1}: more prediction lines ({len(lines)}) than gold "
                            f"examples ({len(gold.examples)})", path=where)
        for i, line in enumerate(lines):
            by_id[str(i)] = line.strip() if task == "sql2nl" else line.strip().split("\t")[0]
    missing = sum(1 for ex in gold.examples if by_id.get(ex.id) is None)
    warnings = []
    if missing:
        scored_as = "empty text" if task == "sql2nl" else "wrong ('no prediction')"
        warnings.append(f"{missing} of {len(gold.examples)} gold examples have no prediction in {where}; "
                        f"they are scored as {scored_as}")
    return PredSet(by_id, where, warnings)


def _read_json_preds(text: str, where: str, gold_ids: set[str], keys: Sequence[str]) -> dict[str, str | None]:
    records: list[tuple[int, Any]] = []
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}", path=where) from e
        records = [(i + 1, r) for i, r in enumerate(data)]
        unit = "record"
    else:
        unit = "line"
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append((lineno, json.loads(line)))
            except json.JSONDecodeError as e:
                raise DataError(f"line {lineno} is not valid JSON: {e.msg} (column {e.colno})", path=where) from e
    by_id: dict[str, str | None] = {}
    seen: dict[str, int] = {}
    for n, record in records:
        if not isinstance(record, dict):
            raise DataError(f"{unit} {n}: expected a JSON object with 'id' and 'sql'", path=where)
        if "id" not in record or isinstance(record["id"], (bool, dict, list)) or record["id"] is None:
            raise DataError(f"{unit} {n}: no 'id' (predictions pair with gold examples by id)", path=where,
                            field="id")
        pid = str(record["id"])
        if pid in seen:
            raise DataError(f"{unit} {n}: id {pid!r} repeats {unit} {seen[pid]}", path=where, field="id")
        seen[pid] = n
        if pid not in gold_ids:
            raise DataError(f"{unit} {n}: id {pid!r} is not in the gold set", path=where, field="id")
        key = next((k for k in keys if k in record), None)
        if key is None:
            raise DataError(f"{unit} {n}: no prediction field (one of {', '.join(keys)})", path=where)
        value = record[key]
        if value is not None and not isinstance(value, str):
            raise DataError(f"{unit} {n}: expected a string, got {type(value).__name__}", path=where, field=key)
        by_id[pid] = value.strip() if isinstance(value, str) else None  # as the official strips each line
    return by_id


# --- scoring --------------------------------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def _spider_level(gold_sql: str, dialect: str) -> str:
    try:
        from tunesql.eval.difficulty import spider_hardness

        return spider_hardness(gold_sql, dialect)
    except Exception:
        return "unknown"


def _difficulty(ex_difficulty: str | None, gold_sql: str, dialect: str = "sqlite") -> str:
    """The source's own label (BIRD's simple/moderate/challenging) where it has one, else Spider's hardness
    computed from the gold SQL."""
    return str(ex_difficulty) if ex_difficulty else _spider_level(gold_sql, dialect)


def _score_item(item: tuple) -> dict[str, Any]:
    """Score one gold example against each prediction set; runs inside a worker (see map_by_database)."""
    ex_index, db_id, gold_sql, difficulty_label, dialect, preds = item
    state = worker_state()
    executor = state["executor"]
    start = time.perf_counter()
    out: dict[str, Any] = {"index": ex_index}
    try:
        out["difficulty"] = _difficulty(difficulty_label, gold_sql, dialect)
        gold = run_gold(executor, state["db_dir"], db_id, gold_sql)
        results = []
        for pred in preds:
            t0 = time.perf_counter()
            try:
                verdict = execution_match(executor, gold, pred)
                rec = asdict(verdict)
            except Exception as e:  # one bad prediction never stops the run
                rec = {"correct": False, "executed": False, "error": f"internal error: {type(e).__name__}: {e}",
                       "status": "error"}
            rec["exact_match"], rec["token_f1"] = _text_scores(pred, gold_sql, dialect, db_id)
            rec["seconds"] = time.perf_counter() - t0
            results.append(rec)
        gold_seconds = (time.perf_counter() - start) - sum(r["seconds"] for r in results)
        for rec in results:
            rec["seconds"] = round(rec["seconds"] + gold_seconds, 6)
        out["results"] = results
    except Exception as e:
        out["crash"] = f"{type(e).__name__}: {e}"
    return out


@lru_cache(maxsize=8192)
def _normalized(sql: str, dialect: str, db_id: str) -> str | None:
    from tunesql.sql.normalize import try_normalize

    schema = (worker_state().get("schemas") or {}).get(db_id)
    try:
        return try_normalize(sql, dialect, schema=schema)
    except Exception:
        return None


def _text_scores(pred: str | None, gold: str, dialect: str, db_id: str) -> tuple[bool, float]:
    """Exact match (``tunesql.sql.normalize.exact_match``'s rule, with each gold query normalised once) and
    token F1. Identical texts are a match with F1 1.0 without tokenizing."""
    if pred is None:
        return False, 0.0
    if pred == gold:
        return True, 1.0
    try:
        norm_gold = _normalized(gold, dialect, db_id)
        if norm_gold is None:  # exact_match's own fallback for a gold query that does not parse
            from tunesql.sql.normalize import exact_match

            em = exact_match(pred, gold, dialect)
        else:
            em = _normalized(pred, dialect, db_id) == norm_gold
    except Exception:
        em = False
    try:
        from tunesql.eval.text_metrics import token_f1

        f1 = float(token_f1(pred, gold, dialect))
    except Exception:
        f1 = 0.0
    return bool(em), f1


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 6) if values else None


def _level_order(levels: Sequence[str]) -> list[str]:
    known = [lvl for lvl in (*SPIDER_LEVELS, *BIRD_LEVELS) if lvl in levels]
    return known + sorted(lvl for lvl in set(levels) if lvl not in known)


def summarize(examples: list[dict[str, Any]], *, config: dict[str, Any] | None = None, seconds: float | None = None,
              warnings: Sequence[str] = (), extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The summary of a report's example records (nl2sql)."""
    n = len(examples)
    status = Counter(e["status"] for e in examples)
    unscored = {"database missing", "gold error"}
    scored = [e for e in examples if e["status"] not in unscored]
    correct = sum(1 for e in scored if e["correct"])
    missing = [e for e in examples if e["status"] == "database missing"]
    summary: dict[str, Any] = {
        "task": "nl2sql",
        "examples": n,
        "scored": len(scored),
        "correct": correct,
        "ex": _mean([1.0 if e["correct"] else 0.0 for e in scored]),
        "ex_all": _mean([1.0 if e["correct"] else 0.0 for e in examples]),
        "ex_note": ("ex = correct / scored (examples whose database exists and whose gold query ran); "
                    "ex_all = correct / all examples, unscored ones counted wrong"),
        "database_missing": len(missing),
        "database_missing_by_db": dict(sorted(Counter(e["db_id"] for e in missing).items())),
        "gold_errors": status.get("gold error", 0),
        "no_prediction": status.get("no prediction", 0),
        "timeouts": status.get("timeout", 0),
        "exact_match": _mean([1.0 if e["exact_match"] else 0.0 for e in examples]),
        "token_f1": _mean([e["token_f1"] for e in examples]),
        "exec_success": _mean([1.0 if e["executed"] else 0.0 for e in scored]),
        "status": dict(sorted(status.items())),
    }
    by: dict[str, Any] = {}
    levels = _level_order([e["difficulty"] for e in examples])
    for level in levels:
        group = [e for e in examples if e["difficulty"] == level]
        g_scored = [e for e in group if e["status"] not in unscored]
        by[level] = {
            "count": len(group),
            "scored": len(g_scored),
            "correct": sum(1 for e in g_scored if e["correct"]),
            "ex": _mean([1.0 if e["correct"] else 0.0 for e in g_scored]),
            "exact_match": _mean([1.0 if e["exact_match"] else 0.0 for e in group]),
            "token_f1": _mean([e["token_f1"] for e in group]),
            "exec_success": _mean([1.0 if e["executed"] else 0.0 for e in g_scored]),
        }
    summary["by_difficulty"] = by
    if seconds is not None:
        summary["seconds"] = round(seconds, 3)
        summary["examples_per_second"] = round(n / seconds, 1) if seconds > 0 else None
    if config is not None:
        summary["config"] = config
    summary["warnings"] = list(warnings)
    if extra:
        summary.update(extra)
    return summary


def _preload() -> None:
    """Import what the workers use before the pool forks, so that each worker does not import it again."""
    import tunesql.db.execute
    import tunesql.eval.compare
    import tunesql.eval.difficulty
    import tunesql.eval.text_metrics
    import tunesql.sql.normalize  # noqa: F401


def evaluate(
    gold: GoldSet,
    preds: Sequence[PredSet],
    *,
    config: ExecConfig | None = None,
    workers: int | None = None,
    cache_dir: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Score each prediction set against ``gold`` (execution, exact match, token F1, difficulty).

    Gold queries run once for all prediction sets. Returns one report per set:
    ``{"summary": {...}, "examples": [{"id", "correct", "error", "seconds", ...}, ...]}`` in gold order.
    """
    config = config or ExecConfig()
    _normalized.cache_clear()
    _spider_level.cache_clear()
    _preload()
    if gold.db_dir is None:
        raise DataError("no database directory: pass --db-dir DIR (it holds <db_id>/<db_id>.sqlite)")
    start = time.perf_counter()
    workers = workers if workers and workers > 0 else (os.cpu_count() or 1)
    items = [
        (i, ex.db_id, ex.sql, ex.difficulty, ex.dialect or "sqlite", tuple(p.by_id.get(ex.id) for p in preds))
        for i, ex in enumerate(gold.examples)
    ]
    shared = {"db_dir": str(gold.db_dir), "schemas": gold.schemas}
    scored = map_by_database(_score_item, items, [ex.db_id for ex in gold.examples], config=config,
                             workers=workers, shared=shared, cache_dir=cache_dir, progress=progress)
    seconds = time.perf_counter() - start
    run_config = {
        "semantics": config.semantics,
        "keep_distinct": config.keep_distinct if config.semantics == "spider" else True,
        "timeout": config.timeout,
        "float_tol": FLOAT_TOL if config.float_tol is None else config.float_tol,
        "gold_timeout": config.gold_timeout,
        "workers": workers,
        "gold": gold.source,
        "db_dir": str(gold.db_dir),
    }
    reports = []
    for k, pset in enumerate(preds):
        records = []
        for ex, out in zip(gold.examples, scored, strict=True):
            pred = pset.by_id.get(ex.id)
            rec: dict[str, Any] = {"id": ex.id, "db_id": ex.db_id}
            if out is None or "crash" in out:
                why = (out or {}).get("crash", "not scored")
                rec.update(correct=False, error=f"internal error: {why}", status="error", executed=False,
                           exact_match=False, token_f1=0.0, seconds=0.0, difficulty=(out or {}).get(
                               "difficulty", "unknown"))
            else:
                r = out["results"][k]
                rec.update(correct=r["correct"], error=r["error"], status=r["status"], executed=r["executed"],
                           exact_match=r["exact_match"], token_f1=round(r["token_f1"], 6),
                           seconds=r["seconds"], difficulty=out["difficulty"])
            rec["gold"] = ex.sql
            rec["pred"] = pred
            records.append(rec)
        summary = summarize(records, config={**run_config, "pred": pset.source}, seconds=seconds,
                            warnings=pset.warnings)
        reports.append({"summary": summary, "examples": records})
    return reports


def evaluate_text(gold: GoldSet, preds: PredSet) -> dict[str, Any]:
    """SQL→NL: score generated text against each example's explanation (or its question when it has none)
    with BLEU-4 and ROUGE-1/2/L (corpus level in the summary, sentence level per example)."""
    from tunesql.eval.text_metrics import bleu4, rouge

    start = time.perf_counter()
    refs = [ex.explanation or ex.question for ex in gold.examples]
    hyps = [preds.by_id.get(ex.id) or "" for ex in gold.examples]
    corpus_rouge = rouge(hyps, refs)
    records = []
    for ex, hyp, ref in zip(gold.examples, hyps, refs, strict=True):
        t0 = time.perf_counter()
        pred = preds.by_id.get(ex.id)
        one = rouge([hyp], [ref])
        records.append({
            "id": ex.id, "db_id": ex.db_id, "correct": None,
            "error": "no prediction" if pred is None else None,
            "status": "no prediction" if pred is None else "scored",
            "bleu4": round(float(bleu4([hyp], [ref])), 6),
            **{k: round(float(v), 6) for k, v in dict(one).items()},
            "seconds": round(time.perf_counter() - t0, 6),
            "difficulty": ex.difficulty or "unknown", "reference": ref, "pred": pred,
        })
    seconds = time.perf_counter() - start
    summary = {
        "task": "sql2nl",
        "examples": len(records),
        "no_prediction": sum(1 for r in records if r["status"] == "no prediction"),
        "bleu4": round(float(bleu4(hyps, refs)), 6),
        **{k: round(float(v), 6) for k, v in dict(corpus_rouge).items()},
        "reference_field": "explanation (question where an example has none)",
        "seconds": round(seconds, 3),
        "examples_per_second": round(len(records) / seconds, 1) if seconds > 0 else None,
        "config": {"gold": gold.source, "pred": preds.source},
        "warnings": list(preds.warnings),
    }
    return {"summary": summary, "examples": records}


__all__ = [
    "DEFAULT_TIMEOUT",
    "GoldSet",
    "PredSet",
    "evaluate",
    "evaluate_text",
    "load_gold",
    "load_predictions",
    "summarize",
]
