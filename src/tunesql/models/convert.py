"""Convert a GGUF into a transformers safetensors folder once, so training and inference load it in a second.

transformers can read a GGUF directly, but it de-quantises every tensor in Python on each load (20-90 s on two
cores) and re-parses the header for the tokenizer. Done once here, the result is an ordinary model folder
(weights, config, generation config, tokenizer with its chat template) that loads in about a second.

dtype: float32 by default. The GGUF weights are 4-5 bit blocks with fp16 scales; their de-quantised values are
exact in float32, so the folder reproduces the GGUF-loaded model token for token (tested). float32 is also
what CPU matmul kernels are fastest at on machines without AMX/AVX512-BF16 (most laptops and CI runners), and
what LoRA training on CPU wants for stable gradients. bfloat16 halves disk and RAM (0.5B: ~1 GB instead of
~2 GB) at the cost of rounding the weights; ask for it with ``dtype="bfloat16"`` (kept in ``hf-bfloat16/``).

The Qwen GGUFs store the output head (``output.weight``) separately from the token embeddings, each quantised
on its own, so the converted Qwen folder has an untied ``lm_head`` (``tie_word_embeddings: false``, 0.5B: 2.5 GB
in float32) even though upstream ties them: that is what reproduces the GGUF exactly.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

from tunesql.errors import ConfigError
from tunesql.models.assemble import cache_root, ensure_gguf, model_dir
from tunesql.models.registry import REGISTRY, ModelSpec, read_gguf_fields

MARKER = "tunesql-convert.json"
"""Written last into a converted folder: its presence (with matching source) means the folder is complete."""
DTYPES = ("float32", "bfloat16")
TRAIN_EXTRA_HINT = "converting a GGUF needs the train extra: pip install 'tunesql[train]' (torch, transformers, gguf)"


def hf_cache_path(key_or_gguf_path: str | Path | ModelSpec, cache_dir: str | Path | None = None,
                  dtype: str = "float32") -> Path:
    """Where :func:`ensure_hf` puts the converted folder (it need not exist yet)."""
    sub = "hf" if dtype == "float32" else f"hf-{dtype}"
    spec = _registry_spec(key_or_gguf_path)
    if spec is not None:
        return model_dir(spec.key, cache_dir) / sub
    gguf = Path(key_or_gguf_path).expanduser().resolve()
    return cache_root(cache_dir) / "models" / "local" / f"{gguf.stem}-{_fingerprint(gguf)}" / sub


def is_converted(key_or_gguf_path: str | Path | ModelSpec, cache_dir: str | Path | None = None,
                 dtype: str = "float32") -> bool:
    """True when a complete converted folder for this source exists (cheap: no hashing, no loading)."""
    out = hf_cache_path(key_or_gguf_path, cache_dir, dtype)
    return _marker_matches(out, _source_id(key_or_gguf_path), dtype)


def ensure_hf(key_or_gguf_path: str | Path | ModelSpec, cache_dir: str | Path | None = None,
              dtype: str = "float32", progress: bool = True) -> Path:
    """Return a transformers folder for a registered model, a local .gguf file, or (unchanged) an HF folder.

    The first call assembles the GGUF if needed (:func:`ensure_gguf`), de-quantises it, and saves
    ``<cache>/models/<key>/hf/``; later calls return that folder at once. A local GGUF is cached under
    ``<cache>/models/local/<stem>-<fingerprint>/hf/``, keyed by its path, size and mtime.
    """
    if dtype not in DTYPES:
        raise ConfigError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    spec = _registry_spec(key_or_gguf_path)
    if spec is None:
        path = Path(key_or_gguf_path).expanduser()
        if path.is_dir() and (path / "config.json").is_file():
            return path
        if not (path.is_file() and path.suffix.lower() == ".gguf"):
            from tunesql.models.registry import resolve_model

            resolve_model(str(key_or_gguf_path))  # raises the ConfigError that lists what to pass
            raise ConfigError(f"cannot convert {str(path)!r}: not a .gguf file")
    out = hf_cache_path(key_or_gguf_path, cache_dir, dtype)
    source = _source_id(key_or_gguf_path)
    if _marker_matches(out, source, dtype):
        return out
    gguf = ensure_gguf(spec, cache_dir, progress=progress) if spec is not None else Path(key_or_gguf_path)
    convert_gguf(gguf.expanduser().resolve(), out, dtype=dtype, source=source, progress=progress)
    return out


def convert_gguf(gguf: Path, out: Path, dtype: str = "float32", source: dict | None = None,
                 progress: bool = True) -> Path:
    """De-quantise ``gguf`` into a safetensors folder at ``out`` (written beside it, then renamed into place)."""
    torch, transformers = _import_train_stack()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    _say(f"converting {gguf.name} to a transformers folder ({dtype}); this happens once", progress)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
    # transformers renamed torch_dtype to dtype in 4.56; pyproject allows >=4.46.
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    dtype_kw = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True,
                                                 **{dtype_kw: getattr(torch, dtype)})
    if not tokenizer.chat_template:
        tokenizer.chat_template = _gguf_chat_template(gguf)
    # save_pretrained refuses a model that still looks quantised; the weights are plain tensors by now.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if model.generation_config.pad_token_id is None and tokenizer.pad_token_id is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        marker = {**(source or {"gguf": str(gguf)}), "dtype": dtype, "transformers": transformers.__version__,
                  "torch": torch.__version__, "seconds": round(time.perf_counter() - started, 1)}
        (tmp / MARKER).write_text(json.dumps(marker, indent=1), encoding="utf-8")
        for file in tmp.iterdir():
            file.chmod(0o644)  # safetensors writes 0600; a shared cache must be readable by its other users
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _say(f"converted in {time.perf_counter() - started:.0f} s: {out}", progress)
    return out


def _import_train_stack():
    try:
        import gguf  # noqa: F401  (transformers needs it to read GGUF files)
        import torch
        import transformers
    except ImportError as e:
        raise ConfigError(f"{TRAIN_EXTRA_HINT} ({e})") from e
    return torch, transformers


def _registry_spec(key_or_gguf_path: str | Path | ModelSpec) -> ModelSpec | None:
    if isinstance(key_or_gguf_path, ModelSpec):
        return key_or_gguf_path
    if isinstance(key_or_gguf_path, str):
        return REGISTRY.get(key_or_gguf_path)
    return None


def _fingerprint(gguf: Path) -> str:
    st = gguf.stat()
    return hashlib.sha256(f"{gguf}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]


def _source_id(key_or_gguf_path: str | Path | ModelSpec) -> dict:
    """What the folder was converted from; a folder whose marker names another source is re-converted."""
    spec = _registry_spec(key_or_gguf_path)
    if spec is not None:
        return {"key": spec.key, "sha256": spec.sha256}
    gguf = Path(key_or_gguf_path).expanduser().resolve()
    st = gguf.stat()
    return {"gguf": str(gguf), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _marker_matches(out: Path, source: dict, dtype: str) -> bool:
    try:
        marker = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return marker.get("dtype") == dtype and all(marker.get(k) == v for k, v in source.items())


def _gguf_chat_template(gguf: Path) -> str | None:
    """The chat template stored in the GGUF header (``tokenizer.chat_template``), for tokenizers that lost it."""
    return read_gguf_fields(gguf, {"tokenizer.chat_template"}).get("tokenizer.chat_template")


def _say(message: str, enabled: bool) -> None:
    if enabled:
        print(message, file=sys.stderr)
