"""The transformers backend on a tiny random Qwen2 built in the test: exact checks, no downloads.

A random model writes gibberish, but greedy decoding is deterministic, so batching and left padding can be
checked exactly against one-by-one decoding, and an adapter's effect against the base model.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the transformers backend needs the train extra: pip install 'tunesql[train]'")
pytest.importorskip("transformers", reason="pip install 'tunesql[train]'")

from tunesql.errors import ConfigError
from tunesql.infer.backend import Backend, GenerationConfig, finish_reason
from tunesql.infer.hf import HFBackend, trim_at_stop

CONVERSATIONS = [
    [{"role": "user", "content": "How many singers do we have?"}],
    [
        {"role": "system", "content": "You are a careful data analyst who writes correct, read-only SQL."},
        {"role": "user", "content": "List the names of all stadiums ordered by capacity, largest first."},
    ],
    [{"role": "user", "content": "count"}],
]


@pytest.fixture(scope="module")
def backend(tiny_model_dir: Path) -> HFBackend:
    return HFBackend(tiny_model_dir, batch_size=2)


def test_is_a_backend_and_applies_the_chat_template(backend: HFBackend, tiny_model_dir: Path) -> None:
    assert isinstance(backend, Backend)
    assert backend.name == f"transformers:{tiny_model_dir.name}"
    text = backend.render(CONVERSATIONS[1])
    assert text.startswith("<|im_start|>system\nYou are a careful")
    assert text.endswith("<|im_end|>\n<|im_start|>assistant\n")
    assert backend.tokenizer.convert_tokens_to_ids("<|im_end|>") in backend.eos_ids


def test_batched_greedy_is_deterministic_and_equals_one_by_one(backend: HFBackend) -> None:
    config = GenerationConfig(max_new_tokens=16)
    batched = backend.generate(CONVERSATIONS, config)
    assert batched == backend.generate(CONVERSATIONS, config)
    # Prompt lengths differ, so batches hold left-padded rows; the output must not notice.
    one_by_one = [backend.generate([c], config)[0] for c in CONVERSATIONS]
    assert batched == one_by_one
    assert all(len(out) == 1 and out[0] for out in batched)


def test_greedy_with_n_repeats_the_one_greedy_answer(backend: HFBackend) -> None:
    one = backend.generate(CONVERSATIONS[:1], GenerationConfig(max_new_tokens=8))[0][0]
    assert backend.generate(CONVERSATIONS[:1], GenerationConfig(max_new_tokens=8, n=3)) == [[one] * 3]


def test_sampling_returns_n_varied_seeded_samples(backend: HFBackend) -> None:
    config = GenerationConfig(max_new_tokens=10, temperature=1.0, n=3, seed=7)
    out = backend.generate(CONVERSATIONS, config)
    assert [len(samples) for samples in out] == [3, 3, 3]
    assert all(len(set(samples)) > 1 for samples in out)
    assert out == backend.generate(CONVERSATIONS, config)  # same seed, same samples


def test_stop_strings_trim_the_completion(backend: HFBackend) -> None:
    full = backend.generate(CONVERSATIONS[:1], GenerationConfig(max_new_tokens=16))[0][0]
    stop = full[4:7]
    cut = backend.generate(CONVERSATIONS[:1], GenerationConfig(max_new_tokens=16, stop=["NEVER-SEEN", stop]))
    assert cut == [[full[: full.find(stop)]]]


def test_generation_ends_at_the_chat_end_token(tiny_model_dir: Path) -> None:
    backend = HFBackend(tiny_model_dir)
    full = backend.generate(CONVERSATIONS[:1], GenerationConfig(max_new_tokens=12))[0][0]
    im_end = backend.tokenizer.convert_tokens_to_ids("<|im_end|>")
    calls = 0

    def force_im_end_on_step_4(module, inputs, logits):
        nonlocal calls
        calls += 1
        if calls >= 4:
            logits[..., im_end] = 1e4
        return logits

    backend.model.lm_head.register_forward_hook(force_im_end_on_step_4)
    ended = backend.generate(CONVERSATIONS[:1], GenerationConfig(max_new_tokens=12))[0][0]
    ids = backend.tokenizer(full, add_special_tokens=False)["input_ids"]
    assert ended == backend.tokenizer.decode(ids[:3])
    assert "<|im_end|>" not in ended


def test_model_object_and_tokenizer_object(tiny_model_dir: Path, backend: HFBackend) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    config = GenerationConfig(max_new_tokens=8)
    assert HFBackend(model, tokenizer).generate(CONVERSATIONS, config) == backend.generate(CONVERSATIONS, config)


def test_a_lora_adapter_changes_the_output(tiny_model_dir: Path, backend: HFBackend, tmp_path: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "o_proj"]))
    torch.manual_seed(1)
    with torch.no_grad():  # a fresh LoRA has B = 0 (a no-op); make it a real change
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    peft_model.save_pretrained(tmp_path / "adapter")

    tuned = HFBackend(tiny_model_dir, adapter=tmp_path / "adapter")
    assert tuned.name.endswith("+adapter")
    config = GenerationConfig(max_new_tokens=12)
    assert tuned.generate(CONVERSATIONS, config) != backend.generate(CONVERSATIONS, config)


def test_clear_errors(tiny_model_dir: Path, backend: HFBackend, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="adapter folder not found"):
        HFBackend(tiny_model_dir, adapter=tmp_path / "nope")
    with pytest.raises(ConfigError, match=r"no config\.json"):
        HFBackend(tmp_path)
    with pytest.raises(ConfigError, match="unknown dtype"):
        HFBackend(tiny_model_dir, dtype="float99")
    with pytest.raises(ConfigError, match="n must be at least 1"):
        backend.generate(CONVERSATIONS, GenerationConfig(n=0))
    assert backend.generate([], GenerationConfig()) == []


def test_trim_at_stop() -> None:
    assert trim_at_stop("SELECT 1;\n```\nmore", [";", "```"]) == "SELECT 1"
    assert trim_at_stop("SELECT 1", ["", "zzz"]) == "SELECT 1"
    assert trim_at_stop("a```b;c", [";", "```"]) == "a"


def _counted(backend: HFBackend, conversations: list, config: GenerationConfig) -> tuple[int, int]:
    before = backend.usage.snapshot()
    backend.generate(conversations, config)
    after = backend.usage.snapshot()
    return after[0] - before[0], after[1] - before[1]


def test_usage_counts_real_tokens_not_padding_or_repeats(backend: HFBackend) -> None:
    config = GenerationConfig(max_new_tokens=12, stop=["a", "e", "o"])  # rows end early: their tails are padding
    prompt_lengths = [len(backend.tokenizer(backend.render(c), add_special_tokens=False)["input_ids"])
                      for c in CONVERSATIONS]
    alone = [_counted(backend, [c], config) for c in CONVERSATIONS]
    assert [p for p, _ in alone] == prompt_lengths
    assert all(1 <= w <= 12 for _, w in alone)
    # Batched, the shorter prompts are left-padded and finished rows right-padded: neither counts.
    assert _counted(backend, CONVERSATIONS, config) == (sum(prompt_lengths), sum(w for _, w in alone))
    # A greedy answer asked for 3 times is decoded once and counted once.
    assert _counted(backend, CONVERSATIONS[:1], GenerationConfig(max_new_tokens=12, stop=["a", "e", "o"], n=3)) \
        == alone[0]


def test_finish_reason_says_whether_the_token_limit_ended_the_answer(backend: HFBackend) -> None:
    # The random model never finishes on its own within 12 tokens; a stop string ends every answer early.
    capped = backend.generate(CONVERSATIONS, GenerationConfig(max_new_tokens=12))
    stopped = backend.generate(CONVERSATIONS, GenerationConfig(max_new_tokens=12, stop=["a", "e", "o"]))
    assert [finish_reason(row[0]) for row in capped] == ["length"] * len(CONVERSATIONS)
    assert [finish_reason(row[0]) for row in stopped] == ["stop"] * len(CONVERSATIONS)
    assert all(len(s[0]) < len(c[0]) for s, c in zip(stopped, capped, strict=True))
