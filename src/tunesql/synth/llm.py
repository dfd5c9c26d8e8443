"""The LLM that writes, translates and distils data: any OpenAI-compatible endpoint, with a response cache.

Synthesis sends hundreds of requests to a model that is slow or paid for. Three things make that bearable:

- **A cache on disk.** Each request (model, messages, sampling settings, seed) is hashed; its answer is stored in
  ``<cache_dir>/<2 hex>/<hash>.json`` by an atomic rename, so an interrupted or repeated run pays only for what
  it has not asked before, and two runs never see a half-written entry. The server's address is left out of the
  key on purpose: the same model moved to another port or host answers the same request the same way.
- **Retries with backoff, and timeouts**: the ``openai`` client's own (exponential backoff with jitter, obeys
  ``Retry-After``, retries 408/409/429/5xx and dropped connections), through ``infer.openai_api.OpenAIBackend``,
  which also maps a bad key, URL or model name to a message that says which.
- **A concurrency limit**: ``complete_many`` keeps at most ``concurrency`` requests in flight, because servers
  batch concurrent requests (vLLM, llama.cpp ``--parallel``) and a hosted API rate-limits beyond a few.

A request that still fails after its retries comes back as its ``EndpointError`` in ``complete_many``'s result
rather than stopping a 500-pair run; configuration errors (401, 404) stop it at once, since every later request
would fail the same way.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesql.errors import EndpointError
from tunesql.infer.backend import GenerationConfig, Message

CACHE_VERSION = 1
"""Part of every cache key: bump it when the meaning of a cached answer changes."""


@dataclass
class ChatRequest:
    messages: list[Message]
    temperature: float = 0.0
    n: int = 1
    max_tokens: int = 1024
    seed: int | None = None
    """With temperature > 0, the seed makes a sample reproducible on servers that honour it, and is part of
    the cache key, so asking for "another" sample means asking with another seed."""
    stop: list[str] = field(default_factory=list)

    def key(self, model: str) -> str:
        payload = {"v": CACHE_VERSION, "model": model, "messages": self.messages, "temperature": self.temperature,
                   "n": self.n, "max_tokens": self.max_tokens, "seed": self.seed, "stop": self.stop}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass
class LLMStats:
    requests: int = 0
    """Requests answered by the endpoint (each may have needed retries inside the client)."""
    cache_hits: int = 0
    failures: int = 0


class LLMClient:
    """``complete`` one request or ``complete_many`` concurrently; answers are cached under ``cache_dir``."""

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, timeout: float = 120.0,
                 max_retries: int = 4, concurrency: int = 4, cache_dir: str | Path | None = None) -> None:
        from tunesql.infer.openai_api import OpenAIBackend

        self.backend = OpenAIBackend(base_url, model, api_key, timeout=timeout, max_retries=max_retries,
                                     concurrency=1)
        self.model = model
        self.name = self.backend.name
        self.concurrency = max(1, int(concurrency))
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.stats = LLMStats()
        self._lock = threading.Lock()

    def complete(self, request: ChatRequest) -> list[str]:
        """The ``request.n`` answers, from the cache when this exact request was answered before."""
        key = request.key(self.model)
        cached = self._read_cache(key)
        if cached is not None:
            with self._lock:
                self.stats.cache_hits += 1
            return cached
        config = GenerationConfig(max_new_tokens=request.max_tokens, temperature=request.temperature,
                                  n=request.n, stop=list(request.stop), seed=request.seed)
        try:
            texts = self.backend.generate([request.messages], config)[0]
        except EndpointError:
            with self._lock:
                self.stats.failures += 1
            raise
        with self._lock:
            self.stats.requests += 1
        self._write_cache(key, texts)
        return texts

    def complete_many(self, requests: Sequence[ChatRequest], *,
                      progress: Callable[[int], None] | None = None) -> list[list[str] | EndpointError]:
        """Answers in request order; a request that failed after its retries is its EndpointError."""

        def one(request: ChatRequest) -> list[str] | EndpointError:
            try:
                return self.complete(request)
            except EndpointError as e:
                return e
            finally:
                if progress:
                    progress(1)

        if self.concurrency == 1 or len(requests) <= 1:
            return [one(r) for r in requests]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            return list(pool.map(one, requests))

    # --- cache ------------------------------------------------------------------------------------------------

    def _cache_path(self, key: str) -> Path | None:
        return self.cache_dir / key[:2] / f"{key}.json" if self.cache_dir else None

    def _read_cache(self, key: str) -> list[str] | None:
        path = self._cache_path(key)
        if path is None or not path.is_file():
            return None
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # a damaged entry is asked again and overwritten
        texts = data.get("texts") if isinstance(data, dict) else None
        return [str(t) for t in texts] if isinstance(texts, list) else None

    def _write_cache(self, key: str, texts: list[str]) -> None:
        path = self._cache_path(key)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps({"model": self.model, "texts": texts}, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)


def parse_json_answer(text: str) -> Any:
    """The JSON value in a model's answer: the whole text, a ```json fence, or the first balanced {...}/[...].

    Models wrap JSON in prose and fences however they are asked; raises ValueError when nothing parses.
    """
    from tunesql.sql.extract import fenced_blocks

    text = text.strip()
    candidates = [text, *(content for _, content in fenced_blocks(text))]
    spans = [(text.find(o), text.rfind(c)) for o, c in (("[", "]"), ("{", "}"))]
    candidates += [text[s:e + 1] for s, e in sorted(spans) if 0 <= s < e]  # the outermost bracket first
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise ValueError(f"no JSON found in the answer: {text[:120]!r}")
