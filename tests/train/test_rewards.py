"""The GRPO rewards on real SQLite / DuckDB files: right, wrong, malformed, unsafe and runaway completions.

Each test builds its database in tmp_path (or copies the bundled shop database there), so a reward that wrote
anything would show in the file's hash. The reward caches live in the module, so every test starts and ends
with them cleared.
"""

from __future__ import annotations

import doctest
import hashlib
import json
import logging
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tunesql.db.connect import bundled_db_path
from tunesql.errors import ConfigError, DataError
from tunesql.train import rewards
from tunesql.train.rewards import (
    RewardExecutor,
    RewardSettings,
    cache_stats,
    clear_cache,
    execution_reward,
    format_reward,
    length_reward,
    parse_completion,
    result_reward,
    reward_functions,
)

SINGERS = [(1, "Joe Sharp", 52, "Netherlands"), (2, "Timbaland", 32, "United States"),
           (3, "Justin Brown", 29, "France"), (4, "Rose White", 41, "France"), (5, "John Nizinik", 43, "France")]
GOLD = "SELECT name FROM singer WHERE age > 40"
RUNAWAY = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


def answer(sql: str, think: str = "Singers older than 40: filter singer on age.") -> str:
    """A completion in SQL-R1's format."""
    return f"<think>{think}</think>\n<answer>{sql}</answer>"


def chat(text: str) -> list[dict[str, str]]:
    """The same completion as TRL passes it for a conversational dataset."""
    return [{"role": "assistant", "content": text}]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "concert.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE singer (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age REAL, country TEXT)")
    conn.executemany("INSERT INTO singer VALUES (?, ?, ?, ?)", SINGERS)
    conn.commit()
    conn.close()
    return path


def columns(db: Path, n: int, gold: str = GOLD) -> dict[str, list[str]]:
    return {"db_path": [str(db)] * n, "gold_sql": [gold] * n, "dialect": ["sqlite"] * n}


# --- format -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    (answer(GOLD), 1.0),
    (answer(f"```sql\n{GOLD};\n```"), 1.0),
    (answer(GOLD) + "<|im_end|>", 1.0),  # a chat-template leftover is not the model's text
    ("  \n" + answer(GOLD) + "\n\n", 1.0),
    (GOLD, -1.0),  # no tags at all
    (f"<answer>{GOLD}</answer>", -1.0),  # no reasoning block
    (f"<think>x</think>\n<answer>{GOLD}", -1.0),  # answer never closed
    (f"<answer>{GOLD}</answer><think>x</think>", -1.0),  # wrong order
    (answer(GOLD) + f"\n<answer>{GOLD}</answer>", -1.0),  # two answers
    (answer(GOLD) + "\nHope this helps!", -1.0),  # prose after the answer
    ("Sure. " + answer(GOLD), -1.0),  # prose before the reasoning
    (answer("   "), -1.0),  # empty answer
    ("<think>x <think> y</think><answer>SELECT 1</answer>", -1.0),  # nested think
    ("", -1.0),
])
def test_format_reward(text: str, expected: float) -> None:
    assert format_reward([text]) == [expected]
    assert format_reward(completions=[chat(text)], prompts=["q"]) == [expected]


def test_parse_completion_parts() -> None:
    parsed = parse_completion(answer(f"Here it is:\n```sql\n{GOLD};\n```", think="  plan  "))
    assert parsed.well_formed
    assert parsed.reasoning == "plan"
    assert parsed.sql == GOLD
    assert parsed.answer.startswith("Here it is:")


def test_conversational_content_parts_and_last_assistant_message() -> None:
    parts = [{"role": "user", "content": "q"},
             {"role": "assistant", "content": [{"type": "text", "text": "<think>a</think>"},
                                               {"type": "text", "text": f"<answer>{GOLD}</answer>"}]}]
    assert format_reward([parts]) == [1.0]
    assert format_reward([[{"role": "assistant", "content": None}]]) == [-1.0]


# --- execution, result, length ----------------------------------------------------------------------------------

