"""One candidate training pair and its fate, shared by every synthesis path.

A run appends each candidate to ``candidates.jsonl`` with its status as it is decided, so a run can resume
(ids already there are skipped) and the summary can say how many were rejected, and why, without re-running.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tunesql.data.example import Example
from tunesql.errors import DataError

ACCEPTED = "accepted"
REJECTED = "rejected"
PENDING = "pending"


@dataclass
class Pair:
    id: str
    """Stable across re-runs (derived from the request that produced it), so a resumed run skips it."""
    question: str
    sql: str
    db_id: str
    dialect: str
    topic: str = ""
    difficulty: str | None = None
    """Measured Spider hardness of the SQL (easy/medium/hard/extra) once validated; None before."""
    requested: str | None = None
    """The difficulty level the generator was asked for."""
    source: str = "synth"
    """``synth`` (LLM-written), ``backtranslate`` (question written for given SQL), ``log``, ``distill``."""
    status: str = PENDING
    reason: str | None = None
    """Why it was rejected: one of a small fixed set of phrases per stage, so counts group."""
    detail: str = ""
    """The specific error (the database's message, the unknown column…), for a person reading the file."""
    meta: dict[str, Any] = field(default_factory=dict)

    def accept(self) -> Pair:
        self.status, self.reason, self.detail = ACCEPTED, None, ""
        return self

    def reject(self, reason: str, detail: str = "") -> Pair:
        self.status, self.reason, self.detail = REJECTED, reason, detail
        return self

    @property
    def accepted(self) -> bool:
        return self.status == ACCEPTED

    def to_example(self) -> Example:
        meta = {k: v for k, v in self.meta.items() if v is not None}
        meta.update(topic=self.topic, synth_source=self.source)
        if self.requested:
            meta["requested_difficulty"] = self.requested
        return Example(id=self.id, question=self.question, sql=self.sql, db_id=self.db_id,
                       difficulty=self.difficulty, dialect=self.dialect, source=f"synth/{self.source}", meta=meta)


def append_pairs(path: str | Path, pairs: Iterable[Pair]) -> int:
    """Append pairs to a JSONL log, flushed per line, so an interrupted run loses at most the line being written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("a", encoding="utf-8") as f:
        for pair in pairs:
            f.write(json.dumps(asdict(pair), ensure_ascii=False) + "\n")
            f.flush()
            n += 1
    return n


def read_pairs(path: str | Path) -> list[Pair]:
    """Every pair in a JSONL log; a later line with the same id replaces an earlier one (a re-decided pair).
    A torn last line (an interrupted write) is ignored; any other bad line raises DataError naming it."""
    path = Path(path)
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    by_id: dict[str, Pair] = {}
    known = set(Pair.__dataclass_fields__)
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as e:
            if lineno == len(lines):
                break
            raise DataError(f"line {lineno} is not valid JSON: {e.msg}", path=str(path)) from e
        if not isinstance(data, dict) or not {"id", "question", "sql", "db_id", "dialect"} <= data.keys():
            raise DataError(f"line {lineno}: not a candidate pair (needs id, question, sql, db_id, dialect)",
                            path=str(path))
        unknown = set(data) - known
        if unknown:
            raise DataError(f"line {lineno}: unknown fields {sorted(unknown)}", path=str(path))
        pair = Pair(**data)
        by_id[pair.id] = pair
    return list(by_id.values())


def rejection_counts(pairs: Iterable[Pair]) -> Counter[str]:
    return Counter(p.reason or "?" for p in pairs if p.status == REJECTED)
