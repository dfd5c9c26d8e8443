"""Fold a LoRA adapter into its base model: one ordinary transformers folder that any tool loads without peft.

    tunesql export merge runs/sft/adapter --out runs/merged

Why merge: llama.cpp, Ollama, vLLM's simplest path and every GGUF converter want plain weights, and a merged
model runs as fast as the base (no adapter matmuls per layer). The adapter names its base in
``adapter_config.json`` (``base_model_name_or_path``); ``--base`` overrides it, and either may be a registered
tunesql key (``qwen2.5-coder-0.5b``, resolved to its converted HF folder, offline), a local HF folder or a local
GGUF (converted once by :func:`tunesql.models.prepare_model`). A hub id is never downloaded.

The merged folder carries what inference needs besides weights: the tokenizer (the adapter's own copy when
training saved one, e.g. with added tokens or a new chat template, else the base's), the chat template, and a
generation config whose EOS list includes the tokenizer's end-of-turn token. It is written beside ``--out`` and
renamed into place, with ``tunesql-merge.json`` recording base, adapter, LoRA rank/alpha and versions.

Weights keep the base's stored dtype by default (``dtype="auto"``); peft computes each delta in float32 on the
CPU for half-precision weights, so the merge itself adds no rounding beyond the final cast.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesql.errors import ConfigError

MARKER = "tunesql-merge.json"
DTYPES = ("auto", "float32", "bfloat16", "float16")
TRAIN_EXTRA_HINT = "merging an adapter needs the train extra: pip install 'tunesql[train]' (torch, transformers, peft)"
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")


@dataclass
class MergeResult:
    """What :func:`merge_adapter` wrote and from what."""

    out: Path
    base: str
    """The base as the user or the adapter named it."""
    base_path: Path
    """The HF folder it resolved to."""
    adapter: Path
    tokenizer_from: str
    """``adapter`` or ``base``: whose tokenizer the merged folder carries."""
    seconds: float


def adapter_config(adapter_dir: str | Path) -> dict:
    """Read and check ``adapter_config.json``: the folder must be a PEFT LoRA adapter with its weights."""
    adapter_dir = Path(adapter_dir).expanduser()
    if not adapter_dir.exists():
        raise ConfigError(f"adapter folder {adapter_dir} does not exist; pass the folder training wrote "
                          f"(the one holding adapter_config.json)")
    if not adapter_dir.is_dir():
        raise ConfigError(f"{adapter_dir} is a file; pass the adapter folder (the one holding adapter_config.json)")
    path = adapter_dir / "adapter_config.json"
    if not path.is_file():
        hint = (" It holds config.json, so it is a full model already: export it with `tunesql export gguf`."
                if (adapter_dir / "config.json").is_file() else "")
        raise ConfigError(f"{adapter_dir} has no adapter_config.json, so it is not a PEFT adapter folder.{hint}")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ConfigError(f"{path} is not valid JSON: {e}") from e
    peft_type = str(config.get("peft_type", "")).upper()
    if peft_type not in ("LORA", "ADALORA"):
        raise ConfigError(f"{path} describes a {peft_type or 'unknown'} adapter; only LoRA adapters can be merged "
                          f"into the base weights")
    if not any((adapter_dir / f).is_file() for f in ("adapter_model.safetensors", "adapter_model.bin")):
        raise ConfigError(f"{adapter_dir} has adapter_config.json but no adapter_model.safetensors: the adapter's "
                          f"weights are missing (did training finish and save?)")
    return config


def resolve_base(adapter_cfg: dict, base: str | Path | None, adapter_dir: Path) -> tuple[str, Path]:
    """The base's name and its local HF folder: ``--base`` if given, else what the adapter names."""
    from tunesql.models import prepare_model

    name = str(base) if base is not None else adapter_cfg.get("base_model_name_or_path")
    if not name:
        raise ConfigError(f"{adapter_dir}/adapter_config.json does not name its base model; pass --base "
                          f"(a registered key such as qwen2.5-coder-0.5b, or a local model folder)")
    try:
        ref = prepare_model(name, want="hf")
    except ConfigError as e:
        origin = "--base" if base is not None else f"the adapter's base_model_name_or_path ({name!r})"
        raise ConfigError(f"cannot use {origin} as the base model: {e}. Pass --base with the model the adapter "
                          f"was trained on, as a registered key or a local folder (nothing is downloaded)") from e
    return name, Path(ref.path)


