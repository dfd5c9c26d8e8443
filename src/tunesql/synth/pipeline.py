"""``tunesql synth``: plan topics → generate pairs → validate → dedupe → balance → export, resumable.

Files in ``output.dir``:

- ``plan.json``: the topics, their tables, weights and budgets, and whether the LLM or the fallback named them.
- ``candidates.jsonl``: every candidate with its status and, when rejected, the reason and the detail. A pair
  re-decided later (dedupe, balance) gets a new line; the last line for an id wins. A re-run reads it, asks the
  same requests again (the cache answers them for free) and skips every pair already decided.
- ``pairs.jsonl``: the accepted pairs as Example JSONL, which ``tunesql train sft`` reads directly
  (``data.train=[…/pairs.jsonl]``): the database is reachable beside it, as ``database/<db_id>/<db_id>.sqlite``
  (a link to a SQLite source) or through ``databases.json`` (the URL of a server database, password removed).
- ``pairs_<format>.json`` + ``dataset_info.json``: training files for other trainers (LLaMA-Factory).
- ``summary.json``: accepted and rejected counts by reason, difficulty and topic, LLM requests and cache hits.

Rounds: after the first round, each topic short of its budget is asked again (new seeds) for what it still
lacks, up to ``generate.max_rounds``; a small or weak model may still end short of ``n``, and the summary says so.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesql.errors import ConfigError, EndpointError
from tunesql.synth.config import SynthJob
from tunesql.synth.llm import LLMClient, LLMStats
from tunesql.synth.plan import Topic
from tunesql.synth.record import Pair, append_pairs, read_pairs, rejection_counts


@dataclass
class SynthResult:
    out_dir: Path
    pairs: list[Pair]
    """Every candidate, with its final status."""
    topics: list[Topic]
    llm: LLMStats
    seconds: float
    target: int
    exports: dict[str, Path] = field(default_factory=dict)

    @property
    def accepted(self) -> list[Pair]:
        return [p for p in self.pairs if p.accepted]

    def summary(self) -> dict[str, Any]:
        accepted = self.accepted
        rejected = rejection_counts(self.pairs)
        candidates = len(self.pairs)
        return {
            "target": self.target,
            "accepted": len(accepted),
            "candidates": candidates,
            "rejected": sum(rejected.values()),
            "rejected_by_reason": dict(rejected.most_common()),
            "rejection_rate": round(sum(rejected.values()) / candidates, 4) if candidates else 0.0,
            "accepted_by_difficulty": dict(Counter(p.difficulty or "unknown" for p in accepted).most_common()),
            "accepted_by_requested_level": dict(Counter(p.requested or "?" for p in accepted).most_common()),
            "accepted_by_topic": dict(Counter(p.topic for p in accepted).most_common()),
            "topics_named_by": dict(Counter(t.named_by for t in self.topics)),
            "llm": {"requests": self.llm.requests, "cache_hits": self.llm.cache_hits, "failures": self.llm.failures},
            "seconds": round(self.seconds, 1),
            "files": {k: str(v) for k, v in self.exports.items()},
        }


def run_synth(job: SynthJob, *, progress: bool = True, client: LLMClient | None = None) -> SynthResult:
    """Run (or resume) a synthesis job; see the module docstring for what it writes."""
    from tqdm import tqdm

    from tunesql.db.connect import open_database
    from tunesql.synth.dedupe import balance, dedupe
    from tunesql.synth.generate import failed_batch, generation_request, parse_pairs, plan_batches
    from tunesql.synth.validate import validate_pair

    start = time.perf_counter()
    gen, checks = job.generate, job.validate_
    out = Path(job.output.dir)
    out.mkdir(parents=True, exist_ok=True)
    client = client or make_client(job)
    log = out / "candidates.jsonl"
    with open_database(job.db.url) as db:
        schema = db.schema(samples=5)
        db_id = job.db.db_id or schema.name
        if not schema.tables:
            raise ConfigError(f"database {db_id!r} has no tables to write questions about")
        topics = make_plan(schema, client, gen.n, gen.max_tables_per_topic, seed=gen.seed)
        (out / "plan.json").write_text(json.dumps([t.to_dict() for t in topics], indent=2, ensure_ascii=False)
                                       + "\n", encoding="utf-8")
        decided = {p.id: p for p in read_pairs(log)}
        for round_ in range(gen.max_rounds):
            accepted_by_topic = Counter(p.topic for p in decided.values() if p.accepted)
            if sum(accepted_by_topic.values()) >= gen.n:
                break
            needs = [math.ceil(max(0, t.budget - accepted_by_topic[t.name]) * gen.oversample) for t in topics]
            batches = plan_batches(topics, needs, gen.levels, gen.batch_size, round_)
            if not batches:
                break
            requests = [generation_request(b, schema, schema_format=gen.schema_format, temperature=gen.temperature,
                                           max_tokens=gen.max_tokens, seed=gen.seed) for b in batches]
            with tqdm(total=len(requests), desc=f"round {round_ + 1}: asking {client.model}", unit="req",
                      disable=not progress) as bar:
                answers = client.complete_many(requests, progress=bar.update)
            fresh: list[Pair] = []
            for batch, answer in zip(batches, answers, strict=True):
                if isinstance(answer, EndpointError):
                    got = [failed_batch(batch, answer, db_id=db_id, dialect=schema.dialect, seed=gen.seed)]
                else:
                    got = parse_pairs(answer[0] if answer else "", batch, db_id=db_id, dialect=schema.dialect,
                                      seed=gen.seed)
                fresh.extend(p for p in got if p.id not in decided)
            for pair in tqdm(fresh, desc=f"round {round_ + 1}: validating", unit="pair", disable=not progress):
                if pair.status == "pending":
                    try:
                        validate_pair(pair, db, schema, timeout=checks.timeout, require_rows=checks.require_rows)
                    except Exception as e:  # one odd pair must not end a long run; it is counted and shown
                        pair.reject("validation failed", f"{type(e).__name__}: {e}"[:300])
                decided[pair.id] = pair
            append_pairs(log, fresh)
            append_pairs(log, dedupe(list(decided.values()), question_threshold=checks.question_threshold,
                                     max_per_template=checks.max_per_template))
        if checks.balance:
            append_pairs(log, balance(list(decided.values()), target=gen.n))
        surplus = [p for p in decided.values() if p.accepted][gen.n:]
        append_pairs(log, [p.reject("over target", f"generate.n={gen.n}") for p in surplus])
        pairs = list(decided.values())
        exports = export_pairs(pairs, schema, db, job, db_id)
    result = SynthResult(out, pairs, topics, client.stats, time.perf_counter() - start, gen.n, exports)
    (out / "summary.json").write_text(json.dumps(result.summary(), indent=2, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    return result


def make_client(job: SynthJob) -> LLMClient:
    if not job.llm.model:
        raise ConfigError("llm.model is required: the name the endpoint serves (--model)")
    return LLMClient(job.llm.base_url, job.llm.model, api_key=os.environ.get(job.llm.api_key_env),
                     timeout=job.llm.timeout, max_retries=job.llm.max_retries, concurrency=job.llm.concurrency,
                     cache_dir=job.cache_dir())


def make_plan(schema: Any, client: LLMClient, total: int, max_tables: int, *, seed: int = 0) -> list[Topic]:
    """Topics with budgets; a failed or unreadable planning answer falls back to table names (see plan.py)."""
    from tunesql.synth.plan import parse_plan, plan_request, share_budget, table_groups

    groups = table_groups(schema, max_tables)
    try:
        answer: str | None = client.complete(plan_request(groups, schema, seed=seed))[0]
    except EndpointError:
        answer = None
    topics = parse_plan(answer, groups)
    share_budget(topics, total)
    return topics


def export_pairs(pairs: Sequence[Pair], schema: Any, db: Any, job: SynthJob, db_id: str) -> dict[str, Path]:
    """pairs.jsonl (Example JSONL) with its database reachable, plus the training files in ``output.formats``."""
    from tunesql.data.example import write_examples
    from tunesql.data.formats import SUFFIXES, export, write_dataset_info

    out = Path(job.output.dir)
    examples = [p.to_example() for p in pairs if p.accepted]
    files = {"pairs": out / "pairs.jsonl", "candidates": out / "candidates.jsonl"}
    write_examples(files["pairs"], examples)
    link_database(out, db, db_id)
    registered = {}
    for fmt in job.output.formats:
        path = out / f"pairs_{fmt}{SUFFIXES[fmt]}"
        export(examples, path, fmt, schemas={db_id: schema}, schema_format=job.generate.schema_format)
        files[fmt] = path
        registered[f"{db_id}_synth_{fmt}"] = (path.name, fmt)
    if registered:
        files["dataset_info"] = write_dataset_info(out, registered)
    return files


def link_database(out: Path, db: Any, db_id: str) -> None:
    """Make ``out/pairs.jsonl`` find its database the way gold files do (see ``eval.runner.load_gold``)."""
    if db.backend == "sqlite" and db.path is not None:
        target = out / "database" / db_id / f"{db_id}.sqlite"
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            target.unlink()
        target.symlink_to(Path(db.path).resolve())
        return
    url = db.url.render_as_string(hide_password=True)
    (out / "databases.json").write_text(json.dumps({db_id: url}, indent=2) + "\n", encoding="utf-8")
