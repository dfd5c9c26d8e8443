"""Deduplication by SQL template and near-duplicate question, and balancing by measured difficulty."""

from __future__ import annotations

import copy
import random
import time
from collections import Counter

import pytest

from tunesql.synth.dedupe import (
    DUPLICATE_TEMPLATE,
    NEAR_DUPLICATE,
    OVER_QUOTA,
    balance,
    dedupe,
    near_duplicate,
    question_tokens,
    sql_template,
)
from tunesql.synth.record import ACCEPTED, PENDING, REJECTED, Pair


def _pair(pid: str, question: str, sql: str = "SELECT 1", *, db_id: str = "shop", dialect: str = "sqlite",
          status: str = ACCEPTED, difficulty: str | None = None) -> Pair:
    return Pair(id=pid, question=question, sql=sql, db_id=db_id, dialect=dialect, status=status,
                difficulty=difficulty)


# --- templates ------------------------------------------------------------------------------------------------

SAME_TEMPLATE = [
    ("SELECT name FROM customers WHERE city = 'Beijing'", "select NAME from customers where city='Shanghai';"),
    ("SELECT name FROM customers WHERE birth_year > 1990", "SELECT   name\n  FROM customers\n WHERE birth_year>-5"),
    ("SELECT T1.name FROM customers AS T1 WHERE T1.city = 'Xian'",
     "SELECT c.name FROM customers c WHERE c.city = 'Wuhan'"),
    ('SELECT name FROM customers WHERE city = "Beijing"', "SELECT name FROM customers WHERE city = 'Chengdu'"),
    ("SELECT COUNT(*) AS n FROM orders LIMIT 3", "SELECT count(*) AS total FROM orders LIMIT 10"),
    ("SELECT id FROM orders WHERE status IN ('new', 'paid')", "SELECT id FROM orders WHERE status IN ('cancelled')"),
    ("SELECT name AS name FROM products", "SELECT name FROM products"),
    ("SELECT c.name, SUM(o.total_amount) FROM customers AS c JOIN orders AS o ON o.customer_id = c.id "
     "GROUP BY c.name HAVING SUM(o.total_amount) > 1000",
     "SELECT customers.name, sum(orders.total_amount) FROM customers JOIN orders "
     "ON orders.customer_id = customers.id GROUP BY customers.name HAVING sum(orders.total_amount) > 5"),
    ("WITH tot AS (SELECT customer_id, SUM(total_amount) AS s FROM orders GROUP BY customer_id) "
     "SELECT tot.s FROM tot ORDER BY tot.s DESC LIMIT 1",
     "WITH spent AS (SELECT customer_id, SUM(total_amount) AS amount FROM orders GROUP BY customer_id) "
     "SELECT spent.amount FROM spent ORDER BY spent.amount DESC LIMIT 5"),
]

DIFFERENT_TEMPLATE = [
    ("SELECT name FROM customers WHERE city = 'Beijing'", "SELECT name FROM customers WHERE segment = 'Beijing'"),
    ("SELECT name FROM customers WHERE city = 'Beijing'", "SELECT email FROM customers WHERE city = 'Beijing'"),
    ("SELECT name FROM customers WHERE birth_year > 1990", "SELECT name FROM customers WHERE birth_year < 1990"),
    ("SELECT COUNT(*) FROM orders", "SELECT COUNT(*) FROM orders WHERE status = 'new'"),
    ("SELECT name FROM customers ORDER BY name", "SELECT name FROM customers ORDER BY name DESC"),
    ("SELECT city FROM customers", "SELECT DISTINCT city FROM customers"),
    ("SELECT name FROM customers WHERE city = 'A' AND segment = 'b'",
     "SELECT name FROM customers WHERE city = 'A' OR segment = 'b'"),
    ("SELECT name FROM stores", "SELECT name FROM suppliers"),
]


@pytest.mark.parametrize(("a", "b"), SAME_TEMPLATE)
def test_same_template(a: str, b: str) -> None:
    assert sql_template(a, "sqlite") == sql_template(b, "sqlite")


