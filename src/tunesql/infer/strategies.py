"""Decoding strategies: greedy, self-consistency voting, and execution-guided repair.

- ``greedy``: one completion (at ``config.temperature``, 0 by default), its SQL extracted and run read-only;
  confidence 1.0 when it ran, 0.0 when it did not.
- ``vote`` (self-consistency): ``n`` sampled completions; each distinct SQL text runs once; candidates whose
  results are equal under the shared comparator (``tunesql.eval.compare.results_match``, Spider semantics) form
  one group; the biggest group wins and its share of the ``n`` candidates is the confidence.
- repair: when the chosen SQL failed for a reason the model can fix (no SQL found, a syntax error, an error
  from the database, a timeout), ONE more request shows the model its SQL and the database's error and asks for
  a corrected query. SQL the guard refused as unsafe is never retried: it is reported, not negotiated.

Decisions (each one deterministic):

- Ordered comparison: two results are compared with ``ordered=True`` only when BOTH candidates have an ORDER BY
  on their outermost query (found on the sqlglot tree). The official evaluator orders by the gold SQL; between
  two candidates there is no gold, and a query without ORDER BY returns rows in an unspecified order, so row
  order can only tell two candidates apart when both promise one.
- Floats: voting compares with ``float_tol=FLOAT_TOL`` (1e-9), as the comparator suggests for voting: two
  candidates that sum the same floats in another order should vote together.
- Grouping: each candidate that ran joins the first group (in order of appearance) whose first member's result
  matches its own, else starts a new group. Groups are thus compared through their first member, which keeps
  the grouping independent of how the comparator behaves on non-transitive corner cases.
- Tie-break: among the biggest groups, the one whose first member appeared earliest wins (with a greedy
  candidate placed first by the caller, that is the greedy answer's group).
- Winning SQL: the most frequent normalised SQL (``tunesql.sql.normalize``) in the winning group, ties to the
  earliest; the text returned is that candidate's own.
- When nothing ran: the most common failing SQL (ties: earliest) is repaired if repair is on and its failure is
  repairable, else returned with confidence 0 and its error. A repaired vote's confidence is 1 / (n + 1): the
  repaired query is the only one of the n + 1 candidates that ran. A repaired greedy answer's confidence is 1.0.

Batching: ``predict_many`` sends every conversation to the backend in one ``generate`` call (chunked by
``batch_size``), runs the candidates, then sends every needed repair in one more call, so a benchmark run costs
two backend calls per chunk, not two per question.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import sqlglot
import sqlglot.errors
from sqlglot import exp

from tunesql.db.execute import QueryResult, run_query
from tunesql.errors import QueryTimeout, SQLSyntaxError, TunesqlError, UnsafeSQLError
from tunesql.eval.compare import FLOAT_TOL, results_match
from tunesql.infer.backend import Backend, GenerationConfig, Message
from tunesql.infer.prompting import repair_message
from tunesql.sql.extract import extract_sql
from tunesql.sql.normalize import try_normalize
from tunesql.sql.transpile import parse_statement, resolve_dialect

if TYPE_CHECKING:
    from tunesql.db.connect import Database

Strategy = Literal["greedy", "vote"]
STRATEGIES = ("greedy", "vote")
ErrorKind = Literal["no_sql", "syntax", "unsafe", "timeout", "execution"]
REPAIRABLE: frozenset[str] = frozenset({"no_sql", "syntax", "timeout", "execution"})
MAX_SHOWN_RAW = 2000
"""When the model gave no SQL at all, the repair turn shows at most this much of what it said instead."""


@dataclass
class Candidate:
    sql: str
    """The extracted SQL ("" when the output had none)."""
    raw: str
    """The model's whole completion."""
    result: QueryResult | None
    error: str | None
    votes: int = 0
    """The size of the group this candidate's result belongs to; 0 when it did not run."""
    error_kind: ErrorKind | None = None

    @property
    def ran(self) -> bool:
        return self.result is not None


@dataclass
class Prediction:
    sql: str
    confidence: float
    candidates: list[Candidate]
    strategy: str
    repaired: bool
    result: QueryResult | None
    error: str | None
    error_kind: ErrorKind | None = None
    repair: Candidate | None = None
    """The repair attempt, when one was made (its SQL is ``sql`` when it ran)."""
    failed: Candidate | None = field(default=None, repr=False)
    """The failing candidate behind ``error`` (the one a repair starts from); None when the answer ran."""


# --- running candidates -----------------------------------------------------------------------------------------


