"""Data-parallel SFT on CPU: ``accelerate launch`` starts two processes that train one model over gloo.

Accelerate's CPU multi-process path is not ``--cpu`` (that runs a single process unless mpirun is set up):
``--multi_gpu`` hands the processes to torchrun, and with no GPU visible the trainer's ``use_cpu`` makes
accelerate join them as ``MULTI_CPU`` with the gloo backend. This is the command the README gives for GPUs,
so the same code path (rank-0-only writes, per-rank data shards) is what this test checks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tunesql.train.config import load_config

EXAMPLES = 4


def test_two_process_sft_under_accelerate_launch(tiny_train_model: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    out = tmp_path / "ddp"
    overrides = [f"model.name={tiny_train_model}", f"train.output_dir={out}", "data.train=[shop]",
                 f"data.max_examples={EXAMPLES}", "data.values=false", "data.budget_tokens=150",
                 "data.max_length=4096", "train.batch_size=1", "train.grad_accum=1", "train.max_steps=2",
                 "train.save_steps=2", "train.threads=1", "train.learning_rate=1e-2"]
    load_config("sft", None, overrides)  # a bad override fails here, not in two subprocesses
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0",
           "-m", "tunesql", "train", "sft", *overrides]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]

    # Both ranks ran to the end (the launcher fails when either does); only rank 0 prints the summary.
    assert proc.stdout.count("trained 2 steps in") == 1, log[-4000:]
    # Each optimizer step consumed one example per rank: 2 steps x 1 example x 2 ranks = one epoch of 4.
    # (A single process would log epoch 0.5 here.)
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in logged if "loss" in r]
    assert [r["step"] for r in steps] == [1, 2]  # written by rank 0 only: no step twice
    assert steps[-1]["epoch"] == 1.0

    # One adapter, saved whole by rank 0, and trained.
    final = out / "final"
    b = {k: v for k, v in load_file(str(final / "adapter_model.safetensors")).items() if "lora_B" in k}
    assert b and any(float(t.abs().max()) > 0 for t in b.values())
    assert json.loads((final / "adapter_config.json").read_text())["r"] == 16
    assert (final / "tokenizer_config.json").is_file() and (out / "checkpoint-2").is_dir()
    assert json.loads((out / "summary.json").read_text())["steps"] == 2