@pytest.mark.parametrize(("a", "b"), DIFFERENT_TEMPLATE)
def test_different_template(a: str, b: str) -> None:
    assert sql_template(a, "sqlite") != sql_template(b, "sqlite")


def test_template_hides_every_literal() -> None:
    template = sql_template("SELECT name FROM products WHERE unit_price BETWEEN 10.5 AND 99 "
                            "AND name LIKE '%Nova%' LIMIT 7", "sqlite")
    for literal in ("10.5", "99", "Nova", "7"):
        assert literal not in template
    assert "name" in template and "products" in template


def test_template_in_other_dialects_and_unparsable_text() -> None:
    pg = "SELECT name::text FROM authors WHERE name ILIKE 'a%'"
    assert sql_template(pg, "postgres") == sql_template("select NAME::TEXT from AUTHORS where name ilike 'b%'",
                                                        "postgresql")
    assert sql_template("SELEC name  FRM t;", "sqlite") == sql_template("selec NAME frm t", "sqlite")
    assert sql_template("SELEC name FRM t", "sqlite") != sql_template("SELEC city FRM t", "sqlite")


# --- questions ------------------------------------------------------------------------------------------------


def test_question_tokens() -> None:
    assert question_tokens("How many Customers live in Beijing?") == {"how", "many", "customers", "live", "beijing"}
    assert question_tokens("List all the customers in Beijing.") == question_tokens("Show customers from Beijing")
    assert question_tokens("Orders in 2023") != question_tokens("Orders in 2024")
    assert question_tokens("北京客户") == {"北京", "京客", "客户"}
    assert question_tokens("Which of the") == frozenset()


def test_near_duplicate_threshold() -> None:
    a = frozenset("abcde")
    b = frozenset("abcdx")  # 4 shared of 6
    c = frozenset("abcd")  # 4 shared of 5: exactly 0.8
    assert near_duplicate(a, c, 0.8) and near_duplicate(c, a, 0.8)
    assert not near_duplicate(a, b, 0.8) and near_duplicate(a, b, 0.6)
    assert near_duplicate(frozenset(), frozenset())
    assert not near_duplicate(frozenset(), a, 0.1)


# --- dedupe ---------------------------------------------------------------------------------------------------


def test_dedupe_rejects_repeats_in_order() -> None:
    pairs = [
        _pair("a", "Which customers live in Beijing?", "SELECT name FROM customers WHERE city = 'Beijing'"),
        _pair("b", "Who are the customers living in Shanghai?", "SELECT name FROM customers WHERE city = 'Shanghai'"),
        _pair("c", "Show the customers who live in Beijing",
              "SELECT name, email FROM customers WHERE city = 'Beijing'"),
        _pair("d", "How many orders were cancelled?", "SELECT COUNT(*) FROM orders WHERE status = 'cancelled'"),
        _pair("e", "What is the average product price?", "SELECT AVG(unit_price) FROM products"),
        _pair("f", "Which customers live in Beijing?", "SELECT name FROM customers WHERE city = 'Beijing'",
              db_id="other"),  # same question and SQL on another database: not a duplicate
    ]
    rejected = dedupe(pairs)
    assert [p.id for p in rejected] == ["b", "c"]
    assert (pairs[1].status, pairs[1].reason, pairs[1].detail) == (REJECTED, DUPLICATE_TEMPLATE, "a")
    assert (pairs[2].status, pairs[2].reason, pairs[2].detail) == (REJECTED, NEAR_DUPLICATE, "a")
    assert all(p.status == ACCEPTED for p in pairs if p.id in {"a", "d", "e", "f"})


def test_dedupe_max_per_template() -> None:
    pairs = [_pair(str(i), f"Customers born after {1980 + i} in segment {i}",
                   f"SELECT name FROM customers WHERE birth_year > {1980 + i}") for i in range(5)]
    rejected = dedupe(pairs, max_per_template=3)
    assert [p.id for p in rejected] == ["3", "4"]
    assert {p.detail for p in rejected} == {"0"}