def run_candidate(db: Database, raw: str, *, timeout: float | None = None, max_rows: int | None = None,
                  cache: dict[str, tuple[QueryResult | None, str | None, ErrorKind | None]] | None = None
                  ) -> Candidate:
    """Extract the SQL of one completion and run it read-only (``run_query``); never raises for bad SQL.

    ``cache`` maps SQL text to its outcome so identical SQL runs once.
    """
    sql = extract_sql(raw, db.dialect)
    if not sql:
        return Candidate(sql, raw, None, "no SQL query found in the model's answer", error_kind="no_sql")
    if cache is not None and sql in cache:
        result, error, kind = cache[sql]
        return Candidate(sql, raw, result, error, error_kind=kind)
    result: QueryResult | None = None
    error: str | None = None
    kind: ErrorKind | None = None
    try:
        result = run_query(db, sql, timeout=timeout, max_rows=max_rows)
    except UnsafeSQLError as e:
        error, kind = str(e), "syntax" if _is_no_statement(sql, db.dialect) else "unsafe"
    except SQLSyntaxError as e:
        error, kind = str(e), "syntax"
    except QueryTimeout as e:
        error, kind = str(e), "timeout"
    except TunesqlError as e:
        error, kind = str(e), "execution"
    if cache is not None:
        cache[sql] = (result, error, kind)
    return Candidate(sql, raw, result, error, error_kind=kind)


def _is_no_statement(sql: str, dialect: str) -> bool:
    """Whether text the guard refused is no SQL statement at all (``SELEC * FRM t`` parses as a bare alias
    expression, which the guard refuses as "not a query"): that is a syntax error the model may repair. A real
    statement the guard refused (a write, DDL, PRAGMA, an opaque command) stays "unsafe" and is never retried.
    Neither kind ever runs."""
    try:
        tree = sqlglot.parse_one(sql, read=resolve_dialect(dialect))
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError, RecursionError, ValueError, KeyError, IndexError,
            AttributeError, TypeError):  # sqlglot fails on some garbage with plain Python errors
        return True
    if isinstance(tree, exp.Query):
        return False
    return isinstance(tree, (exp.Alias, exp.Condition, exp.Identifier, exp.Paren, exp.Tuple))


def has_order_by(sql: str, dialect: str) -> bool:
    """Whether the outermost query has ORDER BY (a set operation's trailing ORDER BY counts)."""
    try:
        tree = parse_statement(sql, dialect)
    except TunesqlError:
        return False
    while isinstance(tree, exp.Subquery):
        tree = tree.this
    return isinstance(tree, exp.Query) and bool(tree.args.get("order"))


# --- choosing -----------------------------------------------------------------------------------------------


def decide_vote(candidates: list[Candidate], dialect: str, *, semantics: str = "spider",
                float_tol: float = FLOAT_TOL) -> Prediction:
    """Group the candidates by result and pick the biggest group (see the module docstring); sets ``votes``."""
    n = len(candidates)
    groups: list[list[int]] = []
    ordered = [c.ran and has_order_by(c.sql, dialect) for c in candidates]
    for i, cand in enumerate(candidates):
        cand.votes = 0
        if not cand.ran:
            continue
        assert cand.result is not None
        for group in groups:
            rep = candidates[group[0]]
            assert rep.result is not None
            if results_match(cand.result.rows, rep.result.rows, ordered[i] and ordered[group[0]], semantics,
                             float_tol=float_tol):
                group.append(i)
                break
        else:
            groups.append([i])
    for group in groups:
        for i in group:
            candidates[i].votes = len(group)
    if groups:
        winner = max(groups, key=len)  # max keeps the first of equal sizes: the earliest group
        counts = Counter(_norm(candidates[i].sql, dialect) for i in winner)
        best = max(counts.values())
        chosen = next(candidates[i] for i in winner if counts[_norm(candidates[i].sql, dialect)] == best)
        return Prediction(chosen.sql, len(winner) / n, candidates, "vote", False, chosen.result, None)
    failing = _most_common_failure(candidates, dialect)
    return Prediction(failing.sql, 0.0, candidates, "vote", False, None, failing.error, failing.error_kind,
                      failed=failing)


def decide_greedy(candidate: Candidate) -> Prediction:
    if candidate.ran:
        candidate.votes = 1
        return Prediction(candidate.sql, 1.0, [candidate], "greedy", False, candidate.result, None)
    return Prediction(candidate.sql, 0.0, [candidate], "greedy", False, None, candidate.error, candidate.error_kind,
                      failed=candidate)


def _norm(sql: str, dialect: str) -> str:
    return try_normalize(sql, dialect) or sql.strip()


def _most_common_failure(candidates: list[Candidate], dialect: str) -> Candidate:
    """The failing candidate whose (normalised) SQL occurs most often, ties to the earliest; repairable failures
    are preferred over refused ones, so one unsafe sample does not block the repair of the others."""
    pool = [c for c in candidates if c.error_kind in REPAIRABLE] or candidates
    counts = Counter(_norm(c.sql, dialect) for c in pool)
    best = max(counts.values())
    return next(c for c in pool if counts[_norm(c.sql, dialect)] == best)


# --- repair -------------------------------------------------------------------------------------------------------


def repair_conversation(messages: Sequence[Message], failed: Candidate, dialect: str) -> list[Message]:
    """The conversation plus the failed answer and a user turn that shows the error and asks for a fix."""
    shown = failed.sql or failed.raw.strip()[:MAX_SHOWN_RAW]
    return [*messages, {"role": "assistant", "content": shown},
            {"role": "user", "content": repair_message(failed.error or "unknown error", dialect)}]


