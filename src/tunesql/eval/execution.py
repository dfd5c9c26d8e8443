"""Execute gold and predicted SQL for execution accuracy, the way the official Spider evaluator does, only fast.

Semantics (Spider test-suite, ``exec_eval.py`` of taoyds/test-suite-sql-eval, reimplemented, not copied):

- Preprocessing, applied before anything runs. A prediction first gets ``" value "`` → ``" 1 "`` (what the
  official ``evaluation.py`` does to every prediction), then both queries get the ``"> ="`` / ``"< ="`` /
  ``"! ="`` repair, then DISTINCT removal (below), then ``YEAR(CURDATE())`` → ``2020`` (done by the official
  executor). ``--semantics bird`` runs both queries as written, like BIRD's evaluator.
- DISTINCT removal (unless ``keep_distinct``). The official takes sqlparse's first statement
  (``sqlparse.parse(sql)[0]``, so anything after the first top-level ``;`` is dropped: ``SELECT 1; )`` runs as
  ``SELECT 1;``), removes every token whose text is ``distinct``, case-insensitively, and joins the rest back:
  ``SELECT DISTINCT a`` becomes ``SELECT  a`` and ``count(DISTINCT a)`` becomes ``count( a)``; a quoted
  ``"distinct"`` or ``'distinct'`` is one token with its quotes and stays. We do the same on sqlglot's token
  stream, cutting the DISTINCT keyword tokens (and the text after the first statement) out of the original text
  by character offsets. It is deliberately not an AST rewrite: regenerating SQL from a tree changes text that
  SQLite then runs (quoting, function spellings), and the official never regenerates anything. The output is
  identical to the official's (up to trailing whitespace) on all 9,693 Spider train and dev gold queries and on
  the perturbed predictions of ``bench/eval_speed.py``, which checks it. Where sqlglot cannot tokenize the text
  (an unterminated string, say) it runs unmodified and fails as it does there.
- Ordered comparison: exactly the official test, ``'order by' in gold.lower()`` on the preprocessed gold text
  (a plain substring test: ``ORDER  BY`` with two spaces does not count, ``'order by'`` inside a string does).
- Every ``*.sqlite`` file in ``<db_dir>/<db_id>/`` is a test database (any name containing ``.sqlite``, as the
  official lists them); a prediction is correct only if it matches the gold result on every one of them. With
  Spider's ``database/`` that is the one file; with the test-suite databases it is the whole suite.
- Results are compared by ``tunesql.eval.compare.results_match`` (bags, any column order, ordered when the
  gold has ORDER BY; BIRD: set equality).

Speed and robustness:

- Every query goes through the foundation's safe executor (``tunesql.db.execute.run_query``) on a read-only
  handle that each worker process opens once per database file and reuses. The time limit is enforced inside
  SQLite (a progress handler), so a runaway query really stops. Where sqlglot cannot parse SQL that SQLite
  itself might accept, the statement guard refuses it before it runs; the official would still run it, so we
  then run it on the same read-only connection (mode=ro, ``query_only``, an authorizer that denies every
  action but reads, the same time limit), never on a writable one.
- A prediction fetches at most ``len(gold) + 1`` rows under Spider semantics: one row more than the gold
  already decides the verdict (different bag sizes), so a runaway cross join costs microseconds, not memory.
- Gold results are cached per (database file, SQL) in each worker, optionally on disk (``cache_dir``); a
  prediction whose preprocessed text equals a cached gold query on the same file reuses that result (same SQL,
  same read-only file: the same rows).
- Work is grouped by database and spread over a process pool; an exception while scoring one example is caught
  and recorded on that example, never raised.
"""

from __future__ import annotations

import hashlib
import math
import os
import pickle
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesql.errors import ConnectError, ExecutionError, QueryTimeout, SQLSyntaxError, TunesqlError, UnsafeSQLError

