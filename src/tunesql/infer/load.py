"""One entry point from a ``--model`` / ``--backend`` pair to a ready :class:`~tunesql.infer.backend.Backend`.

What ``model`` may be:

- ``None``: the default registered model (:data:`tunesql.models.DEFAULT_MODEL`);
- a registry key (``qwen2.5-coder-0.5b``) or a local ``.gguf`` file;
- a local transformers folder (one with ``config.json``), e.g. a merged fine-tune;
- an OpenAI-compatible endpoint: ``http(s)://host:port/v1#model-name`` (the fragment names the server's model),
  or ``openai:model-name`` for ``$OPENAI_BASE_URL`` (default ``https://api.openai.com/v1``).

``backend="auto"`` picks the fastest thing that can run it on this machine: an endpoint goes over HTTP; a GGUF
or registry key goes to llama.cpp when ``llama_cpp`` imports (several times faster than transformers on a CPU)
and otherwise to transformers through a once-converted folder; a transformers folder, or any PEFT adapter
folder, goes to transformers (llama.cpp cannot apply a PEFT adapter; a ``.gguf`` LoRA it can). vLLM is never
picked automatically: it needs a GPU and is chosen on purpose.

Heavy libraries load only inside the chosen backend; every bad choice is a ConfigError raised before anything
is assembled, converted or loaded.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tunesql.errors import ConfigError
from tunesql.infer.backend import Backend

BACKENDS = ("auto", "llamacpp", "hf", "vllm", "openai")
DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"


def parse_endpoint(model: str | Path | None) -> tuple[str, str] | None:
    """``(base_url, model_name)`` when ``model`` names an HTTP endpoint, else None.

    ``http://127.0.0.1:11434/v1#qwen2.5-coder:0.5b`` → (``http://127.0.0.1:11434/v1``, ``qwen2.5-coder:0.5b``);
    ``openai:gpt-4o-mini`` → (``$OPENAI_BASE_URL`` or the OpenAI API, ``gpt-4o-mini``);
    ``openai:http://host/v1#m`` is the same as the bare URL.
    """
    if not isinstance(model, str):
        return None
    text = model
    if text.startswith("openai:"):
        text = text[len("openai:") :]
        if not text.startswith(("http://", "https://")):
            if not text:
                raise ConfigError("openai: needs a model name, e.g. openai:gpt-4o-mini or openai:http://host/v1#m")
            return os.environ.get("OPENAI_BASE_URL") or DEFAULT_OPENAI_BASE_URL, text
    elif not text.startswith(("http://", "https://")):
        return None
    parts = urlsplit(text)
    if not parts.fragment:
        raise ConfigError(
            f"{text!r}: name the server's model after a '#', e.g. http://127.0.0.1:11434/v1#qwen2.5-coder:0.5b"
        )
    base = parts._replace(fragment="").geturl()
    return base, parts.fragment


def _llama_cpp_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def _is_gguf_adapter(adapter: str | Path | None) -> bool:
    return adapter is not None and str(adapter).lower().endswith(".gguf")


def _check_kwargs(cls: type, kwargs: dict[str, Any], fixed: tuple[str, ...]) -> None:
    """Unknown options are a ConfigError naming the ones the chosen backend takes, not a TypeError later."""
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    allowed = [n for n in params if n not in ("self", *fixed)]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ConfigError(f"{cls.__name__} does not take {', '.join(unknown)}; it takes {', '.join(allowed)}")


def load_backend(
    model: str | Path | None = None,
    backend: str = "auto",
    *,
    adapter: str | Path | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    **kwargs: Any,
) -> Backend:
    """Build the backend for ``model`` (see the module docstring); ``kwargs`` go to the backend's constructor.

    ``adapter`` is a PEFT LoRA folder (transformers, vLLM) or a GGUF LoRA file (llama.cpp). ``cache_dir`` and
    ``progress`` go to model assembly/conversion (:func:`tunesql.models.prepare_model`).
    """
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")

    endpoint = parse_endpoint(model)
    if endpoint is not None:
        if backend not in ("auto", "openai"):
            raise ConfigError(f"{model!r} is an HTTP endpoint; it can only be used with backend 'openai' (or 'auto')")
        if adapter is not None:
            raise ConfigError("an adapter cannot be applied to a remote endpoint; load it on the server instead")
        from tunesql.infer.openai_api import OpenAIBackend

        _check_kwargs(OpenAIBackend, kwargs, ("base_url", "model"))
        return OpenAIBackend(endpoint[0], endpoint[1], **kwargs)
    if backend == "openai":
        raise ConfigError(
            "backend 'openai' needs an endpoint as the model: http(s)://host:port/v1#model-name or openai:model-name"
        )

    from tunesql.models import prepare_model, resolve_model

    if backend == "auto":
        ref = resolve_model(model, cache_dir)  # validates the name before anything heavy happens
        if adapter is not None and not _is_gguf_adapter(adapter):
            backend = "hf"
        elif ref.kind == "gguf" and _llama_cpp_available():
            backend = "llamacpp"
        else:
            backend = "hf"

    if backend == "llamacpp":
        from tunesql.infer.llamacpp import LlamaCppBackend

        if adapter is not None and not _is_gguf_adapter(adapter):
            raise ConfigError(
                f"llama.cpp cannot apply the PEFT adapter folder {adapter}: merge and export it to GGUF first, "
                f"or use backend 'hf'"
            )
        _check_kwargs(LlamaCppBackend, kwargs, ("gguf_path", "lora_path"))
        ref = prepare_model(model, want="gguf", cache_dir=cache_dir, progress=progress)
        if adapter is not None:
            kwargs["lora_path"] = adapter
        built = LlamaCppBackend(ref.path, **kwargs)
        built.name = f"llama.cpp:{ref.key}" + (f"+{Path(adapter).stem}" if adapter is not None else "")
        return built

    if backend == "vllm":
        from tunesql.infer.vllm import VLLMBackend, _import_vllm

        _import_vllm()  # fail before converting anything on a machine without vLLM
        ref = prepare_model(model, want="hf", cache_dir=cache_dir, progress=progress)
        return VLLMBackend(ref.path, adapter=adapter, **kwargs)

    from tunesql.infer.hf import HFBackend

    if _is_gguf_adapter(adapter):
        raise ConfigError(f"{adapter} is a GGUF LoRA, which only llama.cpp applies; pass the PEFT adapter folder "
                          f"to the transformers backend, or use backend 'llamacpp' with a GGUF model")
    _check_kwargs(HFBackend, kwargs, ("model", "adapter"))
    ref = prepare_model(model, want="hf", cache_dir=cache_dir, progress=progress)
    built = HFBackend(ref.path, adapter=adapter, **kwargs)
    if ref.registered:
        built.name = f"transformers:{ref.key}" + (f"+{Path(adapter).name}" if adapter is not None else "")
    return built
