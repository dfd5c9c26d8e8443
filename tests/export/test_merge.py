"""``merge_adapter``: a real peft LoRA adapter folded into a tiny random Qwen2, checked weight by weight."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.export.conftest import LORA_ALPHA, LORA_R, LORA_TARGETS, chat_prompt_ids, hf_greedy_ids, make_lora_adapter
from tunesql.errors import ConfigError
from tunesql.export import merge_adapter
from tunesql.export.merge import MARKER


def _state(model_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(model_dir / "model.safetensors"))


def test_merged_weights_are_base_plus_scaled_lora_product(tiny_model_dir, tiny_adapter_dir, merged_dir):
    base, merged, adapter = _state(tiny_model_dir), _state(merged_dir), _state_adapter(tiny_adapter_dir)
    scale = LORA_ALPHA / LORA_R
    checked = 0
    for name, w in base.items():
        module = name.removesuffix(".weight")
        a_key = next((k for k in adapter if k.endswith(f"{module}.lora_A.weight")), None)
        if a_key is None or not any(name.endswith(f"{t}.weight") for t in LORA_TARGETS):
            assert (merged[name] == w).all(), f"{name} is not a LoRA target but changed"
            continue
        b = adapter[a_key.replace("lora_A", "lora_B")]
        expected = w + b @ adapter[a_key] * scale
        assert (merged[name] - expected).abs().max() < 1e-5, name
        assert (merged[name] - w).abs().max() > 0.01, f"{name} did not change"
        checked += 1
    assert checked == 2 * len(LORA_TARGETS)  # 2 layers x 3 target modules
    assert not any("lora" in k for k in merged)


def _state_adapter(adapter_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(adapter_dir / "adapter_model.safetensors"))


def test_merged_folder_generates_differently_and_carries_tokenizer_template_generation_config(
        tiny_model_dir, merged_dir):
    prompt = chat_prompt_ids(tiny_model_dir)
    assert chat_prompt_ids(merged_dir) == prompt  # same tokenizer and template
    assert hf_greedy_ids(merged_dir, prompt, 8) != hf_greedy_ids(tiny_model_dir, prompt, 8)

    tok_config = json.loads((merged_dir / "tokenizer_config.json").read_text())
    template = tok_config.get("chat_template") or (merged_dir / "chat_template.jinja").read_text()
    assert "<|im_start|>" in template
    gen = json.loads((merged_dir / "generation_config.json").read_text())
    assert gen["eos_token_id"] in (2, [2]) or 2 in gen["eos_token_id"]  # <|im_end|> is id 2 in the tiny vocab
    marker = json.loads((merged_dir / MARKER).read_text())
    assert marker["base"] == str(tiny_model_dir) and marker["r"] == LORA_R and marker["tokenizer_from"] == "base"


def test_base_option_overrides_the_adapter_config(tiny_model_dir, tiny_adapter_dir, tmp_path):
    adapter = tmp_path / "adapter"
    shutil.copytree(tiny_adapter_dir, adapter)
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "Qwen/Qwen2.5-Coder-0.5B-Instruct"  # a hub id: never downloaded
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=r"base_model_name_or_path .*Qwen/Qwen2.5-Coder-0.5B-Instruct.*--base"):
        merge_adapter(adapter, tmp_path / "out", progress=False)
    result = merge_adapter(adapter, tmp_path / "out", base=tiny_model_dir, progress=False)
    assert result.base_path == tiny_model_dir.resolve() and (result.out / "model.safetensors").is_file()


def test_missing_or_wrong_adapter_folders_are_clear_errors(tiny_model_dir, tiny_adapter_dir, tmp_path):
    with pytest.raises(ConfigError, match=r"adapter folder .* does not exist"):
        merge_adapter(tmp_path / "nope", tmp_path / "out")
    with pytest.raises(ConfigError, match=r"no adapter_config.json.*full model already.*export gguf"):
        merge_adapter(tiny_model_dir, tmp_path / "out")
    weightless = tmp_path / "weightless"
    weightless.mkdir()
    shutil.copy(tiny_adapter_dir / "adapter_config.json", weightless)
    with pytest.raises(ConfigError, match=r"adapter's weights are missing"):
        merge_adapter(weightless, tmp_path / "out")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("keep me")
    with pytest.raises(ConfigError, match=r"already exists.*--force"):
        merge_adapter(tiny_adapter_dir, tmp_path / "taken")
    assert (tmp_path / "taken" / "x").read_text() == "keep me"


def test_an_adapter_for_another_model_does_not_fit(tiny_adapter_dir, tiny_llama_dir, tmp_path):
    with pytest.raises(ConfigError, match=r"does not fit the base"):
        merge_adapter(tiny_adapter_dir, tmp_path / "out", base=tiny_llama_dir, progress=False)
    assert not (tmp_path / "out").exists()


def test_unknown_dtype_is_refused_before_loading(tiny_adapter_dir, tmp_path):
    with pytest.raises(ConfigError, match=r"dtype 'int8' is not one of auto, float32"):
        merge_adapter(tiny_adapter_dir, tmp_path / "out", dtype="int8")


def test_merge_on_a_llama_base_then_its_adapter_tokenizer_is_kept(tiny_llama_dir, tmp_path):
    adapter = make_lora_adapter(tiny_llama_dir, tmp_path / "adapter")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    tok.chat_template = tok.chat_template + "{# trained with a tweaked template #}"
    tok.save_pretrained(adapter)  # training saved its own tokenizer copy beside the adapter
    result = merge_adapter(adapter, tmp_path / "merged", progress=False)
    assert result.tokenizer_from == "adapter"
    assert AutoTokenizer.from_pretrained(result.out).chat_template.endswith("{# trained with a tweaked template #}")