CASES = {
    "right": answer(GOLD),
    "right, other spelling": answer("SELECT s.name FROM singer AS s WHERE s.age >= 41"),
    "wrong": answer("SELECT name FROM singer WHERE age < 40"),
    "unknown column": answer("SELECT nme FROM singer"),
    "syntax error": answer("SELEC name FROM singer WHERE"),
    "malformed": GOLD,
}
EXPECTED = {  # execution, result
    "right": (2.0, 3.0),
    "right, other spelling": (2.0, 3.0),
    "wrong": (2.0, -3.0),
    "unknown column": (-2.0, 0.0),
    "syntax error": (-2.0, 0.0),
    "malformed": (0.0, 0.0),
}


@pytest.mark.parametrize("shape", ["text", "conversational"])
def test_execution_and_result_rewards(db: Path, shape: str) -> None:
    texts = list(CASES.values())
    completions = texts if shape == "text" else [chat(t) for t in texts]
    cols = columns(db, len(texts))
    assert execution_reward(completions, prompts=["q"] * len(texts), **cols) == [e for e, _ in EXPECTED.values()]
    assert result_reward(completions, **cols) == [r for _, r in EXPECTED.values()]


def test_result_reward_order_and_columns(db: Path) -> None:
    ordered_gold = "SELECT name, age FROM singer ORDER BY age"
    cols = columns(db, 3, gold=ordered_gold)
    completions = [answer("SELECT age, name FROM singer ORDER BY age"),  # columns swapped: Spider accepts it
                   answer("SELECT name, age FROM singer ORDER BY age DESC"),  # gold has ORDER BY: order counts
                   answer("SELECT name, age FROM singer")]  # rowid order happens to differ from age order
    assert result_reward(completions, **cols) == [3.0, -3.0, -3.0]
    # Without ORDER BY in the gold, row order is free (a bag of rows).
    assert result_reward([answer("SELECT name FROM singer WHERE age > 40 ORDER BY name DESC")],
                         **columns(db, 1)) == [3.0]


def test_length_reward(db: Path) -> None:
    think = "x" * 100
    plain = answer(GOLD, think=think)
    fenced = answer(f"```sql\n{GOLD}\n```", think=think)
    long = answer(GOLD, think="y" * 5000)
    wrong = answer("SELECT name FROM singer", think=think)
    got = length_reward([plain, fenced, long, wrong, GOLD], **columns(db, 5))
    assert got[0] == pytest.approx(0.5 * (100 + len(GOLD)) / 2048 + 1.0)
    fenced_answer = f"```sql\n{GOLD}\n```"
    assert got[1] == pytest.approx(0.5 * (100 + len(fenced_answer)) / 2048 + len(GOLD) / len(fenced_answer))
    assert got[2] == pytest.approx(1.5)  # capped at the limit
    assert got[3:] == [0.0, 0.0]  # only a correct result earns it
    assert 0 < got[1] < got[0] < got[2]


def test_length_limit_is_a_setting(db: Path) -> None:
    funcs, _ = reward_functions({"length": 1.0}, settings=RewardSettings(length_limit=10))
    assert funcs[0]([answer(GOLD, think="x" * 100)], **columns(db, 1)) == [pytest.approx(1.5)]


def test_gold_failure_gives_zero_and_a_warning(db: Path, caplog: pytest.LogCaptureFixture) -> None:
    cols = columns(db, 2, gold="SELECT missing_column FROM singer")
    with caplog.at_level(logging.WARNING, logger="tunesql.train.rewards"):
        assert result_reward([answer(GOLD), answer("SELECT 1")], **cols) == [0.0, 0.0]
    assert execution_reward([answer(GOLD)], **columns(db, 1, gold="SELECT missing_column FROM singer")) == [2.0]
    assert sum("gold SQL fails" in r.message for r in caplog.records) == 1  # logged once, not per completion


# --- safety -----------------------------------------------------------------------------------------------------

