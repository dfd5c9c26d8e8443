"""``tunesql serve``: the model and the databases behind an HTTP API and a web page.

``create_app(config, backend=None)`` builds the FastAPI app (``app.py``); ``ServeConfig`` says what it may do
(``config.py``); keys are stored hashed (``keys.py``). FastAPI and uvicorn are the ``serve`` extra, so nothing
here is imported by the rest of tunesql.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunesql.serve.config import ServeConfig

if TYPE_CHECKING:
    from fastapi import FastAPI

    from tunesql.infer.backend import Backend

__all__ = ["ServeConfig", "create_app"]


def create_app(config: ServeConfig, backend: Backend | None = None) -> FastAPI:
    """See :func:`tunesql.serve.app.create_app` (imported lazily: FastAPI is an optional dependency)."""
    from tunesql.serve.app import create_app as build

    return build(config, backend)