DEFAULT_TIMEOUT = 60.0
"""Seconds a predicted query may run: the official evaluator's own ``TIMEOUT = 60``.

Why not smaller: the slowest Spider dev gold query takes about 3 ms here (all 972 scorable ones run in 0.3 s),
so any limit above that is enough for gold; but a prediction can be slow and still right (``max(x)`` over a
cross join returns the gold value after tens of seconds on world_1), and the official evaluator, whose
``asyncio.wait_for`` cannot interrupt a blocking sqlite3 call, waits for it and scores it correct. A shorter
default would call it wrong. Speed does not suffer: a prediction costs ``min(its run time, timeout)``, never
more than the official pays for it, and a runaway join that returns rows is cut after ``len(gold) + 1`` rows
(see below) whatever the limit. Pass a smaller ``--timeout`` when a quick, slightly stricter run is wanted."""
GOLD_TIMEOUT = 60.0
"""Seconds a gold query may run (at least the prediction timeout). A gold query is trusted; this only guards
against a broken gold file."""
MAX_ROWS = 1_000_000
"""The most rows fetched for a gold query (and for a prediction under BIRD's set semantics)."""

SEMANTICS = ("spider", "bird")
_CUR_YEAR = re.compile(r"YEAR\s*\(\s*CURDATE\s*\(\s*\)\s*\)\s*", flags=re.IGNORECASE)


@dataclass(frozen=True)
class ExecConfig:
    """How predictions are executed and compared. The defaults are the official Spider evaluator's."""

    semantics: str = "spider"
    keep_distinct: bool = False
    timeout: float = DEFAULT_TIMEOUT
    gold_timeout: float = GOLD_TIMEOUT
    max_rows: int = MAX_ROWS
    float_tol: float | None = None
    """Passed to ``results_match`` when set; None keeps the comparator's own default."""

    def __post_init__(self) -> None:
        if self.semantics not in SEMANTICS:
            raise ValueError(f"semantics must be one of {', '.join(SEMANTICS)}, got {self.semantics!r}")
        if not self.timeout > 0 or not self.gold_timeout > 0:
            raise ValueError("timeouts must be > 0 seconds")


# --- the official preprocessing -------------------------------------------------------------------------------


def postprocess(sql: str) -> str:
    """The official repair of model spacing: ``> =`` → ``>=``, ``< =`` → ``<=``, ``! =`` → ``!=``."""
    return sql.replace("> =", ">=").replace("< =", "<=").replace("! =", "!=")


def replace_cur_year(sql: str) -> str:
    """``YEAR(CURDATE())`` → ``2020``, as the official executor does before running a query."""
    return _CUR_YEAR.sub("2020", sql)


def remove_distinct(sql: str, dialect: str = "sqlite") -> str:
    """The official DISTINCT removal, reproduced on sqlglot's tokens (see the module notes).

    Like the official (which keeps only ``sqlparse.parse(sql)[0]``), only the first statement survives: the
    text ends after the first ``;`` that is not inside parentheses (sqlparse's split level: ``(`` +1, ``)`` -1,
    ``END`` -1), plus the spaces after it. Then every DISTINCT keyword token is cut out by its character
    offsets; every other character stays as written.
    """
    import sqlglot
    from sqlglot.errors import TokenError
    from sqlglot.tokens import TokenType

    if "distinct" not in sql.lower() and (";" not in sql or (sql.count(";") == 1 and sql.rstrip().endswith(";"))):
        return sql  # nothing to remove, and nothing after a final ";" (the official only drops trailing spaces)
    try:
        tokens = sqlglot.tokenize(sql, read=dialect)
    except (TokenError, ValueError):
        return sql
    end = len(sql)
    level = 0
    for t in tokens:
        if t.token_type == TokenType.L_PAREN:
            level += 1
        elif t.token_type in (TokenType.R_PAREN, TokenType.END):
            level -= 1
        elif t.token_type == TokenType.SEMICOLON and level <= 0:
            end = t.end + 1
            while end < len(sql) and sql[end] in " \t":
                end += 1
            break
    spans = [(t.start, t.end + 1) for t in tokens
             if t.token_type == TokenType.DISTINCT and t.end < end and sql[t.start:t.end + 1].lower() == "distinct"]
    parts, last = [], 0
    for start, stop in spans:
        parts.append(sql[last:start])
        last = stop
    parts.append(sql[last:end])
    return "".join(parts)


def order_matters(gold_sql: str) -> bool:
    """The official test for an ordered comparison: the (preprocessed) gold text contains ``order by``."""
    return "order by" in gold_sql.lower()


def prepare_gold(sql: str, config: ExecConfig) -> tuple[str, bool]:
    """The gold SQL as it will run, and whether row order matters."""
    if config.semantics == "bird":
        return sql, False
    sql = postprocess(sql)
    if not config.keep_distinct:
        sql = remove_distinct(sql)
    return replace_cur_year(sql), order_matters(sql)