WRITES = [
    "DELETE FROM singer",
    "DROP TABLE singer",
    "UPDATE singer SET age = 0",
    "INSERT INTO singer VALUES (9, 'x', 1, 'y')",
    "CREATE TABLE pwned (x INT)",
    "ATTACH DATABASE 'other.sqlite' AS o",
    "PRAGMA journal_mode = DELETE",
    "WITH d AS (DELETE FROM singer RETURNING *) SELECT * FROM d",
    "VACUUM",
]


def test_writes_get_the_execution_penalty_and_never_run(db: Path) -> None:
    before = sha256(db)
    completions = [answer(sql) for sql in WRITES]
    cols = columns(db, len(WRITES))
    assert execution_reward(completions, **cols) == [-2.0] * len(WRITES)
    assert result_reward(completions, **cols) == [0.0] * len(WRITES)
    assert length_reward(completions, **cols) == [0.0] * len(WRITES)
    executor = RewardExecutor()
    try:
        kinds = {executor.candidate(str(db), sql, RewardSettings()).kind for sql in WRITES}
    finally:
        executor.close()
    assert kinds == {"unsafe"}  # every one refused by the guard before any connection saw it
    # A write smuggled after a query: the answer's SQL ends at the first ";" (and the Spider preprocessing keeps
    # only the first statement, as the official evaluator does), so only the query runs.
    smuggled = answer("SELECT count(*) FROM singer; DROP TABLE singer")
    assert parse_completion(smuggled).sql == "SELECT count(*) FROM singer"
    assert execution_reward([smuggled], **columns(db, 1)) == [2.0]
    assert sha256(db) == before
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM singer").fetchone() == (len(SINGERS),)
    conn.close()


def test_runaway_query_is_stopped_at_the_time_limit(db: Path) -> None:
    funcs, _ = reward_functions({"execution": 1.0, "result": 1.0}, settings=RewardSettings(timeout=0.3))
    execution, result = funcs
    start = time.perf_counter()
    assert execution([answer(RUNAWAY)], **columns(db, 1)) == [-2.0]
    assert result([answer(RUNAWAY)], **columns(db, 1)) == [0.0]
    assert time.perf_counter() - start < 5.0
    executor = RewardExecutor()
    try:
        assert executor.candidate(str(db), RUNAWAY, RewardSettings(timeout=0.3)).kind == "timeout"
    finally:
        executor.close()


def test_row_cap_marks_a_larger_result_wrong(db: Path) -> None:
    settings = RewardSettings(max_rows=3)
    funcs, _ = reward_functions({"execution": 1.0, "result": 1.0}, settings=settings)
    cols = columns(db, 1, gold="SELECT name FROM singer WHERE age > 42")  # 2 rows
    every_name = answer("SELECT name FROM singer")  # 5 rows, cut at 3
    assert [f([every_name], **cols) for f in funcs] == [[2.0], [-3.0]]


# --- caching ----------------------------------------------------------------------------------------------------

def test_one_run_per_completion_shared_by_the_rewards(db: Path) -> None:
    texts = [answer(GOLD), answer(GOLD, think="other words, same query"), answer("SELECT name FROM singer"), GOLD]
    cols = columns(db, len(texts))
    funcs, _ = reward_functions()
    assert [f(texts, **cols) for f in funcs] == [
        [1.0, 1.0, 1.0, -1.0], [2.0, 2.0, 2.0, 0.0], [3.0, 3.0, -3.0, 0.0],
        [pytest.approx(0.5 * (len(parse_completion(texts[0]).reasoning) + len(GOLD)) / 2048 + 1.0),
         pytest.approx(0.5 * (len("other words, same query") + len(GOLD)) / 2048 + 1.0), 0.0, 0.0],
    ]
    stats = cache_stats()
    # Two distinct well-formed queries run once each, across three rewards; the gold ran once.
    assert stats["candidate_runs"] == 2
    assert stats["gold_runs"] == 1
    assert stats["databases_opened"] == 1

    # A second call reads the cache: prove it by changing the data under it. Age 40.5 is "> 40" but not ">= 41",
    # so a fresh run of the other spelling would now disagree with the gold.
    other = [answer("SELECT name FROM singer WHERE age >= 41")]
    assert result_reward(other, **columns(db, 1)) == [3.0]
    runs = cache_stats()["candidate_runs"]
    conn = sqlite3.connect(db)
    conn.execute("UPDATE singer SET age = 40.5 WHERE id = 2")
    conn.commit()
    conn.close()
    assert result_reward(other, **columns(db, 1)) == [3.0]
    assert execution_reward(other, **columns(db, 1)) == [2.0]
    assert cache_stats()["candidate_runs"] == runs
    clear_cache()
    assert result_reward(other, **columns(db, 1)) == [-3.0]  # what a re-run gives
    assert cache_stats()["candidate_runs"] == 1


