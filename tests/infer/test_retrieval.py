"""Value retrieval: BM25 over the stored text values, fuzzy fallback, caching."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tunesql.db.connect import open_database
from tunesql.infer.retrieval import (
    ValueHit,
    clear_cache,
    filter_hits,
    get_value_index,
    retrieve_values,
    tokenize,
)


@pytest.fixture(scope="module")
def shop_index():
    db = open_database(None)
    yield get_value_index(db)
    db.close()


def _make_db(path: Path, cities: list[str], note: str = "x" * 500) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE shops (id INTEGER PRIMARY KEY, city TEXT, note TEXT, size INTEGER)")
    conn.executemany("INSERT INTO shops (city, note, size) VALUES (?, ?, ?)",
                     [(c, note, i) for i, c in enumerate(cities)])
    conn.commit()
    conn.close()
    return path


def test_finds_the_store_named_in_the_question(shop_index) -> None:
    hits = retrieve_values("How many orders were placed in Sanlitun?", shop_index)
    assert hits[0] == ValueHit("stores", "name", "Beijing Sanlitun", hits[0].score)
    assert hits[0].score > 0


def test_lowercase_word_finds_a_longer_value(shop_index) -> None:
    hits = retrieve_values("customers in beijing", shop_index)
    found = {(h.table, h.column, h.value) for h in hits}
    assert ("stores", "name", "Beijing Sanlitun") in found
    assert ("customers", "city", "Beijing") in found
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_fuzzy_fallback_for_a_typo(shop_index) -> None:
    hits = retrieve_values("orders in Sanlitn", shop_index, k=3)
    assert hits and hits[0].value == "Beijing Sanlitun"


def test_chinese_question_matches_chinese_values(shop_index) -> None:
    hits = retrieve_values("三里屯的订单", shop_index, k=3)
    assert hits and hits[0].column == "name_zh" and "三里屯" in hits[0].value


def test_numbers_and_function_words_are_ignored() -> None:
    assert tokenize("How many orders in 2023 were in Beijing?") == ["orders", "beijing"]
    assert tokenize("wechat_pay") == ["wechat", "pay"]


def test_nothing_matches_nothing(shop_index) -> None:
    assert retrieve_values("how many in 2023", shop_index) == []
    assert retrieve_values("Beijing", shop_index, k=0) == []


def test_per_column_cap(shop_index) -> None:
    hits = retrieve_values("Beijing Shanghai Singapore Hangzhou Chengdu cities", shop_index, k=20, per_column=2)
    per: dict[tuple[str, str], int] = {}
    for h in hits:
        per[(h.table, h.column)] = per.get((h.table, h.column), 0) + 1
    assert max(per.values()) <= 2


def test_index_skips_long_texts_and_numbers_and_caps_columns(tmp_path: Path) -> None:
    path = _make_db(tmp_path / "t.sqlite", [f"Town {chr(65 + i)}{chr(66 + i)}q" for i in range(20)])
    with open_database(path) as db:
        index = get_value_index(db, max_values_per_column=5)
    assert {c for _, c, _ in index.entries} == {"city"}  # note is too long, size is a number
    assert len(index.entries) == 5


def test_index_is_cached_in_memory_and_on_disk(tmp_path: Path) -> None:
    path = _make_db(tmp_path / "c.sqlite", ["Beijing Sanlitun", "Shanghai"])
    cache = tmp_path / "cache"
    with open_database(path) as db:
        first = get_value_index(db, cache_dir=cache)
        assert get_value_index(db, cache_dir=cache) is first
    files = list(cache.glob("values-*.json"))
    assert len(files) == 1
    clear_cache()
    # With the memory cache gone, the entries come back from the JSON file.
    with open_database(path) as db:
        again = get_value_index(db, cache_dir=cache)
    assert again is not first and again.entries == first.entries
    assert retrieve_values("sanlitun", again)[0].value == "Beijing Sanlitun"


def test_a_changed_database_is_reindexed(tmp_path: Path) -> None:
    path = _make_db(tmp_path / "m.sqlite", ["Shanghai"])
    with open_database(path) as db:
        before = get_value_index(db)
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO shops (city, note, size) VALUES ('Hangzhou', 'n', 1)")
    conn.commit()
    conn.close()
    with open_database(path) as db:
        after = get_value_index(db)
    assert after is not before
    assert "Hangzhou" in {v for _, _, v in after.entries}


def test_filter_hits_keeps_only_shown_columns() -> None:
    db = open_database(None)
    schema = db.schema(samples=0, row_counts=False)
    db.close()
    hits = [ValueHit("stores", "name", "Beijing Sanlitun", 1.0), ValueHit("gone", "x", "y", 1.0),
            ValueHit("stores", "nope", "z", 1.0)]
    assert filter_hits(hits, schema) == hits[:1]


def test_words_that_name_the_schema_are_not_searched_as_values() -> None:
    """'customers' names a table: it must not pull in employees.title = 'Customer Service Specialist'."""
    from tunesql.db.connect import open_database
    from tunesql.infer.retrieval import get_value_index, retrieve_values

    with open_database(None) as db:
        index = get_value_index(db)
        hits = retrieve_values("How many customers do we have?", index, k=10)
        assert not any("Customer" in h.value for h in hits), hits
        assert any(h.value == "Beijing Sanlitun" for h in retrieve_values("orders in Sanlitun", index, k=5))