def _apply_repair(pred: Prediction, repaired: Candidate) -> Prediction:
    pred.repair = repaired
    if not repaired.ran:
        # The repair is the model's latest word: report it with its own error, so a user sees why the fix failed.
        return dataclasses.replace(pred, sql=repaired.sql or pred.sql, repaired=False, error=repaired.error,
                                   error_kind=repaired.error_kind)
    repaired.votes = 1
    confidence = 1.0 if pred.strategy == "greedy" else 1.0 / (len(pred.candidates) + 1)
    return dataclasses.replace(pred, sql=repaired.sql, confidence=confidence, repaired=True,
                               result=repaired.result, error=None, error_kind=None)


# --- entry points -------------------------------------------------------------------------------------------------


def _strategy_config(strategy: str, config: GenerationConfig | None, n: int, temperature: float
                     ) -> GenerationConfig:
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    base = config or GenerationConfig()
    if strategy == "greedy":
        return dataclasses.replace(base, n=1)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return dataclasses.replace(base, n=n, temperature=temperature)


def _generate(backend: Backend, conversations: Sequence[Sequence[Message]], config: GenerationConfig,
              batch_size: int) -> list[list[str]]:
    out: list[list[str]] = []
    step = max(1, batch_size)
    for start in range(0, len(conversations), step):
        chunk = conversations[start:start + step]
        got = backend.generate(chunk, config)
        if len(got) != len(chunk):
            raise TunesqlError(f"backend {backend.name!r} returned {len(got)} answers for {len(chunk)} requests")
        out.extend(got)
    return out


def predict_many(
    backend: Backend,
    conversations: Sequence[Sequence[Message]],
    dbs: Database | Sequence[Database],
    strategy: str = "greedy",
    *,
    n: int = 8,
    temperature: float = 0.7,
    config: GenerationConfig | None = None,
    repair: bool = True,
    timeout: float | None = None,
    max_rows: int | None = None,
    semantics: str = "spider",
    batch_size: int = 64,
) -> list[Prediction]:
    """Predict SQL for many conversations (one database each, or one for all), batching backend calls."""
    db_list = list(dbs) if isinstance(dbs, Sequence) else [dbs] * len(conversations)
    if len(db_list) != len(conversations):
        raise ValueError(f"{len(conversations)} conversations but {len(db_list)} databases")
    cfg = _strategy_config(strategy, config, n, temperature)
    outputs = _generate(backend, conversations, cfg, batch_size)
    preds: list[Prediction] = []
    for db, outs in zip(db_list, outputs, strict=True):
        cache: dict[str, tuple[QueryResult | None, str | None, ErrorKind | None]] = {}
        cands = [run_candidate(db, raw, timeout=timeout, max_rows=max_rows, cache=cache) for raw in outs]
        if strategy == "greedy":
            preds.append(decide_greedy(cands[0]))
        else:
            preds.append(decide_vote(cands, db.dialect, semantics=semantics))
    if not repair:
        return preds
    todo = [i for i, p in enumerate(preds) if p.failed is not None and p.failed.error_kind in REPAIRABLE]
    if not todo:
        return preds
    repair_convs = []
    for i in todo:
        failed = preds[i].failed
        assert failed is not None
        repair_convs.append(repair_conversation(conversations[i], failed, db_list[i].dialect))
    repair_cfg = dataclasses.replace(cfg, n=1, temperature=0.0)
    repair_outs = _generate(backend, repair_convs, repair_cfg, batch_size)
    for i, outs in zip(todo, repair_outs, strict=True):
        fixed = run_candidate(db_list[i], outs[0] if outs else "", timeout=timeout, max_rows=max_rows)
        preds[i] = _apply_repair(preds[i], fixed)
    return preds


def predict_sql(backend: Backend, messages: Sequence[Message], db: Database, strategy: str = "greedy",
                **kw: object) -> Prediction:
    """One question: ``greedy`` or ``vote`` (keyword arguments as ``predict_many``)."""
    return predict_many(backend, [messages], [db], strategy, **kw)[0]  # type: ignore[arg-type]


def greedy(backend: Backend, messages: Sequence[Message], db: Database, *, config: GenerationConfig | None = None,
           repair: bool = True, timeout: float | None = None, max_rows: int | None = None) -> Prediction:
    """One completion, run read-only; one repair on a fixable failure."""
    return predict_many(backend, [messages], [db], "greedy", config=config, repair=repair, timeout=timeout,
                        max_rows=max_rows)[0]


def vote(backend: Backend, messages: Sequence[Message], db: Database, *, n: int = 8, temperature: float = 0.7,
         config: GenerationConfig | None = None, repair: bool = True, timeout: float | None = None,
         max_rows: int | None = None, semantics: str = "spider") -> Prediction:
    """Self-consistency over ``n`` samples (see the module docstring)."""
    return predict_many(backend, [messages], [db], "vote", n=n, temperature=temperature, config=config,
                        repair=repair, timeout=timeout, max_rows=max_rows, semantics=semantics)[0]
