"""Generation through any OpenAI-compatible chat endpoint: Ollama, a vLLM or llama.cpp server, DeepSeek's API,
tunesql's own server.

The server applies the chat template, so conversations go over the wire as messages. Servers differ in what
they honour, and this backend papers over the differences that matter for voting and evaluation:

- ``n``: many servers (Ollama, llama.cpp's server, some proxies) return one choice whatever ``n`` says. Missing
  samples are made up with more calls, each with its own seed (``seed + k``) so a server that honours seeds
  still returns different samples, and a rerun returns the same ones.
- ``stop``: the OpenAI API takes at most four stop strings and some servers ignore them; the first four are
  sent and every completion is trimmed client-side at all of them.
- greedy (temperature 0) asks for one choice and repeats it ``n`` times instead of paying for n equal ones.

Transient failures (HTTP 408/409/429/5xx, dropped connections) are retried by the openai client with
exponential backoff (it obeys ``Retry-After``); a wrong key, URL or model name fails at once with a message
that says which. Conversations run concurrently on a small thread pool, because an HTTP server batches
concurrent requests (vLLM continuous batching, llama.cpp ``--parallel``) and the client mostly waits.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from tunesql.errors import ConfigError, EndpointError
from tunesql.infer.backend import GenerationConfig, Message, Usage, check_single, cut_at_stop
from tunesql.infer.hf import check_config, finished

MAX_STOP_STRINGS = 4
"""What the OpenAI API accepts in ``stop``; the rest are applied client-side."""


class OpenAIBackend:
    """Chat completions from ``base_url`` (e.g. ``http://127.0.0.1:11434/v1``) for ``model``.

    ``api_key`` falls back to ``$OPENAI_API_KEY``, then to ``"none"`` (local servers ignore it, but the client
    insists on one). ``max_retries`` counts retries after the first attempt, per request.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        timeout: float = 60,
        max_retries: int = 2,
        concurrency: int = 4,
    ) -> None:
        try:
            import openai
        except ImportError as e:
            raise ConfigError("the OpenAI-compatible backend needs the openai package: pip install openai") from e
        if not base_url or urlsplit(base_url).scheme not in ("http", "https"):
            raise ConfigError(f"base_url must be an http(s) URL such as http://127.0.0.1:11434/v1, got {base_url!r}")
        if not model:
            raise ConfigError("the OpenAI-compatible backend needs a model name (the server's name for it)")
        self._openai = openai
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.concurrency = max(1, int(concurrency))
        self.client = openai.OpenAI(
            base_url=self.base_url,
            api_key=api_key or os.environ.get("OPENAI_API_KEY") or "none",
            timeout=timeout,
            max_retries=max_retries,
        )
        self.name = f"openai:{model}@{urlsplit(self.base_url).netloc}"
        self.usage = Usage()
        """What the endpoint reported; a response without ``usage`` (some servers send none) adds nothing."""

    def generate(self, conversations: Sequence[Sequence[Message]], config: GenerationConfig) -> list[list[str]]:
        check_config(config)
        if not conversations:
            return []
        if self.concurrency == 1 or len(conversations) == 1:
            return [self._one(c, config) for c in conversations]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(conversations))) as pool:
            return list(pool.map(lambda c: self._one(c, config), conversations))

    def _one(self, conversation: Sequence[Message], config: GenerationConfig) -> list[str]:
        greedy = config.temperature == 0
        want = 1 if greedy else config.n
        texts: list[str] = []
        call = 0
        while len(texts) < want:
            seed = None if config.seed is None else config.seed + call
            got = self._request(conversation, config, n=want - len(texts), seed=seed)
            if not got:
                raise EndpointError(f"{self.name} returned no choices")
            texts.extend(got[: want - len(texts)])
            call += 1
        return texts * config.n if greedy else texts

    def _request(self, conversation: Sequence[Message], config: GenerationConfig, *, n: int,
                 seed: int | None) -> list[str]:
        with self._errors():
            response = self.client.chat.completions.create(**self._args(conversation, config, n=n, seed=seed))
        if response.usage is not None:
            self.usage.add(response.usage.prompt_tokens or 0, response.usage.completion_tokens or 0)
        return [finished(choice.message.content or "", config.stop, hit_limit=choice.finish_reason == "length")
                for choice in sorted(response.choices, key=lambda c: c.index)]

    def _args(self, conversation: Sequence[Message], config: GenerationConfig, *, n: int,
              seed: int | None) -> dict[str, Any]:
        args: dict[str, Any] = dict(
            model=self.model,
            messages=[{"role": m["role"], "content": m["content"]} for m in conversation],
            n=n,
            temperature=config.temperature,
            top_p=config.top_p,
            max_tokens=config.max_new_tokens,
        )
        stop = [s for s in config.stop if s][:MAX_STOP_STRINGS]
        if stop:
            args["stop"] = stop
        if seed is not None:
            args["seed"] = seed
        return args

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn the client's exceptions into tunesql errors that say what to fix (shared by requests and streams)."""
        openai = self._openai
        try:
            yield
        except openai.AuthenticationError as e:
            raise ConfigError(
                f"{self.name} refused the API key (HTTP 401): pass api_key= / --api-key or set OPENAI_API_KEY"
            ) from e
        except openai.PermissionDeniedError as e:
            raise ConfigError(f"{self.name}: this API key may not use model {self.model!r} (HTTP 403)") from e
        except openai.NotFoundError as e:
            raise ConfigError(
                f"{self.name}: not found (HTTP 404) — check that the base URL ends in /v1 and that the server "
                f"serves a model named {self.model!r}"
            ) from e
        except openai.APIStatusError as e:
            raise EndpointError(f"{self.name} failed with HTTP {e.status_code}: {_brief(e)}") from e
        except openai.APIConnectionError as e:  # includes timeouts, after the client's retries
            raise EndpointError(f"cannot reach {self.base_url} ({e}); is the server running?") from e

    def stream(self, conversation: Sequence[Message], config: GenerationConfig) -> Iterator[str]:
        """One completion as the server streams it (``stream=True``; see ``tunesql.infer.backend`` on streaming).

        The first four stop strings go to the server and all of them are cut here, across chunk boundaries.
        Closing the iterator early closes the HTTP response, which tells the server to stop generating.
        """
        check_config(config)
        check_single(config)
        return cut_at_stop(self._stream_pieces(conversation, config), config.stop)

    def _stream_pieces(self, conversation: Sequence[Message], config: GenerationConfig) -> Iterator[str]:
        response: Any = None
        try:
            with self._errors():
                response = self.client.chat.completions.create(
                    **self._args(conversation, config, n=1, seed=config.seed), stream=True
                )
                for chunk in response:
                    for choice in chunk.choices or []:
                        if choice.index == 0 and choice.delta is not None and choice.delta.content:
                            yield choice.delta.content
        except self._openai.APIError as e:  # an error event inside the stream, after the HTTP 200
            raise EndpointError(f"{self.name} failed while streaming: {_brief(e)}") from e
        finally:
            if response is not None:
                response.close()


def _brief(error: Exception, limit: int = 300) -> str:
    text = str(error)
    return text if len(text) <= limit else text[:limit] + "…"
