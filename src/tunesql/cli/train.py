"""``tunesql train sft|grpo --config FILE.yaml [key=value …]``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tunesql.cli.common import fail_cleanly

app = typer.Typer(help="Fine-tune a model: LoRA/QLoRA/full SFT, GRPO with execution rewards.", no_args_is_help=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="a YAML recipe (see configs/)")]
OverridesArg = Annotated[list[str] | None, typer.Argument(
    help="overrides as dotted key=value, e.g. train.max_steps=3 peft.r=8", show_default=False)]
CheckOpt = Annotated[bool, typer.Option("--check", help="validate the config, print it resolved, and stop")]


def _run(kind: str, config: Path | None, overrides: list[str] | None, check: bool) -> None:
    import yaml

    from tunesql.train.config import load_config

    with fail_cleanly():
        job = load_config(kind, config, overrides or [])
        if check:
            typer.echo(yaml.safe_dump(job.model_dump(), sort_keys=False, allow_unicode=True))
            return
        if kind == "sft":
            from tunesql.train.sft import run_sft

            result = run_sft(job)
        else:
            from tunesql.train.grpo import run_grpo

            result = run_grpo(job)  # type: ignore[arg-type]
        from tunesql.train.sft import is_main_process

        if not is_main_process():  # under accelerate/torchrun every rank returns here; one summary is enough
            return
        ex = result.ex
        typer.echo(f"trained {result.steps} steps in {result.seconds:.0f}s → {result.final_dir}")
        if len(ex) >= 2:
            typer.echo(f"execution accuracy on {ex[-1]['n']} held-out questions: {ex[0]['ex']:.1%} before "
                       f"(step {ex[0]['step']}) → {ex[-1]['ex']:.1%} after (step {ex[-1]['step']})")
        typer.echo(f"loss curve: {result.output_dir / 'loss.png'}")


@app.command("sft")
def sft(overrides: OverridesArg = None, config: ConfigOpt = None, check: CheckOpt = False) -> None:
    """Supervised fine-tuning (TRL SFTTrainer + PEFT); loss on the answers only."""
    _run("sft", config, overrides, check)


@app.command("grpo")
def grpo(overrides: OverridesArg = None, config: ConfigOpt = None, check: CheckOpt = False) -> None:
    """GRPO reinforcement learning with execution rewards (format, executes, result matches, length)."""
    _run("grpo", config, overrides, check)
