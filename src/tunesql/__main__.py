"""``python -m tunesql …`` (what ``accelerate launch -m tunesql train sft …`` runs on every process)."""

from tunesql.cli import app

if __name__ == "__main__":
    app()