def prepare_pred(sql: str, config: ExecConfig) -> str:
    """The predicted SQL as it will run."""
    if config.semantics == "bird":
        return sql
    sql = postprocess(sql.replace(" value ", " 1 "))
    if not config.keep_distinct:
        sql = remove_distinct(sql)
    return replace_cur_year(sql)


# --- running queries ------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One query's run on one database file."""

    rows: list[tuple[Any, ...]] | None
    truncated: bool = False
    error: str | None = None
    kind: str | None = None
    """``timeout``, ``syntax``, ``unsafe``, ``execution`` or ``database`` when the query failed."""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def database_files(db_dir: str | Path, db_id: str) -> list[Path]:
    """The test databases of ``db_id``: every file in ``<db_dir>/<db_id>/`` whose name contains ``.sqlite``
    (the official's rule), sorted, else ``<db_dir>/<db_id>.sqlite``; empty when nothing is there."""
    folder = Path(db_dir) / db_id
    try:
        names = os.listdir(folder)
    except OSError:
        # A flat layout (``<db_dir>/<db_id>.sqlite``, as the bundled shop database ships) is accepted too.
        flat = Path(db_dir) / f"{db_id}.sqlite"
        return [flat] if flat.is_file() else []
    return [folder / n for n in sorted(names) if ".sqlite" in n and (folder / n).is_file()]


class Executor:
    """Runs queries for one process: one read-only handle per database file, a gold-result cache."""

    def __init__(self, config: ExecConfig, disk_cache: dict[tuple, Outcome] | None = None) -> None:
        self.config = config
        self._handles: dict[str, Any] = {}
        self._gold: dict[tuple[str, str], Outcome] = {}
        self._disk = disk_cache or {}
        self.new_entries: dict[tuple, Outcome] = {}
        self._files: dict[tuple[str, str], list[Path]] = {}
        self._fingerprints: dict[str, tuple] = {}

    def files(self, db_dir: str | Path, db_id: str) -> list[Path]:
        key = (str(db_dir), db_id)
        if key not in self._files:
            self._files[key] = database_files(db_dir, db_id)
        return self._files[key]

    def handle(self, path: Path):
        key = str(path)
        db = self._handles.get(key)
        if db is None:
            from tunesql.db.connect import open_database

            db = self._handles[key] = open_database(path)
        return db

    def close(self) -> None:
        for db in self._handles.values():
            db.close()
        self._handles.clear()

    def run(self, path: Path, sql: str, *, timeout: float, max_rows: int) -> Outcome:
        """Run one query read-only; every failure becomes an Outcome with an error, never an exception."""
        from tunesql.db.execute import _RUNNERS, run_query

        start = time.perf_counter()
        try:
            db = self.handle(path)
        except ConnectError as e:
            return Outcome(None, error=f"database: {e}", kind="database", seconds=time.perf_counter() - start)
        try:
            try:
                result = run_query(db, sql, timeout=timeout, max_rows=max_rows)
                return Outcome(result.rows, result.truncated, seconds=time.perf_counter() - start)
            except SQLSyntaxError as parse_error:
                # sqlglot could not parse it; SQLite decides, on the read-only connection (see module notes).
                if db.backend not in ("sqlite", "duckdb") or not sql.strip():
                    raise
                try:
                    _, rows, truncated = _RUNNERS[db.backend](db, sql, float(timeout), int(max_rows))
                except ExecutionError as e:
                    raise SQLSyntaxError(f"{parse_error}; {e}") from e
                return Outcome(list(rows), truncated, seconds=time.perf_counter() - start)
        except QueryTimeout as e:
            error, kind = f"timeout: {e}", "timeout"
        except SQLSyntaxError as e:
            error, kind = f"syntax error: {e}", "syntax"
        except UnsafeSQLError as e:
            error, kind = f"refused: {e}", "unsafe"
        except TunesqlError as e:
            error, kind = f"execution error: {e}", "execution"
        except Exception as e:  # anything else the driver raised: record it, keep going
            error, kind = f"execution error: {type(e).__name__}: {e}", "execution"
        return Outcome(None, error=error, kind=kind, seconds=time.perf_counter() - start)

    def _fingerprint(self, path: Path) -> tuple:
        key = str(path)
        if key not in self._fingerprints:
            st = path.stat()
            self._fingerprints[key] = (key, st.st_size, st.st_mtime_ns)
        return self._fingerprints[key]

    def gold(self, path: Path, sql: str) -> Outcome:
        """The gold result of ``sql`` on ``path``, from the cache when it has run before."""
        key = (str(path), sql)
        hit = self._gold.get(key)
        if hit is not None:
            return hit
        disk_key = (*self._fingerprint(path), sql)
        hit = self._disk.get(disk_key)
        if hit is None:
            timeout = max(self.config.gold_timeout, self.config.timeout)
            hit = self.run(path, sql, timeout=timeout, max_rows=self.config.max_rows)
            if hit.ok and not hit.truncated:
                self.new_entries[disk_key] = hit
        self._gold[key] = hit
        return hit

    def pred(self, path: Path, sql: str, gold: Outcome) -> Outcome:
        """A prediction's result; under Spider semantics at most ``len(gold) + 1`` rows are fetched."""
        hit = self._gold.get((str(path), sql))
        if hit is not None and hit.ok:
            return Outcome(hit.rows, hit.truncated, seconds=0.0)
        cap = self.config.max_rows
        if self.config.semantics == "spider" and gold.rows is not None:
            cap = len(gold.rows)
        return self.run(path, sql, timeout=self.config.timeout, max_rows=cap)


