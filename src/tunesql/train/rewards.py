"""Reward functions for GRPO on text-to-SQL, after SQL-R1: format, execution, result and length.

Use with TRL::

    from trl import GRPOConfig, GRPOTrainer
    from tunesql.train.rewards import RewardSettings, reward_functions

    funcs, weights = reward_functions({"format": 1, "execution": 1, "result": 1, "length": 1},
                                      settings=RewardSettings(timeout=5.0))
    trainer = GRPOTrainer(model, reward_funcs=funcs, args=GRPOConfig(reward_weights=weights, ...),
                          train_dataset=dataset)  # columns: prompt, gold_sql, db_path, dialect (optional)

Each function follows TRL's convention: GRPOTrainer calls ``f(prompts=…, completions=…, **columns)``, one list
entry per completion, with every other dataset column passed by name; a completion is a string, or (for
conversational datasets) a list of message dicts whose last assistant ``content`` is the text. The columns read
are ``db_path`` (a SQLite/DuckDB file path or a SQLAlchemy URL), ``gold_sql`` (result and length rewards) and,
optionally, ``dialect`` (used to find the SQL in the answer). Anything else TRL passes is ignored.

The completion format is SQL-R1's: ``<think>reasoning</think>`` then ``<answer>SQL</answer>``, the SQL plain or
in a fenced block, found by ``tunesql.sql.extract.extract_sql``. The values follow SQL-R1 (Ma et al.,
arXiv:2504.08600): its reward code, ``verl/utils/reward_score/synsql.py`` in github.com/DataArcTech/SQL-R1, sets
``FORMAT_REWARD = 1``, ``EXEC_REWARD = 2``, ``RESULT_REWARD = 3`` and ``LIMIT_LENGTH = 2048`` and computes the
terms below; a published summary of the paper gives the same format ±1, execution ±2, result ±3 and a length
term:

- ``format_reward``: +1 when the completion is exactly one ``<think>…</think>`` followed by one
  ``<answer>…</answer>`` holding some SQL, nothing else around them but whitespace; -1 otherwise. (SQL-R1's
  check allows text around the tags but wants the SQL in a sql fence; here a plain answer counts too.)
- ``execution_reward``: +2 when the answer's SQL runs without error within the time limit, -2 when it does not
  (syntax error, refused by the guard, timeout, database error); 0 when the format is wrong (nothing is run).
- ``result_reward``: +3 when the SQL's result equals the gold SQL's, -3 when it differs; 0 when the format is
  wrong or the SQL failed (the execution reward already judged that), and 0 when the gold SQL itself fails.
- ``length_reward``: only for a correct result, ``0.5 * min(T, L) / L + len(sql) / len(answer)`` where ``T`` is
  the characters of reasoning plus answer and ``L`` = 2048 (SQL-R1's ``LIMIT_LENGTH``); from 0 to 1.5. It pays
  for a fuller reasoning up to the limit, and for an answer that is the query and nothing more. 0 otherwise.

Summed with the default weights (all 1.0) that is SQL-R1's total, -1 … +7.5. One difference: where the gold
SQL fails, SQL-R1's code gives the execution reward 0 too; here it still judges the completion's own SQL.

"Equal" is the evaluator's verdict on one database file (``tunesql eval``): the same Spider preprocessing of
both queries (``tunesql.eval.execution.prepare_gold`` / ``prepare_pred``: DISTINCT removal and the official
repairs), the same ordered test, and ``tunesql.eval.compare.results_match``; ``semantics="bird"`` runs both as
written and compares sets. So the reward is the score the run is measured by. (SQL-R1's code, too, judges with
the Spider evaluator's ``eval_exec_match`` and ``keep_distinct=False``.)

Safety and cost: model-written SQL goes through ``tunesql.db.execute.run_query``: the guard's allow-list first
(one read-only query; a write, DDL, PRAGMA or ATTACH is refused and never reaches the database), then a
read-only connection, a time limit enforced inside the engine, and a row cap. Database handles, gold results
per (database, gold SQL) and each candidate's run per (database, SQL) are cached in this process, so the
execution, result and length rewards of one completion share one run, and a gold query runs once while it stays
cached. The caches are bounded (least recently used entries go first); ``cache_stats()`` counts runs and hits,
``clear_cache()`` closes the handles.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tunesql.errors import ConfigError, ConnectError, DataError, QueryTimeout, SQLSyntaxError, UnsafeSQLError
from tunesql.sql.extract import SPECIAL_TOKENS, extract_sql
from tunesql.train.config import REWARD_NAMES

if TYPE_CHECKING:
    from tunesql.db.connect import Database
    from tunesql.eval.execution import ExecConfig

log = logging.getLogger(__name__)

# REWARD_NAMES (imported above from the config, which validates grpo.rewards against it): the names
# ``reward_functions`` accepts, in the order it returns them.
FORMAT_REWARD = 1.0
EXECUTION_REWARD = 2.0
RESULT_REWARD = 3.0
LENGTH_LIMIT = 2048
"""Characters of reasoning plus answer that earn the full length bonus (SQL-R1's ``LIMIT_LENGTH``)."""

RewardFunction = Callable[..., list[float]]


@dataclass(frozen=True)
class RewardSettings:
    """How completions are run and judged. Part of every cache key, so changing it never reuses a stale run."""

    timeout: float = 5.0
    """Seconds one generated query may run; a slower one gets the execution penalty."""
    gold_timeout: float = 60.0
    """Seconds a gold query may run (it is trusted; this only stops a broken gold file)."""
    max_rows: int = 10_000
    """Rows fetched per query. A candidate with more rows than a gold that fits is wrong; a gold with more is
    skipped (result reward 0, with a warning)."""
    semantics: str = "spider"
    """``spider``: the official Spider preprocessing and comparison; ``bird``: as written, set equality."""
    length_limit: int = LENGTH_LIMIT

    def __post_init__(self) -> None:
        if not (self.timeout > 0 and self.gold_timeout > 0):
            raise ConfigError(f"reward timeouts must be > 0 seconds, got {self.timeout} and {self.gold_timeout}")
        if self.max_rows < 1 or self.length_limit < 1:
            raise ConfigError(f"max_rows and length_limit must be >= 1, got {self.max_rows}, {self.length_limit}")
        if self.semantics not in ("spider", "bird"):
            raise ConfigError(f"unknown result semantics {self.semantics!r}; valid: spider, bird")

    def exec_config(self) -> ExecConfig:
        from tunesql.eval.execution import ExecConfig

        return ExecConfig(semantics=self.semantics, timeout=self.timeout, gold_timeout=self.gold_timeout,
                          max_rows=self.max_rows)


DEFAULT_SETTINGS = RewardSettings()


# --- reading completions ----------------------------------------------------------------------------------------

_STRUCTURE = re.compile(r"\A\s*<think>(.*?)</think>\s*<answer>(.*?)</answer>\s*\Z", re.DOTALL)
_TAGS = ("<think>", "</think>", "<answer>", "</answer>")


@dataclass(frozen=True)
class Parsed:
    """A completion read once: its parts, and whether it has SQL-R1's format."""

    well_formed: bool
    reasoning: str = ""
    answer: str = ""
    """The text inside ``<answer>``, stripped."""
    sql: str = ""
    """The query found in the answer (no trailing semicolon); "" when the format is wrong."""


def completion_text(completion: str | Sequence[Mapping[str, Any]]) -> str:
    """The text of one completion: the string itself, or the last assistant message's content."""
    if isinstance(completion, str):
        return completion
    for message in reversed(list(completion or [])):
        if message.get("role", "assistant") == "assistant":
            content = message.get("content")
            if isinstance(content, list):  # content parts: [{"type": "text", "text": …}, …]
                return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
            return content or ""
    return ""


def parse_completion(text: str, dialect: str | None = None) -> Parsed:
    """Check SQL-R1's format and pull out the reasoning, the answer and its SQL.

    >>> parse_completion("<think>count rows</think>\\n<answer>SELECT count(*) FROM t;</answer>").sql
    'SELECT count(*) FROM t'
    >>> parse_completion("SELECT count(*) FROM t").well_formed
    False
    """
    text = SPECIAL_TOKENS.sub("", text or "")
    match = _STRUCTURE.match(text)
    if match is None or any(text.count(tag) != 1 for tag in _TAGS):
        return Parsed(False)
    reasoning, answer = match.group(1).strip(), match.group(2).strip()
    sql = extract_sql(text, dialect) if answer else ""
    return Parsed(bool(sql), reasoning, answer, sql)


# --- running queries --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One query's run: its rows, or why it failed."""

    rows: list[tuple[Any, ...]] | None
    truncated: bool = False
    error: str | None = None
    kind: str | None = None
    """``syntax``, ``unsafe``, ``timeout`` or ``execution`` when the query failed."""

    @property
    def ok(self) -> bool:
        return self.error is None


class _LRU:
    """A dict that forgets its least recently used entries past ``max_items`` or ``max_rows`` cached rows."""

    def __init__(self, max_items: int, max_rows: int | None = None,
                 on_evict: Callable[[Any], None] | None = None) -> None:
        self.max_items, self.max_rows, self.on_evict = max_items, max_rows, on_evict
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._rows = 0

    def get(self, key: Hashable) -> Any:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: Hashable, value: Any) -> None:
        self._data[key] = value
        self._rows += _row_count(value)
        while len(self._data) > 1 and (len(self._data) > self.max_items
                                       or (self.max_rows is not None and self._rows > self.max_rows)):
            _, old = self._data.popitem(last=False)
            self._rows -= _row_count(old)
            if self.on_evict is not None:
                self.on_evict(old)

    def values(self) -> list[Any]:
        return list(self._data.values())

    def clear(self) -> None:
        self._data.clear()
        self._rows = 0

    def __len__(self) -> int:
        return len(self._data)


