"""Teacher distillation: reasoning training data from a stronger model that gets the gold questions right.

A reasoning-tuned student (``tunesql train sft`` with ``data.task: reasoning``) needs, per question, a piece of
reasoning that leads to a correct query. Hand-writing that is out of the question, so a teacher (any
OpenAI-compatible model) is asked each gold question ``n`` times with the very prompt the student will see
(``request_messages(..., family="reasoning")``: ``<think>…</think><answer>…</answer>``), and only answers whose
SQL returns the gold result are trusted. Why each step is as it is:

- **Execution, not text, decides.** A teacher's query rarely equals the gold text, and an equal-looking query can
  still be wrong; the gold result is what the student is scored on. Both run read-only through
  ``db.execute.run_query``; the gold once per example, the candidates with ``len(gold) + 1`` rows at most (one
  more row already decides a mismatch, so a runaway join costs nothing). The comparison is the project's one
  comparator (``eval.compare.results_match``, Spider semantics), ordered when the gold's outermost query has
  ORDER BY (``infer.strategies.has_order_by``; an ORDER BY inside a subquery fixes no output order).
- **The majority among correct answers is kept**, grouped by normalised SQL (``sql.normalize.try_normalize``,
  else the stripped text): the teacher's most usual correct formulation is the one worth imitating, and one
  sample per question keeps the data set's question mix as it was. Ties go to the earliest group, and the
  group's first member (its reasoning and SQL) is kept, so a re-run picks the same answer.
- **A correct answer without reasoning is no training target** (the trainer drops it as "no reasoning text"),
  so only correct answers with ``<think>`` text vote; when none has any the example is rejected for it.
- **Nothing is asked that cannot be checked**: an example whose database is missing or whose gold SQL fails is
  rejected before its request is sent, since a paid answer could not be judged.

Every request goes through ``LLMClient.complete_many`` (concurrent, cached on disk): a re-run with the same
cache costs no request and gives the same result. Each example ends as one ``Pair`` (id = the gold example's
id, ``source="distill"``), accepted or rejected with one of the ``REASON_*`` phrases, so counts group.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesql.errors import EndpointError, TunesqlError
from tunesql.synth.llm import ChatRequest, LLMClient
from tunesql.synth.record import Pair, rejection_counts

if TYPE_CHECKING:
    from tunesql.data.example import Example
    from tunesql.db.connect import Database
    from tunesql.db.execute import QueryResult
    from tunesql.db.schema import Schema

REASON_REQUEST = "LLM request failed"
REASON_NO_SQL = "no SQL in any answer"
REASON_NO_MATCH = "no answer matches the gold result"
REASON_NO_REASONING = "no reasoning in the correct answers"
REASON_GOLD = "gold SQL fails"
REASON_NO_DB = "database missing"

FAMILY = "reasoning"
"""The prompt family the teacher is asked with: the one a reasoning-trained student is asked with."""


@dataclass
class DistillConfig:
    n: int = 4
    """Answers per question: more finds a correct answer for harder questions and makes the vote meaningful."""
    temperature: float = 0.7
    max_tokens: int = 1024
    schema_format: str = "mschema"
    values: bool = True
    """Value hints in the prompt, as ``data.values`` gives the student at training time."""
    timeout: float = 10.0
    """Seconds one query (gold or candidate) may run."""
    seed: int = 0
    """Part of every request (and its cache key); another seed asks the teacher for other samples."""
    budget_tokens: int | None = None
    """Schema pruning budget for the prompt; None: inference's default (``DEFAULT_BUDGET_TOKENS``)."""
    max_rows: int = 100_000
    """The most rows a gold result may have: a bigger one cannot be compared whole, so the example is rejected."""