def test_dedupe_only_considers_accepted_pairs() -> None:
    sql = "SELECT name FROM customers"
    pending = _pair("p", "List customer names", sql, status=PENDING)
    earlier = _pair("r", "List customer names", sql, status=REJECTED)
    earlier.reason = "no rows"
    kept = _pair("k", "List customer names", sql)
    rejected = dedupe([pending, earlier, kept])
    assert rejected == []
    assert (pending.status, earlier.status, earlier.reason, kept.status) == (PENDING, REJECTED, "no rows", ACCEPTED)


def test_dedupe_respects_seen() -> None:
    old = _pair("old", "Which customers live in Beijing?", "SELECT name FROM customers WHERE city = 'Beijing'")
    old_rejected = _pair("gone", "What is the average product price?", "SELECT AVG(unit_price) FROM products",
                         status=REJECTED)
    new = [
        _pair("n1", "Which customers live in Hangzhou?", "SELECT name FROM customers WHERE city = 'Hangzhou'"),
        _pair("n2", "Which of the customers live in Beijing?", "SELECT email FROM customers WHERE city = 'Beijing'"),
        _pair("n3", "What is the average product price?", "SELECT AVG(unit_price) FROM products"),
        copy.deepcopy(old),  # already kept in the earlier run: not judged against itself
    ]
    rejected = dedupe(new, seen=[old, old_rejected])
    assert [(p.id, p.reason, p.detail) for p in rejected] == [("n1", DUPLICATE_TEMPLATE, "old"),
                                                              ("n2", NEAR_DUPLICATE, "old")]
    assert new[2].accepted and new[3].accepted


def test_dedupe_arguments() -> None:
    with pytest.raises(ValueError, match="question_threshold"):
        dedupe([], question_threshold=0)
    with pytest.raises(ValueError, match="max_per_template"):
        dedupe([], max_per_template=0)


def _brute_force(pairs: list[Pair], threshold: float) -> list[tuple[str, str]]:
    kept: list[Pair] = []
    out = []
    for p in pairs:
        toks = question_tokens(p.question)
        other = next((k for k in kept if k.db_id == p.db_id
                      and near_duplicate(toks, question_tokens(k.question), threshold)), None)
        if other is None:
            kept.append(p)
        else:
            out.append((p.id, other.id))
    return out


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.6, 0.75, 0.8, 0.9, 1.0])
def test_question_index_equals_brute_force(threshold: float) -> None:
    rng = random.Random(int(threshold * 100))
    vocab = [f"w{i}" for i in range(30)]
    pairs = []
    for i in range(400):
        words = [vocab[min(int(rng.expovariate(1 / 6)), 29)] for _ in range(rng.randint(0, 7))]
        pairs.append(_pair(str(i), " ".join(words), db_id=rng.choice(["a", "b"])))
    expected = _brute_force(pairs, threshold)
    assert expected, "the random set should contain near-duplicates"
    rejected = dedupe(pairs, question_threshold=threshold, max_per_template=10**9)
    assert [(p.id, p.detail) for p in rejected] == expected
    assert all(p.reason == NEAR_DUPLICATE for p in rejected)


def test_dedupe_5000_questions_is_fast() -> None:
    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(2000)]
    common = ["customers", "orders", "products", "total", "city", "price"]
    questions: list[str] = []
    for i in range(5000):
        if i % 10 == 9:  # a reworded repeat of an earlier question: same words, other order
            words = questions[i - 5].split()
            rng.shuffle(words)
        else:
            words = rng.sample(common, 3) + [vocab[min(int(rng.expovariate(1 / 300)), 1999)]
                                             for _ in range(rng.randint(3, 9))]
        questions.append(" ".join(words))
    pairs = [_pair(str(i), q, "SELECT name FROM customers") for i, q in enumerate(questions)]
    start = time.perf_counter()
    rejected = dedupe(pairs, max_per_template=10**9)
    elapsed = time.perf_counter() - start
    assert elapsed < 10, f"dedupe of 5,000 questions took {elapsed:.1f} s"
    planted = {str(i) for i in range(9, 5000, 10)}
    assert planted <= {p.id for p in rejected}
    assert len(rejected) < 1000


