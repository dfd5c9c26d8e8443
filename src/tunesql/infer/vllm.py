"""Generation with vLLM on a GPU: the fast path for large evaluations and for serving many users.

vLLM batches every conversation of a call (and all ``n`` samples of each) in one continuous-batching run and
shares the prompt's KV cache between samples, so self-consistency voting costs little more than one answer.
``LLM.chat`` applies the model's chat template. A LoRA adapter is served unmerged through ``LoRARequest``.

vllm is imported only when a backend is built: it needs a CUDA GPU and a multi-gigabyte install, and most
tunesql users never touch it. This module must stay importable without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tunesql.errors import ConfigError
from tunesql.infer.backend import GenerationConfig, Message, Usage
from tunesql.infer.hf import check_config, finished

VLLM_HINT = "vLLM needs a GPU and the `vllm` extra: pip install 'tunesql[vllm]'"


def _import_vllm():
    try:
        import vllm
    except ImportError as e:
        raise ConfigError(f"{VLLM_HINT} (import failed: {e})") from e
    return vllm


class VLLMBackend:
    """A ``vllm.LLM`` engine; ``engine_kwargs`` go to it unchanged (``gpu_memory_utilization``, ``max_model_len``,
    ``dtype``, ``tensor_parallel_size`` …). ``adapter`` is a PEFT LoRA folder, applied per request.
    """

    def __init__(self, model: str | Path, *, adapter: str | Path | None = None, **engine_kwargs: Any) -> None:
        vllm = _import_vllm()
        self._vllm = vllm
        self._lora = None
        if adapter is not None:
            if not Path(adapter).exists():
                raise ConfigError(f"adapter folder not found: {adapter}")
            engine_kwargs.setdefault("enable_lora", True)
            from vllm.lora.request import LoRARequest

            self._lora = LoRARequest(Path(adapter).name, 1, str(adapter))
        self.llm = vllm.LLM(model=str(model), **engine_kwargs)
        label = Path(str(model)).name + (f"+{Path(adapter).name}" if adapter is not None else "")
        self.name = f"vllm:{label}"
        self.usage = Usage()

    def generate(self, conversations: Sequence[Sequence[Message]], config: GenerationConfig) -> list[list[str]]:
        check_config(config)
        if not conversations:
            return []
        greedy = config.temperature == 0
        params = self._vllm.SamplingParams(
            n=1 if greedy else config.n,
            temperature=config.temperature,
            top_p=config.top_p if not greedy else 1.0,
            max_tokens=config.max_new_tokens,
            stop=[s for s in config.stop if s] or None,
            seed=config.seed,
        )
        outputs = self.llm.chat(
            [list(c) for c in conversations], params, use_tqdm=False, lora_request=self._lora
        )
        results = []
        for out in outputs:
            self.usage.add(len(out.prompt_token_ids or ()), sum(len(o.token_ids) for o in out.outputs))
            texts = [finished(o.text, config.stop, hit_limit=o.finish_reason == "length") for o in out.outputs]
            results.append(texts * config.n if greedy else texts)
        return results