@dataclass
class DistillResult:
    pairs: list[Pair] = field(default_factory=list)
    """One per example, in the examples' order, accepted or rejected with a reason."""

    @property
    def accepted(self) -> list[Pair]:
        return [p for p in self.pairs if p.accepted]

    def examples(self) -> list[Example]:
        """The accepted pairs as dataset examples the trainer reads with ``data.task: reasoning``: the teacher's
        SQL as ``sql``, its reasoning in ``meta["reasoning"]``, the gold question, evidence and id."""
        out = []
        for pair in self.accepted:
            ex = pair.to_example()
            ex.evidence = str(ex.meta.pop("evidence", "") or "")
            out.append(ex)
        return out

    def summary(self) -> str:
        kept = f"{len(self.accepted)} of {len(self.pairs)} kept"
        counts = rejection_counts(self.pairs)
        if not counts:
            return kept
        return f"{kept}; rejected: " + ", ".join(f"{n} {reason}" for reason, n in counts.most_common())


def open_databases(
        db_file: Callable[[str], str | Path | None]) -> AbstractContextManager[Callable[[str], Database | None]]:
    """``open_db(db_id)`` for ``distill``: ``db.connect.database_handles`` where a database that cannot be opened
    counts as missing (its examples are skipped and counted), not as a failed run."""
    from tunesql.db.connect import database_handles

    return database_handles(db_file, unreachable_ok=True)


def distill_requests(examples: Sequence[Example], open_db: Callable[[str], Database | None],
                     schemas: Mapping[str, Schema], cfg: DistillConfig | None = None) -> list[ChatRequest | None]:
    """The teacher request for each example (None where its database is missing).

    The prompt is ``request_messages`` with the reasoning family, the student's own prompt; a database with no
    entry in ``schemas`` is introspected (3 sample values, as ``dataset_databases`` does).
    """
    from tunesql.infer.pipeline import DEFAULT_BUDGET_TOKENS, request_messages

    cfg = cfg or DistillConfig()
    known: dict[str, Schema] = dict(schemas)
    requests: list[ChatRequest | None] = []
    for ex in examples:
        db = open_db(ex.db_id)
        if db is None:
            requests.append(None)
            continue
        if ex.db_id not in known:
            known[ex.db_id] = db.schema(samples=3, row_counts=False)
        messages, _, _ = request_messages(
            ex.question, db, known[ex.db_id], evidence=ex.evidence, schema_format=cfg.schema_format,
            budget_tokens=cfg.budget_tokens or DEFAULT_BUDGET_TOKENS, family=FAMILY, values=cfg.values)
        requests.append(ChatRequest(messages=messages, temperature=cfg.temperature, n=cfg.n,
                                    max_tokens=cfg.max_tokens, seed=cfg.seed))
    return requests


def distill(examples: Sequence[Example], open_db: Callable[[str], Database | None], schemas: Mapping[str, Schema],
            client: LLMClient, cfg: DistillConfig | None = None, *,
            progress: Callable[[int], None] | None = None) -> DistillResult:
    """Ask the teacher, judge its answers by execution and keep one per example (see the module docstring).

    ``progress`` is called with 1 per example decided without a request and per request answered, so a bar
    over ``len(examples)`` ends full.
    """
    cfg = cfg or DistillConfig()
    requests = distill_requests(examples, open_db, schemas, cfg)
    pairs: list[Pair | None] = [None] * len(examples)
    golds: dict[int, QueryResult] = {}
    asked: list[tuple[int, ChatRequest]] = []
    for i, (ex, request) in enumerate(zip(examples, requests, strict=True)):
        if request is None:
            pairs[i] = _pair(ex).reject(REASON_NO_DB, f"no database file for {ex.db_id!r}")
        else:
            db = open_db(ex.db_id)
            assert db is not None
            gold, problem = _run_gold(db, ex.sql, cfg)
            if gold is None:
                pairs[i] = _pair(ex).reject(REASON_GOLD, problem)
            else:
                golds[i] = gold
                asked.append((i, request))
        if pairs[i] is not None and progress:
            progress(1)
    answers = client.complete_many([request for _, request in asked], progress=progress)
    for (i, _), got in zip(asked, answers, strict=True):
        ex = examples[i]
        if isinstance(got, EndpointError):
            pairs[i] = _pair(ex).reject(REASON_REQUEST, str(got))
            continue
        db = open_db(ex.db_id)
        assert db is not None
        pairs[i] = _judge(ex, db, golds[i], got, client.model, cfg)
    return DistillResult([p for p in pairs if p is not None])


