"""Fixtures for the export tests: tiny random models built here (qwen2 and llama), a LoRA adapter on one of them.

The adapter's ``lora_B`` matrices are set to random non-zero values (peft starts them at zero), so merging it
really changes the weights and the greedy output; everything is seeded, so each build is the same every run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.infer.conftest import smollm2_gguf  # noqa: F401  (the shipped SmolLM2 GGUF, for the Modelfile tests)

LORA_R, LORA_ALPHA = 4, 8
LORA_TARGETS = ["q_proj", "v_proj", "down_proj"]


def _need_train_stack() -> None:
    for module in ("torch", "transformers", "peft", "gguf"):
        pytest.importorskip(module, reason="the export tests need the train extra: pip install 'tunesql[train]'")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer Qwen2 with a ChatML byte-level BPE tokenizer (tests/infer/tiny_model.py)."""
    _need_train_stack()
    from tests.infer.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-qwen2"))


def build_tiny_llama(out_dir: Path, *, rope: dict | None = None, seed: int = 0) -> Path:
    """A random 2-layer Llama with grouped-query attention (4 query heads, 2 kv heads) and the tiny tokenizer.

    Head size 16 and GQA make the q/k re-ordering for llama.cpp's rotary layout observable; ``rope`` adds rope
    scaling parameters (e.g. llama3).
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from tests.infer.tiny_model import build_tokenizer

    tokenizer = build_tokenizer()
    kwargs = {}
    if rope is not None:
        kwargs["rope_parameters"] = {"rope_theta": 10000.0, **rope}
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, initializer_range=0.3,
        tie_word_embeddings=False, eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id, bos_token_id=None, **kwargs,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return Path(out_dir)


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _need_train_stack()
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


def make_lora_adapter(base_dir: Path, out_dir: Path, *, seed: int = 1, b_std: float = 0.5,
                      base_name: str | None = None) -> Path:
    """Save a LoRA adapter for ``base_dir`` whose B matrices are random (so it changes the model).

    ``base_name`` replaces the base recorded in adapter_config.json (e.g. a registered tunesql key).
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    peft_model = get_peft_model(model, LoraConfig(r=LORA_R, lora_alpha=LORA_ALPHA, target_modules=LORA_TARGETS,
                                                  lora_dropout=0.0, task_type="CAUSAL_LM"))
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn_like(param) * b_std)
    peft_model.save_pretrained(out_dir)
    if base_name is not None:
        config_path = Path(out_dir) / "adapter_config.json"
        config = json.loads(config_path.read_text())
        config["base_model_name_or_path"] = base_name
        config_path.write_text(json.dumps(config, indent=2))
    return Path(out_dir)


@pytest.fixture(scope="session")
def tiny_adapter_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_lora_adapter(tiny_model_dir, tmp_path_factory.mktemp("adapter") / "adapter")


@pytest.fixture(scope="session")
def merged_dir(tiny_adapter_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny adapter merged into the tiny Qwen2 (base read from adapter_config.json)."""
    from tunesql.export import merge_adapter

    return merge_adapter(tiny_adapter_dir, tmp_path_factory.mktemp("merged") / "merged", progress=False).out


@pytest.fixture(scope="session")
def llama_cpp():
    return pytest.importorskip("llama_cpp", reason="pip install 'tunesql[llamacpp]'")


def hf_greedy_ids(model_dir: Path, prompt_ids: list[int], n: int) -> list[int]:
    """``n`` greedy next tokens from the transformers model in float32, never stopping early (argmax, KV cache)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    out: list[int] = []
    with torch.no_grad():
        step = model(torch.tensor([prompt_ids]), use_cache=True)
        for _ in range(n):
            out.append(int(step.logits[0, -1].argmax()))
            step = model(torch.tensor([[out[-1]]]), past_key_values=step.past_key_values, use_cache=True)
    return out


def gguf_greedy_ids(llama_cpp, gguf_path: Path, prompt_ids: list[int], n: int) -> list[int]:
    """``n`` greedy next tokens from llama.cpp for the same prompt ids (no stop at EOS).

    One thread: llama.cpp's workers spin at each barrier, and on a shared 2-core machine two of them crawl
    (16 tokens of the 0.5B in f16: 10 s with one thread, 57 s with two, measured under load).
    """
    llm = llama_cpp.Llama(model_path=str(gguf_path), n_ctx=512, n_threads=1, verbose=False, seed=0)
    out = []
    for token in llm.generate(prompt_ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0):
        out.append(int(token))
        if len(out) == n:
            break
    return out


def chat_prompt_ids(model_dir: Path, question: str = "How many singers do we have?") -> list[int]:
    """The token ids of a system + user conversation rendered by the model's own chat template."""
    from transformers import AutoTokenizer

    from tunesql.data.prompts import DEFAULT_SYSTEM

    tok = AutoTokenizer.from_pretrained(model_dir)
    text = tok.apply_chat_template([{"role": "system", "content": DEFAULT_SYSTEM},
                                    {"role": "user", "content": question}], tokenize=False,
                                   add_generation_prompt=True)
    return tok.encode(text, add_special_tokens=False)


GO_RENDER = """
package main

import (
	"encoding/json"
	"os"
	"strings"
	"text/template"
)

// Message mirrors the two fields of Ollama's api.Message that chat templates read.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Renders a template the way Ollama's template.Execute does for templates that use .Messages.
func main() {
	text, _ := os.ReadFile(os.Args[1])
	data, _ := os.ReadFile(os.Args[2])
	var messages []Message
	if err := json.Unmarshal(data, &messages); err != nil {
		panic(err)
	}
	var system []string
	for _, m := range messages {
		if m.Role == "system" {
			system = append(system, m.Content)
		}
	}
	t := template.Must(template.New("").Option("missingkey=zero").Parse(string(text)))
	vars := map[string]any{"System": strings.Join(system, "\\n\\n"), "Messages": messages, "Response": ""}
	if err := t.Execute(os.Stdout, vars); err != nil {
		panic(err)
	}
}
"""


def go_render(template: str, messages: list[dict], tmp_path: Path) -> str:
    """Execute an Ollama Go template with Go's text/template; skips the test when no Go toolchain is installed."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("no Go toolchain on PATH to execute Ollama's Go templates (apt-get install golang-go)")
    src = tmp_path / "render.go"
    src.write_text(GO_RENDER)
    (tmp_path / "t.gotmpl").write_text(template)
    (tmp_path / "m.json").write_text(json.dumps(messages))
    done = subprocess.run([go, "run", str(src), str(tmp_path / "t.gotmpl"), str(tmp_path / "m.json")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "GO111MODULE": "off"})
    assert done.returncode == 0, done.stderr
    return done.stdout