def test_settings_are_part_of_the_cache_key(db: Path) -> None:
    every_name = [answer("SELECT name FROM singer")]
    cols = columns(db, 1, gold="SELECT name FROM singer")
    capped, _ = reward_functions({"result": 1.0}, settings=RewardSettings(max_rows=3))
    assert capped[0](every_name, **cols) == [0.0]  # the gold's 5 rows do not fit: not judged
    assert result_reward(every_name, **cols) == [3.0]  # default cap: a fresh run, not the capped one
    assert cache_stats()["candidate_runs"] == 2
    assert cache_stats()["gold_runs"] == 2


# --- weights and configuration ----------------------------------------------------------------------------------

def test_reward_functions_default_and_subset() -> None:
    funcs, weights = reward_functions()
    assert [f.__name__ for f in funcs] == ["format_reward", "execution_reward", "result_reward", "length_reward"]
    assert weights == [1.0, 1.0, 1.0, 1.0]
    funcs, weights = reward_functions({"length": 0.5, "result": 2}, settings=RewardSettings(timeout=1.0))
    assert [f.__name__ for f in funcs] == ["result_reward", "length_reward"]
    assert weights == [2.0, 0.5]


@pytest.mark.parametrize("weights", [{"results": 1.0}, {"format": 1.0, "speed": 2.0}])
def test_unknown_weight_names_list_the_valid_ones(weights: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="valid: format, execution, result, length"):
        reward_functions(weights)


@pytest.mark.parametrize("weights", [{}, {"format": "high"}, {"format": float("nan")}, {"format": True}, [1.0]])
def test_bad_weights_are_config_errors(weights: object) -> None:
    with pytest.raises(ConfigError):
        reward_functions(weights)  # type: ignore[arg-type]


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="semantics"):
        RewardSettings(semantics="exact")
    with pytest.raises(ConfigError, match="timeouts"):
        RewardSettings(timeout=0)
    with pytest.raises(ConfigError, match="timeouts"):
        reward_functions(timeout=-1.0)


def test_timeout_shortcut(db: Path) -> None:
    funcs, _ = reward_functions({"execution": 1.0}, timeout=0.2)
    assert funcs[0].keywords["reward_settings"] == RewardSettings(timeout=0.2)
    assert funcs[0]([answer(RUNAWAY)], **columns(db, 1)) == [-2.0]


