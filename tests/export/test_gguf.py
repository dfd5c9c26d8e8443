"""``export_gguf``: merged tiny models → GGUF → llama.cpp, whose greedy tokens must equal transformers'.

This is issue 5's round-trip check: merge → GGUF → llama-cpp-python reproduces the HF model's greedy output.
f32 must match exactly; f16 too (the tiny models' logits are spread wide, so rounding the weights to f16 does
not flip an argmax); q8_0 must load, generate, and stay close.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.export.conftest import build_tiny_llama, chat_prompt_ids, gguf_greedy_ids, hf_greedy_ids
from tunesql.errors import ConfigError
from tunesql.export import check_tokenizer, export_gguf
from tunesql.export.gguf import GGUF_TYPES, PRE_TOKENIZERS, permute_for_llama_rope, pre_tokenizer_signature

N_NEW = 24


def _tensor_types(path: Path) -> dict[str, str]:
    from gguf import GGUFReader

    return {t.name: t.tensor_type.name for t in GGUFReader(path).tensors}


@pytest.mark.parametrize("type", ["f32", "f16"])
def test_merged_qwen2_gguf_reproduces_hf_greedy_tokens(merged_dir, llama_cpp, tmp_path, type):
    result = export_gguf(merged_dir, tmp_path / f"m-{type}.gguf", type, progress=False)
    assert result.arch == "qwen2" and result.pre_tokenizer == "qwen2"  # transformers 5 loads it as Qwen2Tokenizer
    prompt = chat_prompt_ids(merged_dir)
    expected = hf_greedy_ids(merged_dir, prompt, N_NEW)
    assert gguf_greedy_ids(llama_cpp, result.path, prompt, N_NEW) == expected
    types = _tensor_types(result.path)
    assert types["blk.0.attn_norm.weight"] == "F32" and types["blk.0.attn_q.bias"] == "F32"
    assert types["blk.0.attn_q.weight"] == type.upper() and types["token_embd.weight"] == type.upper()
    assert "output.weight" not in types  # tied embeddings: llama.cpp reuses token_embd


def test_gguf_tokenizer_matches_transformers_including_chat_template_specials(merged_dir, llama_cpp, tmp_path):
    path = export_gguf(merged_dir, tmp_path / "m.gguf", "f16", progress=False).path
    assert check_tokenizer(path, merged_dir) == []
    llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    assert llm.tokenize(b"<|im_start|>user", add_bos=False, special=True)[0] == 1  # one control token
    assert llm.token_eos() == 2  # <|im_end|>


def _prompt_logits_hf(model_dir: Path, prompt: list[int]):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    with torch.no_grad():
        return model(torch.tensor([prompt])).logits[0].numpy()


def _prompt_logits_gguf(llama_cpp, gguf_path: Path, prompt: list[int]):
    import numpy as np

    llm = llama_cpp.Llama(model_path=str(gguf_path), n_ctx=256, n_threads=1, logits_all=True, verbose=False)
    llm.eval(prompt)
    return np.array(llm.scores[: len(prompt)])


def test_q8_0_blocks_hold_the_weights_and_llama_cpp_runs_them(merged_dir, llama_cpp, tmp_path):
    """q8_0 rounds each weight to 1/127 of its 32-block's largest magnitude (scale kept in f16): check the bytes
    against the source weights, then that llama.cpp's logits stay near transformers' on every prompt position.

    Greedy tokens are not compared: this random model has near-ties (top-2 logits 0.06 apart) that 8-bit
    weights and llama.cpp's 8-bit activations legitimately flip.
    """
    import numpy as np
    from gguf import GGUFReader, quants
    from safetensors.numpy import load_file

    result = export_gguf(merged_dir, tmp_path / "m-q8_0.gguf", "q8_0", progress=False)
    source = load_file(str(merged_dir / "model.safetensors"))
    checked = 0
    for t in GGUFReader(result.path).tensors:
        if t.name != "blk.1.ffn_down.weight" and t.name != "token_embd.weight":
            continue
        assert t.tensor_type.name == "Q8_0"
        hf_name = {"blk.1.ffn_down.weight": "model.layers.1.mlp.down_proj.weight",
                   "token_embd.weight": "model.embed_tokens.weight"}[t.name]
        blocks = source[hf_name].reshape(-1, 32)
        scale = np.abs(blocks).max(axis=1, keepdims=True) / 127
        got = np.asarray(quants.dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(-1, 32)
        assert (np.abs(got - blocks) <= 0.57 * scale + 1e-12).all(), t.name  # 0.5 rounding + f16 scale rounding
        checked += 1
    assert checked == 2

    prompt = chat_prompt_ids(merged_dir)
    diff = np.abs(_prompt_logits_gguf(llama_cpp, result.path, prompt) - _prompt_logits_hf(merged_dir, prompt))
    assert diff.mean() < 0.15, diff.mean()  # measured 0.076 (logits span -6.6..6.8); a broken layout gives ~2
    assert len(gguf_greedy_ids(llama_cpp, result.path, prompt, N_NEW)) == N_NEW
    f16 = export_gguf(merged_dir, tmp_path / "m-f16.gguf", "f16", progress=False)
    assert result.bytes < 0.7 * f16.bytes


def test_bf16_loads_and_stays_close(merged_dir, llama_cpp, tmp_path):
    import numpy as np

    result = export_gguf(merged_dir, tmp_path / "m-bf16.gguf", "bf16", progress=False)
    assert _tensor_types(result.path)["blk.0.attn_k.weight"] == "BF16"
    prompt = chat_prompt_ids(merged_dir)
    diff = np.abs(_prompt_logits_gguf(llama_cpp, result.path, prompt) - _prompt_logits_hf(merged_dir, prompt))
    assert diff.mean() < 0.05, diff.mean()  # measured 0.024


def test_llama_gqa_gguf_reproduces_hf_greedy_tokens(tiny_llama_dir, llama_cpp, tmp_path):
    """Llama's q/k rows are re-ordered for llama.cpp's rotary layout; wrong order would change every token."""
    result = export_gguf(tiny_llama_dir, tmp_path / "llama.gguf", "f32", progress=False)
    assert result.arch == "llama" and "output.weight" in _tensor_types(result.path)
    assert result.pre_tokenizer == "gpt-2" and check_tokenizer(result.path, tiny_llama_dir) == []
    prompt = chat_prompt_ids(tiny_llama_dir)
    assert gguf_greedy_ids(llama_cpp, result.path, prompt, N_NEW) == hf_greedy_ids(tiny_llama_dir, prompt, N_NEW)


@pytest.mark.parametrize("rope", [
    {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
     "original_max_position_embeddings": 64},
    {"rope_type": "linear", "factor": 4.0},
], ids=["llama3", "linear"])
def test_rope_scaling_is_carried_over(llama_cpp, tmp_path, rope):
    from gguf import GGUFReader

    model_dir = build_tiny_llama(tmp_path / "scaled", rope=rope)
    result = export_gguf(model_dir, tmp_path / "scaled.gguf", "f32", progress=False)
    fields = GGUFReader(result.path).fields
    if rope["rope_type"] == "llama3":
        assert "rope_freqs.weight" in _tensor_types(result.path)
    else:
        assert fields["llama.rope.scaling.factor"].contents() == 4.0
    prompt = chat_prompt_ids(model_dir)
    assert gguf_greedy_ids(llama_cpp, result.path, prompt, N_NEW) == hf_greedy_ids(model_dir, prompt, N_NEW)


def test_permute_moves_rotary_halves_to_neighbours():
    import numpy as np

    w = np.arange(8).reshape(8, 1)  # one head of size 8: pairs (0,4) (1,5) (2,6) (3,7) become neighbours
    assert permute_for_llama_rope(w, 1).ravel().tolist() == [0, 4, 1, 5, 2, 6, 3, 7]
    w2 = np.arange(16)  # two heads, 1-D (a bias)
    assert permute_for_llama_rope(w2, 2).tolist() == [0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15]


def test_pre_tokenizer_signatures_of_the_known_tokenizers():
    qwen = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": PRE_TOKENIZERS_REGEX["qwen2"]}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]}
    assert PRE_TOKENIZERS[pre_tokenizer_signature(qwen)] == "qwen2"
    smol = {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True},
                                                  {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}]}
    assert PRE_TOKENIZERS[pre_tokenizer_signature(smol)] == "smollm"
    assert pre_tokenizer_signature({"type": "Whitespace"}) not in PRE_TOKENIZERS


PRE_TOKENIZERS_REGEX = {name: sig[0][len("split("):-1] for sig, name in PRE_TOKENIZERS.items()
                        if sig[0].startswith("split(")}


def test_bad_inputs_are_clear_errors(tiny_model_dir, tiny_llama_dir, tmp_path):
    with pytest.raises(ConfigError, match=r"unknown GGUF type 'q4_k'; choose one of f32, f16, bf16, q8_0"):
        export_gguf(tiny_model_dir, tmp_path / "x.gguf", "q4_k")
    with pytest.raises(ConfigError, match=r"does not exist"):
        export_gguf(tmp_path / "nope", tmp_path / "x.gguf")
    with pytest.raises(ConfigError, match=r"is a folder"):
        export_gguf(tiny_model_dir, tmp_path)

    gpt2 = tmp_path / "gpt2"
    shutil.copytree(tiny_model_dir, gpt2)
    config = json.loads((gpt2 / "config.json").read_text())
    (gpt2 / "config.json").write_text(json.dumps({**config, "architectures": ["GPT2LMHeadModel"]}))
    with pytest.raises(ConfigError, match=r"GPT2LMHeadModel.*Qwen2ForCausalLM, LlamaForCausalLM only"
                                          ".*convert_hf_to_gguf.py"):
        export_gguf(gpt2, tmp_path / "x.gguf")

    odd_tok = tmp_path / "odd-tokenizer"  # a llama folder: transformers loads its tokenizer.json as written
    shutil.copytree(tiny_llama_dir, odd_tok)
    spec = json.loads((odd_tok / "tokenizer.json").read_text())
    spec["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": False},
                                                                   spec["pre_tokenizer"]]}
    (odd_tok / "tokenizer.json").write_text(json.dumps(spec))
    with pytest.raises(ConfigError, match=r"pre-tokenizer rules \['digits', 'bytelevel\(regex\)'\]"):
        export_gguf(odd_tok, tmp_path / "x.gguf")

    no_weights = tmp_path / "no-weights"
    shutil.copytree(tiny_model_dir, no_weights)
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(ConfigError, match=r"no model.safetensors"):
        export_gguf(no_weights, tmp_path / "x.gguf")
    assert not list(tmp_path.glob("*.gguf")) and not list(tmp_path.glob(".*.tmp"))


def test_cli_lists_the_same_types_without_importing_the_module():
    from tunesql.cli import export as cli_export

    assert cli_export.GGUF_TYPES == GGUF_TYPES
