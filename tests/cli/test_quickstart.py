"""The README's main job end to end, with the tiny random model in place of the 0.5B (measured in the README)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tunesql.cli import app


def test_quickstart_trains_and_reports_before_after(tiny_train_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "qs"
    res = CliRunner().invoke(app, [
        "quickstart", "--out", str(out), "--question", "How many customers do we have?",
        f"model.name={tiny_train_model}", "train.max_steps=1", "ex_eval.limit=2", "ex_eval.max_new_tokens=8",
        "data.max_length=4096", "peft.layers=1"])
    assert res.exit_code == 0, res.output
    info = json.loads((out / "data" / "dataset_info.json").read_text())
    assert set(info) == {"shop_train_alpaca", "shop_train_messages"}
    train = json.loads((out / "data" / "shop_train_alpaca.json").read_text())
    summary = json.loads((out / "before_after.json").read_text())
    assert summary["before"]["step"] == 0 and summary["after"]["step"] == 1 and summary["steps"] == 1
    held_out = {q["id"] for q in summary["questions"]["before"]}
    assert len(held_out) == 2 and not held_out & {r["id"] for r in train}
    assert (out / "train" / "final" / "adapter_config.json").is_file()
    assert "held-out execution accuracy" in res.stdout and "4. ask the tuned model" in res.stdout
    assert "--no-samples --no-comments" in res.stdout  # how to ask it again, the way it was trained


def test_quickstart_rejects_a_bad_override_before_any_work(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["quickstart", "--out", str(tmp_path / "qs"), "peft.rank=8"])
    assert res.exit_code == 1 and "peft.rank: unknown key" in res.output
    assert not (tmp_path / "qs").exists()
