"""GRPO on a tiny random model built here: real TRL steps with the real execution rewards on the bundled shop DB.

A random model earns the same reward on every completion (all malformed), so every GRPO advantage is zero and
nothing would be learned or tested. The model is therefore warm-started the way a real run is: SFT in the
reasoning format (``data.task=reasoning``, examples carrying ``meta.reasoning``) until it emits
``<think>…</think><answer>SQL</answer>`` some of the time. Sampled at temperature 1 its completions are then
sometimes well-formed and correct, sometimes not, so rewards differ within a group. Seeds are fixed and torch
runs one thread, so the run is the same each time on one machine.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tunesql.errors import ConfigError
from tunesql.train.config import load_config

WARM_PAIRS = 2
"""The first shop pairs: the SFT warm start learns them, GRPO trains on the same prompts (data.max_examples)."""
PROMPT = ["data.values=false", "data.budget_tokens=50", "data.task=reasoning", "data.max_length=4096",
          "train.threads=1", "train.lr_scheduler=constant", "train.grad_accum=1"]
GRPO = ["data.train=[shop]", f"data.max_examples={WARM_PAIRS}", "train.batch_size=4", "train.save_steps=1",
        "train.learning_rate=1e-3", "peft.r=8", "peft.alpha=16", "peft.dropout=0",
        "grpo.num_generations=4", "grpo.max_completion_length=80"]


@pytest.fixture(scope="module", autouse=True)
def _restore_torch_threads():
    """``train.threads`` sets torch's thread count for the process; later tests get the count back."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def warm(tiny_train_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A full-SFT warm start of the tiny model on reasoning targets, and the Example JSONL it learned from
    (next to a ``database/shop.sqlite`` copy, where the gold loader looks for the database)."""
    from tunesql.data.example import Example, write_examples
    from tunesql.db.connect import bundled_db_path
    from tunesql.eval.runner import load_gold
    from tunesql.train.sft import run_sft

    root = tmp_path_factory.mktemp("grpo-warm")
    (root / "database").mkdir()
    shutil.copyfile(bundled_db_path(), root / "database" / "shop.sqlite")
    pairs = load_gold("shop").examples[:WARM_PAIRS]
    jsonl = root / "warm.jsonl"
    write_examples(jsonl, [Example(ex.id, ex.question, ex.sql, ex.db_id, meta={"reasoning": "count"})
                           for ex in pairs])
    job = load_config("sft", None, [f"model.name={tiny_train_model}", f"data.train=[{jsonl}]", *PROMPT,
                                    f"train.output_dir={root / 'sft'}", "peft.method=full", "train.max_steps=30",
                                    "train.batch_size=4", "train.learning_rate=1e-2", "train.save_steps=1000"])
    result = run_sft(job, progress=False)
    return {"model": result.final_dir, "jsonl": jsonl}


def _grpo(model: Path, out: Path, *extra: str):
    return load_config("grpo", None, [f"model.name={model}", f"train.output_dir={out}", *PROMPT, *GRPO, *extra])


def _lora(adapter_dir: Path, part: str = "lora_") -> dict:
    from safetensors.torch import load_file

    return {k: v for k, v in load_file(str(adapter_dir / "adapter_model.safetensors")).items() if part in k}


def _logged(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_grpo_steps_change_weights_save_and_resume(warm: dict[str, Path], tmp_path: Path) -> None:
    from tunesql.train.grpo import run_grpo

    out = tmp_path / "grpo"
    job = _grpo(warm["model"], out, "train.max_steps=2", f"data.eval={warm['jsonl']}", "ex_eval.limit=2",
                "ex_eval.max_new_tokens=80")
    result = run_grpo(job, progress=False)
    assert result.steps == 2
    steps = [r for r in _logged(out) if "reward" in r]
    assert [r["step"] for r in steps] == [1, 2]
    # The warm start makes completions differ: some well-formed and right, some not. Without that spread
    # every advantage is zero and GRPO has nothing to learn from.
    assert max(r["reward_std"] for r in steps) > 0
    assert max(r["rewards/format_reward/std"] for r in steps) > 0
    assert max(r["rewards/result_reward/mean"] for r in steps) > 0  # some completion's query matched the gold's
    assert max(r["grad_norm"] for r in steps) > 0
    # A fresh LoRA adapter was trained and saved: PEFT starts lora_B at zero, only an optimizer step moves it.
    b = _lora(result.final_dir, "lora_B")
    assert b and any(float(t.abs().max()) > 0 for t in b.values())
    assert json.loads((result.final_dir / "adapter_config.json").read_text())["r"] == 8
    assert (result.final_dir / "tokenizer_config.json").is_file()
    assert not (result.final_dir / "model.safetensors").exists()  # the adapter, not a copy of the base
    assert (out / "checkpoint-2").is_dir() and (out / "loss.png").stat().st_size > 1000
    assert load_config("grpo", out / "config.yaml").grpo.num_generations == 4
    assert json.loads((out / "summary.json").read_text())["steps"] == 2
    # Execution accuracy during GRPO: before the first step and after the last, on the reasoning-format prompts.
    assert [e["step"] for e in result.ex] == [0, 2] and all(e["n"] == 2 for e in result.ex)

    again = run_grpo(_grpo(warm["model"], out, "train.max_steps=3"), progress=False)
    assert again.resumed_from is not None and again.resumed_from.endswith("checkpoint-2")
    assert again.steps == 3
    assert [r["step"] for r in _logged(out) if "reward" in r] == [1, 2, 3]  # step 3 only: 1 and 2 not redone
    b3 = _lora(again.final_dir, "lora_B")
    assert any(not (b3[k] == b[k]).all() for k in b)


def test_grpo_cold_starts_from_an_sft_adapter(warm: dict[str, Path], tmp_path: Path) -> None:
    """``model.adapter``: the SFT adapter is loaded trainable and GRPO continues it (no second adapter)."""
    import torch

    from tunesql.train.grpo import run_grpo
    from tunesql.train.sft import run_sft

    sft = run_sft(load_config("sft", None, [
        f"model.name={warm['model']}", f"data.train=[{warm['jsonl']}]", *PROMPT, f"train.output_dir={tmp_path / 'sft'}",
        "train.max_steps=1", "train.batch_size=2", "train.learning_rate=1e-3", "peft.r=4", "peft.alpha=8",
        "train.save_steps=1000"]), progress=False)
    start = _lora(sft.final_dir)
    result = run_grpo(_grpo(warm["model"], tmp_path / "grpo", "train.max_steps=1", f"model.adapter={sft.final_dir}"),
                      progress=False)
    after = _lora(result.final_dir)
    assert json.loads((result.final_dir / "adapter_config.json").read_text())["r"] == 4  # the SFT adapter's, not peft.r
    assert set(after) == set(start)
    assert any(not torch.equal(after[k], start[k]) for k in start)


@pytest.mark.parametrize(("overrides", "message"), [
    (["train.batch_size=3"], "must be a multiple of grpo.num_generations"),
    (["data.task=sql2nl"], "trains nl2sql or reasoning"),
    (["grpo.use_vllm=true"], "needs a CUDA GPU|needs vLLM"),
    (["grpo.rewards={result: 1, speed: 2}"], "unknown reward"),
])
def test_bad_grpo_settings_fail_before_loading(overrides: list[str], message: str, tmp_path: Path) -> None:
    from tunesql.train.grpo import run_grpo

    with pytest.raises(ConfigError, match=message):
        run_grpo(_grpo(Path("/nonexistent"), tmp_path, *overrides), progress=False)


def test_group_check_counts_every_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Under ``accelerate launch`` TRL's generation batch spans the processes (WORLD_SIZE, as torchrun sets it):
    2 per device on 2 processes holds a group of 4; 3 per device on 2 processes does not."""
    from tunesql.train.grpo import run_grpo

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match=r"× 2 process\(es\) = 6 must be a multiple of grpo.num_generations = 4"):
        run_grpo(_grpo(Path("/nonexistent"), tmp_path, "train.batch_size=3"), progress=False)