def merge_adapter(adapter_dir: str | Path, out: str | Path, base: str | Path | None = None, *,
                  dtype: str = "auto", overwrite: bool = False, progress: bool = True) -> MergeResult:
    """Merge the LoRA adapter in ``adapter_dir`` into its base and save a transformers folder at ``out``."""
    if dtype not in DTYPES:
        raise ConfigError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    adapter_dir = Path(adapter_dir).expanduser()
    out = Path(out).expanduser()
    cfg = adapter_config(adapter_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise ConfigError(f"{out} already exists and is not empty; pick another --out or pass --force to replace it")
    if out.resolve() in (adapter_dir.resolve(), *adapter_dir.resolve().parents):
        raise ConfigError(f"--out {out} would replace the adapter folder itself; pick another folder")
    base_name, base_path = resolve_base(cfg, base, adapter_dir)
    torch, transformers, peft = _import_stack()
    started = time.perf_counter()
    _say(f"merging {adapter_dir} into {base_name} ({base_path})", progress)

    tokenizer_dir, tokenizer_from = ((adapter_dir, "adapter") if _has_tokenizer(adapter_dir)
                                     else (base_path, "base"))
    tokenizer = transformers.AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    if not getattr(tokenizer, "chat_template", None) and tokenizer_from == "adapter":
        base_tok = transformers.AutoTokenizer.from_pretrained(base_path, local_files_only=True)
        tokenizer.chat_template = base_tok.chat_template  # an adapter-side tokenizer saved without its template
    model = transformers.AutoModelForCausalLM.from_pretrained(
        base_path, local_files_only=True, **{_dtype_kw(transformers): _torch_dtype(torch, dtype)})
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > rows:  # training added tokens and resized; the adapter's saved embeddings expect it
        model.resize_token_embeddings(len(tokenizer))
    try:
        merged = peft.PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    except (ValueError, RuntimeError, KeyError) as e:
        raise ConfigError(f"the adapter in {adapter_dir} does not fit the base {base_name} ({base_path}): {e}. "
                          f"Pass --base with the model it was trained on") from e
    _fix_generation_config(merged, tokenizer)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        merged.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        seconds = time.perf_counter() - started
        marker = {"base": base_name, "base_path": str(base_path), "adapter": str(adapter_dir.resolve()),
                  "tokenizer_from": tokenizer_from, "r": cfg.get("r"), "lora_alpha": cfg.get("lora_alpha"),
                  "target_modules": cfg.get("target_modules"), "dtype": dtype, "peft": peft.__version__,
                  "transformers": transformers.__version__, "torch": torch.__version__,
                  "seconds": round(seconds, 1)}
        (tmp / MARKER).write_text(json.dumps(marker, indent=1, default=str), encoding="utf-8")
        for file in tmp.iterdir():
            if file.is_file():
                file.chmod(0o644)
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _say(f"merged in {seconds:.0f} s: {out}", progress)
    return MergeResult(out, base_name, base_path, adapter_dir, tokenizer_from, round(seconds, 1))


def _fix_generation_config(model: Any, tokenizer: Any) -> None:
    """Make generation stop where the chat template ends a turn, and pad with the tokenizer's pad token."""
    gen = model.generation_config
    eos = gen.eos_token_id
    ids = list(eos) if isinstance(eos, (list, tuple)) else ([eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    if ids:
        gen.eos_token_id = ids[0] if len(ids) == 1 else ids
    if gen.pad_token_id is None and tokenizer.pad_token_id is not None:
        gen.pad_token_id = tokenizer.pad_token_id


def _has_tokenizer(folder: Path) -> bool:
    return any((folder / f).is_file() for f in _TOKENIZER_FILES)


def _torch_dtype(torch, dtype: str) -> Any:
    return "auto" if dtype == "auto" else getattr(torch, dtype)


def _dtype_kw(transformers) -> str:
    # transformers renamed torch_dtype to dtype in 4.56; pyproject allows >=4.46.
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def _import_stack():
    try:
        import peft
        import torch
        import transformers
    except ImportError as e:
        raise ConfigError(f"{TRAIN_EXTRA_HINT} ({e})") from e
    return torch, transformers, peft


def _say(message: str, enabled: bool) -> None:
    if enabled:
        print(message, file=sys.stderr)