def _row_count(value: Any) -> int:
    rows = getattr(value, "rows", None)
    return len(rows) if rows is not None else 0


class RewardExecutor:
    """This process's database handles, gold results and candidate runs.

    The caches are sized for GRPO's pattern: TRL calls each reward function on the whole generation batch in
    turn, so a candidate's run only has to survive until the last reward function of its batch has read it.
    """

    def __init__(self, max_databases: int = 64, max_runs: int = 8192, max_cached_rows: int = 2_000_000) -> None:
        self._lock = threading.RLock()
        self._databases = _LRU(max_databases, on_evict=lambda db: db.close())
        self._gold = _LRU(65_536, max_cached_rows)
        self._runs = _LRU(max_runs, max_cached_rows)
        self.stats: Counter[str] = Counter()

    def database(self, db_path: str) -> Database:
        """A read-only handle on ``db_path``, opened once. Raises ConnectError."""
        from tunesql.db.connect import open_database

        with self._lock:
            db = self._databases.get(db_path)
            if db is None:
                db = open_database(db_path)
                self._databases.put(db_path, db)
                self.stats["databases_opened"] += 1
            return db

    def candidate(self, db_path: str, sql: str, settings: RewardSettings) -> Run:
        """The run of a generated query (as the evaluator prepares it), from the cache when it has run before."""
        from tunesql.eval.execution import prepare_pred

        sql = prepare_pred(sql, settings.exec_config())
        key = (db_path, sql, settings.timeout, settings.max_rows)
        with self._lock:
            hit = self._runs.get(key)
            if hit is not None:
                self.stats["candidate_hits"] += 1
                return hit
            run = self._run(db_path, sql, settings.timeout, settings.max_rows)
            self.stats["candidate_runs"] += 1
            self._runs.put(key, run)
            return run

    def gold(self, db_path: str, gold_sql: str, settings: RewardSettings) -> tuple[Run, bool]:
        """The gold query's run and whether row order matters; a failing gold is logged once."""
        from tunesql.eval.execution import prepare_gold

        sql, ordered = prepare_gold(gold_sql, settings.exec_config())
        key = (db_path, sql, settings.gold_timeout, settings.max_rows, settings.semantics)
        with self._lock:
            hit = self._gold.get(key)
            if hit is not None:
                self.stats["gold_hits"] += 1
                return hit, ordered
            run = self._run(db_path, sql, settings.gold_timeout, settings.max_rows)
            self.stats["gold_runs"] += 1
            if not run.ok or run.truncated:
                why = run.error or f"more than {settings.max_rows} rows (raise RewardSettings.max_rows)"
                log.warning("gold SQL fails on %s, result reward 0 for its completions: %s | %s",
                            db_path, why, gold_sql)
            self._gold.put(key, run)
            return run, ordered

    def _run(self, db_path: str, sql: str, timeout: float, max_rows: int) -> Run:
        from tunesql.db.execute import run_query

        db = self.database(db_path)
        try:
            result = run_query(db, sql, timeout=timeout, max_rows=max_rows)
        except QueryTimeout as e:
            return Run(None, error=str(e), kind="timeout")
        except SQLSyntaxError as e:
            return Run(None, error=str(e), kind="syntax")
        except UnsafeSQLError as e:
            return Run(None, error=str(e), kind="unsafe")
        except Exception as e:  # ExecutionError, or whatever else a driver raised: the query failed, training goes on
            return Run(None, error=f"{type(e).__name__}: {e}", kind="execution")
        return Run(result.rows, result.truncated)

    def close(self) -> None:
        with self._lock:
            for db in self._databases.values():
                db.close()
            self._databases.clear()
            self._gold.clear()
            self._runs.clear()
            self.stats.clear()


