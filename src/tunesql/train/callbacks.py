"""Trainer callbacks: execution accuracy while training, and a loss curve a person can look at.

``ExecutionAccuracyCallback`` is what LLaMA-Factory users ask for and are told no: every N optimizer steps it
generates SQL (greedy) for a small held-out set with the model being trained, runs it read-only and scores it
with the shared evaluator (``tunesql.eval.execution``, Spider semantics), and logs ``eval_ex`` through the
trainer, so TensorBoard / W&B and the loss curve get it like any other metric. It measures before the first
step and after the last one too, which gives the before/after numbers for free. Only the main process measures
(under DDP the model is whole on every rank); with sharded weights (FSDP, ZeRO-3) generation would need every
rank, so the callback then says it is skipping.

``LossCurveCallback`` appends every log line to ``metrics.jsonl`` and redraws ``loss.png`` (training loss, and
EX on a second axis) at each checkpoint and at the end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from tunesql.train.data import EvalItem


@dataclass
class ExScore:
    step: int
    ex: float
    executed: float
    n: int
    seconds: float


def measure_ex(model: Any, tokenizer: Any, items: Sequence[EvalItem], *, max_new_tokens: int = 160,
               batch_size: int = 8, timeout: float = 10.0) -> tuple[float, float, list[dict[str, Any]]]:
    """Greedy SQL for ``items`` from ``model`` → (EX, share that executed, per-item rows). Restores train mode."""
    from tunesql.eval.execution import ExecConfig, Executor, execution_match, run_gold
    from tunesql.infer.backend import GenerationConfig
    from tunesql.infer.hf import HFBackend
    from tunesql.sql.extract import extract_sql

    if not items:
        return 0.0, 0.0, []
    was_training = model.training
    side = tokenizer.padding_side
    try:
        backend = HFBackend(model, tokenizer, device=str(model.device), batch_size=batch_size)
        outputs = backend.generate([it.messages for it in items],
                                   GenerationConfig(max_new_tokens=max_new_tokens, temperature=0.0))
    finally:
        tokenizer.padding_side = side
        if was_training:
            model.train()
    executor = Executor(ExecConfig(timeout=timeout))
    rows = []
    for item, out in zip(items, outputs, strict=True):
        sql = extract_sql(out[0], item.dialect)
        verdict = execution_match(executor, run_gold(executor, item.db_dir, item.db_id, item.gold_sql), sql or None)
        rows.append({"id": item.id, "sql": sql, "correct": verdict.correct, "executed": verdict.executed,
                     "status": verdict.status})
    n = len(rows)
    return sum(r["correct"] for r in rows) / n, sum(r["executed"] for r in rows) / n, rows


class ExecutionAccuracyCallback(TrainerCallback):
    """Logs ``eval_ex`` / ``eval_executed`` every ``every_steps`` steps (0: only before and after training)."""

    def __init__(self, items: Sequence[EvalItem], *, every_steps: int = 0, max_new_tokens: int = 160,
                 batch_size: int = 8, timeout: float = 10.0, out_dir: str | Path | None = None) -> None:
        self.items = list(items)
        self.every_steps = every_steps
        self.kw = {"max_new_tokens": max_new_tokens, "batch_size": batch_size, "timeout": timeout}
        self.out_dir = Path(out_dir) if out_dir else None
        self.scores: list[ExScore] = []
        self.trainer: Any = None  # set after the trainer exists, so measurements go through trainer.log
        self._last_step = -1

    def _measure(self, args: Any, state: Any, model: Any, tokenizer: Any) -> None:
        if not self.items or state.global_step == self._last_step or not state.is_world_process_zero:
            return
        if getattr(args, "fsdp", None) or getattr(args, "deepspeed", None):
            if not self.scores:
                print("execution accuracy during training is skipped: weights are sharded (FSDP/DeepSpeed)")
            return
        self._last_step = state.global_step
        start = time.perf_counter()
        ex, executed, rows = measure_ex(model, tokenizer, self.items, **self.kw)
        score = ExScore(state.global_step, ex, executed, len(rows), time.perf_counter() - start)
        self.scores.append(score)
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            path = self.out_dir / f"ex_step{state.global_step}.jsonl"
            path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        metrics = {"eval_ex": round(ex, 4), "eval_executed": round(executed, 4)}
        if self.trainer is not None:
            self.trainer.log(metrics)
        else:
            state.log_history.append({**metrics, "step": state.global_step})
        print(f"step {state.global_step}: EX {ex:.1%} on {len(rows)} held-out questions "
              f"({executed:.0%} executed, {score.seconds:.0f}s)")

    def on_train_begin(self, args, state, control, model=None, processing_class=None, **kwargs):
        self._measure(args, state, model, processing_class)

    def on_step_end(self, args, state, control, model=None, processing_class=None, **kwargs):
        if self.every_steps and state.global_step % self.every_steps == 0:
            self._measure(args, state, model, processing_class)

    def on_train_end(self, args, state, control, model=None, processing_class=None, **kwargs):
        self._measure(args, state, model, processing_class)


class LossCurveCallback(TrainerCallback):
    """``metrics.jsonl`` + ``loss.png`` in ``out_dir`` (main process only)."""

    def __init__(self, out_dir: str | Path, title: str = "training loss") -> None:
        self.out_dir = Path(out_dir)
        self.title = title
        self.history: list[dict[str, Any]] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        row = {"step": state.global_step, **{k: v for k, v in logs.items() if isinstance(v, (int, float))}}
        self.history.append(row)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with (self.out_dir / "metrics.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.plot()

    def on_train_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.plot()

    def plot(self) -> Path | None:
        return plot_metrics(self.history, self.out_dir / "loss.png", self.title)


def plot_metrics(history: Sequence[dict[str, Any]], path: Path, title: str = "training loss") -> Path | None:
    """Loss (and reward, for GRPO) against step; EX as points on a second axis. None when nothing was logged."""
    from tunesql.eval.report import pyplot, save_figure

    plt = pyplot()
    loss = [(r["step"], r["loss"]) for r in history if "loss" in r]
    reward = [(r["step"], r["reward"]) for r in history if "reward" in r]
    ex = [(r["step"], r["eval_ex"]) for r in history if "eval_ex" in r]
    if not (loss or reward or ex):
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    if loss:
        ax.plot(*zip(*loss, strict=True), label="loss", color="tab:blue")
    if reward:
        ax.plot(*zip(*reward, strict=True), label="reward", color="tab:green")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss" if loss else "reward")
    ax.grid(alpha=0.3)
    if ex:
        ax2 = ax.twinx()
        ax2.plot(*zip(*ex, strict=True), "o--", color="tab:red", label="execution accuracy")
        ax2.set_ylabel("execution accuracy")
        ax2.set_ylim(0, 1)
        ax2.legend(loc="upper right")
    ax.legend(loc="upper left")
    ax.set_title(title)
    return save_figure(fig, path, dpi=110)
