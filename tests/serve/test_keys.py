"""API keys (hashed at rest, checked in constant time, re-read when the file changes) and the token bucket."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunesql.cli.serve import app
from tunesql.errors import ConfigError
from tunesql.serve.config import ServeConfig, parse_db_option
from tunesql.serve.keys import KeyStore, RateLimiter, list_keys, new_key, retry_after, revoke_key


def test_new_key_stores_only_its_hash(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "keys.json"
    key = new_key(path, "analytics", rate_per_minute=5)
    text = path.read_text()
    assert key.startswith("tsk-") and len(key) > 30
    assert key not in text and key[4:] not in text
    entry = json.loads(text)["keys"][0]
    assert entry["name"] == "analytics" and entry["rate_per_minute"] == 5 and entry["created"]
    assert entry["sha256"] == hashlib.sha256(key.encode()).hexdigest()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert new_key(path, "other") != key  # random, not derived from the name


def test_duplicate_or_empty_names_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    new_key(path, "team")
    with pytest.raises(ConfigError, match="already has a key named 'team'"):
        new_key(path, "team")
    with pytest.raises(ConfigError, match="needs a name"):
        new_key(path, "  ")
    assert len(json.loads(path.read_text())["keys"]) == 1


def test_store_checks_keys_and_sees_new_ones(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    first = new_key(path, "first", rate_per_minute=7)
    store = KeyStore(path)
    assert store.check(first) == "first"
    assert store.check("tsk-not-a-key") is None and store.check("") is None
    assert store.lookup(first).rate_per_minute == 7  # type: ignore[union-attr]
    second = new_key(path, "second")  # written while the store is in use, as keygen on a running server
    assert store.check(second) == "second" and store.check(first) == "first"


def test_list_shows_no_hashes_and_revoke_names_the_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    with pytest.raises(ConfigError, match="does not exist; create it with `tunesql serve keygen`"):
        list_keys(path)
    first, second = new_key(path, "first", rate_per_minute=3), new_key(path, "second")
    listed = list_keys(path)
    assert [e["name"] for e in listed] == ["first", "second"] and listed[0]["rate_per_minute"] == 3
    assert all("sha256" not in e for e in listed)
    store = KeyStore(path)
    revoke_key(path, "first")
    assert store.check(first) is None and store.check(second) == "second"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with pytest.raises(ConfigError, match=r"no key named 'first' \(keys: 'second'\)"):
        revoke_key(path, "first")
    new_key(path, "first")  # the name is free again


def test_broken_keys_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not readable JSON"):
        KeyStore(path)
    path.write_text(json.dumps({"keys": [{"name": "x"}]}))
    with pytest.raises(ConfigError, match="must look like"):
        KeyStore(path)
    with pytest.raises(ConfigError, match="keygen"):
        ServeConfig(api_keys_file=tmp_path / "missing.json").validate()


def test_token_bucket() -> None:
    now = [100.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert [limiter.hit("a", 3) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.hit("a", 3)
    assert wait == pytest.approx(20.0)  # 3 a minute: one token back every 20 s
    assert limiter.hit("b", 3) == 0.0  # buckets are per client
    now[0] += 10.0
    assert limiter.hit("a", 3) == pytest.approx(10.0)
    now[0] += 10.0
    assert limiter.hit("a", 3) == 0.0
    now[0] += 3600.0  # a long pause refills to the burst size, not beyond
    assert [limiter.hit("a", 3) == 0.0 for _ in range(4)] == [True, True, True, False]


def test_retry_after_rounds_up() -> None:
    assert [retry_after(w) for w in (0.01, 1.0, 1.2, 19.99)] == ["1", "1", "2", "20"]


def test_keygen_command_prints_the_key_once(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    result = CliRunner().invoke(app, ["keygen", "--name", "web", "--keys", str(path), "--rate", "9"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert key.startswith("tsk-") and result.stdout.count(key) == 1
    assert KeyStore(path).check(key) == "web" and key not in path.read_text()
    again = CliRunner().invoke(app, ["keygen", "--name", "web", "--keys", str(path)])
    assert again.exit_code == 1 and "already has a key" in again.output


def test_serve_config_validation(tmp_path: Path) -> None:
    assert parse_db_option("sales=postgresql://ro@db/sales?sslmode=require") == (
        "sales", "postgresql://ro@db/sales?sslmode=require")
    assert parse_db_option(str(tmp_path / "my-data.sqlite")) == ("my-data", str(tmp_path / "my-data.sqlite"))
    assert parse_db_option("postgresql://u@h/db?a=b")[0] == "db"
    with pytest.raises(ConfigError, match="nothing after"):
        parse_db_option("x=")
    for bad, match in (({"databases": {}}, "no database"), ({"databases": {"a b": "x"}}, "database name"),
                       ({"strategy": "best"}, "strategy"), ({"n": 20, "max_n": 8}, "max_n"),
                       ({"max_rows": 0}, "max_rows"), ({"sql_timeout": 0}, "sql_timeout")):
        with pytest.raises(ConfigError, match=match):
            ServeConfig(**bad).validate()  # type: ignore[arg-type]
    result = CliRunner().invoke(app, ["--db", "nope=/does/not/exist.sqlite", "--strategy", "best"])
    assert result.exit_code == 1 and "strategy" in result.output
