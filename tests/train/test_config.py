"""Training configs: every shipped recipe loads, and bad input is rejected before any model loads."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tunesql.errors import ConfigError
from tunesql.train.config import GRPOJob, SFTJob, apply_override, dump_config, load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _recipes() -> list[Path]:
    return sorted(p for p in CONFIGS.glob("*.yaml"))


def test_the_required_recipes_exist() -> None:
    names = {p.name for p in _recipes()}
    assert {"quickstart-cpu.yaml", "spider-7b-sft.yaml", "spider-7b-grpo.yaml"} <= names
    assert {p.name for p in (CONFIGS / "accelerate").glob("*.yaml")} >= {"ddp.yaml", "fsdp.yaml",
                                                                        "deepspeed-zero3.yaml"}


@pytest.mark.parametrize("path", _recipes(), ids=lambda p: p.name)
def test_every_recipe_loads(path: Path) -> None:
    from tunesql.synth.config import load_synth_config

    kind = "synth" if path.name.startswith("synth") else "grpo" if "grpo" in path.name else "sft"
    job = load_synth_config(path) if kind == "synth" else load_config(kind, path)
    raw = yaml.safe_load(path.read_text())
    # every key the file sets survives validation unchanged (nothing is silently ignored)
    for section, values in raw.items():
        for key, value in values.items():
            attr = "validate_" if kind == "synth" and section == "validate" else section
            assert getattr(getattr(job, attr), key) == value, f"{section}.{key}"
    if kind == "grpo":
        assert isinstance(job, GRPOJob)


@pytest.mark.parametrize("path", sorted((CONFIGS / "accelerate").glob("*.yaml")), ids=lambda p: p.name)
def test_accelerate_configs_are_valid_for_accelerate(path: Path) -> None:
    from accelerate.commands.config.config_args import ClusterConfig

    cfg = ClusterConfig.from_yaml_file(str(path))
    assert cfg.num_processes >= 2
    assert str(cfg.distributed_type).split(".")[-1] in {"MULTI_GPU", "FSDP", "DEEPSPEED"}


def test_unknown_key_names_the_key_and_the_valid_ones(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("peft:\n  rank: 8\n")
    with pytest.raises(ConfigError) as e:
        load_config("sft", f)
    msg = str(e.value)
    assert "bad.yaml" in msg and "peft.rank: unknown key" in msg and "r, alpha, dropout" in msg


def test_unknown_section_and_bad_choice(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"trainer: unknown key \(valid keys here: model, peft, data, train"):
        load_config("sft", None, ["trainer.lr=1"])
    with pytest.raises(ConfigError, match=r"peft\.method: Input should be 'lora', 'qlora' or 'full'.*lora4"):
        load_config("sft", None, ["peft.method=lora4"])
    with pytest.raises(ConfigError, match=r"grpo.rewards: unknown reward\(s\) speed; valid: format"):
        load_config("grpo", None, ["grpo.rewards={speed: 1}"])
    with pytest.raises(ConfigError, match="grpo: unknown key"):
        load_config("sft", None, ["grpo.beta=0.1"])  # a GRPO section in an SFT job is a mistake, not ignored


def test_overrides_are_typed_yaml() -> None:
    job = load_config("sft", None, ["train.max_steps=3", "peft.target_modules=[q_proj, v_proj]",
                                    "data.train=[shop, spider:train]", "model.gradient_checkpointing=true"])
    assert job.train.max_steps == 3
    assert job.peft.target_modules == ["q_proj", "v_proj"]
    assert job.data.train == ["shop", "spider:train"]
    assert job.model.gradient_checkpointing is True
    with pytest.raises(ConfigError, match="not key=value"):
        load_config("sft", None, ["train.max_steps"])
    with pytest.raises(ConfigError, match=r"train\.max_steps: Input should be a valid integer"):
        load_config("sft", None, ["train.max_steps=many"])
    data: dict = {"train": 5}
    with pytest.raises(ConfigError, match="is a value, not a section"):
        apply_override(data, "train.max_steps=3")


def test_grpo_defaults_differ_from_sft_only_where_unset() -> None:
    assert load_config("grpo").train.learning_rate == 1e-5
    assert load_config("grpo", None, ["train.learning_rate=3e-6"]).train.learning_rate == 3e-6
    assert load_config("sft").train.learning_rate == 2e-4


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config("sft", tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config("sft", bad)
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config("sft", bad)


def test_dump_round_trips(tmp_path: Path) -> None:
    job = load_config("sft", None, ["peft.r=4", "data.task=both"])
    path = dump_config(job, tmp_path / "config.yaml")
    again = load_config("sft", path)
    assert again == job
    assert isinstance(again, SFTJob)
