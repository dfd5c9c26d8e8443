"""Executing gold and predicted SQL the official way: preprocessing, ordering, DISTINCT, timeouts, the pool."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from tunesql.eval.execution import (
    ExecConfig,
    Executor,
    chunk_by_database,
    database_files,
    execution_match,
    order_matters,
    postprocess,
    prepare_gold,
    prepare_pred,
    remove_distinct,
    replace_cur_year,
    run_gold,
)

RUNAWAY = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


@pytest.fixture
def db_dir(spider_dir: Path, tmp_path: Path) -> Path:
    """A database directory with a copy of concert_singer (so the test may also add files next to it)."""
    folder = tmp_path / "db" / "concert_singer"
    folder.mkdir(parents=True)
    shutil.copyfile(spider_dir / "database" / "concert_singer" / "concert_singer.sqlite",
                    folder / "concert_singer.sqlite")
    return tmp_path / "db"


def verdict(db_dir: Path, gold: str, pred: str | None, **config):
    executor = Executor(ExecConfig(**config))
    try:
        return execution_match(executor, run_gold(executor, db_dir, "concert_singer", gold), pred)
    finally:
        executor.close()


# --- the official preprocessing --------------------------------------------------------------------------------


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT DISTINCT name FROM singer", "SELECT  name FROM singer"),
    ("SELECT count(DISTINCT name) FROM singer", "SELECT count( name) FROM singer"),
    ("select distinct(a) from t", "select (a) from t"),
    ('SELECT a FROM t WHERE b = "distinct"', 'SELECT a FROM t WHERE b = "distinct"'),
    ("SELECT a FROM t WHERE b = 'DISTINCT'", "SELECT a FROM t WHERE b = 'DISTINCT'"),
    ("SELECT 1; )", "SELECT 1; "),  # only the first statement survives, as with sqlparse.parse(s)[0]
    ("SELECT (1; ) x", "SELECT (1; ) x"),
    ("SELECT CASE WHEN a THEN 1 END; x", "SELECT CASE WHEN a THEN 1 END; "),
    ("SELECT 'a;b' ; x", "SELECT 'a;b' ; "),
    ("SELECT a FROM t", "SELECT a FROM t"),
])
def test_remove_distinct_matches_the_official_token_removal(sql: str, expected: str) -> None:
    assert remove_distinct(sql) == expected


def test_postprocess_and_current_year() -> None:
    assert postprocess("a > = 1 AND b < = 2 AND c ! = 3") == "a >= 1 AND b <= 2 AND c != 3"
    assert replace_cur_year("SELECT YEAR ( CURDATE ( ) ) - age") == "SELECT 2020- age"


def test_order_matters_is_the_official_substring_test() -> None:
    assert order_matters("SELECT a FROM t ORDER BY a")
    assert order_matters("select a from t order by a")
    assert not order_matters("SELECT a FROM t ORDER  BY a")  # two spaces: the official says unordered
    assert order_matters("SELECT a FROM t WHERE b = 'order by'")  # inside a string: the official says ordered


def test_prepare_pred_and_gold() -> None:
    cfg = ExecConfig()
    assert prepare_pred("SELECT DISTINCT a FROM t WHERE b > = value ", cfg) == "SELECT  a FROM t WHERE b >= 1 "
    assert prepare_gold("SELECT DISTINCT a FROM t ORDER BY a", cfg) == ("SELECT  a FROM t ORDER BY a", True)
    kept = ExecConfig(keep_distinct=True)
    assert prepare_pred("SELECT DISTINCT a FROM t", kept) == "SELECT DISTINCT a FROM t"
    bird = ExecConfig(semantics="bird")
    assert prepare_pred("SELECT DISTINCT a FROM t WHERE b > = value ", bird) == \
        "SELECT DISTINCT a FROM t WHERE b > = value "
    assert prepare_gold("SELECT a FROM t ORDER BY a", bird) == ("SELECT a FROM t ORDER BY a", False)


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="semantics"):
        ExecConfig(semantics="exact")
    with pytest.raises(ValueError, match="timeout"):
        ExecConfig(timeout=0)


# --- verdicts on a real Spider database -------------------------------------------------------------------------


def test_gold_against_itself_and_column_order(db_dir: Path) -> None:
    gold = "SELECT name, country, age FROM singer ORDER BY age DESC"
    assert verdict(db_dir, gold, gold).correct
    assert verdict(db_dir, gold, "SELECT age, name, country FROM singer ORDER BY age DESC").correct
    wrong = verdict(db_dir, gold, "SELECT name, country, age FROM singer ORDER BY age ASC")
    assert (wrong.correct, wrong.status, wrong.executed) == (False, "wrong", True)


def test_row_order_matters_only_when_gold_has_order_by(db_dir: Path) -> None:
    unordered_gold = "SELECT name FROM singer"
    assert verdict(db_dir, unordered_gold, "SELECT name FROM singer ORDER BY name DESC").correct
    ordered_gold = "SELECT name FROM singer ORDER BY name"
    assert not verdict(db_dir, ordered_gold, "SELECT name FROM singer ORDER BY name DESC").correct


def test_distinct_is_stripped_from_both_unless_kept(db_dir: Path) -> None:
    gold, pred = "SELECT DISTINCT country FROM singer", "SELECT country FROM singer"
    assert verdict(db_dir, gold, pred).correct  # the official strips DISTINCT from both queries
    assert not verdict(db_dir, gold, pred, keep_distinct=True).correct  # France appears four times
    assert verdict(db_dir, "SELECT count(DISTINCT country) FROM singer", "SELECT count(country) FROM singer").correct


def test_bird_semantics_are_set_equality_by_position(db_dir: Path) -> None:
    gold = "SELECT name, age FROM singer"
    assert verdict(db_dir, gold, "SELECT name, age FROM singer ORDER BY age", semantics="bird").correct
    assert not verdict(db_dir, gold, "SELECT age, name FROM singer", semantics="bird").correct
    # Duplicates do not matter for a set, and DISTINCT is run as written.
    assert verdict(db_dir, "SELECT DISTINCT country FROM singer", "SELECT country FROM singer",
                   semantics="bird").correct


def test_errors_are_recorded_not_raised(db_dir: Path) -> None:
    gold = "SELECT count(*) FROM singer"
    bad = verdict(db_dir, gold, "SELEC count(*) FROM singer")
    assert (bad.correct, bad.executed, bad.status) == (False, False, "error")
    assert "syntax" in bad.error
    missing_col = verdict(db_dir, gold, "SELECT count(nope) FROM singer")
    assert missing_col.status == "error" and "no such column" in missing_col.error
    refused = verdict(db_dir, gold, "DELETE FROM singer")
    assert refused.status == "error" and "refused" in refused.error
    assert verdict(db_dir, gold, None).status == "no prediction"
    assert verdict(db_dir, gold, "").status == "error"


def test_runaway_prediction_is_stopped_by_the_timeout(db_dir: Path) -> None:
    start = time.perf_counter()
    v = verdict(db_dir, "SELECT count(*) FROM singer", RUNAWAY, timeout=0.3)
    assert time.perf_counter() - start < 5
    assert (v.correct, v.status) == (False, "timeout")


def test_prediction_rows_are_capped_at_gold_plus_one(db_dir: Path) -> None:
    executor = Executor(ExecConfig())
    gold = run_gold(executor, db_dir, "concert_singer", "SELECT name FROM singer WHERE age > 40")
    cross = executor.pred(gold.files[0], "SELECT a.name FROM singer a, singer b, singer c", gold.outcomes[0])
    assert cross.truncated and len(cross.rows) == len(gold.outcomes[0].rows)
    assert not execution_match(executor, gold, "SELECT a.name FROM singer a, singer b, singer c").correct
    executor.close()


def test_gold_results_are_cached_and_reused_for_identical_predictions(db_dir: Path) -> None:
    executor = Executor(ExecConfig())
    path = database_files(db_dir, "concert_singer")[0]
    first = executor.gold(path, "SELECT name FROM singer")
    assert executor.gold(path, "SELECT name FROM singer") is first
    assert executor.pred(path, "SELECT name FROM singer", first).rows is first.rows
    assert executor.new_entries  # what a disk cache would save
    executor.close()


def test_missing_database_and_broken_gold(db_dir: Path) -> None:
    executor = Executor(ExecConfig())
    missing = run_gold(executor, db_dir, "wta_1", "SELECT 1")
    assert missing.status == "database missing"
    v = execution_match(executor, missing, "SELECT 1")
    assert (v.correct, v.status) == (False, "database missing")
    broken = run_gold(executor, db_dir, "concert_singer", "SELECT nope FROM singer")
    assert broken.status == "gold error"
    executor.close()


def test_every_sqlite_file_in_the_folder_is_a_test_database(db_dir: Path) -> None:
    folder = db_dir / "concert_singer"
    variant = folder / "concert_singer_variant.sqlite"
    shutil.copyfile(folder / "concert_singer.sqlite", variant)
    with sqlite3.connect(variant) as conn:
        conn.execute("UPDATE singer SET age = age + 100 WHERE name = 'Joe Sharp'")
    (folder / "schema.sql").write_text("-- not a database")
    assert [p.name for p in database_files(db_dir, "concert_singer")] == [
        "concert_singer.sqlite", "concert_singer_variant.sqlite"]
    gold = "SELECT name FROM singer WHERE age > 40"
    assert verdict(db_dir, gold, gold).correct
    # Same rows on the original database, different rows on the variant: wrong, as in the test suite.
    assert not verdict(db_dir, gold, "SELECT name FROM singer WHERE age > 40 AND age < 100").correct


def test_sql_sqlglot_cannot_parse_still_runs_read_only(db_dir: Path, monkeypatch) -> None:
    import tunesql.db.execute as execute_mod
    from tunesql.errors import SQLSyntaxError

    def refuse(sql: str, dialect: str):
        raise SQLSyntaxError("pretend sqlglot cannot parse this")

    monkeypatch.setattr(execute_mod, "check_sql", refuse)
    v = verdict(db_dir, "SELECT count(*) FROM singer", "SELECT count(*) FROM singer WHERE 1")
    assert v.correct  # SQLite decided, as it does for the official
    # The official keeps only the first statement (its DISTINCT removal does), so this one is correct ...
    pred = "SELECT count(*) FROM singer; DELETE FROM singer"
    assert verdict(db_dir, "SELECT count(*) FROM singer", pred).correct
    # ... and with DISTINCT kept the whole text reaches SQLite, which runs one statement only, read-only.
    v = verdict(db_dir, "SELECT count(*) FROM singer", pred, keep_distinct=True)
    assert not v.correct and v.status == "error"
    v = verdict(db_dir, "SELECT count(*) FROM singer", "DELETE FROM singer", keep_distinct=True)
    assert not v.correct and "not authorized" in v.error
    with sqlite3.connect(db_dir / "concert_singer" / "concert_singer.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM singer").fetchone()[0] == 6


def test_chunks_keep_each_database_together() -> None:
    keys = ["a"] * 5 + ["b"] * 3 + ["a"] * 2
    chunks = chunk_by_database(keys, workers=2, per_worker=1)
    assert sorted(i for c in chunks for i in c) == list(range(10))
    assert all(len({keys[i] for i in c}) == 1 for c in chunks)
