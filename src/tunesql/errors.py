"""One root error, so callers (the CLI, the server, the evaluator) can catch every tunesql failure at once.

Each subclass carries a message that says what was refused or what failed, and where, so a user knows what to
do next without reading a traceback.
"""

from __future__ import annotations


class TunesqlError(Exception):
    """Root of every error tunesql raises on purpose."""


class UnsafeSQLError(TunesqlError):
    """The SQL parsed, but it could change data or reach outside the database, so it was refused unrun."""


class SQLSyntaxError(TunesqlError):
    """The SQL does not parse in the database's dialect (or is empty / several statements)."""


class QueryTimeout(TunesqlError):
    """The query ran past its time limit and was stopped by the database."""


class ExecutionError(TunesqlError):
    """The database refused or failed the query (unknown column, type error, …)."""


class ConnectError(TunesqlError):
    """The database could not be opened: bad URL, missing file, server down."""


class DataError(TunesqlError):
    """Malformed dataset input. The message names the file, the record index and the field."""

    def __init__(self, message: str, *, path: str | None = None, index: int | None = None,
                 field: str | None = None) -> None:
        where = ", ".join(
            part
            for part in (
                f"file {path}" if path is not None else "",
                f"record {index}" if index is not None else "",
                f"field {field!r}" if field is not None else "",
            )
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)
        self.path, self.index, self.field = path, index, field


class EndpointError(TunesqlError):
    """A model endpoint answered with an error (after retries), or could not be reached."""


class ConfigError(TunesqlError):
    """An unknown or invalid configuration key/value; raised before anything heavy loads."""
