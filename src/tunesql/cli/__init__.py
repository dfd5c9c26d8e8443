"""The ``tunesql`` command: one sub-command group per stage, each mapping a command to a plain function."""

from __future__ import annotations

import typer

from tunesql.cli import data, db, eval, export, infer, models, quickstart, serve, synth, train

app = typer.Typer(
    name="tunesql",
    help="Turn your own database into your own private text-to-SQL model, measured honestly.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(data.app, name="data")
app.command("eval")(eval.eval_command)
app.add_typer(models.app, name="models")
app.command("ask")(infer.ask)
app.command("predict")(infer.predict)
app.add_typer(train.app, name="train")
app.add_typer(export.app, name="export")
app.add_typer(synth.app, name="synth")
app.add_typer(serve.app, name="serve")
app.command("quickstart")(quickstart.quickstart)


@app.callback()
def main() -> None:
    """database → schema & data → training set → fine-tuned model → evaluation → export → serving."""


if __name__ == "__main__":
    app()
