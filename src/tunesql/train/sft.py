"""``tunesql train sft``: supervised fine-tuning (LoRA, QLoRA or full) with TRL's SFTTrainer.

Order matters for the user's time: the config is validated, the data built (and every drop explained) and the
GPU-only options checked before the model loads. Then TRL does the training; tunesql adds the execution-accuracy
callback, the loss curve, resume from the newest checkpoint, and a ``summary.json`` that says what ran.

Output folder: ``config.yaml`` (the resolved config), ``checkpoint-N/`` (TRL's), ``final/`` (the adapter, or the
full model, with the tokenizer), ``metrics.jsonl``, ``loss.png``, ``ex_stepN.jsonl`` (per-question verdicts) and
``summary.json``. Multi-GPU: run the same command under ``accelerate launch`` (configs/accelerate/).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesql.train.config import SFTJob, dump_config


@dataclass
class TrainResult:
    output_dir: Path
    final_dir: Path
    steps: int
    train_loss: float | None
    seconds: float
    ex: list[dict[str, Any]] = field(default_factory=list)
    """Execution accuracy measurements: ``{"step", "ex", "executed", "n"}``; the first is before training."""
    data_summary: str = ""
    resumed_from: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"output_dir": str(self.output_dir), "final_dir": str(self.final_dir), "steps": self.steps,
                "train_loss": self.train_loss, "seconds": round(self.seconds, 1), "ex": self.ex,
                "data": self.data_summary, "resumed_from": self.resumed_from}


def run_sft(job: SFTJob, *, progress: bool = True) -> TrainResult:
    """Train as ``job`` says and return where everything went (see the module docstring)."""
    from tunesql.train.model import load_model, peft_config

    start = time.perf_counter()
    trl, hw = setup(job)
    data, model_path, tokenizer = prepare_data(job, progress=progress)
    model = load_model(job, model_path, hw)
    args = trl.SFTConfig(**sft_args(job, hw))
    trainer, ex_cb, _ = _trainer(trl.SFTTrainer, job, model, tokenizer, args, data,
                                 train_dataset=_dataset([{k: r[k] for k in ("prompt", "completion")}
                                                         for r in data.records]),
                                 peft_config=peft_config(job, model))
    return finish(trainer, job, tokenizer, ex_cb, data.summary(), start)


def setup(job: SFTJob) -> tuple[Any, Any]:
    """trl and the hardware flags, after the checks that need no data or model (GPU-only options)."""
    from tunesql.train.model import check_gpu_paths, import_training, pick_hardware

    torch, _, trl = import_training()
    hw = pick_hardware(job)
    check_gpu_paths(job, hw)
    if job.train.threads:
        torch.set_num_threads(job.train.threads)
    return trl, hw


def prepare_data(job: SFTJob, *, progress: bool = True, require_targets: bool = True) -> tuple[Any, Any, Any]:
    """Training data (drops explained), the model's local path and tokenizer; the resolved config is written."""
    from tunesql.train.data import build_training_data, drop_long
    from tunesql.train.model import load_tokenizer, resolve_model_path

    data = build_training_data(job.data, progress=progress, require_targets=require_targets)
    model_path = resolve_model_path(job.model.name, progress=progress)
    tokenizer = load_tokenizer(model_path)
    drop_long(data, tokenizer, job.data.max_length)
    print(data.summary())
    if is_main_process():
        dump_config(job, Path(job.train.output_dir) / "config.yaml")
    return data, model_path, tokenizer


def sft_args(job: SFTJob, hw: Any) -> dict[str, Any]:
    from tunesql.train.model import common_args

    return {**common_args(job, hw), "max_length": job.data.max_length, "packing": job.train.packing,
            "completion_only_loss": True, "dataset_num_proc": None}


def _dataset(rows: list[dict[str, Any]]) -> Any:
    from datasets import Dataset

    return Dataset.from_list(rows)


def _trainer(trainer_cls: Any, job: SFTJob, model: Any, tokenizer: Any, args: Any, data: Any, **kwargs: Any
             ) -> tuple[Any, Any, Any]:
    """Build the TRL trainer with tunesql's callbacks attached."""
    from tunesql.train.callbacks import ExecutionAccuracyCallback, LossCurveCallback

    out = Path(job.train.output_dir)
    curve = LossCurveCallback(out, title=f"{job.model.name}: {trainer_cls.__name__}")
    callbacks: list[Any] = [curve]
    ex_cb = None
    items = data.eval_items[: job.ex_eval.limit]
    if items:
        ex_cb = ExecutionAccuracyCallback(items, every_steps=job.ex_eval.every_steps,
                                          max_new_tokens=job.ex_eval.max_new_tokens,
                                          batch_size=job.ex_eval.batch_size, timeout=job.ex_eval.timeout,
                                          out_dir=out)
        callbacks.append(ex_cb)
    trainer = trainer_cls(model=model, args=args, processing_class=tokenizer, callbacks=callbacks, **kwargs)
    if ex_cb is not None:
        ex_cb.trainer = trainer
    return trainer, ex_cb, curve


def finish(trainer: Any, job: SFTJob, tokenizer: Any, ex_cb: Any, data_summary: str, start: float) -> TrainResult:
    """Train (resuming if asked), save the final weights + tokenizer, write summary.json."""
    from tunesql.train.model import resume_checkpoint

    out = Path(job.train.output_dir)
    resume = resume_checkpoint(job.train.resume, out)
    if resume:
        print(f"resuming from {resume}")
    output = trainer.train(resume_from_checkpoint=resume)
    final = out / "final"
    trainer.save_model(str(final))
    result = TrainResult(
        output_dir=out, final_dir=final, steps=trainer.state.global_step,
        train_loss=getattr(output, "training_loss", None), seconds=time.perf_counter() - start,
        ex=[{"step": s.step, "ex": s.ex, "executed": s.executed, "n": s.n} for s in (ex_cb.scores if ex_cb else [])],
        data_summary=data_summary, resumed_from=resume)
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(final))
        (out / "summary.json").write_text(json.dumps(result.to_dict(), indent=2), encoding="utf-8")
    return result


def is_main_process() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"
