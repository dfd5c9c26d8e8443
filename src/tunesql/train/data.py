"""Training records from the dataset layer, built with the inference prompt builder, and why any were dropped.

Every nl2sql prompt comes from ``tunesql.infer.pipeline.request_messages`` with ``family=None`` — value
retrieval, schema pruning to the same token budget, the same rendering — so a tuned model reads at inference
exactly what it was trained on. Pruning is told the gold query's columns (``prune_hints``), so a training prompt
keeps the tables its answer needs; an example whose gold tables do not fit the budget at all is dropped (and
counted) rather than teach the model to name tables it was not shown. Records are TRL's conversational
prompt-completion shape (``{"prompt": [system, user], "completion": [assistant]}``), which makes TRL compute the
loss on the completion only.

Tasks: ``nl2sql`` (question → SQL), ``sql2nl`` (SQL → the question, or the example's explanation), ``both``,
and ``reasoning`` (question → ``<think>…</think>\\n<answer>…</answer>``, reasoning from ``meta["reasoning"]``,
the teacher-distillation output; asked for with the ``reasoning`` prompt family, as GRPO does).

Nothing is dropped silently: each example that cannot become a record is counted under its reason (database
missing, SQL that does not parse, no reasoning text, longer than ``max_length`` tokens…), and when nothing is
left the error lists the reasons with example ids.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesql.errors import DataError

if TYPE_CHECKING:
    from tunesql.data.example import Example
    from tunesql.db.schema import Schema
    from tunesql.eval.runner import GoldSet
    from tunesql.train.config import DataSection

PRUNE_HINT_SCORE = 100.0
"""Relevance given to the gold query's columns when a training prompt is pruned: far above any BM25 score."""


@dataclass
class EvalItem:
    """One held-out example for execution accuracy during training: the prompt and where its gold runs."""

    id: str
    messages: list[dict[str, str]]
    gold_sql: str
    db_dir: Path
    db_id: str
    dialect: str = "sqlite"