# --- balance --------------------------------------------------------------------------------------------------


def _levelled(spec: dict[str | None, int]) -> list[Pair]:
    pairs, i = [], 0
    for level, n in spec.items():
        for _ in range(n):
            pairs.append(_pair(f"{level}-{i}", f"q{i}", difficulty=level))
            i += 1
    random.Random(3).shuffle(pairs)
    return pairs


def _kept(pairs: list[Pair]) -> Counter[str | None]:
    return Counter(p.difficulty for p in pairs if p.accepted)


def test_balance_caps_and_redistributes() -> None:
    pairs = _levelled({"easy": 30, "medium": 2, "hard": 10, None: 1})
    order = [p.id for p in pairs]
    rejected = balance(pairs, target=20)
    # 4 levels, 5 each; medium (2) and unknown (1) cannot fill theirs, so easy and hard share the other 17:
    # 8.5 each, the odd one going to the first level in order (easy).
    kept = _kept(pairs)
    assert sum(kept.values()) == 20
    assert kept == {"easy": 9, "medium": 2, "hard": 8, None: 1}
    assert len(rejected) == 23 and all(p.reason == OVER_QUOTA and p.status == REJECTED for p in rejected)
    assert [p.id for p in rejected] == [i for i in order if i in {p.id for p in rejected}]  # input order
    easy = [p for p in pairs if p.difficulty == "easy"]
    assert all(p.accepted for p in easy[:9]) and not any(p.accepted for p in easy[9:])  # earliest kept
    assert easy[9].detail == "easy: quota 9 of 30"


def test_balance_mix() -> None:
    pairs = _levelled({"easy": 10, "medium": 3, "hard": 10})
    balance(pairs, target=8, mix={"hard": 3, "easy": 1})
    assert _kept(pairs) == {"hard": 6, "easy": 2}

    pairs = _levelled({"easy": 10, "medium": 3, "hard": 10})
    balance(pairs, target=22, mix={"hard": 3, "easy": 1})  # weighted levels run out; medium fills the rest
    assert _kept(pairs) == {"hard": 10, "easy": 10, "medium": 2}


def test_balance_edges() -> None:
    pairs = _levelled({"easy": 5, "hard": 2})
    assert balance(pairs, target=None) == [] and all(p.accepted for p in pairs)
    assert balance(pairs, target=100) == [] and all(p.accepted for p in pairs)
    with pytest.raises(ValueError, match="target"):
        balance(pairs, target=-1)
    with pytest.raises(ValueError, match="mix"):
        balance(pairs, target=3, mix={"easy": -1})
    assert len(balance(pairs, target=0)) == 7


def test_balance_ignores_pairs_not_accepted() -> None:
    pairs = _levelled({"easy": 6, "hard": 6})
    for p in pairs[:4]:
        p.reject("no rows")
    before = {p.id: p.status for p in pairs}
    rejected = balance(pairs, target=4)
    assert all(p.reason == "no rows" for p in pairs[:4])
    assert sum(_kept(pairs).values()) == 4
    assert all(before[p.id] == ACCEPTED for p in rejected)


def test_balance_is_deterministic() -> None:
    a = _levelled({"easy": 17, "medium": 9, "hard": 4, "extra": 3, None: 2})
    b = copy.deepcopy(a)
    ra = balance(a, target=19)
    rb = balance(b, target=19)
    assert [p.id for p in ra] == [p.id for p in rb]
    assert [(p.id, p.status, p.detail) for p in a] == [(p.id, p.status, p.detail) for p in b]
