"""API keys, stored hashed, and a per-key request budget.

The keys file holds only the SHA-256 of each key, so a leaked file (a backup, a screenshot of a config folder)
lets nobody in; the plain key is shown once, by ``tunesql serve keygen``, and never again. Keys are long random
tokens, so one unsalted hash is enough: there is nothing to guess a dictionary against.

The file is re-read when it changes, so ``keygen`` on a running server takes effect without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tunesql.errors import ConfigError

KEY_PREFIX = "tsk-"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _read(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as e:
        raise ConfigError(f"API keys file {path} is not readable JSON ({e}); fix it or create a new one with "
                          f"`tunesql serve keygen`") from e
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, list) or not all(isinstance(k, dict) and "name" in k and "sha256" in k for k in keys):
        raise ConfigError(f"API keys file {path} must look like {{\"keys\": [{{\"name\": …, \"sha256\": …}}]}}")
    return keys


def new_key(path: str | Path, name: str, rate_per_minute: int | None = None) -> str:
    """Create a key called ``name``, store its hash in ``path`` (created 0600 if missing) and return the key.

    The caller shows the key once; it cannot be recovered from the file. A name already in the file is refused,
    so every key stays traceable to one client.
    """
    path = Path(path)
    name = name.strip()
    if not name:
        raise ConfigError("a key needs a name (who it is for), e.g. --name analytics-team")
    if rate_per_minute is not None and rate_per_minute < 1:
        raise ConfigError(f"rate_per_minute must be >= 1, got {rate_per_minute}")
    keys = _read(path)
    if any(k["name"] == name for k in keys):
        raise ConfigError(f"{path} already has a key named {name!r}; choose another name, or remove that entry "
                          f"with `tunesql serve revoke` to replace it")
    key = KEY_PREFIX + secrets.token_urlsafe(24)
    entry: dict[str, Any] = {"name": name, "sha256": hash_key(key),
                             "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if rate_per_minute is not None:
        entry["rate_per_minute"] = rate_per_minute
    keys.append(entry)
    _write(path, keys)
    return key


def list_keys(path: str | Path) -> list[dict[str, Any]]:
    """The entries of ``path`` without their hashes: name, created, rate_per_minute (what an operator audits)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"API keys file {path} does not exist; create it with `tunesql serve keygen`")
    return [{k: v for k, v in entry.items() if k != "sha256"} for entry in _read(path)]


def revoke_key(path: str | Path, name: str) -> None:
    """Remove the key called ``name``. A running server re-reads the file, so the key stops working at once."""
    path = Path(path)
    keys = _read(path)
    kept = [k for k in keys if k["name"] != name]
    if len(kept) == len(keys):
        names = ", ".join(repr(k["name"]) for k in keys) or "none"
        raise ConfigError(f"{path} has no key named {name!r} (keys: {names})")
    _write(path, kept)


def _write(path: Path, keys: list[dict[str, Any]]) -> None:
    """Replace the file atomically (a server reading it sees the old or the new list, never half), mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"keys": keys}, f, indent=2)
        f.write("\n")
    tmp.replace(path)


@dataclass
class KeyEntry:
    name: str
    sha256: str
    rate_per_minute: int | None = None


class KeyStore:
    """The keys of one file, re-read whenever the file's modification time or size changes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._entries: list[KeyEntry] = []
        self._refresh()

    def _refresh(self) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError as e:
            raise ConfigError(f"API keys file {self.path} is gone; recreate it with `tunesql serve keygen`") from e
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp == self._stamp:
                return
            self._entries = [KeyEntry(str(k["name"]), str(k["sha256"]).lower(), k.get("rate_per_minute"))
                             for k in _read(self.path)]
            self._stamp = stamp

    def check(self, key: str) -> str | None:
        """The name of the key, or None when it is not in the file."""
        entry = self.lookup(key)
        return entry.name if entry else None

    def lookup(self, key: str) -> KeyEntry | None:
        """The entry whose hash matches ``key``, else None; every entry is compared, in constant time each."""
        self._refresh()
        digest = hash_key(key)
        found = None
        for entry in self._entries:
            if hmac.compare_digest(entry.sha256, digest):
                found = entry
        return found


class RateLimiter:
    """A token bucket per client: ``rate`` requests per minute on average, bursts of up to ``rate``.

    ``hit`` answers how many seconds the client must wait (0.0 = go ahead, and one token is spent).
    """

    MAX_CLIENTS = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, last refill time)

    def hit(self, client: str, rate_per_minute: int) -> float:
        now = self._clock()
        per_second = rate_per_minute / 60.0
        with self._lock:
            tokens, last = self._buckets.get(client, (float(rate_per_minute), now))
            tokens = min(float(rate_per_minute), tokens + (now - last) * per_second)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[client] = (tokens, now)
                wait = (1.0 - tokens) / per_second
            if len(self._buckets) > self.MAX_CLIENTS:
                self._forget_idle(now)
        return wait

    def _forget_idle(self, now: float) -> None:
        """Drop clients idle for over a minute (their buckets are full again), so open access cannot grow
        memory without bound."""
        self._buckets = {c: v for c, v in self._buckets.items() if now - v[1] < 60.0}


def retry_after(wait: float) -> str:
    """The Retry-After header value: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(wait)))