_EXECUTOR = RewardExecutor()


def cache_stats() -> dict[str, int]:
    """Counts since the last ``clear_cache()``: ``candidate_runs``, ``candidate_hits``, ``gold_runs``,
    ``gold_hits``, ``databases_opened``."""
    with _EXECUTOR._lock:
        return dict(_EXECUTOR.stats)


def clear_cache() -> None:
    """Close every cached database handle and forget every cached result."""
    _EXECUTOR.close()


# --- the rewards ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    parsed: Parsed
    db_path: str | None
    gold_sql: str | None


def _rows(completions: Sequence[Any], kwargs: Mapping[str, Any], *, db: bool, gold: bool) -> list[_Row]:
    """Each completion parsed, with its columns; a missing column or a misshapen batch is a ConfigError."""
    n = len(completions)
    columns: dict[str, Sequence[Any]] = {}
    for name, needed in (("db_path", db), ("gold_sql", gold), ("dialect", False)):
        values = kwargs.get(name)
        if values is None:
            if needed:
                have = ", ".join(sorted(k for k in kwargs if k != "prompts")) or "none"
                raise ConfigError(
                    f"the SQL rewards need a dataset column {name!r} (columns passed: {have}); add it to the "
                    "training dataset: db_path (database file or URL), gold_sql, and optionally dialect"
                )
            continue
        if isinstance(values, str) or len(values) != n:
            raise ConfigError(f"column {name!r} must have one value per completion ({n}), got {values!r:.80}")
        columns[name] = values
    rows = []
    for i, completion in enumerate(completions):
        dialect = columns["dialect"][i] if "dialect" in columns else None
        parsed = _parse_cached(completion_text(completion), dialect or None)
        db_path = columns["db_path"][i] if "db_path" in columns else None
        gold_sql = columns["gold_sql"][i] if "gold_sql" in columns else None
        if db and parsed.well_formed and not (isinstance(db_path, str) and db_path.strip()):
            raise DataError("no database: db_path must be a file path or a SQLAlchemy URL", index=i,
                            field="db_path")
        if gold and parsed.well_formed and not (isinstance(gold_sql, str) and gold_sql.strip()):
            raise DataError("no gold SQL to compare with", index=i, field="gold_sql")
        rows.append(_Row(parsed, db_path, gold_sql))
    return rows


