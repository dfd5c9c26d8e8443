"""Open any SQLAlchemy URL as a read-only ``Database`` handle.

Every handle tunesql opens is read-only at the connection level, whatever the caller does with it: SQLite opens
``file:…?mode=ro`` with ``PRAGMA query_only``, DuckDB ``read_only`` with external access off, PostgreSQL sessions
default to read-only transactions, MySQL sessions to ``TRANSACTION READ ONLY``. The statement-level guard in
``guard.py`` sits in front of that; ``execute.py`` adds the time and row limits.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesql.errors import ConnectError

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.engine import URL

    from tunesql.db.execute import QueryResult
    from tunesql.db.schema import Schema

BUNDLED_DB_NAME = "shop.sqlite"
SQLITE_SUFFIXES = {".sqlite", ".sqlite3", ".db", ".db3"}
DUCKDB_SUFFIXES = {".duckdb", ".ddb"}

# SQLAlchemy backend name -> sqlglot dialect name.
DIALECTS = {"sqlite": "sqlite", "duckdb": "duckdb", "postgresql": "postgres", "mysql": "mysql",
            "mariadb": "mysql"}
# Drivers that install from PyPI as wheels; SQLAlchemy's defaults for mysql need a C client library.
DEFAULT_DRIVERS = {"postgresql": "psycopg", "mysql": "pymysql", "mariadb": "pymysql"}
DUCKDB_CONFIG = {"enable_external_access": False, "lock_configuration": True}


def bundled_db_path() -> Path:
    """The sample shop database shipped inside the package; every command uses it when given no database."""
    return Path(str(resources.files("tunesql.resources").joinpath(BUNDLED_DB_NAME)))


def resolve_url(url: str | Path | URL | None) -> URL:
    """Turn what a user typed into a full SQLAlchemy URL.

    ``None`` means the bundled database; a bare file path means SQLite (or DuckDB by its suffix); a URL without
    a driver gets one that installs from PyPI (psycopg, pymysql).
    """
    import sqlalchemy as sa
    from sqlalchemy.engine import URL, make_url

    if url is None or (isinstance(url, str) and url.strip() in {"", "bundled", "shop"}):
        return make_url(f"sqlite:///{bundled_db_path()}")
    if isinstance(url, URL):
        parsed = url
    else:
        text = str(url)
        if "://" not in text:
            path = Path(text).expanduser()
            scheme = "duckdb" if path.suffix.lower() in DUCKDB_SUFFIXES else "sqlite"
            return make_url(f"{scheme}:///{path.resolve()}")
        try:
            parsed = make_url(text)
        except sa.exc.ArgumentError as e:
            raise ConnectError(f"not a database URL: {text!r} ({e})") from e
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "postgres":
        backend = "postgresql"
    if backend not in DIALECTS:
        raise ConnectError(
            f"unsupported database {backend!r} in {parsed.render_as_string(hide_password=True)}; "
            f"tunesql supports {', '.join(sorted(DIALECTS))}"
        )
    if not driver and backend in DEFAULT_DRIVERS:
        driver = DEFAULT_DRIVERS[backend]
    if backend == "mariadb":
        backend = "mysql"
    return parsed.set(drivername=f"{backend}+{driver}" if driver else backend)


def _sqlite_readonly_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False,
                           isolation_level=None)
    conn.execute("PRAGMA query_only = 1")
    conn.text_factory = lambda b: b.decode("utf-8", errors="replace")
    return conn


@dataclass
class Database:
    """A read-only handle on one database: its URL, its sqlglot dialect, and lazily opened connections."""

    backend: str
    """SQLAlchemy's backend name: sqlite, duckdb, postgresql or mysql."""
    dialect: str
    name: str
    path: Path | None = None
    """The file behind a SQLite/DuckDB database; None for servers."""
    _url: URL | None = field(default=None, repr=False)
    _engine: sa.Engine | None = field(default=None, repr=False)
    _raw: Any = field(default=None, repr=False)
    """The executor's own connection for embedded engines (SQLite, DuckDB), opened on first query."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    """Serialises queries on ``_raw``: embedded connections are not safe to share between threads."""

    @property
    def url(self) -> URL:
        """The SQLAlchemy URL (built on first use: running SQL on a file never needs SQLAlchemy)."""
        if self._url is None:
            from sqlalchemy.engine import make_url

            self._url = make_url(f"{self.backend}:///{self.path}")
        return self._url

    @property
    def engine(self) -> sa.Engine:
        """A SQLAlchemy engine whose connections cannot write (used for introspection)."""
        if self._engine is None:
            self._engine = _readonly_engine(self)
        return self._engine

    def schema(self, samples: int = 3, row_counts: bool = True) -> Schema:
        """Describe the database (see ``introspect.introspect``)."""
        from tunesql.db.introspect import introspect

        return introspect(self, samples=samples, row_counts=row_counts)

    def query(self, sql: str, *, timeout: float | None = None, max_rows: int | None = None) -> QueryResult:
        """Run model-written SQL safely (see ``execute.run_query``)."""
        from tunesql.db.execute import run_query

        return run_query(self, sql, timeout=timeout, max_rows=max_rows)

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_database(url: str | Path | URL | None = None) -> Database:
    """Open a database by URL or path (the bundled one for ``None``). Fails fast on a missing file."""
    path = _local_file(url)
    if path is not None:  # the common case (Spider, the bundled DB, evaluation) needs no SQLAlchemy import
        backend = "duckdb" if path.suffix.lower() in DUCKDB_SUFFIXES else "sqlite"
        return _file_database(backend, path)
    resolved = resolve_url(url)
    backend = resolved.get_backend_name()
    if backend in ("sqlite", "duckdb"):
        if not resolved.database or resolved.database == ":memory:":
            raise ConnectError(f"{backend} needs a database file; got {resolved}")
        return _file_database(backend, Path(resolved.database), resolved)
    return Database(backend=backend, dialect=DIALECTS[backend], name=resolved.database or backend, _url=resolved)


@contextmanager
def database_handles(locate: Callable[[str], str | Path | URL | None], *, enabled: bool = True,
                     unreachable_ok: bool = False) -> Iterator[Callable[[str], Database | None]]:
    """``handle(db_id)`` for work over a dataset's many databases: one read-only handle per database, opened on
    first use and all closed on exit, so a thousand examples on twenty databases open twenty connections.

    ``locate`` maps a db_id to a file or URL (``infer.predict.dataset_databases`` gives one); it returning None,
    or ``enabled`` being False, gives None. A database that fails to open raises, unless ``unreachable_ok``, where
    it gives None too, for callers that count it as missing instead (distillation).
    """
    handles: dict[str, Database | None] = {}

    def handle(db_id: str) -> Database | None:
        if db_id not in handles:
            where = locate(db_id) if enabled else None
            try:
                handles[db_id] = open_database(where) if where is not None else None
            except ConnectError:
                if not unreachable_ok:
                    raise
                handles[db_id] = None
        return handles[db_id]

    try:
        yield handle
    finally:
        for db in handles.values():
            if db is not None:
                db.close()


def _local_file(url: str | Path | URL | None) -> Path | None:
    """The path when ``url`` is the bundled database or a bare file path; None for anything URL-shaped."""
    if url is None or (isinstance(url, str) and url.strip() in {"", "bundled", "shop"}):
        return bundled_db_path()
    if isinstance(url, Path) or (isinstance(url, str) and "://" not in url):
        return Path(url).expanduser().resolve()
    return None


def _file_database(backend: str, path: Path, url: URL | None = None) -> Database:
    if not path.is_file():
        raise ConnectError(f"database file not found: {path}")
    return Database(backend=backend, dialect=DIALECTS[backend], name=path.stem, path=path, _url=url)


def _readonly_engine(db: Database) -> sa.Engine:
    import sqlalchemy as sa

    backend = db.backend
    if backend == "sqlite":
        path = db.path
        assert path is not None
        return sa.create_engine("sqlite://", creator=lambda: _sqlite_readonly_connect(path))
    if backend == "duckdb":
        return sa.create_engine(db.url, connect_args={"read_only": True, "config": dict(DUCKDB_CONFIG)})
    if backend == "postgresql":
        # Keep options the user put in the URL (a search_path, say) and add ours after them.
        user_options = db.url.query.get("options", "")
        options = f"{user_options} -c default_transaction_read_only=on -c statement_timeout=60000".strip()
        return sa.create_engine(
            db.url.difference_update_query(["options"]),
            connect_args={"options": options, "connect_timeout": 10},
            pool_pre_ping=True,
        )
    if backend == "mysql":
        return sa.create_engine(
            db.url,
            connect_args={"init_command": "SET SESSION TRANSACTION READ ONLY", "connect_timeout": 10},
            pool_pre_ping=True,
        )
    raise ConnectError(f"unsupported backend {backend!r}")
