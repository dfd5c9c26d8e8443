"""``tunesql export merge|gguf|ollama``: a trained adapter → merged HF folder → GGUF → Ollama Modelfile."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tunesql.cli.common import fail_cleanly

app = typer.Typer(help="Export a fine-tuned model: merge the LoRA adapter, write a GGUF, write an Ollama Modelfile.",
                  no_args_is_help=True)

GGUF_TYPES = ("f32", "f16", "bf16", "q8_0")
"""``tunesql.export.gguf.GGUF_TYPES``, repeated so that ``tunesql --help`` imports nothing heavy."""


@app.command("merge")
def merge(
    adapter_dir: Annotated[Path, typer.Argument(help="PEFT LoRA adapter folder (holds adapter_config.json).",
                                                metavar="ADAPTER_DIR")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the merged transformers model to.")],
    base: Annotated[str | None, typer.Option(
        "--base", help="Base model: a registered key (qwen2.5-coder-0.5b), a local HF folder or GGUF (default: "
                       "the adapter's base_model_name_or_path).")] = None,
    dtype: Annotated[str, typer.Option("--dtype", help="auto (the base's own), float32, bfloat16 or float16.")]
    = "auto",
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")] = False,
) -> None:
    """Merge a LoRA adapter into its base model and save one transformers folder (tokenizer and template included)."""
    from tunesql.export.merge import merge_adapter

    with fail_cleanly():
        result = merge_adapter(adapter_dir, out, base, dtype=dtype, overwrite=force)
    typer.echo(f"merged {result.adapter} into {result.base} → {result.out} ({result.seconds:.0f} s; tokenizer from "
               f"the {result.tokenizer_from})")


@app.command("gguf")
def gguf(
    model: Annotated[str, typer.Argument(help="Transformers folder (e.g. from `export merge`), or a registered key.",
                                         metavar="MODEL_DIR")],
    out: Annotated[Path, typer.Option("--out", help="The .gguf file to write.")],
    type: Annotated[str, typer.Option("--type", help=f"Weight type: {', '.join(GGUF_TYPES)}.")] = "f16",
    name: Annotated[str | None, typer.Option("--name", help="general.name in the GGUF (default: folder name).")]
    = None,
    check: Annotated[bool, typer.Option(
        "--check/--no-check", help="Compare llama.cpp's tokenization of the written file with transformers' on "
                                   "probe strings (when llama-cpp-python is installed).")] = True,
) -> None:
    """Write a llama or qwen2 transformers folder as a GGUF for llama.cpp and Ollama (f32, f16, bf16, q8_0)."""
    from tunesql.errors import ConfigError

    with fail_cleanly():
        if type not in GGUF_TYPES:  # before anything loads
            raise ConfigError(f"unknown GGUF type {type!r}; choose one of {', '.join(GGUF_TYPES)}")
        from tunesql.export.gguf import ExportCheckError, check_tokenizer, export_gguf

        model_dir = _model_dir(model)
        result = export_gguf(model_dir, out, type, name=name)
        for note in result.notes:
            typer.echo(f"note: {note}", err=True)
        typer.echo(f"{result.path}: {result.arch}, {result.type}, {result.n_tensors} tensors, {result.n_vocab} tokens "
                   f"(pre-tokenizer {result.pre_tokenizer}), {result.bytes / 1e6:.0f} MB, {result.seconds:.0f} s")
        if check:
            try:
                bad = check_tokenizer(result.path, model_dir)
            except ConfigError as e:
                typer.echo(f"tokenizer check skipped: {e}", err=True)
            else:
                if bad:
                    raise ExportCheckError(f"{result.path} was written, but llama.cpp tokenizes differently from "
                                           f"transformers:\n  " + "\n  ".join(bad))
                typer.echo("tokenizer check: llama.cpp and transformers agree on every probe string")


@app.command("ollama")
def ollama(
    gguf_file: Annotated[Path, typer.Argument(help="The GGUF file (from `export gguf`).", metavar="GGUF")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the Modelfile to.")],
    name: Annotated[str | None, typer.Option("--name", help="Ollama model name (default: from the file name).")]
    = None,
    system: Annotated[str | None, typer.Option(
        "--system", help="System prompt (default: the one tunesql trains and evaluates with).")] = None,
    template: Annotated[Path | None, typer.Option(
        "--template", help="A Go template file to use instead of the one derived from the GGUF's chat template.")]
    = None,
    num_ctx: Annotated[int | None, typer.Option("--num-ctx", min=256, help="Context length Ollama allocates "
                                                "(default: the model's, at most 8192).")] = None,
    copy: Annotated[bool, typer.Option("--copy", help="Copy the GGUF into --out so the folder stands alone.")]
    = False,
) -> None:
    """Write an Ollama Modelfile: FROM the GGUF, the chat template as a Go template, stop tokens, system prompt."""
    from tunesql.export.ollama import write_modelfile

    with fail_cleanly():
        result = write_modelfile(gguf_file, out, name, system=system, template_file=template, num_ctx=num_ctx,
                                 copy=copy)
    typer.echo(f"wrote {result.modelfile} ({result.family} template; stops: {', '.join(result.stops)})")
    typer.echo(f"create the model with:  {result.create_command}")


def _model_dir(model: str) -> Path:
    """A folder as given, or a registered key resolved (and converted once) to its HF folder."""
    path = Path(model).expanduser()
    if path.exists():
        return path
    from tunesql.models import REGISTRY, prepare_model

    if model in REGISTRY:
        return Path(prepare_model(model, want="hf").path)
    return path  # export_gguf says it does not exist
