"""The evaluation runner: gold and prediction loading, pairing by id, summaries, robustness."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tunesql.data.example import Example, write_examples
from tunesql.data.spider import load_spider
from tunesql.errors import DataError
from tunesql.eval.execution import ExecConfig
from tunesql.eval.runner import evaluate, evaluate_text, load_gold, load_predictions

RUNAWAY = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


@pytest.fixture(scope="module")
def subset(spider_dir: Path) -> list[Example]:
    """Spider dev examples on three databases (ids stay the dev positions)."""
    dev = load_spider(spider_dir, "dev")
    keep = {"concert_singer": 8, "pets_1": 6, "car_1": 6}
    out, seen = [], dict.fromkeys(keep, 0)
    for ex in dev:
        if ex.db_id in keep and seen[ex.db_id] < keep[ex.db_id]:
            out.append(ex)
            seen[ex.db_id] += 1
    return out


@pytest.fixture
def gold_file(subset: list[Example], tmp_path: Path) -> Path:
    path = tmp_path / "gold.jsonl"
    write_examples(path, subset)
    return path


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def run(gold_file: Path, spider_dir: Path, pred: Path, **kw):
    gold = load_gold(gold_file, db_dir=spider_dir / "database")
    return evaluate(gold, [load_predictions(pred, gold)], **kw)[0]


def test_gold_vs_gold_is_100_percent_with_a_pool(gold_file, subset, spider_dir, tmp_path) -> None:
    pred = write_jsonl(tmp_path / "pred.jsonl", [{"id": ex.id, "sql": ex.sql} for ex in subset])
    report = run(gold_file, spider_dir, pred, workers=2)
    s = report["summary"]
    assert (s["ex"], s["ex_all"], s["exact_match"], s["token_f1"], s["exec_success"]) == (1.0, 1.0, 1.0, 1.0, 1.0)
    assert s["examples"] == s["scored"] == s["correct"] == len(subset)
    assert [e["id"] for e in report["examples"]] == [ex.id for ex in subset]
    assert set(s["by_difficulty"]) <= {"easy", "medium", "hard", "extra"}
    assert sum(r["count"] for r in s["by_difficulty"].values()) == len(subset)
    assert s["config"]["workers"] == 2 and s["config"]["semantics"] == "spider"
    for e in report["examples"]:
        assert {"id", "correct", "error", "seconds", "difficulty", "db_id", "status", "exact_match",
                "token_f1", "executed"} <= set(e)


def test_shuffled_jsonl_pairs_by_id_and_accepts_other_keys(gold_file, subset, spider_dir, tmp_path) -> None:
    records = [{"id": ex.id, ("sql", "pred", "query")[i % 3]: ex.sql} for i, ex in enumerate(subset)]
    random.Random(1).shuffle(records)
    # One deliberately wrong answer, so pairing by position would show up as several.
    wrong_id = subset[3].id
    for r in records:
        if r["id"] == wrong_id:
            for k in ("sql", "pred", "query"):
                if k in r:
                    r[k] = "SELECT 12345"
    report = run(gold_file, spider_dir, write_jsonl(tmp_path / "pred.jsonl", records), workers=1)
    verdicts = {e["id"]: e["correct"] for e in report["examples"]}
    assert [i for i, ok in verdicts.items() if not ok] == [wrong_id]


def test_duplicate_and_unknown_ids_name_the_line(gold_file, subset, spider_dir, tmp_path) -> None:
    gold = load_gold(gold_file, db_dir=spider_dir / "database")
    dup = write_jsonl(tmp_path / "dup.jsonl", [{"id": subset[0].id, "sql": "SELECT 1"},
                                               {"id": subset[1].id, "sql": "SELECT 1"},
                                               {"id": subset[0].id, "sql": "SELECT 2"}])
    with pytest.raises(DataError, match=r"dup\.jsonl.*line 3: id '0' repeats line 1"):
        load_predictions(dup, gold)
    unknown = write_jsonl(tmp_path / "unknown.jsonl", [{"id": "999999", "sql": "SELECT 1"}])
    with pytest.raises(DataError, match=r"line 1: id '999999' is not in the gold set"):
        load_predictions(unknown, gold)
    no_id = write_jsonl(tmp_path / "noid.jsonl", [{"sql": "SELECT 1"}])
    with pytest.raises(DataError, match=r"line 1: no 'id'"):
        load_predictions(no_id, gold)


def test_missing_predictions_count_as_wrong_with_a_warning(gold_file, subset, spider_dir, tmp_path) -> None:
    pred = write_jsonl(tmp_path / "pred.jsonl", [{"id": ex.id, "sql": ex.sql} for ex in subset[2:]])
    report = run(gold_file, spider_dir, pred, workers=1)
    s = report["summary"]
    assert s["no_prediction"] == 2 and s["correct"] == len(subset) - 2
    assert any("2 of" in w and "no prediction" in w for w in s["warnings"])
    first = report["examples"][0]
    assert (first["correct"], first["error"], first["status"]) == (False, "no prediction", "no prediction")


def test_plain_text_pairs_by_line_only_for_positional_gold(spider_dir, tmp_path) -> None:
    gold_tsv = tmp_path / "gold.sql"
    gold_tsv.write_text("SELECT count(*) FROM singer\tconcert_singer\n\nSELECT name FROM singer\tconcert_singer\n")
    gold = load_gold(gold_tsv, db_dir=spider_dir / "database")
    assert [ex.id for ex in gold.examples] == ["0", "1"] and gold.positional
    pred = tmp_path / "pred.txt"
    pred.write_text("SELECT count(*) FROM singer\tconcert_singer\nSELECT name FROM singer\n\n")
    report = evaluate(gold, [load_predictions(pred, gold)], workers=1)[0]
    assert report["summary"]["ex"] == 1.0
    too_many = tmp_path / "many.txt"
    too_many.write_text("SELECT 1\nSELECT 2\nSELECT 3\n")
    with pytest.raises(DataError, match="line 3: more prediction lines"):
        load_predictions(too_many, gold)
    named = tmp_path / "named.jsonl"
    write_examples(named, [Example(id="q7", question="?", sql="SELECT 1", db_id="concert_singer")])
    with pytest.raises(DataError, match="gold ids are not positions"):
        load_predictions(pred, load_gold(named, db_dir=spider_dir / "database"))


def test_bad_and_runaway_predictions_never_stop_the_run(gold_file, subset, spider_dir, tmp_path) -> None:
    records = [{"id": ex.id, "sql": ex.sql} for ex in subset]
    records[0]["sql"] = RUNAWAY
    records[1]["sql"] = "SELECT FROM WHERE"
    records[2]["sql"] = "DROP TABLE singer"
    records[3]["sql"] = None
    report = run(gold_file, spider_dir, write_jsonl(tmp_path / "pred.jsonl", records), workers=2,
                 config=ExecConfig(timeout=0.5))
    status = [e["status"] for e in report["examples"]]
    assert status[:4] == ["timeout", "error", "error", "no prediction"]
    assert all(st == "correct" for st in status[4:])
    s = report["summary"]
    assert s["timeouts"] == 1 and s["correct"] == len(subset) - 4
    assert s["exec_success"] == pytest.approx((len(subset) - 4) / len(subset))


def test_missing_database_is_reported_not_scored(spider_dir, tmp_path) -> None:
    examples = [Example(id="a", question="?", sql="SELECT count(*) FROM singer", db_id="concert_singer"),
                Example(id="b", question="?", sql="SELECT count(*) FROM players", db_id="wta_1_absent")]
    gold_path = tmp_path / "gold.jsonl"
    write_examples(gold_path, examples)
    pred = write_jsonl(tmp_path / "pred.jsonl", [{"id": "a", "sql": examples[0].sql},
                                                 {"id": "b", "sql": examples[1].sql}])
    s = run(gold_path, spider_dir, pred, workers=1)["summary"]
    assert (s["examples"], s["scored"], s["correct"], s["database_missing"]) == (2, 1, 1, 1)
    assert s["ex"] == 1.0 and s["ex_all"] == 0.5
    assert s["database_missing_by_db"] == {"wta_1_absent": 1}


def test_spider_dev_loads_with_its_database_dir(spider_dir) -> None:
    gold = load_gold("spider:dev", spider_dir=spider_dir)
    assert len(gold.examples) == 1034 and gold.positional
    assert gold.db_dir == spider_dir / "database" and gold.schemas


def test_spider_and_bird_json_gold(spider_dir, tmp_path) -> None:
    spider_json = tmp_path / "dev.json"
    spider_json.write_text(json.dumps([{"db_id": "concert_singer", "query": "SELECT count(*) FROM singer",
                                        "question": "How many singers?"}]))
    g = load_gold(spider_json, db_dir=spider_dir / "database")
    assert (g.examples[0].id, g.examples[0].sql) == ("0", "SELECT count(*) FROM singer")
    bird_json = tmp_path / "bird.json"
    bird_json.write_text(json.dumps([{"question_id": 42, "db_id": "concert_singer", "question": "?",
                                      "SQL": "SELECT count(*) FROM singer", "difficulty": "simple"}]))
    g = load_gold(bird_json, db_dir=spider_dir / "database")
    assert (g.examples[0].id, g.examples[0].difficulty, g.positional) == ("42", "simple", False)
    pred = write_jsonl(tmp_path / "p.jsonl", [{"id": 42, "sql": "SELECT count(*) FROM singer"}])
    s = evaluate(g, [load_predictions(pred, g)], workers=1, config=ExecConfig(semantics="bird"))[0]["summary"]
    assert s["ex"] == 1.0 and list(s["by_difficulty"]) == ["simple"]
    assert s["config"]["semantics"] == "bird"


def test_two_prediction_sets_share_one_gold_run(gold_file, subset, spider_dir, tmp_path) -> None:
    gold = load_gold(gold_file, db_dir=spider_dir / "database")
    a = write_jsonl(tmp_path / "a.jsonl", [{"id": ex.id, "sql": ex.sql} for ex in subset])
    b = write_jsonl(tmp_path / "b.jsonl", [{"id": ex.id, "sql": "SELECT 1"} for ex in subset])
    ra, rb = evaluate(gold, [load_predictions(a, gold), load_predictions(b, gold)], workers=2)
    assert ra["summary"]["ex"] == 1.0 and rb["summary"]["correct"] == 0


def test_disk_cache_round_trip(gold_file, subset, spider_dir, tmp_path) -> None:
    pred = write_jsonl(tmp_path / "pred.jsonl", [{"id": ex.id, "sql": ex.sql} for ex in subset])
    first = run(gold_file, spider_dir, pred, workers=1, cache_dir=tmp_path / "cache")
    assert list((tmp_path / "cache").glob("gold-results-*.pkl"))
    second = run(gold_file, spider_dir, pred, workers=1, cache_dir=tmp_path / "cache")
    assert first["summary"]["ex"] == second["summary"]["ex"] == 1.0


def test_sql2nl_scores_bleu_and_rouge(tmp_path) -> None:
    examples = [Example(id="0", question="How many singers are there?", sql="SELECT count(*) FROM singer",
                        db_id="concert_singer", explanation="Counts the singers."),
                Example(id="1", question="List the names of all singers.", sql="SELECT name FROM singer",
                        db_id="concert_singer")]
    gold_path = tmp_path / "gold.jsonl"
    write_examples(gold_path, examples)
    gold = load_gold(gold_path)
    preds = write_jsonl(tmp_path / "p.jsonl", [{"id": "0", "text": "Counts the singers."}])
    report = evaluate_text(gold, load_predictions(preds, gold, task="sql2nl"))
    s = report["summary"]
    assert s["task"] == "sql2nl" and s["no_prediction"] == 1
    assert {"bleu4", "rouge1", "rouge2", "rougeL"} <= set(s)
    assert report["examples"][0]["rougeL"] == pytest.approx(1.0)
    assert report["examples"][1]["status"] == "no prediction"
