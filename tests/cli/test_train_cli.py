"""``tunesql train``: the config is checked, and printed resolved, before anything heavy happens."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from tunesql.cli import app


def test_check_prints_the_resolved_recipe() -> None:
    res = CliRunner().invoke(app, ["train", "sft", "--config", "configs/quickstart-cpu.yaml", "--check",
                                   "train.max_steps=7", "peft.r=4"])
    assert res.exit_code == 0, res.output
    resolved = yaml.safe_load(res.stdout)
    assert resolved["train"]["max_steps"] == 7 and resolved["peft"]["r"] == 4
    assert resolved["model"]["name"] == "qwen2.5-coder-0.5b" and resolved["peft"]["layers"] == 8


def test_grpo_check_has_its_own_section() -> None:
    res = CliRunner().invoke(app, ["train", "grpo", "--check", "grpo.num_generations=8"])
    assert res.exit_code == 0, res.output
    assert yaml.safe_load(res.stdout)["grpo"]["num_generations"] == 8


def test_bad_key_and_bad_value_fail_with_the_valid_choices() -> None:
    res = CliRunner().invoke(app, ["train", "sft", "peft.method=lora4", "train.lr=1"])
    assert res.exit_code == 1
    assert "peft.method: Input should be 'lora', 'qlora' or 'full'" in res.output
    assert "train.lr: unknown key (valid keys here: output_dir, epochs, max_steps, learning_rate" in res.output
