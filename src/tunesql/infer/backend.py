"""What every generation backend offers: chat conversations in, n completions each out.

Backends (transformers, llama.cpp, vLLM, any OpenAI-compatible endpoint) differ in how they batch and sample;
everything above them (prompting, voting, repair, evaluation) only sees this Protocol. Conversations are chat
messages, and each backend applies its model's own chat template, so what the model reads at inference is what
it was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

Message = dict[str, str]
"""``{"role": "system" | "user" | "assistant", "content": str}``."""


@dataclass
class GenerationConfig:
    max_new_tokens: int = 256
    temperature: float = 0.0
    """0 means greedy decoding; > 0 samples."""
    top_p: float = 1.0
    n: int = 1
    """Completions per conversation (self-consistency voting draws several)."""
    stop: list[str] = field(default_factory=list)
    """Strings that end a completion; the stop string itself is not returned."""
    seed: int | None = None


@runtime_checkable
class Backend(Protocol):
    name: str
    """A short description for logs and reports, e.g. ``llama.cpp:qwen2.5-coder-0.5b``."""

    def generate(self, conversations: Sequence[Sequence[Message]], config: GenerationConfig) -> list[list[str]]:
        """Return, for each conversation, ``config.n`` completions of the assistant's next turn."""
        ...


@dataclass
class ScriptedBackend:
    """A backend that replays fixed completions: for tests of voting, repair and the pipeline, and for demos.

    ``script`` maps a substring of the last user message to the completions to return (cycled to length n);
    ``default`` answers everything else. Every call is recorded in ``calls`` so tests can see what was asked.
    """

    script: dict[str, list[str]] = field(default_factory=dict)
    default: list[str] = field(default_factory=lambda: ["SELECT 1"])
    name: str = "scripted"
    calls: list[list[Message]] = field(default_factory=list)

    def generate(self, conversations: Sequence[Sequence[Message]], config: GenerationConfig) -> list[list[str]]:
        out = []
        for conv in conversations:
            self.calls.append(list(conv))
            last = next((m["content"] for m in reversed(conv) if m["role"] == "user"), "")
            answers = next((v for k, v in self.script.items() if k in last), self.default)
            out.append([answers[i % len(answers)] for i in range(config.n)])
        return out