@dataclass
class Verdict:
    """Execution match of one prediction against its gold query."""

    correct: bool
    executed: bool
    """The prediction ran without error on every database file it was tried on."""
    error: str | None = None
    status: str = "wrong"
    """``correct``, ``wrong`` (ran, different result), ``error``, ``timeout``, ``no prediction``,
    ``database missing`` or ``gold error``."""
    seconds: float = 0.0


@dataclass
class GoldRun:
    """The gold query prepared and run on every test database of its example."""

    sql: str
    ordered: bool
    files: list[Path]
    outcomes: list[Outcome] = field(default_factory=list)
    error: str | None = None
    status: str | None = None


def run_gold(executor: Executor, db_dir: str | Path, db_id: str, gold_sql: str) -> GoldRun:
    sql, ordered = prepare_gold(gold_sql, executor.config)
    files = executor.files(db_dir, db_id)
    run = GoldRun(sql, ordered, files)
    if not files:
        run.error = f"database missing: no *.sqlite file in {Path(db_dir) / db_id}"
        run.status = "database missing"
        return run
    for path in files:
        outcome = executor.gold(path, sql)
        if not outcome.ok or outcome.truncated:
            why = outcome.error or f"more than {executor.config.max_rows} rows"
            run.error = f"gold query failed on {path.name}: {why}"
            run.status = "gold error"
            return run
        run.outcomes.append(outcome)
    return run


def execution_match(executor: Executor, gold: GoldRun, pred_sql: str | None) -> Verdict:
    """Whether ``pred_sql`` returns the gold result on every test database (the official's rule)."""
    from tunesql.eval.compare import results_match

    start = time.perf_counter()
    if gold.status is not None:
        return Verdict(False, False, gold.error, gold.status)
    if pred_sql is None:
        return Verdict(False, False, "no prediction", "no prediction")
    config = executor.config
    sql = prepare_pred(pred_sql, config)
    extra = {} if config.float_tol is None else {"float_tol": config.float_tol}
    for path, gold_outcome in zip(gold.files, gold.outcomes, strict=True):
        outcome = executor.pred(path, sql, gold_outcome)
        if not outcome.ok:
            status = "timeout" if outcome.kind == "timeout" else "error"
            return Verdict(False, False, outcome.error, status, time.perf_counter() - start)
        if outcome.truncated:
            # More rows than the gold (Spider) or than max_rows (BIRD): a different result.
            return Verdict(False, True, None, "wrong", time.perf_counter() - start)
        if outcome.rows is gold_outcome.rows:
            continue  # the cached gold result itself (same SQL, same file): equal to itself under any semantics
        if not results_match(outcome.rows, gold_outcome.rows, gold.ordered, semantics=config.semantics,
                             **extra):
            return Verdict(False, True, None, "wrong", time.perf_counter() - start)
    return Verdict(True, True, None, "correct", time.perf_counter() - start)


# --- the disk cache -------------------------------------------------------------------------------------------


