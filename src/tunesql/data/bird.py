"""BIRD (Li et al., 2023): questions with external-knowledge evidence over large, dirty SQLite databases.

Layout read here (the official release's, per split; ``bird_dir`` may be the split's own directory or a parent
holding ``dev/`` and ``train/``):

- ``dev.json`` / ``train.json``: lists of ``{question_id, db_id, question, evidence, SQL, difficulty}``
  (train has neither ``question_id`` nor ``difficulty``).
- ``dev_tables.json`` / ``train_tables.json``: schemas in Spider's tables.json format.
- ``dev_databases/<db_id>/<db_id>.sqlite`` / ``train_databases/…``.

Example ids are ``question_id`` where present, else the 0-based position in the file.

Schemas come from the tables file (``load_bird_schemas``) or, with types, keys and sample values, from the
databases themselves (``load_bird_db_schemas``, the same loader as Spider's ``load_db_schemas``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal

from tunesql.data.example import Example, read_json_list, require_str
from tunesql.data.spider import load_db_schemas, load_spider_schemas
from tunesql.db.schema import Schema
from tunesql.errors import DataError

SPLITS = ("train", "dev")
DIFFICULTIES = ("simple", "moderate", "challenging")

Split = Literal["train", "dev"]


def bird_split_dir(bird_dir: str | Path, split: Split) -> Path:
    """The directory holding ``<split>.json``: ``bird_dir`` itself, or ``bird_dir/<split>``."""
    if split not in SPLITS:
        raise DataError(f"unknown BIRD split {split!r}; use one of {', '.join(SPLITS)}")
    bird_dir = Path(bird_dir)
    for candidate in (bird_dir, bird_dir / split):
        if (candidate / f"{split}.json").is_file():
            return candidate
    raise DataError(f"BIRD {split} not found: no {split}.json in {bird_dir} or {bird_dir / split}. "
                    "Pass --data-dir PATH (the directory holding it, its tables file and databases).")


def bird_db_path(bird_dir: str | Path, split: Split, db_id: str) -> Path:
    """``<split dir>/<split>_databases/<db_id>/<db_id>.sqlite`` (check that it exists before opening)."""
    return bird_split_dir(bird_dir, split) / f"{split}_databases" / db_id / f"{db_id}.sqlite"


def load_bird_schemas(bird_dir: str | Path, split: Split) -> dict[str, Schema]:
    """The split's schemas from ``<split>_tables.json``, keyed by db_id."""
    return load_spider_schemas(bird_split_dir(bird_dir, split) / f"{split}_tables.json")


def bird_db_root(bird_dir: str | Path, split: Split) -> Path:
    """``<split dir>/<split>_databases``: the directory holding one folder per database."""
    return bird_split_dir(bird_dir, split) / f"{split}_databases"


def load_bird_db_schemas(
    bird_dir: str | Path,
    split: Split,
    db_ids: Iterable[str],
    samples: int = 3,
    tables_json_schemas: dict[str, Schema] | None = None,
    *,
    row_counts: bool = True,
    progress: Callable[[int], None] | None = None,
    notify: Callable[[str], None] | None = None,
) -> dict[str, Schema]:
    """The schemas of ``db_ids`` introspected from ``<split>_databases``, falling back to ``<split>_tables.json``
    for missing files (see ``spider.load_db_schemas``). BIRD's tables are large: pass ``row_counts=False``
    when the prompt format shows no row counts, as ``count(*)`` scans each table."""
    if tables_json_schemas is None:
        tables_json_schemas = load_bird_schemas(bird_dir, split)
    return load_db_schemas(bird_db_root(bird_dir, split), db_ids, samples, tables_json_schemas,
                           row_counts=row_counts, progress=progress, notify=notify)


def load_bird(bird_dir: str | Path, split: Split = "dev", *,
              schemas: dict[str, Schema] | None = None) -> list[Example]:
    """A BIRD split as Examples, with evidence and difficulty.

    Needs non-empty ``db_id``, ``question`` and ``SQL``; ``evidence`` a string when present; ``difficulty``
    one of simple/moderate/challenging when present; ``question_id`` an integer or string, unique; the db_id
    in the tables file. Anything else raises DataError naming the file, the record index and the field.
    """
    split_dir = bird_split_dir(bird_dir, split)
    if schemas is None:
        schemas = load_bird_schemas(split_dir, split)
    path = split_dir / f"{split}.json"
    where = str(path)
    examples: list[Example] = []
    seen: dict[str, int] = {}
    for index, record in enumerate(read_json_list(path, f"BIRD {split} records")):
        db_id = require_str(record, "db_id", path=where, index=index)
        question = require_str(record, "question", path=where, index=index)
        sql = require_str(record, "SQL", path=where, index=index)
        evidence = ""
        if record.get("evidence") is not None:
            evidence = require_str(record, "evidence", path=where, index=index, allow_empty=True)
        difficulty = record.get("difficulty")
        if difficulty is not None and difficulty not in DIFFICULTIES:
            raise DataError(f"{difficulty!r} is not one of {', '.join(DIFFICULTIES)}", path=where, index=index,
                            field="difficulty")
        qid = record.get("question_id", index)
        if isinstance(qid, bool) or not isinstance(qid, (int, str)) or not str(qid).strip():
            raise DataError(f"expected an integer or a string, got {qid!r}", path=where, index=index,
                            field="question_id")
        ex_id = str(qid)
        if ex_id in seen:
            raise DataError(f"question_id {ex_id} repeats record {seen[ex_id]}", path=where, index=index,
                            field="question_id")
        seen[ex_id] = index
        if db_id not in schemas:
            raise DataError(f"unknown db_id {db_id!r}: not in {split}_tables.json", path=where, index=index,
                            field="db_id")
        examples.append(Example(
            id=ex_id, question=question.strip(), sql=sql.strip(), db_id=db_id, evidence=evidence.strip(),
            difficulty=difficulty, dialect="sqlite", source=f"bird/{split}",
        ))
    return examples