def test_missing_columns_and_databases(db: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'db_path'"):
        execution_reward([answer(GOLD)], gold_sql=[GOLD])
    with pytest.raises(ConfigError, match="'gold_sql'"):
        result_reward([answer(GOLD)], db_path=[str(db)])
    with pytest.raises(ConfigError, match="one value per completion"):
        execution_reward([answer(GOLD)] * 2, db_path=[str(db)])
    with pytest.raises(DataError, match="db_path"):
        execution_reward([answer(GOLD)], db_path=[str(tmp_path / "missing.sqlite")])
    with pytest.raises(DataError, match="gold_sql"):
        result_reward([answer(GOLD)], db_path=[str(db)], gold_sql=[""])
    # A malformed completion needs no database: nothing is opened for it.
    assert execution_reward([GOLD], db_path=[str(tmp_path / "missing.sqlite")]) == [0.0]


# --- other databases --------------------------------------------------------------------------------------------

def test_duckdb_file_and_sqlalchemy_url(db: Path, tmp_path: Path) -> None:
    import duckdb

    duck = tmp_path / "concert.duckdb"
    conn = duckdb.connect(str(duck))
    conn.execute("CREATE TABLE singer (id INTEGER, name VARCHAR, age DOUBLE, country VARCHAR)")
    conn.executemany("INSERT INTO singer VALUES (?, ?, ?, ?)", SINGERS)
    conn.close()
    before = sha256(duck)
    texts = [answer(GOLD), answer("SELECT name FROM singer"), answer("DROP TABLE singer")]
    for path, dialect in ((str(duck), "duckdb"), (f"sqlite:///{db}", "sqlite")):
        cols = {"db_path": [path] * 3, "gold_sql": [GOLD] * 3, "dialect": [dialect] * 3}
        assert execution_reward(texts, **cols) == [2.0, 2.0, -2.0]
        assert result_reward(texts, **cols) == [3.0, -3.0, 0.0]
    assert sha256(duck) == before


def test_bundled_shop_database_pairs(tmp_path: Path) -> None:
    shop = tmp_path / "shop.sqlite"
    shutil.copyfile(bundled_db_path(), shop)
    before = sha256(shop)
    pairs = json.loads((bundled_db_path().parent / "shop_pairs.json").read_text(encoding="utf-8"))
    golds = [p["sql"] for p in pairs]
    n = len(golds)
    cols = {"db_path": [str(shop)] * n, "gold_sql": golds}
    own = [answer(f"```sql\n{sql}\n```", think=p["question"]) for sql, p in zip(golds, pairs, strict=True)]
    assert result_reward(own, **cols) == [3.0] * n  # every gold query matches itself through the whole pipeline
    # Each pair's neighbour's query: runs, and is judged by its result (some neighbours may agree by chance).
    shifted = [own[(i + 1) % n] for i in range(n)]
    got = result_reward(shifted, **cols)
    assert set(got) <= {3.0, -3.0} and got.count(-3.0) >= n - 5
    assert cache_stats()["gold_runs"] == len(set(golds))
    assert sha256(shop) == before


# --- docs and TRL -----------------------------------------------------------------------------------------------

def test_module_doctests() -> None:
    result = doctest.testmod(rewards)
    assert result.attempted >= 4
    assert result.failed == 0


def test_trl_accepts_the_functions_and_weights(db: Path, tmp_path: Path) -> None:
    """What GRPOTrainer does with them, short of a model: name them, sort sync from async, take the weights;
    bound functions survive pickling (TRL names a partial after the function it wraps)."""
    pytest.importorskip("trl")
    import pickle

    from trl import GRPOConfig
    from trl.trainer.utils import get_callable_name, is_async_callable

    funcs, weights = reward_functions({"format": 1.0, "execution": 1.0, "result": 2.0, "length": 0.5},
                                      settings=RewardSettings(timeout=1.0))
    assert [get_callable_name(f) for f in funcs] == [
        "format_reward", "execution_reward", "result_reward", "length_reward"]
    assert not any(is_async_callable(f) for f in funcs)
    config = GRPOConfig(output_dir=str(tmp_path / "grpo"), reward_weights=weights, use_cpu=True, report_to="none")
    assert config.reward_weights == [1.0, 1.0, 2.0, 0.5]
    # The call GRPOTrainer._calculate_rewards makes: keywords only, plus its own extras next to the columns.
    extras = {"completion_ids": [[1, 2]], "trainer_state": None, "log_extra": None, "log_metric": None}
    call = {"prompts": [[{"role": "user", "content": "Who is over 40?"}]],
            "completions": [chat(answer(GOLD))], **columns(db, 1), **extras}
    copies = pickle.loads(pickle.dumps(funcs))
    assert [f(**call) for f in copies] == [[1.0], [2.0], [3.0], [pytest.approx(
        0.5 * (len(parse_completion(answer(GOLD)).reasoning) + len(GOLD)) / 2048 + 1.0)]]
