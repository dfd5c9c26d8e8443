"""``tunesql serve``: the model and your databases behind an HTTP API and a web page.

    tunesql serve --db shop                                        # the bundled DB, the default model, open access
    tunesql serve --model runs/shop-sql.gguf --db sales=postgresql://ro@db/sales --api-keys keys.json
    tunesql serve keygen --name analytics --keys keys.json          # prints a new key once
    tunesql serve keys --keys keys.json                              # who has a key (no hashes shown)
    tunesql serve revoke --name analytics --keys keys.json          # takes effect on a running server
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tunesql.cli.common import fail_cleanly
from tunesql.cli.infer import AdapterOpt, BackendOpt, ModelOpt

if TYPE_CHECKING:
    from fastapi import FastAPI

    from tunesql.serve.config import ServeConfig

app = typer.Typer(help="Serve the model: an OpenAI-compatible API, question → SQL → rows, and a web page.",
                  invoke_without_command=True)


@app.callback()
def serve(
    ctx: typer.Context,
    model: ModelOpt = None,
    backend: BackendOpt = "auto",
    adapter: AdapterOpt = None,
    db: Annotated[list[str] | None, typer.Option(
        "--db", help="NAME=URL (or a file / URL, named after it); repeatable [default: shop=the bundled DB]",
        show_default=False)] = None,
    api_keys: Annotated[Path | None, typer.Option(
        "--api-keys", help="keys file from `tunesql serve keygen`; without it every route is open")] = None,
    host: Annotated[str, typer.Option("--host", help="address to listen on (0.0.0.0: every interface)")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="port to listen on")] = 8000,
    n: Annotated[int, typer.Option("--n", min=1, help="vote samples per question")] = 4,
    strategy: Annotated[str, typer.Option("--strategy", help="vote or greedy")] = "vote",
    rate: Annotated[int, typer.Option("--rate", min=1, help="requests per minute per key (or per address)")] = 60,
    max_rows: Annotated[int, typer.Option("--max-rows", min=1, help="rows per answer at most")] = 200,
    timeout: Annotated[float, typer.Option("--timeout", min=0.001, help="seconds each query may run")] = 10.0,
    schema_format: Annotated[str, typer.Option("--schema-format", help="mschema, ddl or cards")] = "mschema",
    explain: Annotated[bool, typer.Option("--explain/--no-explain",
                                          help="explain each answer's SQL by default")] = True,
    values: Annotated[bool, typer.Option("--values/--no-values", help="BM25 value hints in the prompt")] = True,
    samples: Annotated[bool, typer.Option("--samples/--no-samples",
                                          help="sample values in the schema (as the model was trained)")] = True,
    comments: Annotated[bool, typer.Option("--comments/--no-comments",
                                           help="column comments in the schema (as the model was trained)")] = True,
) -> None:
    """Load the model once, open the databases read-only, and serve until Ctrl-C."""
    if ctx.invoked_subcommand is not None:
        return
    from tunesql.serve.config import ServeConfig, parse_db_option

    with fail_cleanly():
        config = ServeConfig(model=model, backend=backend, adapter=str(adapter) if adapter else None,
                             api_keys_file=api_keys, host=host, port=port, n=n, max_n=max(16, n), strategy=strategy,
                             rate_per_minute=rate, max_rows=max_rows, sql_timeout=timeout,
                             schema_format=schema_format, explain=explain, values=values, samples=samples,
                             comments=comments)
        if db:
            config.databases = dict(parse_db_option(item) for item in db)
        config.validate()
        app_ = _build(config)
    _run(app_, config)


def _build(config: ServeConfig) -> FastAPI:
    """Load the backend once, build the app, and warm the schemas and value indexes before taking requests."""
    from tunesql.infer.load import load_backend
    from tunesql.serve.app import create_app

    # The server's own log (warnings, and model failures with their traceback, which clients never see).
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    typer.echo("loading the model…", err=True)
    engine = load_backend(config.model, config.backend, adapter=config.adapter)
    built = create_app(config, engine)
    typer.echo(f"reading {', '.join(config.databases)}…", err=True)
    built.state.service.warm()
    return built


def _run(built: FastAPI, config: ServeConfig) -> None:
    import uvicorn

    shown = "127.0.0.1" if config.host in ("0.0.0.0", "::") else config.host
    host = f"[{shown}]" if ":" in shown else shown
    model = built.state.service.model_name
    typer.echo(f"tunesql serve: http://{host}:{config.port}/  (model {model}; databases "
               f"{', '.join(config.databases)}; API docs at /docs)")
    uvicorn.run(built, host=config.host, port=config.port, log_level="info")


@app.command("keygen")
def keygen(
    name: Annotated[str, typer.Option("--name", help="who the key is for (shown in logs and rate limits)")],
    keys: Annotated[Path, typer.Option("--keys", help="the keys file (created if missing); pass it to --api-keys")],
    rate: Annotated[int | None, typer.Option(
        "--rate", min=1, help="requests per minute for this key [default: the server's --rate]")] = None,
) -> None:
    """Create an API key, store only its hash in the keys file, and print the key once."""
    from tunesql.serve.keys import new_key

    with fail_cleanly():
        key = new_key(keys, name, rate)
    typer.echo(key)
    typer.echo(f"stored the hash of key {name!r} in {keys}; this is the only time the key is shown", err=True)


KeysFileOpt = Annotated[Path, typer.Option("--keys", help="the keys file given to --api-keys")]


@app.command("keys")
def keys_list(keys: KeysFileOpt) -> None:
    """List the keys in the keys file: name, creation time, rate (the hashes stay in the file)."""
    from tunesql.serve.keys import list_keys

    with fail_cleanly():
        entries = list_keys(keys)
    if not entries:
        typer.echo(f"{keys} holds no keys", err=True)
    for entry in entries:
        rate = entry.get("rate_per_minute")
        typer.echo(f"{entry['name']}\tcreated {entry.get('created', '?')}\t"
                   f"{f'{rate}/min' if rate else 'server rate'}")


@app.command("revoke")
def revoke(
    name: Annotated[str, typer.Option("--name", help="the key's name, as `tunesql serve keys` lists it")],
    keys: KeysFileOpt,
) -> None:
    """Remove a key; a running server re-reads the file, so the key is refused from the next request on."""
    from tunesql.serve.keys import revoke_key

    with fail_cleanly():
        revoke_key(keys, name)
    typer.echo(f"revoked key {name!r} in {keys}", err=True)
