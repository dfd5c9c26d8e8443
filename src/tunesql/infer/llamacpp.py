"""Generation with llama.cpp (llama-cpp-python) from a GGUF file: the fast path on a CPU.

A quantised GGUF runs several times faster under llama.cpp than the same model under transformers on a CPU
(MODELS.md: 36 vs 6 tok/s for the 0.5B on 2 cores), so this is the default backend for registered models.

- Chat template: ``create_chat_completion`` renders the conversation with the template stored in the GGUF's
  metadata (``tokenizer.chat_template``) and stops at the template's end-of-turn token, so the model reads the
  same format it was trained on. ``chat_format`` overrides it with one of llama-cpp-python's named formats.
- Samples: llama.cpp generates one sequence at a time, so ``n`` samples are ``n`` calls. The calls are cheap
  after the first: llama-cpp-python keeps the last sequence's KV cache and re-evaluates only the tokens after
  the longest common prefix, so the shared prompt is evaluated once per conversation, not once per sample.
  For the same reason conversations are run in sorted order, which puts prompts sharing a system message and
  schema next to each other.
- Seeds: sample ``k`` of a call uses seed ``base + k`` (``base`` is ``config.seed``, or drawn at random when
  that is None), so samples differ from each other and a seeded run is reproducible.
- Sampling is plain temperature + top-p: llama.cpp's own defaults (top_k=40, min_p=0.05) are switched off so
  one ``GenerationConfig`` means the same on every backend.

llama_cpp is imported only when a backend is built; without it the error names the ``llamacpp`` extra.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tunesql.errors import ConfigError
from tunesql.infer.backend import GenerationConfig, Message, Usage, check_single, cut_at_stop
from tunesql.infer.hf import check_config, finished

LLAMACPP_HINT = "pip install 'tunesql[llamacpp]' (llama-cpp-python; pip compiles it, which takes several minutes)"


def physical_cores() -> int:
    """Physical cores this process may use: llama.cpp gains nothing from SMT siblings and loses from oversubscription.

    llama-cpp-python's own default is half the logical CPUs, which on a 2-core machine without SMT is 1.
    """
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = os.cpu_count() or 1
    physical = None
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
    except ImportError:
        try:
            cores = set()
            block: dict[str, str] = {}
            for line in [*Path("/proc/cpuinfo").read_text().splitlines(), ""]:
                if ":" in line:
                    key, value = (p.strip() for p in line.split(":", 1))
                    block[key] = value
                elif block:
                    cores.add((block.get("physical id"), block.get("core id")))
                    block = {}
            physical = len(cores) if cores and (None, None) not in cores else None
        except OSError:
            physical = None
    return max(1, min(allowed, physical or allowed))


def _import_llama_cpp():
    try:
        import llama_cpp
    except ImportError as e:
        raise ConfigError(f"the llama.cpp backend needs llama-cpp-python: {LLAMACPP_HINT}") from e
    return llama_cpp


class LlamaCppBackend:
    """A GGUF model under llama.cpp. ``n_ctx`` bounds prompt + completion tokens; ``lora_path`` is a GGUF LoRA.

    ``stats`` accumulates calls, prompt and completion tokens and seconds, for throughput reports. (Prompt
    tokens count every prompt in full, including the part served from the KV cache.)
    """

    def __init__(
        self,
        gguf_path: str | Path,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_batch: int = 512,
        verbose: bool = False,
        chat_format: str | None = None,
        lora_path: str | Path | None = None,
    ) -> None:
        llama_cpp = _import_llama_cpp()
        path = Path(gguf_path)
        if not path.is_file():
            raise ConfigError(f"GGUF file not found: {path}")
        if lora_path is not None and not Path(lora_path).is_file():
            raise ConfigError(f"GGUF LoRA adapter not found: {lora_path}")
        self.n_threads = n_threads or physical_cores()
        try:
            self.llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_batch=n_batch,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,
                chat_format=chat_format,
                lora_path=str(lora_path) if lora_path is not None else None,
                verbose=verbose,
            )
        except ValueError as e:  # llama-cpp-python's "Failed to load model from file"
            raise ConfigError(f"llama.cpp could not load {path}: {e} (is it a complete GGUF file?)") from e
        self.name = f"llama.cpp:{path.stem}"
        self.usage = Usage()

    def generate(self, conversations: Sequence[Sequence[Message]], config: GenerationConfig) -> list[list[str]]:
        check_config(config)
        greedy = config.temperature == 0
        base = config.seed if config.seed is not None else random.randrange(2**31)
        # Neighbouring prompts that share a prefix (system message, schema) reuse each other's KV cache.
        order = sorted(range(len(conversations)), key=lambda i: [(m["role"], m["content"]) for m in conversations[i]])
        results: list[list[str]] = [[] for _ in conversations]
        for i in order:
            samples = [self._complete(conversations[i], config, base + k) for k in range(1 if greedy else config.n)]
            # llama.cpp reports the prompt with every sample, but evaluates it once (the KV cache holds it).
            self.usage.add(samples[0][1], sum(written for _, _, written in samples))
            texts = [text for text, _, _ in samples]
            results[i] = texts * config.n if greedy else texts
        return results

    def _complete(self, conversation: Sequence[Message], config: GenerationConfig, seed: int) -> tuple[str, int, int]:
        """One completion, with the prompt and completion token counts llama.cpp reported for it."""
        try:
            response: Any = self.llm.create_chat_completion(**self._chat_args(conversation, config, seed))
        except ValueError as e:  # "Requested tokens (N) exceed context window of M"
            raise ConfigError(f"{self.name}: {e}; build the backend with a larger n_ctx") from e
        usage = response.get("usage") or {}
        choice = response["choices"][0]
        text = finished(choice["message"].get("content") or "", config.stop,
                        hit_limit=choice.get("finish_reason") == "length")
        return text, usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)

    def _chat_args(self, conversation: Sequence[Message], config: GenerationConfig, seed: int) -> dict[str, Any]:
        """One place for the sampling arguments, so a streamed completion is sampled exactly like a generated one."""
        stop = [s for s in config.stop if s]
        return dict(
            messages=[{"role": m["role"], "content": m["content"]} for m in conversation],
            temperature=config.temperature,
            top_p=config.top_p if config.temperature > 0 else 1.0,
            top_k=0,
            min_p=0.0,
            repeat_penalty=1.0,
            max_tokens=config.max_new_tokens,
            stop=stop or None,
            seed=seed,
        )

    def stream(self, conversation: Sequence[Message], config: GenerationConfig) -> Iterator[str]:
        """One completion, piece by piece as llama.cpp decodes it (see ``tunesql.infer.backend`` on streaming).

        llama.cpp stops at the stop strings itself; ``cut_at_stop`` cuts again on our side, with the same
        earliest-match rule as ``trim_at_stop``, and closing the iterator stops the decoding. ``usage`` is not
        updated: the stream carries no token counts.
        """
        check_config(config)
        check_single(config)
        seed = config.seed if config.seed is not None else random.randrange(2**31)
        return cut_at_stop(self._pieces(conversation, config, seed), config.stop)

    def _pieces(self, conversation: Sequence[Message], config: GenerationConfig, seed: int) -> Iterator[str]:
        chunks: Any = None
        try:
            chunks = self.llm.create_chat_completion(**self._chat_args(conversation, config, seed), stream=True)
            for chunk in chunks:
                choices = chunk.get("choices") or [{}]
                text = (choices[0].get("delta") or {}).get("content")
                if text:
                    yield text
        except ValueError as e:  # "Requested tokens (N) exceed context window of M"
            raise ConfigError(f"{self.name}: {e}; build the backend with a larger n_ctx") from e
        finally:
            if chunks is not None and hasattr(chunks, "close"):
                chunks.close()  # stops llama.cpp decoding now, not whenever the generator is collected
