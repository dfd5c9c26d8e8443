"""Predict SQL for a whole dataset, one JSONL line per example, resumable.

    tunesql predict --dataset spider:dev --strategy vote --n 8 --limit 200 --out runs/preds.jsonl
    tunesql eval --gold spider:dev --pred runs/preds.jsonl

Each line is ``{"id", "db_id", "sql", "confidence", "strategy", "repaired", "error", "seconds"}`` and is flushed
as soon as it is known, so an interrupted run loses at most the example in flight; a re-run skips every id
already in the file. Prompts are built exactly as ``tunesql ask`` builds them (``pipeline.answer_question``),
from each database's real schema with sample values (tables.json only where a database file is missing).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tunesql.data.example import Example
from tunesql.db.connect import Database, open_database
from tunesql.db.schema import Schema
from tunesql.errors import DataError
from tunesql.infer.backend import Backend
from tunesql.infer.pipeline import answer_question

if TYPE_CHECKING:
    from tunesql.eval.runner import GoldSet


@dataclass
class PredictStats:
    written: int = 0
    skipped: int = 0
    """Ids already in the output file (resumed)."""
    missing_db: int = 0
    failed: int = 0
    """Examples whose final SQL did not run (no SQL, syntax/execution error, timeout, refused)."""
    seconds: float = 0.0
    by_db: dict[str, int] = field(default_factory=dict)


def done_ids(out_path: Path) -> set[str]:
    """Ids already predicted in ``out_path`` (a missing file has none); a torn last line is ignored."""
    if not out_path.is_file():
        return set()
    ids = set()
    with out_path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                ids.add(str(json.loads(line)["id"]))
            except (json.JSONDecodeError, KeyError) as e:
                if f.readline() == "":  # only the last line may be torn by an interrupted run
                    break
                raise DataError(f"not a prediction line ({e})", path=str(out_path), index=n - 1) from e
    return ids


def predict_dataset(
    examples: Sequence[Example],
    db_file: Callable[[str], Path | None],
    schemas: dict[str, Schema],
    backend: Backend,
    out_path: str | Path,
    *,
    strategy: str = "greedy",
    n: int = 8,
    temperature: float = 0.7,
    schema_format: str = "mschema",
    values: bool = True,
    repair: bool = True,
    progress: Callable[[int], None] | None = None,
) -> PredictStats:
    """Predict every example not yet in ``out_path`` and append it there; see the module docstring.

    ``db_file(db_id)`` finds a database's file (None when missing: the line then says "database missing");
    ``schemas`` gives each database's schema as the prompt shows it.
    """
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    seen = done_ids(out)
    stats = PredictStats()
    handles: dict[str, Database | None] = {}
    start = time.perf_counter()
    try:
        with out.open("a", encoding="utf-8") as f:
            for ex in examples:
                if ex.id in seen:
                    stats.skipped += 1
                    if progress:
                        progress(1)
                    continue
                t0 = time.perf_counter()
                record = {"id": ex.id, "db_id": ex.db_id, "strategy": strategy}
                if ex.db_id not in handles:
                    path = db_file(ex.db_id)
                    handles[ex.db_id] = open_database(path) if path is not None else None
                db = handles[ex.db_id]
                if db is None:
                    stats.missing_db += 1
                    record.update(sql="", confidence=0.0, repaired=False, error="database missing")
                else:
                    answer = answer_question(
                        ex.question, db, backend, strategy=strategy, n=n, temperature=temperature,
                        schema_format=schema_format, evidence=ex.evidence, schema=schemas[ex.db_id],
                        values=values, repair=repair,
                    )
                    record.update(sql=answer.sql, confidence=round(answer.confidence, 4),
                                  repaired=answer.prediction.repaired, error=answer.error)
                    stats.failed += answer.error is not None
                record["seconds"] = round(time.perf_counter() - t0, 3)
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
                f.flush()
                stats.written += 1
                stats.by_db[ex.db_id] = stats.by_db.get(ex.db_id, 0) + 1
                if progress:
                    progress(1)
    finally:
        for db in handles.values():
            if db is not None:
                db.close()
        stats.seconds = time.perf_counter() - start
    return stats


def dataset_databases(gold: GoldSet, examples: Sequence[Example]
                      ) -> tuple[Callable[[str], Path | None], dict[str, Schema]]:
    """For a loaded gold set: a finder for each database's file, and each database's schema as prompts show it
    (the real database with 3 sample values; tables.json where a Spider database file is missing). A server
    database named in the gold set's ``db_urls`` is "found" as its URL, which ``open_database`` opens alike."""
    from tunesql.eval.execution import database_files

    db_root = gold.db_dir or Path(".")
    urls = gold.db_urls or {}

    def db_file(db_id: str) -> Path | None:
        if db_id in urls:
            return urls[db_id]  # type: ignore[return-value]  # a URL string; open_database takes both
        files = database_files(db_root, db_id)
        return files[0] if files else None

    db_ids = sorted({ex.db_id for ex in examples})
    if gold.source.startswith("spider:"):
        from tunesql.data.spider import load_db_schemas

        schemas = load_db_schemas(db_root.parent, db_ids, samples=3, tables_json_schemas=gold.schemas,
                                  row_counts=False)
        return db_file, schemas
    schemas = {}
    for db_id in db_ids:
        path = db_file(db_id)
        if path is not None:
            with open_database(path) as handle:
                schemas[db_id] = handle.schema(samples=3, row_counts=False)
        elif gold.schemas and db_id in gold.schemas:
            schemas[db_id] = gold.schemas[db_id]
    return db_file, schemas
