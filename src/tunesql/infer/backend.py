"""What every generation backend offers: chat conversations in, n completions each out.

Backends (transformers, llama.cpp, vLLM, any OpenAI-compatible endpoint) differ in how they batch and sample;
everything above them (prompting, voting, repair, evaluation) only sees this Protocol. Conversations are chat
messages, and each backend applies its model's own chat template, so what the model reads at inference is what
it was trained on.

Streaming is optional, because only a server that shows tokens as they come needs it, and voting cannot use it
(it needs whole samples). A backend that can stream adds::

    def stream(self, conversation: Sequence[Message], config: GenerationConfig) -> Iterator[str]

which yields the text pieces of ONE completion (``config.n`` must be 1, else ConfigError, raised when ``stream``
is called, before any piece, so a server can still answer with an error status). The pieces joined equal what
``generate`` returns for the same greedy config: the stop strings are honoured (a stop string may span pieces,
so text that could start one is held back until it is clear) and nothing after a stop is yielded. Closing the
iterator early ends the generation. Callers use ``stream_text``, which falls back to ``generate`` for backends
without ``stream``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from tunesql.errors import ConfigError

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


class Completion(str):
    """A completion's text that also says why it ended: ``finish_reason`` is ``"length"`` when the model ran into
    ``max_new_tokens`` before it finished, else ``"stop"`` (OpenAI's names).

    It *is* the text, so everything that reads completions as strings (voting, repair, evaluation) works unchanged;
    only a server that reports the reason looks at it. Backends return it where they know the reason; a plain
    ``str`` from any other backend means ``"stop"``.
    """

    finish_reason: str

    def __new__(cls, text: str, finish_reason: str = "stop") -> Completion:
        self = super().__new__(cls, text)
        self.finish_reason = finish_reason
        return self


def finish_reason(text: str) -> str:
    return getattr(text, "finish_reason", "stop")


@dataclass
class Usage:
    """Tokens a backend has read (prompts) and written (completions) since it was built.

    Optional, like streaming: a backend that can count keeps one as ``usage`` and calls ``add`` once per model
    call. Local backends count what the model did, not what was returned: a prompt once however many samples it
    is decoded into, a greedy answer repeated ``n`` times once, padding never. A remote endpoint's own reports
    are summed as given. A server reads the difference one request made (it runs one generation at a time, so
    that difference is exact). Streams are not counted.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, prompt_tokens: int, completion_tokens: int) -> None:
        with self._lock:  # an HTTP backend counts from several threads at once
            self.prompt_tokens += int(prompt_tokens)
            self.completion_tokens += int(completion_tokens)
            self.calls += 1

    def snapshot(self) -> tuple[int, int]:
        """(prompt_tokens, completion_tokens) now, for ``since``."""
        with self._lock:
            return self.prompt_tokens, self.completion_tokens

    def since(self, before: tuple[int, int]) -> dict[str, int]:
        """OpenAI's ``usage`` object for what was counted after ``before`` (a ``snapshot``)."""
        now = self.snapshot()
        prompt, completion = now[0] - before[0], now[1] - before[1]
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def usage_of(backend: object) -> Usage | None:
    """The backend's ``Usage``, looking through wrappers that keep the real backend as ``inner``."""
    while backend is not None:
        usage = getattr(backend, "usage", None)
        if isinstance(usage, Usage):
            return usage
        backend = getattr(backend, "inner", None)
    return None


@runtime_checkable
class Backend(Protocol):
    name: str
    """A short description for logs and reports, e.g. ``llama.cpp:qwen2.5-coder-0.5b``."""

    def generate(self, conversations: Sequence[Sequence[Message]], config: GenerationConfig) -> list[list[str]]:
        """Return, for each conversation, ``config.n`` completions of the assistant's next turn."""
        ...


def check_single(config: GenerationConfig) -> None:
    """A stream is one completion: refuse ``n > 1`` instead of silently dropping the other samples."""
    if config.n != 1:
        raise ConfigError(f"streaming returns one completion, so GenerationConfig.n must be 1, got {config.n}")


def stream_text(backend: Backend, conversation: Sequence[Message], config: GenerationConfig) -> Iterator[str]:
    """The pieces of one completion: ``backend.stream`` where the backend has it, else ``generate``'s whole answer.

    Checks ``n`` at call time (not at the first ``next``), so a server can refuse before it starts a response.
    """
    check_single(config)
    stream = getattr(backend, "stream", None)
    if callable(stream):
        return stream(conversation, config)
    return _whole(backend, conversation, config)


def _whole(backend: Backend, conversation: Sequence[Message], config: GenerationConfig) -> Iterator[str]:
    text = backend.generate([conversation], config)[0][0]
    if text:
        yield text


def _pending_start(text: str, stop: Sequence[str]) -> int:
    """Where the earliest unfinished stop string could begin: the first i such that text[i:] is a proper prefix."""
    start = len(text)
    for s in stop:
        for k in range(min(len(s) - 1, len(text)), 0, -1):
            if len(text) - k >= start:
                break
            if text.endswith(s[:k]):
                start = len(text) - k
                break
    return start


def cut_at_stop(pieces: Iterable[str], stop: Sequence[str]) -> Iterator[str]:
    """Yield ``pieces`` up to the earliest stop string, like ``trim_at_stop`` on their concatenation.

    A stop string may span pieces, so text that could be the start of one is held back until the next pieces
    show whether it is; a found stop string is cut only once no other stop string could still finish at an
    earlier position (stops "abcd" and "c" on "abcd" cut at 0, as ``trim_at_stop`` does). Iteration of
    ``pieces`` ends at the stop (the source generator is closed), so nothing after it is generated or yielded.
    """
    stop = [s for s in stop if s]
    source = iter(pieces)
    try:
        if not stop:
            for piece in source:
                if piece:
                    yield piece
            return
        buffer = ""
        for piece in source:
            if not piece:
                continue
            buffer += piece
            found = min((at for at in (buffer.find(s) for s in stop) if at >= 0), default=-1)
            pending = _pending_start(buffer, stop)
            if found >= 0 and pending >= found:
                if found:
                    yield buffer[:found]
                return
            safe = pending if found < 0 else min(pending, found)
            if safe:
                yield buffer[:safe]
                buffer = buffer[safe:]
        found = min((at for at in (buffer.find(s) for s in stop) if at >= 0), default=len(buffer))
        if found:
            yield buffer[:found]
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()


def split_pieces(text: str) -> list[str]:
    """Split text into word-sized pieces (whitespace kept) whose concatenation is ``text``."""
    return [p for p in re.split(r"(?<=\s)(?=\S)", text) if p]


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

    def stream(self, conversation: Sequence[Message], config: GenerationConfig) -> Iterator[str]:
        """The same answer ``generate`` gives (with n=1), yielded word by word so servers' streaming can be tested."""
        check_single(config)
        text = self.generate([conversation], config)[0][0]
        return iter(split_pieces(text))
