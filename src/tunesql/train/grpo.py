"""``tunesql train grpo``: reinforcement learning with execution rewards (TRL's GRPOTrainer), as in SQL-R1.

For each training question the model samples ``grpo.num_generations`` completions; each is scored by plain
reward functions (``tunesql.train.rewards``: format, executes read-only, result matches the gold query's under the
shared comparator, length), weighted by ``grpo.rewards``; GRPO pushes the policy towards the completions that
beat their group's mean. The cold start is an SFT adapter (``model.adapter``), trained in the reasoning format
(``data.task=reasoning``) so the format reward is reachable from the first step.

The prompts are the inference prompts (``tunesql.train.data``), so what RL optimises is what ``tunesql ask``
sends. Generation runs in transformers by default; ``grpo.use_vllm`` hands it to vLLM on a GPU.
"""

from __future__ import annotations

import os
import time
from typing import Any

from tunesql.errors import ConfigError
from tunesql.train.config import GRPOJob
from tunesql.train.sft import TrainResult, _dataset, _trainer, finish, prepare_data, setup

GOLD_COLUMNS = ("prompt", "gold_sql", "db_path", "dialect")


def run_grpo(job: GRPOJob, *, progress: bool = True) -> TrainResult:
    from tunesql.train.model import load_model, peft_config
    from tunesql.train.rewards import reward_functions

    start = time.perf_counter()
    trl, hw = setup(job)  # checks the GPU-only options, grpo.use_vllm included
    if job.data.task == "sql2nl" or job.data.task == "both":
        raise ConfigError(f"data.task={job.data.task}: GRPO rewards execute SQL, so it trains nl2sql or reasoning")
    # TRL's generation batch (per-device batch × processes × accumulation steps) holds whole prompt groups.
    processes = int(os.environ.get("WORLD_SIZE", "1"))
    total = job.train.batch_size * job.train.grad_accum * processes
    if total % job.grpo.num_generations:
        raise ConfigError(f"train.batch_size × train.grad_accum × {processes} process(es) = {total} must be a "
                          f"multiple of grpo.num_generations = {job.grpo.num_generations} (TRL samples every "
                          "prompt's whole group within one generation batch)")
    funcs, weights = reward_functions(job.grpo.rewards, timeout=job.grpo.timeout)
    data, model_path, tokenizer = prepare_data(job, progress=progress, require_targets=False)
    rows = [{k: r[k] for k in GOLD_COLUMNS} for r in data.records if r.get("db_path")]
    if not rows:
        raise ConfigError("no GRPO prompt has a database to execute on: " + data.summary())

    model = load_model(job, model_path, hw)
    args = trl.GRPOConfig(**grpo_args(job, hw, weights))
    trainer, ex_cb, _ = _trainer(trl.GRPOTrainer, job, model, tokenizer, args, data, reward_funcs=funcs,
                                 train_dataset=_dataset(rows), peft_config=peft_config(job, model))
    return finish(trainer, job, tokenizer, ex_cb, data.summary(), start)


def grpo_args(job: GRPOJob, hw: Any, weights: list[float]) -> dict[str, Any]:
    from tunesql.train.model import common_args

    g = job.grpo
    args = {**common_args(job, hw), "num_generations": g.num_generations,
            "max_completion_length": g.max_completion_length, "temperature": g.temperature, "beta": g.beta,
            "reward_weights": weights, "use_vllm": g.use_vllm}
    if g.use_vllm:
        args["vllm_mode"] = g.vllm_mode
    return args
