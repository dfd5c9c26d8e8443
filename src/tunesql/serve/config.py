"""What one ``tunesql serve`` process is allowed to do, in one typed place.

Every limit a client could push on (rows, body size, request rate, vote size, query time) has a server-side
ceiling here, so a request can ask for less but never for more. ``validate`` runs before the model loads, so a
typo in ``--db`` fails in a second, not after a minute of loading weights.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from tunesql.errors import ConfigError

SCHEMA_FORMATS = ("mschema", "ddl", "cards")
STRATEGIES = ("greedy", "vote")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


def _default_databases() -> dict[str, str]:
    from tunesql.db.connect import bundled_db_path

    return {"shop": str(bundled_db_path())}


@dataclass
class ServeConfig:
    model: str | None = None
    """A registry key, a .gguf file, a transformers folder or an endpoint URL; None = the default model."""
    backend: str = "auto"
    adapter: str | None = None
    databases: dict[str, str] = field(default_factory=_default_databases)
    """Name → database URL or file; the name is what clients send as ``db``."""
    api_keys_file: Path | None = None
    """None means open access (a warning is printed); otherwise every /v1 route needs a key from this file."""
    rate_per_minute: int = 60
    """Requests per minute per key (per client address when open); a key's own entry can override it."""
    max_body_bytes: int = 64 * 1024
    max_rows: int = 200
    """The most rows any response carries; a request may ask for fewer."""
    sql_timeout: float = 10.0
    """Seconds each query may run inside the database."""
    n: int = 4
    """Vote samples when a request does not say."""
    max_n: int = 16
    """The most vote samples a request may ask for: each one is a model generation."""
    strategy: str = "vote"
    temperature: float = 0.7
    max_new_tokens: int = 512
    """Tokens per completion when a chat request sets no ``max_tokens`` (also the ceiling for one that does)."""
    explain: bool = True
    schema_format: str = "mschema"
    values: bool = True
    """BM25 value hints in the prompt, as ``tunesql ask --values``."""
    samples: bool = True
    comments: bool = True
    host: str = "127.0.0.1"
    port: int = 8000

    def validate(self) -> ServeConfig:
        """Raise ConfigError naming the bad setting and what to use instead; returns self for chaining."""
        if not self.databases:
            raise ConfigError("no database to serve: pass at least one --db NAME=URL")
        for name in self.databases:
            if not _NAME.match(name):
                raise ConfigError(f"database name {name!r} must be letters, digits, '_', '.', '-' (max 64), "
                                  f"starting with a letter or '_'")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"strategy {self.strategy!r} is not one of {', '.join(STRATEGIES)}")
        if self.schema_format not in SCHEMA_FORMATS:
            raise ConfigError(f"schema format {self.schema_format!r} is not one of {', '.join(SCHEMA_FORMATS)}")
        for label, value in (("rate_per_minute", self.rate_per_minute), ("max_body_bytes", self.max_body_bytes),
                             ("max_rows", self.max_rows), ("n", self.n), ("max_n", self.max_n),
                             ("max_new_tokens", self.max_new_tokens)):
            if value < 1:
                raise ConfigError(f"{label} must be >= 1, got {value}")
        if self.n > self.max_n:
            raise ConfigError(f"n ({self.n}) is larger than max_n ({self.max_n}); raise max_n or lower n")
        if self.sql_timeout <= 0:
            raise ConfigError(f"sql_timeout must be > 0 seconds, got {self.sql_timeout}")
        if self.api_keys_file is not None and not Path(self.api_keys_file).is_file():
            raise ConfigError(f"API keys file {self.api_keys_file} does not exist; create it with "
                              f"`tunesql serve keygen --name NAME --keys {self.api_keys_file}`")
        return self


def parse_db_option(text: str) -> tuple[str, str]:
    """``NAME=URL`` → (name, url); a bare path or URL is named after its file or database.

    Only a leading identifier counts as a name, so a URL whose query string holds ``=`` still parses.
    """
    head, sep, tail = text.partition("=")
    if sep and "://" not in head and "/" not in head and _NAME.match(head):
        if not tail:
            raise ConfigError(f"--db {text!r}: nothing after '='; use --db NAME=URL")
        return head, tail
    from tunesql.db.connect import resolve_url

    url = resolve_url(text)
    name = Path(url.database).stem if url.database else url.get_backend_name()
    if not _NAME.match(name):
        raise ConfigError(f"--db {text!r}: cannot make a name from it; use --db NAME=URL")
    return name, text