def _cache_file(cache_dir: str | Path, config: ExecConfig) -> Path:
    tag = hashlib.sha256(repr((config.max_rows, config.gold_timeout)).encode()).hexdigest()[:12]
    return Path(cache_dir) / f"gold-results-{tag}.pkl"


def load_disk_cache(cache_dir: str | Path | None, config: ExecConfig) -> dict[tuple, Outcome]:
    """Gold results saved by earlier runs; keys carry each file's size and mtime, so a changed file misses."""
    if cache_dir is None:
        return {}
    path = _cache_file(cache_dir, config)
    try:
        with path.open("rb") as f:
            data = pickle.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError):
        return {}


def save_disk_cache(cache_dir: str | Path | None, config: ExecConfig, cache: dict[tuple, Outcome]) -> None:
    if cache_dir is None or not cache:
        return
    path = _cache_file(cache_dir, config)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as f:
        pickle.dump(cache, f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)


# --- the process pool -----------------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(state: dict[str, Any]) -> None:
    _WORKER.clear()
    _WORKER.update(state)
    _WORKER["executor"] = Executor(state["config"], state.get("disk_cache"))


def worker_state() -> dict[str, Any]:
    """What ``map_by_database`` handed this process: ``executor`` plus the caller's shared state."""
    return _WORKER


def _run_chunk(fn: Callable[[Any], Any], items: list[Any]) -> tuple[list[Any], dict[tuple, Outcome]]:
    executor: Executor = _WORKER["executor"]
    results = [fn(item) for item in items]
    new, executor.new_entries = executor.new_entries, {}
    return results, new


def chunk_by_database(keys: Sequence[str], workers: int, per_worker: int = 4) -> list[list[int]]:
    """Indices grouped by database key (each database's examples stay together so a worker opens it once),
    cut into about ``workers * per_worker`` chunks so the pool stays busy to the end; largest first."""
    groups: OrderedDict[str, list[int]] = OrderedDict()
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    target = max(1, math.ceil(len(keys) / max(1, workers * per_worker)))
    chunks = [idx[s:s + target] for idx in groups.values() for s in range(0, len(idx), target)]
    chunks.sort(key=len, reverse=True)
    return chunks


def map_by_database(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    keys: Sequence[str],
    *,
    config: ExecConfig,
    workers: int | None = None,
    shared: dict[str, Any] | None = None,
    cache_dir: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Any]:
    """``[fn(item) for item in items]``, spread over a process pool, chunked by database ``keys``.

    ``fn`` must be a module-level function; inside it ``worker_state()`` gives the process's Executor and the
    ``shared`` values. ``fn`` should catch its own errors: if a chunk still dies (a crashed worker), each of
    its items becomes ``{"crash": message}`` and the run goes on. ``progress(n)`` is called as chunks finish.
    """
    if workers is None or workers <= 0:
        workers = os.cpu_count() or 1
    disk = load_disk_cache(cache_dir, config)
    state = {**(shared or {}), "config": config, "disk_cache": disk}
    chunks = chunk_by_database(keys, workers)
    results: list[Any] = [None] * len(items)
    new_cache: dict[tuple, Outcome] = {}

    def store(chunk: list[int], out: list[Any], new: dict) -> None:
        for i, r in zip(chunk, out, strict=True):
            results[i] = r
        new_cache.update(new)
        if progress is not None:
            progress(len(chunk))

    if workers == 1 or len(chunks) <= 1:
        saved = dict(_WORKER)
        _init_worker(state)
        try:
            for chunk in chunks:
                store(chunk, *_run_chunk(fn, [items[i] for i in chunk]))
        finally:
            _WORKER["executor"].close()
            _WORKER.clear()
            _WORKER.update(saved)
    else:
        import multiprocessing as mp

        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        with ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=ctx,
                                 initializer=_init_worker, initargs=(state,)) as pool:
            pending = {pool.submit(_run_chunk, fn, [items[i] for i in chunk]): chunk for chunk in chunks}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    chunk = pending.pop(fut)
                    try:
                        store(chunk, *fut.result())
                    except Exception as e:  # a worker died: record it on each item, keep the rest
                        store(chunk, [{"crash": f"{type(e).__name__}: {e}"}] * len(chunk), {})
    if cache_dir is not None and new_cache:
        save_disk_cache(cache_dir, config, {**disk, **new_cache})
    return results