# --- internals ------------------------------------------------------------------------------------------------


@dataclass
class _Answer:
    sql: str
    reasoning: str
    verdict: str
    """``no_sql``, ``failed`` (did not run), ``wrong`` (ran, another result) or ``correct``."""
    error: str = ""


def _pair(ex: Example) -> Pair:
    meta: dict[str, Any] = {"gold_sql": ex.sql}
    if ex.evidence:
        meta["evidence"] = ex.evidence  # Pair has no evidence field; DistillResult.examples() moves it back
    return Pair(id=ex.id, question=ex.question, sql="", db_id=ex.db_id, dialect=ex.dialect,
                difficulty=ex.difficulty, source="distill", meta=meta)


def _run_gold(db: Database, sql: str, cfg: DistillConfig) -> tuple[QueryResult | None, str]:
    from tunesql.db.execute import run_query

    try:
        result = run_query(db, sql, timeout=cfg.timeout, max_rows=cfg.max_rows)
    except TunesqlError as e:
        return None, str(e)
    if result.truncated:
        return None, f"it returns more than max_rows={cfg.max_rows} rows, too many to compare; raise max_rows"
    return result, ""


def _check(db: Database, sql: str, gold: QueryResult, ordered: bool, cfg: DistillConfig) -> tuple[str, str]:
    """The verdict on one candidate query and its error message, if it did not run."""
    from tunesql.db.execute import run_query
    from tunesql.eval.compare import results_match

    try:
        result = run_query(db, sql, timeout=cfg.timeout, max_rows=len(gold.rows) + 1)
    except TunesqlError as e:
        return "failed", str(e)
    if result.truncated:  # more rows than the gold: a different result whatever they hold
        return "wrong", ""
    match = results_match(pred_rows=result.rows, gold_rows=gold.rows, ordered=ordered)
    return ("correct" if match else "wrong"), ""


def _judge(ex: Example, db: Database, gold: QueryResult, texts: list[str], teacher: str,
           cfg: DistillConfig) -> Pair:
    from tunesql.infer.strategies import has_order_by
    from tunesql.sql.extract import extract_reasoning, extract_sql
    from tunesql.sql.normalize import try_normalize

    ordered = has_order_by(ex.sql, ex.dialect)
    verdicts: dict[str, tuple[str, str]] = {}  # the same SQL runs once per example
    found: list[_Answer] = []
    for text in texts:
        sql = extract_sql(text, db.dialect)
        if not sql:
            found.append(_Answer("", "", "no_sql"))
            continue
        if sql not in verdicts:
            verdicts[sql] = _check(db, sql, gold, ordered, cfg)
        verdict, error = verdicts[sql]
        found.append(_Answer(sql, extract_reasoning(text), verdict, error))
    pair = _pair(ex)
    counts = Counter(a.verdict for a in found)
    pair.sql = next((a.sql for a in found if a.sql), "")
    if counts["no_sql"] == len(found):
        return pair.reject(REASON_NO_SQL, f"{len(found)} answers, none with a query")
    correct = [a for a in found if a.verdict == "correct"]
    if not correct:
        first_error = next((a.error for a in found if a.error), "")
        detail = (f"{len(found)} answers: {counts['wrong']} ran with another result, {counts['failed']} failed, "
                  f"{counts['no_sql']} had no SQL")
        return pair.reject(REASON_NO_MATCH, detail + (f" (first error: {first_error})" if first_error else ""))
    voters = [a for a in correct if a.reasoning.strip()]
    if not voters:
        pair.sql = correct[0].sql
        return pair.reject(REASON_NO_REASONING, f"{len(correct)} correct answers, none with <think> text")
    groups: dict[str, list[_Answer]] = {}
    for a in voters:
        groups.setdefault(try_normalize(a.sql, db.dialect) or a.sql.strip(), []).append(a)
    winner = max(groups.values(), key=len)  # max keeps the first of equal sizes: the earliest group
    chosen = winner[0]
    pair.sql = chosen.sql
    pair.meta.update(reasoning=chosen.reasoning.strip(), teacher=teacher, correct=len(correct), n=len(found),
                     votes=len(winner))
    return pair.accept()
