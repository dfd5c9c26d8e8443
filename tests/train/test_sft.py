"""SFT on a tiny random model built here: real TRL steps, real LoRA, real checkpoints, real execution accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunesql.errors import ConfigError, DataError
from tunesql.train.config import load_config

BASE = ["data.train=[shop]", "data.max_examples=6", "data.held_out=0.25", "data.values=false",
        "data.budget_tokens=150", "data.max_length=4096", "train.batch_size=1", "train.grad_accum=1",
        "train.save_steps=1", "train.learning_rate=1e-2", "train.lr_scheduler=constant",
        "ex_eval.limit=2", "ex_eval.max_new_tokens=8"]


def _job(model: Path, out: Path, *extra: str):
    return load_config("sft", None, [f"model.name={model}", f"train.output_dir={out}", *BASE, *extra])


def _lora_b(adapter_dir: Path) -> dict:
    from safetensors.torch import load_file

    weights = load_file(str(adapter_dir / "adapter_model.safetensors"))
    return {k: v for k, v in weights.items() if "lora_B" in k}


def test_lora_steps_change_weights_save_and_resume(tiny_train_model: Path, tmp_path: Path) -> None:
    from tunesql.train.sft import run_sft

    out = tmp_path / "run"
    result = run_sft(_job(tiny_train_model, out, "train.max_steps=2"), progress=False)
    assert result.steps == 2
    b = _lora_b(result.final_dir)
    # PEFT initialises lora_B to zeros: any non-zero entry was written by an optimizer step.
    assert b and any(float(t.abs().max()) > 0 for t in b.values())
    config = json.loads((result.final_dir / "adapter_config.json").read_text())
    assert config["r"] == 16 and config["target_modules"]
    assert (out / "checkpoint-2").is_dir() and (out / "config.yaml").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["data"].startswith("6 training records from shop (6)")
    assert " tokens on average (max " in summary["data"]  # counted under the chat template by drop_long
    # execution accuracy measured before the first step and after the last, on the 2 held-out questions
    assert [e["step"] for e in result.ex] == [0, 2] and all(e["n"] == 2 for e in result.ex)
    assert (out / "ex_step0.jsonl").is_file() and (out / "loss.png").stat().st_size > 1000
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("loss" in r for r in logged) and any("eval_ex" in r for r in logged)

    again = run_sft(_job(tiny_train_model, out, "train.max_steps=3"), progress=False)
    assert again.resumed_from is not None and again.resumed_from.endswith("checkpoint-2")
    assert again.steps == 3
    b3 = _lora_b(again.final_dir)
    assert any(not (b3[k] == b[k]).all() for k in b)  # the third step moved the weights on from the checkpoint


def test_full_fine_tuning_changes_the_base_weights(tiny_train_model: Path, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    from tunesql.train.sft import run_sft

    result = run_sft(_job(tiny_train_model, tmp_path / "full", "peft.method=full", "train.max_steps=1",
                          "ex_eval.limit=0", "train.learning_rate=1e-3"), progress=False)
    before = load_file(str(tiny_train_model / "model.safetensors"))
    after = load_file(str(result.final_dir / "model.safetensors"))
    changed = [k for k in before if k in after and not torch.equal(before[k], after[k])]
    assert len(changed) > len(before) // 2
    assert not (result.final_dir / "adapter_config.json").exists()


def test_sql2nl_and_both_directions(tmp_path: Path) -> None:
    from tunesql.train.data import build_training_data

    cfg = load_config("sft", None, ["data.task=both", "data.max_examples=3", "data.values=false"]).data
    data = build_training_data(cfg, progress=False)
    assert len(data.records) == 6
    ids = {r["id"].rsplit(":", 1)[1] for r in data.records}
    assert ids == {"nl2sql", "sql2nl"}
    explain = next(r for r in data.records if r["id"].endswith(":sql2nl"))
    assert "SQL:" in explain["prompt"][-1]["content"] and "gold_sql" not in explain
    nl2sql = next(r for r in data.records if r["id"].endswith(":nl2sql"))
    assert nl2sql["completion"][0]["content"] == nl2sql["gold_sql"].strip() and nl2sql["db_path"].endswith(".sqlite")


def test_training_prompts_are_the_inference_prompts() -> None:
    """What a tuned model is trained on is exactly what `tunesql ask` sends it (family=None)."""
    from tunesql.db.connect import open_database
    from tunesql.eval.runner import load_gold
    from tunesql.infer.pipeline import request_messages
    from tunesql.train.data import build_training_data

    cfg = load_config("sft", None, ["data.max_examples=5", "data.budget_tokens=400"]).data
    data = build_training_data(cfg, progress=False)
    gold = {ex.id: ex for ex in load_gold("shop").examples}
    with open_database(None) as db:
        schema = db.schema(samples=3, row_counts=False)
        for rec in data.records:
            ex = gold[rec["id"]]
            sent, _, _ = request_messages(ex.question, db, schema, schema_format="mschema", budget_tokens=400)
            # Same builder, same options; only the pruning may differ, because training hints the gold columns.
            assert rec["prompt"][0] == sent[0]
            assert rec["prompt"][1]["content"].split("\n")[0] == sent[1]["content"].split("\n")[0]
            assert rec["prompt"][1]["content"].endswith(sent[1]["content"].split("Question:")[-1])


def test_pruned_training_prompts_keep_the_gold_tables() -> None:
    from tunesql.eval.runner import load_gold
    from tunesql.sql.schema_check import referenced_tables
    from tunesql.train.data import build_training_data

    gold = {ex.id: ex for ex in load_gold("shop").examples}
    roomy = build_training_data(load_config("sft", None, ["data.budget_tokens=800"]).data, progress=False)
    assert len(roomy.records) == len(gold) and not roomy.dropped
    for rec in roomy.records:
        for table in referenced_tables(gold[rec["id"]].sql):
            assert f"# Table: {table}" in rec["prompt"][1]["content"], (rec["id"], table)
    # A budget too small for some answers' tables: those examples are dropped and counted, never kept blind.
    tight = build_training_data(load_config("sft", None, ["data.budget_tokens=120", "data.values=false"]).data,
                                progress=False)
    reason = "gold tables do not fit data.budget_tokens=120"
    assert tight.dropped[reason] > 0 and len(tight.records) + tight.dropped[reason] == len(gold)
    for rec in tight.records:
        for table in referenced_tables(gold[rec["id"]].sql):
            assert f"# Table: {table}" in rec["prompt"][1]["content"], (rec["id"], table)


def test_every_drop_is_explained(tmp_path: Path) -> None:
    from tunesql.data.example import Example, write_examples
    from tunesql.db.connect import bundled_db_path
    from tunesql.train.data import build_training_data

    (tmp_path / "database").mkdir()
    (tmp_path / "database" / "shop.sqlite").write_bytes(bundled_db_path().read_bytes())
    path = tmp_path / "pairs.jsonl"
    write_examples(path, [Example("a", "q?", "SELEC nope FROM", "shop"), Example("b", "q?", "SELECT 1", "elsewhere"),
                          Example("c", "q?", "SELECT count(*) FROM orders", "shop"),
                          Example("d", "q?", "", "shop")])
    cfg = load_config("sft", None, [f"data.train=[{path}]", "data.values=false", "data.task=reasoning"]).data
    with pytest.raises(DataError) as e:
        build_training_data(cfg, progress=False)
    msg = str(e.value)
    assert "no usable training example" in msg
    for expected in ("SQL does not parse (e.g. a)", "database missing (e.g. b)",
                     "no reasoning text (meta.reasoning) (e.g. c)", "no SQL (e.g. d)"):
        assert expected in msg


def test_drop_long_counts_instead_of_truncating(tiny_train_model: Path) -> None:
    from transformers import AutoTokenizer

    from tunesql.train.data import build_training_data, drop_long

    cfg = load_config("sft", None, ["data.max_examples=4", "data.values=false"]).data
    data = build_training_data(cfg, progress=False)
    tok = AutoTokenizer.from_pretrained(str(tiny_train_model))
    with pytest.raises(DataError, match=r"longer than data.max_length=64 tokens.*raise data.max_length"):
        drop_long(data, tok, 64)


def test_gpu_only_options_fail_before_loading(tmp_path: Path) -> None:
    from tunesql.train.sft import run_sft

    for override, expected in [("peft.method=qlora", "needs a CUDA GPU"),
                               ("model.attn_implementation=flash_attention_2", "needs a CUDA GPU"),
                               ("model.dtype=float16", "needs a GPU")]:
        job = load_config("sft", None, [override, "model.name=/nonexistent", f"train.output_dir={tmp_path}"])
        with pytest.raises(ConfigError, match=expected):
            run_sft(job, progress=False)