@dataclass
class TrainingData:
    records: list[dict[str, Any]]
    eval_items: list[EvalItem] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)
    dropped_ids: dict[str, list[str]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    token_counts: list[int] = field(default_factory=list)
    """Tokens per kept record under the model's chat template (filled by ``drop_long``)."""

    def drop(self, example_id: str, reason: str) -> None:
        self.dropped[reason] += 1
        self.dropped_ids.setdefault(reason, []).append(example_id)

    def summary(self) -> str:
        kept = f"{len(self.records)} training records from {', '.join(self.sources)}"
        if self.token_counts:
            n = self.token_counts
            kept += f", {sum(n) / len(n):.0f} tokens on average (max {max(n)})"
        if not self.dropped:
            return kept
        parts = [f"{n} {reason} (e.g. {', '.join(self.dropped_ids[reason][:3])})"
                 for reason, n in self.dropped.most_common()]
        return f"{kept}; dropped {sum(self.dropped.values())}: " + "; ".join(parts)


def load_source(spec: str, spider_dir: str | None = None) -> GoldSet:
    """A dataset spec (``shop``, ``spider:train``, a file) as a gold set: examples + where their databases are."""
    from tunesql.eval.runner import load_gold

    return load_gold(spec, spider_dir=spider_dir)


def build_training_data(cfg: DataSection, *, family: str | None = None, progress: bool = True,
                        require_targets: bool = True) -> TrainingData:
    """Records for ``cfg.train`` and evaluation items for ``cfg.eval`` (or the held-out split); see the docstring.

    Every nl2sql/reasoning record also carries ``gold_sql``, ``db_path`` and ``dialect`` (what GRPO's rewards
    read). ``require_targets=False`` (GRPO) keeps reasoning-task examples that have no reasoning text: RL needs
    the prompt and the gold query, not a written answer.
    """
    from tunesql.data.split import split_examples
    from tunesql.infer.predict import dataset_databases

    data = TrainingData(records=[])
    eval_sets: list[tuple[GoldSet, list[Example]]] = []
    for spec in cfg.train:
        gold = load_source(spec, cfg.spider_dir)
        examples = list(gold.examples)
        if cfg.held_out > 0:
            examples, held = split_examples(examples, cfg.held_out)
            if cfg.eval is None:
                eval_sets.append((gold, held))
        if cfg.max_examples is not None:
            examples = examples[: cfg.max_examples]
        data.sources.append(f"{spec} ({len(examples)})")
        db_file, schemas = dataset_databases(gold, examples)
        _add_records(data, examples, db_file, schemas, cfg, family, progress, spec, require_targets)
    if cfg.eval is not None:
        gold = load_source(cfg.eval, cfg.spider_dir)
        eval_sets.append((gold, list(gold.examples)))
    for gold, examples in eval_sets:
        db_file, schemas = dataset_databases(gold, examples)
        data.eval_items.extend(_eval_items(examples, gold, db_file, schemas, cfg, family))
    if not data.records:
        raise DataError("no usable training example: " + (data.summary() if data.dropped else
                                                          f"the datasets {cfg.train} are empty"))
    return data


def prompt_for(example: Example, db: Any, schema: Schema, cfg: DataSection, *, family: str | None = None,
               hint_sql: str | None = None) -> list[dict[str, str]]:
    """The nl2sql prompt messages for ``example`` as inference builds them (gold columns hinted to pruning)."""
    return _prompt_and_schema(example, db, schema, cfg, family=family, hint_sql=hint_sql)[0]


def _prompt_and_schema(example: Example, db: Any, schema: Schema, cfg: DataSection, *, family: str | None = None,
                       hint_sql: str | None = None) -> tuple[list[dict[str, str]], Schema]:
    from tunesql.infer.pipeline import request_messages

    hints = _gold_hints(hint_sql, example.dialect, schema) if hint_sql else []
    messages, pruned, _ = request_messages(
        example.question, db, schema, evidence=example.evidence, schema_format=cfg.schema_format,
        budget_tokens=cfg.budget_tokens, family=family, values=cfg.values and db is not None, prune_hints=hints,
        samples=cfg.samples, comments=cfg.comments)
    return messages, pruned.schema


def reasoning_target(reasoning: str, sql: str) -> str:
    return f"<think>\n{reasoning.strip()}\n</think>\n<answer>\n{sql.strip()}\n</answer>"


def drop_long(data: TrainingData, tokenizer: Any, max_length: int) -> None:
    """Remove records longer than ``max_length`` tokens under the model's chat template (counted, not truncated:
    a truncated SQL target teaches the model to stop mid-query)."""
    kept, counts = [], []
    for rec in data.records:
        text = tokenizer.apply_chat_template(rec["prompt"] + rec["completion"], tokenize=False)
        n = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        if n > max_length:
            data.drop(rec["id"], f"longer than data.max_length={max_length} tokens")
        else:
            kept.append(rec)
            counts.append(n)
    data.records, data.token_counts = kept, counts
    if not kept:
        raise DataError("no usable training example: " + data.summary()
                        + "; raise data.max_length or lower data.budget_tokens")


# --- internals ------------------------------------------------------------------------------------------------


def _add_records(data: TrainingData, examples: Sequence[Example], db_file: Any, schemas: dict[str, Schema],
                 cfg: DataSection, family: str | None, progress: bool, spec: str, require_targets: bool) -> None:
    from tqdm import tqdm

    from tunesql.db.connect import database_handles
    from tunesql.errors import TunesqlError
    from tunesql.infer.prompting import build_explain_messages
    from tunesql.sql.transpile import parse_statement

    directions = ("nl2sql", "sql2nl") if cfg.task == "both" else (cfg.task,)
    reasoning_family = "reasoning" if cfg.task == "reasoning" else family
    with database_handles(db_file, enabled=cfg.values) as database:
        for ex in tqdm(examples, desc=f"prompts {spec}", unit="ex", disable=not progress):
            if not ex.sql.strip():
                data.drop(ex.id, "no SQL")
                continue
            schema = schemas.get(ex.db_id)
            if schema is None:
                data.drop(ex.id, "database missing")
                continue
            try:
                parse_statement(ex.sql, ex.dialect, queries_only=True)
            except TunesqlError:
                data.drop(ex.id, "SQL does not parse")
                continue
            path = db_file(ex.db_id)
            db = database(ex.db_id)
            gold = {"gold_sql": ex.sql, "db_path": str(path) if path else "", "dialect": ex.dialect}
            for direction in directions:
                if direction == "sql2nl":
                    target = (ex.explanation or ex.question).strip()
                    prompt = build_explain_messages(ex.sql, schema, schema_format=cfg.schema_format,
                                                    samples=cfg.samples, comments=cfg.comments)
                elif direction == "reasoning":
                    reasoning = str(ex.meta.get("reasoning") or "").strip()
                    if not reasoning and require_targets:
                        data.drop(ex.id, "no reasoning text (meta.reasoning)")
                        continue
                    target = reasoning_target(reasoning, ex.sql) if reasoning else ""
                    prompt, shown = _prompt_and_schema(ex, db, schema, cfg, family=reasoning_family, hint_sql=ex.sql)
                else:
                    target = ex.sql.strip()
                    prompt, shown = _prompt_and_schema(ex, db, schema, cfg, family=family, hint_sql=ex.sql)
                if direction != "sql2nl" and _hides_gold_table(ex, shown):
                    data.drop(ex.id, f"gold tables do not fit data.budget_tokens={cfg.budget_tokens}")
                    continue
                record = {"id": f"{ex.id}" if len(directions) == 1 else f"{ex.id}:{direction}",
                          "prompt": prompt, "completion": [{"role": "assistant", "content": target}]}
                if direction != "sql2nl":
                    record.update(gold)
                data.records.append(record)


def _eval_items(examples: Sequence[Example], gold: GoldSet, db_file: Any, schemas: dict[str, Schema],
                cfg: DataSection, family: str | None) -> list[EvalItem]:
    from tunesql.db.connect import database_handles

    items = []
    eval_family = "reasoning" if cfg.task == "reasoning" else family
    with database_handles(db_file, enabled=cfg.values) as database:
        for ex in examples:
            path = db_file(ex.db_id)
            schema = schemas.get(ex.db_id)
            if path is None or schema is None or not ex.sql.strip():
                continue
            messages = prompt_for(ex, database(ex.db_id), schema, cfg, family=eval_family)
            items.append(EvalItem(ex.id, messages, ex.sql, Path(gold.db_dir or path.parent), ex.db_id, ex.dialect))
    return items


def _hides_gold_table(example: Example, shown: Schema) -> bool:
    """Whether pruning had to drop a table the gold query reads (training on it would teach invented tables)."""
    from tunesql.errors import TunesqlError
    from tunesql.sql.schema_check import referenced_tables

    try:
        needed = referenced_tables(example.sql, example.dialect)
    except (TunesqlError, ValueError, AttributeError):
        return False
    present = {t.name.lower() for t in shown.tables}
    return any(name.lower() not in present for name in needed)


def _gold_hints(sql: str, dialect: str, schema: Schema) -> list[Any]:
    """The gold query's columns as pruning hints (a table-level hint where only the table is known)."""
    from tunesql.errors import TunesqlError
    from tunesql.infer.retrieval import ValueHit
    from tunesql.sql.schema_check import referenced_columns

    try:
        refs = referenced_columns(sql, dialect, schema)
    except (TunesqlError, ValueError, AttributeError):
        return []
    hints = []
    by_lower = {t.name.lower(): t for t in schema.tables}
    for ref in refs:
        table_name, _, column_name = ref.rpartition(".")
        table = by_lower.get(table_name.lower())
        if table is None:
            continue
        columns = [c.name for c in table.columns if c.name.lower() == column_name.lower()] or [
            c.name for c in table.columns[:1]]
        hints.extend(ValueHit(table.name, c, "", PRUNE_HINT_SCORE) for c in columns)
    return hints
