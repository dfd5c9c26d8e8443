"""LoRA training speed of a model on this machine: seconds per optimizer step and tokens per second.

    python bench/train_speed.py                                   # default model, LoRA r16 all-linear, fp32
    python bench/train_speed.py --seq 512 1024 --batch 2 --steps 3 --out runs/bench-train

Each step is one forward + backward + AdamW update over ``batch × seq`` tokens (loss on every token, as an upper
bound of SFT's completion-only loss, which costs the same compute), measured after one warm-up step. This is what
sizes a recipe: ``configs/quickstart-cpu.yaml`` must fit its steps into minutes on two cores. Prints a table and
writes ``<out>/train_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--seq", type=int, nargs="+", default=[512, 1024])
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--r", type=int, default=16)
    ap.add_argument("--layers", type=int, default=None, help="LoRA only on the top N layers")
    ap.add_argument("--checkpointing", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default="runs/bench-train")
    args = ap.parse_args()

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tunesql.models import prepare_model

    if args.threads:
        torch.set_num_threads(args.threads)
    path = prepare_model(args.model, want="hf").path
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
    n_layers = model.config.num_hidden_layers
    layers = list(range(n_layers - args.layers, n_layers)) if args.layers else None
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] if layers else "all-linear"
    model = get_peft_model(model, LoraConfig(r=args.r, lora_alpha=2 * args.r, target_modules=targets,
                                             layers_to_transform=layers, task_type="CAUSAL_LM"))
    if args.checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    rows = []
    for seq in args.seq:
        ids = torch.randint(100, 20000, (args.batch, seq))
        times = []
        for step in range(args.steps + 1):
            t0 = time.perf_counter()
            loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
            if step:  # the first step warms up allocators and kernels
                times.append(time.perf_counter() - t0)
        sec = sorted(times)[len(times) // 2]
        rows.append({"seq": seq, "batch": args.batch, "seconds_per_step": round(sec, 2),
                     "tokens_per_second": round(args.batch * seq / sec, 1)})
        print(f"seq {seq:5d} × batch {args.batch}: {sec:6.1f} s/step, {args.batch * seq / sec:7.1f} tokens/s")
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"peak RSS {peak_gb:.1f} GB, torch threads {torch.get_num_threads()}, load average {os.getloadavg()}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"model": args.model, "lora_r": args.r, "lora_layers": args.layers or n_layers,
              "checkpointing": args.checkpointing, "threads": torch.get_num_threads(), "rows": rows,
              "peak_rss_gb": round(peak_gb, 2), "load_average": os.getloadavg(), "cpu": platform.processor(),
              "cores": os.cpu_count()}
    (out / "train_speed.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
