"""load_backend: which backend a --model / --backend pair becomes, and the errors for bad choices.

Also the vLLM backend's only testable part on a machine without a GPU: a clear error, and a module that imports
without vllm.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tunesql.errors import ConfigError
from tunesql.infer.backend import GenerationConfig
from tunesql.infer.load import BACKENDS, load_backend, parse_endpoint

HAS_LLAMA_CPP = importlib.util.find_spec("llama_cpp") is not None
HAS_VLLM = importlib.util.find_spec("vllm") is not None


def test_importing_the_backends_loads_no_heavy_library() -> None:
    code = (
        "import sys, tunesql.infer.load, tunesql.infer.hf, tunesql.infer.llamacpp, tunesql.infer.vllm, "
        "tunesql.infer.openai_api; "
        "print(sorted(m for m in ('torch', 'transformers', 'llama_cpp', 'vllm', 'openai', 'peft') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(HAS_VLLM, reason="vllm is installed here; the missing-vllm error cannot happen")
def test_vllm_without_vllm_is_a_clear_error() -> None:
    from tunesql.infer.vllm import VLLMBackend

    with pytest.raises(ConfigError, match=r"vLLM needs a GPU and the `vllm` extra: pip install 'tunesql\[vllm\]'"):
        VLLMBackend("some/model")
    with pytest.raises(ConfigError, match="vLLM needs a GPU"):  # before any model is assembled or converted
        load_backend("no-such-model-anywhere", backend="vllm")


def test_unknown_backend_lists_the_choices() -> None:
    with pytest.raises(ConfigError, match="choose one of auto, llamacpp, hf, vllm, openai"):
        load_backend("x", backend="onnx")
    assert BACKENDS == ("auto", "llamacpp", "hf", "vllm", "openai")


def test_unknown_model_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown model"):
        load_backend("no-such-model", cache_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"no config\.json"):
        load_backend(str(tmp_path), cache_dir=tmp_path)


def test_parse_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_endpoint("http://127.0.0.1:11434/v1#qwen2.5-coder:0.5b") == (
        "http://127.0.0.1:11434/v1", "qwen2.5-coder:0.5b")
    assert parse_endpoint("openai:https://api.deepseek.com/v1#deepseek-chat") == (
        "https://api.deepseek.com/v1", "deepseek-chat")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert parse_endpoint("openai:gpt-4o-mini") == ("https://api.openai.com/v1", "gpt-4o-mini")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://10.0.0.2:8000/v1")
    assert parse_endpoint("openai:m") == ("http://10.0.0.2:8000/v1", "m")
    assert parse_endpoint("qwen2.5-coder-0.5b") is None
    assert parse_endpoint(None) is None
    with pytest.raises(ConfigError, match="after a '#'"):
        parse_endpoint("http://127.0.0.1:8000/v1")


@pytest.mark.skipif(importlib.util.find_spec("openai") is None, reason="pip install openai")
def test_endpoints_become_openai_backends() -> None:
    from tunesql.infer.openai_api import OpenAIBackend

    b = load_backend("http://127.0.0.1:9/v1#m1", timeout=3, concurrency=2)
    assert isinstance(b, OpenAIBackend)
    assert (b.base_url, b.model, b.concurrency) == ("http://127.0.0.1:9/v1", "m1", 2)
    assert isinstance(load_backend("openai:http://127.0.0.1:9/v1#m2", backend="openai"), OpenAIBackend)
    with pytest.raises(ConfigError, match="only be used with backend 'openai'"):
        load_backend("http://127.0.0.1:9/v1#m", backend="hf")
    with pytest.raises(ConfigError, match="adapter cannot be applied to a remote endpoint"):
        load_backend("http://127.0.0.1:9/v1#m", adapter="some/adapter")
    with pytest.raises(ConfigError, match="needs an endpoint"):
        load_backend("qwen2.5-coder-0.5b", backend="openai")
    with pytest.raises(ConfigError, match="does not take n_ctx"):
        load_backend("http://127.0.0.1:9/v1#m", n_ctx=100)


def test_hf_folder_goes_to_transformers(tiny_model_dir: Path, tmp_path: Path) -> None:
    from tunesql.infer.hf import HFBackend

    b = load_backend(str(tiny_model_dir), batch_size=3, cache_dir=tmp_path)
    assert isinstance(b, HFBackend) and b.batch_size == 3
    assert b.generate([[{"role": "user", "content": "hi"}]], GenerationConfig(max_new_tokens=4))[0][0]
    with pytest.raises(ConfigError, match="does not take n_ctx"):
        load_backend(str(tiny_model_dir), n_ctx=100, cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="needs a GGUF file"):
        load_backend(str(tiny_model_dir), backend="llamacpp", cache_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"GGUF LoRA, which only llama\.cpp applies"):
        load_backend(str(tiny_model_dir), adapter=tmp_path / "lora.gguf", cache_dir=tmp_path)


def test_a_peft_adapter_folder_picks_transformers_and_llamacpp_refuses_it(smollm2_gguf: Path) -> None:
    with pytest.raises(ConfigError, match="cannot apply the PEFT adapter folder"):
        load_backend(str(smollm2_gguf), backend="llamacpp", adapter="some/adapter-folder")


@pytest.mark.skipif(not HAS_LLAMA_CPP, reason="llama.cpp not installed: pip install 'tunesql[llamacpp]'")
def test_gguf_and_registry_key_go_to_llamacpp(smollm2_gguf: Path, tmp_path: Path) -> None:
    from tunesql.infer.llamacpp import LlamaCppBackend

    b = load_backend(str(smollm2_gguf), cache_dir=tmp_path, n_ctx=512)
    assert isinstance(b, LlamaCppBackend)
    assert b.name == f"llama.cpp:{smollm2_gguf.stem}"
    del b
    keyed = load_backend("smollm2-135m", cache_dir=tmp_path, progress=False, n_ctx=512)  # copied into the cache
    assert isinstance(keyed, LlamaCppBackend) and keyed.name == "llama.cpp:smollm2-135m"
    assert (tmp_path / "models" / "smollm2-135m").is_dir()