_PARSED = _LRU(8192)
_PARSED_LOCK = threading.Lock()


def _parse_cached(text: str, dialect: str | None) -> Parsed:
    """``parse_completion``, once per (text, dialect): the four rewards read the same completions in turn."""
    key = (text, dialect)
    with _PARSED_LOCK:
        hit = _PARSED.get(key)
    if hit is None:
        hit = parse_completion(text, dialect)
        with _PARSED_LOCK:
            _PARSED.put(key, hit)
    return hit


def _candidate(row: _Row, index: int, settings: RewardSettings) -> Run:
    assert row.db_path is not None
    try:
        return _EXECUTOR.candidate(row.db_path, row.parsed.sql, settings)
    except ConnectError as e:
        raise DataError(f"cannot open the database {row.db_path!r}: {e}", index=index, field="db_path") from e


def _matches(row: _Row, index: int, settings: RewardSettings) -> bool | None:
    """True / False when the completion's SQL ran and its result was compared; None when it could not be."""
    from tunesql.eval.compare import results_match

    run = _candidate(row, index, settings)
    if not run.ok:
        return None
    assert row.db_path is not None and row.gold_sql is not None
    gold, ordered = _EXECUTOR.gold(row.db_path, row.gold_sql, settings)
    if not gold.ok or gold.truncated:
        return None
    if run.truncated:
        return False  # more rows than max_rows, against a gold that has fewer
    assert run.rows is not None and gold.rows is not None
    return results_match(run.rows, gold.rows, ordered, semantics=settings.semantics)


def format_reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """+1 for ``<think>…</think>`` then ``<answer>SQL</answer>`` and nothing else, -1 otherwise.

    >>> format_reward(["<think>Count the rows.</think>\\n<answer>SELECT count(*) FROM t</answer>",
    ...                "SELECT count(*) FROM t",
    ...                [{"role": "assistant", "content": "<think>x</think><answer></answer>"}]])
    [1.0, -1.0, -1.0]
    """
    rows = _rows(completions, kwargs, db=False, gold=False)
    return [FORMAT_REWARD if r.parsed.well_formed else -FORMAT_REWARD for r in rows]


def execution_reward(completions: Sequence[Any], *, reward_settings: RewardSettings | None = None,
                     **kwargs: Any) -> list[float]:
    """+2 when the answer's SQL runs read-only without error within the time limit, -2 when it does not, 0 when
    the format is wrong. Needs the ``db_path`` column."""
    settings = reward_settings or DEFAULT_SETTINGS
    out = []
    for i, row in enumerate(_rows(completions, kwargs, db=True, gold=False)):
        if not row.parsed.well_formed:
            out.append(0.0)
        else:
            out.append(EXECUTION_REWARD if _candidate(row, i, settings).ok else -EXECUTION_REWARD)
    return out


