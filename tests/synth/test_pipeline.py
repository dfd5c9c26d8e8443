"""``tunesql synth`` end to end over real HTTP: a scripted OpenAI-compatible server on loopback plays the LLM.

The script answers the planning request with topics and each generation request with a batch mixing good pairs
and every kind of bad one (a write, an unknown column, a query with no rows, a syntax error, a repeated template,
a near-duplicate question, an unreadable answer), so every rejection reason is produced by a real case.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.infer.openai_server import FakeOpenAIServer
from tunesql.cli import app
from tunesql.db.connect import bundled_db_path
from tunesql.synth.config import load_synth_config
from tunesql.synth.plan import PLAN_SYSTEM
from tunesql.synth.record import read_pairs

SHOP_GOOD = [  # (question, SQL) pairs that run on the bundled shop database and return rows
    ("List the names of all regions.", "SELECT name FROM regions"),
    ("Which suppliers are based in Germany?", "SELECT name FROM suppliers WHERE country = 'Germany'"),
    ("How many customers signed up?", "SELECT COUNT(*) FROM customers"),
    ("What is the most expensive product?", "SELECT name FROM products ORDER BY unit_price DESC LIMIT 1"),
    ("Show each store's city.", "SELECT name, city FROM stores"),
    ("What is the average rating of reviews?", "SELECT AVG(rating) FROM reviews"),
    ("How many orders does every status have?", "SELECT status, COUNT(*) FROM orders GROUP BY status"),
    ("Which employees earn more than 8000 a month?", "SELECT name FROM employees WHERE monthly_salary > 8000"),
    ("Total paid per payment method?", "SELECT method, SUM(amount) FROM payments GROUP BY method"),
    ("Name the product categories without a parent.", "SELECT name FROM categories WHERE parent_id IS NULL"),
    ("Which customers live in the region with the most customers?",
     "SELECT c.name FROM customers c WHERE c.region_id = (SELECT region_id FROM customers GROUP BY region_id "
     "ORDER BY COUNT(*) DESC LIMIT 1)"),
    ("How many order lines has each order?", "SELECT order_id, COUNT(*) FROM order_items GROUP BY order_id"),
    ("Which products were never reviewed?",
     "SELECT name FROM products WHERE id NOT IN (SELECT product_id FROM reviews)"),
    ("Count the products supplied by each supplier.",
     "SELECT s.name, COUNT(p.id) FROM suppliers s JOIN products p ON p.supplier_id = s.id GROUP BY s.name"),
]
BAD = [
    ("Remove every customer from the system please.", "DELETE FROM customers"),
    ("What is the favourite colour of each customer?", "SELECT favourite_colour FROM customers"),
    ("Which customers live in the city of Atlantis?", "SELECT name FROM customers WHERE city = 'Atlantis'"),
    ("Which orders were cancelled last week?", "SELEC id FRM orders"),
    ("Which customers live in Paris or Lyon?", "SELECT name FROM customers WHERE (city = 'Paris' OR city = 'Lyon'"),
    ("How many suppliers are from France?", "SELECT name FROM suppliers WHERE country = 'France'"),  # template dup
    ("List all the names of all the regions.", "SELECT name, country FROM regions"),  # near-duplicate question
]


def _seed_of(body: dict[str, Any]) -> int:
    return int(body.get("seed") or 0)


def shop_llm(body: dict[str, Any], index: int) -> str:
    """The scripted LLM: a plan for the planning request, a batch of pairs (or an unreadable answer) otherwise."""
    system = body["messages"][0]["content"]
    user = body["messages"][-1]["content"]
    if system == PLAN_SYSTEM:
        groups = re.findall(r"^Group (\d+):", user, flags=re.M)
        return "Here is the plan:\n" + json.dumps(
            [{"group": int(g), "topic": f"Topic {g}", "weight": 1 + int(g) % 3} for g in groups])
    size = int(re.search(r"Write (\d+) different", user).group(1))  # type: ignore[union-attr]
    seed = _seed_of(body)
    if "Topic: Topic 2\n" in user and "at the HARD level" in user:
        return "I am sorry, I cannot write SQL for this database."
    picked = random.Random(seed).sample(SHOP_GOOD + BAD, max(size, 4))  # models often write more than asked
    return "```json\n" + json.dumps([{"question": q, "sql": s} for q, s in picked]) + "\n```"


@pytest.fixture
def llm():
    server = FakeOpenAIServer(completion=shop_llm)
    server.url = server.start()  # type: ignore[attr-defined]
    yield server
    server.stop()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_synth_on_the_bundled_database_end_to_end(llm: FakeOpenAIServer, tmp_path: Path) -> None:
    db = tmp_path / "shop.sqlite"
    shutil.copyfile(bundled_db_path(), db)
    before = _sha(db)
    out = tmp_path / "synth"
    args = ["synth", "--db", str(db), "--llm", llm.url, "--model", "m", "--n", "10", "--out", str(out),
            "--set", "generate.batch_size=6", "--set", "generate.max_rounds=2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "accepted" in result.output and "rejected because" in result.output
    assert _sha(db) == before, "synthesis changed the database"

    summary = json.loads((out / "summary.json").read_text())
    assert 0 < summary["accepted"] <= 10
    reasons = summary["rejected_by_reason"]
    for reason in ("not read-only", "unknown table or column", "no rows", "no SQL", "does not parse",
                   "duplicate SQL template", "near-duplicate question", "unreadable LLM answer"):
        assert reasons.get(reason, 0) > 0, (reason, reasons)
    plan = json.loads((out / "plan.json").read_text())
    assert {t["named_by"] for t in plan} == {"llm"} and sum(t["budget"] for t in plan) == 10
    covered = {table for t in plan for table in t["tables"]}
    assert covered == {"categories", "customers", "employees", "order_items", "orders", "payments", "products",
                       "regions", "reviews", "stores", "suppliers"}

    pairs = read_pairs(out / "candidates.jsonl")
    for p in pairs:
        if p.status == "rejected":
            assert p.reason and (p.detail or p.reason in ("near-duplicate question", "duplicate SQL template"))
        else:
            assert p.status == "accepted" and p.difficulty in ("easy", "medium", "hard", "extra")
    bad_sql = {s for _, s in BAD}
    kept = [p for p in pairs if p.accepted]
    assert not any(p.sql in bad_sql for p in kept if "France" not in p.sql and "country FROM regions" not in p.sql)
    delete = [p for p in pairs if p.sql.startswith("DELETE")]
    assert delete and all(p.reason == "not read-only" for p in delete)

    from tunesql.data.example import read_examples

    examples = read_examples(out / "pairs.jsonl")
    assert len(examples) == summary["accepted"]
    assert all(e.dialect == "sqlite" and e.source == "synth/synth" and e.meta["topic"] for e in examples)
    alpaca = json.loads((out / "pairs_alpaca.json").read_text())
    assert len(alpaca) == len(examples) and alpaca[0]["output"] == examples[0].sql
    assert "m_synth_alpaca" not in (out / "dataset_info.json").read_text()  # registered under the db_id
    assert "shop_synth_alpaca" in json.loads((out / "dataset_info.json").read_text())

    # Re-running the same command costs nothing and changes nothing.
    sent = len(llm.requests)
    pairs_before = (out / "pairs.jsonl").read_text()
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert len(llm.requests) == sent, "a re-run sent requests again"
    assert (out / "pairs.jsonl").read_text() == pairs_before
    assert json.loads((out / "summary.json").read_text())["llm"]["cache_hits"] > 0


def test_a_bigger_target_resumes_where_the_last_run_stopped(llm: FakeOpenAIServer, tmp_path: Path) -> None:
    from tunesql.synth.pipeline import run_synth

    out = tmp_path / "synth"
    base = [f"llm.base_url={llm.url}", "llm.model=m", f"output.dir={out}", "generate.batch_size=5",
            "generate.max_rounds=1", "validate.balance=false"]
    first = run_synth(load_synth_config(None, [*base, "generate.n=5"]), progress=False)
    decided = {p.id: p.status for p in first.pairs}
    assert 0 < len(first.accepted) <= 5
    sent = len(llm.requests)
    second = run_synth(load_synth_config(None, [*base, "generate.n=12", "generate.max_rounds=3"]), progress=False)
    assert len(llm.requests) > sent  # it asked for what was missing
    assert len(second.accepted) > len(first.accepted)
    # Earlier decisions stand (ids are stable, nothing was validated twice), except surplus trimmed at n=5.
    again = {p.id: p.status for p in second.pairs if p.id in decided}
    changed = {i for i in decided if again.get(i) != decided[i]}
    assert all(decided[i] == "rejected" for i in changed) or not changed


def test_endpoint_failures_are_counted_not_fatal(llm: FakeOpenAIServer, tmp_path: Path) -> None:
    from tunesql.synth.pipeline import run_synth

    llm.fail_with = [500] * 3  # the planning request and the first generation requests fail
    job = load_synth_config(None, [f"llm.base_url={llm.url}", "llm.model=m", f"output.dir={tmp_path / 's'}",
                                   "llm.max_retries=0", "llm.concurrency=1", "generate.n=4",
                                   "generate.max_rounds=1"])
    result = run_synth(job, progress=False)
    assert {t.named_by for t in result.topics} == {"fallback"}  # the plan request failed: named by tables
    summary = result.summary()
    assert summary["rejected_by_reason"].get("LLM request failed") == 2
    assert summary["llm"]["failures"] == 3


def test_bad_config_is_refused_with_the_key(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["synth", "--model", "m", "--set", "generate.levels={easy: 1, insane: 2}",
                                      "--check"])
    assert result.exit_code == 1 and "insane" in result.output and "generate.levels" in result.output
    result = CliRunner().invoke(app, ["synth", "--set", "generate.batchsize=3", "--check"])
    assert result.exit_code == 1 and "generate.batchsize" in result.output and "batch_size" in result.output
    result = CliRunner().invoke(app, ["synth", "--llm", "http://127.0.0.1:9/v1", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "llm.model is required" in result.output


def test_synth_on_postgresql_writes_postgres_sql_the_trainer_can_read(llm: FakeOpenAIServer, pg_url: str,
                                                                     tmp_path: Path) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE regions (id int PRIMARY KEY, name text, country text)"))
        conn.execute(sa.text("CREATE TABLE suppliers (id int PRIMARY KEY, name text, country text, "
                             "region_id int REFERENCES regions(id))"))
        conn.execute(sa.text("INSERT INTO regions VALUES (1, 'North', 'DE'), (2, 'South', 'FR')"))
        conn.execute(sa.text("INSERT INTO suppliers VALUES (1, 'Acme', 'Germany', 1), (2, 'Bolt', 'France', 2)"))
    engine.dispose()

    def pg_llm(body: dict[str, Any], index: int) -> str:
        if body["messages"][0]["content"] == PLAN_SYSTEM:
            return '[{"group": 1, "topic": "Sourcing", "weight": 2}]'
        assert "PostgreSQL" in body["messages"][-1]["content"]
        seed = _seed_of(body) % 3
        return json.dumps([
            {"question": f"Which suppliers have a name matching 'a' (variant {seed})?",
             "sql": "SELECT name::text FROM suppliers WHERE name ILIKE '%a%'"},
            {"question": "How many suppliers does each region have?",
             "sql": "SELECT r.name, COUNT(s.id) FROM regions r JOIN suppliers s ON s.region_id = r.id GROUP BY r.name"},
            {"question": "Show supplier names in MySQL quoting.", "sql": "SELECT `name` FROM suppliers"},
        ])

    llm.completion = pg_llm
    from tunesql.synth.pipeline import run_synth

    out = tmp_path / "pg"
    job = load_synth_config(None, [f"db.url={pg_url}", f"llm.base_url={llm.url}", "llm.model=m",
                                   f"output.dir={out}", "generate.n=2", "generate.max_rounds=1"])
    result = run_synth(job, progress=False)
    kept = {p.sql for p in result.accepted}
    assert "SELECT name::text FROM suppliers WHERE name ILIKE '%a%'" in kept
    assert all(p.dialect == "postgres" for p in result.pairs)
    assert result.summary()["rejected_by_reason"].get("does not parse", 0) >= 1  # backticks are not PostgreSQL
    urls = json.loads((out / "databases.json").read_text())
    assert list(urls.values()) == [pg_url.replace("postgresql+psycopg", "postgresql+psycopg")]

    from tunesql.train.config import DataSection
    from tunesql.train.data import build_training_data

    data = build_training_data(DataSection(train=[str(out / "pairs.jsonl")], values=True), progress=False)
    assert len(data.records) == len(result.accepted)
    first = data.records[0]
    assert "suppliers" in first["prompt"][-1]["content"] and first["completion"][0]["content"] in kept


def test_synth_output_trains(llm: FakeOpenAIServer, tiny_train_model: Path, tmp_path: Path) -> None:
    """The accepted pairs go straight into ``tunesql train sft`` (two real optimizer steps on a tiny model)."""
    from tunesql.synth.pipeline import run_synth
    from tunesql.train.config import load_config
    from tunesql.train.sft import run_sft

    out = tmp_path / "synth"
    run_synth(load_synth_config(None, [f"llm.base_url={llm.url}", "llm.model=m", f"output.dir={out}",
                                       "generate.n=6", "generate.max_rounds=1"]), progress=False)
    job = load_config("sft", None, [f"model.name={tiny_train_model}", f"train.output_dir={tmp_path / 'run'}",
                                    f"data.train=[{out / 'pairs.jsonl'}]", "data.values=false",
                                    "data.budget_tokens=150", "data.max_length=4096", "train.max_steps=2",
                                    "train.batch_size=1", "train.grad_accum=1", "ex_eval.limit=0"])
    result = run_sft(job, progress=False)
    assert result.steps == 2
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert "training records from" in summary["data"] and "pairs.jsonl" in summary["data"]


def test_the_shipped_synth_recipe_loads() -> None:
    from tunesql.train.config import recipe_path

    job = load_synth_config(recipe_path("synth-local"))
    assert job.generate.levels == {"easy": 1, "medium": 2, "hard": 1} and job.llm.timeout == 600
    assert job.output.formats == ["alpaca", "messages"]
