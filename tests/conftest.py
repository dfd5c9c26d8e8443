"""Shared fixtures: where the Spider benchmark lives, and throw-away databases on the real servers.

Every server test gets a database of its own (PostgreSQL and MariaDB alike), created here and dropped after,
so tests never see each other's tables. The servers are part of every machine this project runs on; when one
does not answer, the test fails with what to do, it is not skipped.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

REPO_ROOT = Path(__file__).resolve().parents[1]
SPIDER_DIR = Path(os.environ.get("TUNESQL_SPIDER_DIR", REPO_ROOT.parent / "shared" / "benchmarks" / "spider"))
PG_ADMIN_URL = os.environ.get("TUNESQL_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MYSQL_ADMIN_URL = os.environ.get("TUNESQL_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


@pytest.fixture(scope="session")
def spider_dir() -> Path:
    """The read-only Spider copy in ../shared; tests that need it skip only where it is absent."""
    if not (SPIDER_DIR / "tables.json").is_file():
        pytest.skip(f"Spider benchmark not found at {SPIDER_DIR} (set TUNESQL_SPIDER_DIR)")
    return SPIDER_DIR


@pytest.fixture
def spider_db_copy(spider_dir: Path, tmp_path: Path):
    """Copy one Spider database into tmp_path before a test that could write to it."""

    def copy(db_id: str) -> Path:
        src = spider_dir / "database" / db_id / f"{db_id}.sqlite"
        dst = tmp_path / f"{db_id}.sqlite"
        shutil.copyfile(src, dst)
        return dst

    return copy


def _server_engine(url: str, what: str) -> sa.Engine:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as e:  # any failure means the server is not usable
        pytest.fail(f"{what} at {url} is not answering ({e}); .ci/run starts it, or start it yourself")
    return engine


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test (dropped afterwards); the URL has full rights."""
    admin = _server_engine(PG_ADMIN_URL, "PostgreSQL")
    name = f"tunesql_t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A fresh MariaDB/MySQL database for this test (dropped afterwards); the URL has full rights."""
    admin = _server_engine(MYSQL_ADMIN_URL, "MariaDB")
    name = f"tunesql_t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    try:
        yield sa.make_url(MYSQL_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


@pytest.fixture(scope="session")
def tiny_train_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Qwen2 (hidden 32) + ChatML byte-level BPE tokenizer, 4096 positions (byte-level Chinese comments
    make the shop prompts a few thousand tokens long for a 400-token vocabulary)."""
    pytest.importorskip("trl", reason="the training tests need the train extra: pip install 'tunesql[train]'")
    from tests.infer.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-train"), max_positions=4096)