def result_reward(completions: Sequence[Any], *, reward_settings: RewardSettings | None = None,
                  **kwargs: Any) -> list[float]:
    """+3 when the SQL's result equals the gold SQL's, -3 when it differs, 0 when the format is wrong, the SQL
    failed, or the gold SQL failed. Needs ``db_path`` and ``gold_sql``."""
    settings = reward_settings or DEFAULT_SETTINGS
    out = []
    for i, row in enumerate(_rows(completions, kwargs, db=True, gold=True)):
        verdict = _matches(row, i, settings) if row.parsed.well_formed else None
        out.append(0.0 if verdict is None else RESULT_REWARD if verdict else -RESULT_REWARD)
    return out


def length_reward(completions: Sequence[Any], *, reward_settings: RewardSettings | None = None,
                  **kwargs: Any) -> list[float]:
    """For a correct result only: ``0.5 * min(T, L) / L + len(sql) / len(answer)`` (0 … 1.5), else 0.

    ``T`` is the characters of reasoning plus answer, ``L`` is ``RewardSettings.length_limit`` (2048); the SQL's
    whitespace runs count as one character, as in SQL-R1. Needs ``db_path`` and ``gold_sql``.
    """
    settings = reward_settings or DEFAULT_SETTINGS
    out = []
    for i, row in enumerate(_rows(completions, kwargs, db=True, gold=True)):
        parsed = row.parsed
        if not parsed.well_formed or _matches(row, i, settings) is not True:
            out.append(0.0)
            continue
        total = len(parsed.reasoning) + len(parsed.answer)
        sql_share = min(1.0, len(re.sub(r"\s+", " ", parsed.sql)) / len(parsed.answer))
        out.append(0.5 * min(total, settings.length_limit) / settings.length_limit + sql_share)
    return out


REWARDS: dict[str, RewardFunction] = {
    "format": format_reward,
    "execution": execution_reward,
    "result": result_reward,
    "length": length_reward,
}


def reward_functions(weights: Mapping[str, float] | None = None, *, settings: RewardSettings | None = None,
                     timeout: float | None = None) -> tuple[list[RewardFunction], list[float]]:
    """The reward functions named in ``weights`` and their weights, in the shapes TRL takes:
    ``GRPOTrainer(reward_funcs=funcs)`` and ``GRPOConfig(reward_weights=weights)``.

    ``None`` means all four with weight 1.0 (SQL-R1's sum). A name left out is not computed. ``settings`` (time
    limit, row cap, semantics, length limit) is bound into the returned functions, which keep their names, so
    TRL logs them as ``rewards/format_reward/mean`` and so on; ``timeout`` is a shortcut for
    ``settings.timeout``.

    >>> funcs, weights = reward_functions({"result": 2.0, "format": 0.5})
    >>> [f.__name__ for f in funcs], weights
    (['format_reward', 'result_reward'], [0.5, 2.0])
    """
    if timeout is not None:
        settings = dataclasses.replace(settings or DEFAULT_SETTINGS, timeout=timeout)
    if weights is None:
        weights = dict.fromkeys(REWARD_NAMES, 1.0)
    if not isinstance(weights, Mapping):
        raise ConfigError(f"reward weights must be a mapping of name to weight, got {weights!r}")
    unknown = sorted(str(k) for k in weights if k not in REWARDS)
    if unknown:
        raise ConfigError(f"unknown reward(s) {', '.join(unknown)}; valid: {', '.join(REWARD_NAMES)}")
    if not weights:
        raise ConfigError(f"no reward selected; name at least one of {', '.join(REWARD_NAMES)}")
    for name, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
            raise ConfigError(f"reward weight {name}={weight!r} must be a finite number")
    funcs: list[RewardFunction] = []
    out_weights: list[float] = []
    for name in REWARD_NAMES:
        if name in weights:
            funcs.append(REWARDS[name] if settings is None else _bind(REWARDS[name], settings))
            out_weights.append(float(weights[name]))
    return funcs, out_weights


def _bind(func: RewardFunction, settings: RewardSettings) -> RewardFunction:
    """``func`` with ``settings`` bound: a ``functools.partial`` (picklable, and TRL names a partial after the
    function it wraps), carrying the function's name and doc."""
    if func is format_reward:
        return func  # runs nothing, so settings do not apply
    return functools.update_wrapper(functools.partial(func, reward_settings=settings), func)
