"""A real tunesql server for the serve tests: the real app under real uvicorn, on 127.0.0.1, in a thread.

No model loads: a ``ScriptedBackend`` answers by question (``SCRIPT``), so every flow is exact. The database is
a copy of the bundled shop database in ``tmp_path``, served as ``shop``, so a test can hash the file before
and after and prove nothing wrote to it.

    def test_x(server):                      # open access
        httpx.get(f"{server.url}/healthz")
    def test_y(make_server):                 # any ServeConfig field, plus keyed=True for an API key
        srv = make_server(keyed=True, rate_per_minute=3)
        httpx.get(f"{srv.url}/v1/models", headers=srv.headers())
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tunesql.db.connect import bundled_db_path
from tunesql.infer.backend import Backend, ScriptedBackend
from tunesql.serve.app import create_app
from tunesql.serve.config import ServeConfig
from tunesql.serve.keys import new_key

try:
    import httpx
except ImportError:  # the OpenAI client's own fork of httpx: the same API under another name
    import httpx2 as httpx  # type: ignore[no-redef]

COUNT_SQL = "SELECT COUNT(*) AS customers FROM customers"
SEGMENT_SQL = "SELECT segment, COUNT(*) AS customers FROM customers GROUP BY segment ORDER BY segment"
MONTH_SQL = ("SELECT substr(order_date, 1, 7) AS month, COUNT(*) AS orders FROM orders "
             "WHERE order_date < '2024-07' GROUP BY month ORDER BY month")
UNSAFE_SQL = "SELECT writefile('/tmp/tunesql-serve-pwned', name) FROM customers"
"""A query the model could write that the guard refuses (a plain DELETE is not even extracted as SQL)."""
EXPLANATION = "It counts the customers."
SCRIPT: dict[str, list[str]] = {
    "Question: How many customers are in each segment": [SEGMENT_SQL],
    # Three of four samples agree (on the result, written two ways): the vote's confidence is 0.75.
    "Question: How many customers": [COUNT_SQL, f"```sql\n{COUNT_SQL}\n```", "SELECT count(id) FROM customers",
                                     "SELECT COUNT(*) FROM orders"],
    "Question: How many orders per month": [MONTH_SQL],
    "Question: Delete": [UNSAFE_SQL],
    "SQL: ": [EXPLANATION],  # the explain prompt ends with "SQL: <the query>"
}
"""The scripted model's answers, by a substring of the last user message (question prompts end with
"Question: …"); the first key found wins, so a longer key goes before its prefix. The fixtures hand each
server its own copy."""


@dataclass
class RunningServer:
    url: str
    """``http://127.0.0.1:PORT`` (no trailing slash); the OpenAI base URL is ``url + "/v1"``."""
    backend: Backend
    """The injected backend (a ``ScriptedBackend`` unless a test passed its own): its ``calls`` show what the
    model was asked, and its ``script`` may be changed while the server runs."""
    config: ServeConfig
    key: str | None
    """The API key when the server has a keys file, else None (open access)."""
    db_path: Path
    """The served copy of the shop database."""
    _uvicorn: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _socket: socket.socket = field(repr=False)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client on this server, sending the key when there is one."""
        return httpx.Client(base_url=self.url, headers=self.headers(), timeout=30.0, **kwargs)

    def db_sha256(self) -> str:
        return hashlib.sha256(self.db_path.read_bytes()).hexdigest()

    def stop(self) -> None:
        self._uvicorn.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


def _wait_until_up(url: str, thread: threading.Thread, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not thread.is_alive():
            pytest.fail("the test server's thread stopped during startup (see the log above)")
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    pytest.fail(f"the test server at {url} did not answer /healthz within {seconds:g} s")


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """A factory: ``make_server(keyed=False, script=None, backend=None, **ServeConfig fields)``.

    ``keyed=True`` writes a keys file with one key (``.key``); ``script`` replaces ``SCRIPT``; ``backend`` injects
    any backend instead of the scripted one. Every server it starts is stopped after the test.
    """
    running: list[RunningServer] = []

    def make(*, keyed: bool = False, script: dict[str, list[str]] | None = None, backend: Backend | None = None,
             **overrides: Any) -> RunningServer:
        index = len(running)
        db_path = tmp_path / f"shop-{index}.sqlite"
        shutil.copyfile(bundled_db_path(), db_path)
        key = None
        if keyed:
            keys_file = tmp_path / f"keys-{index}.json"
            key = new_key(keys_file, "tests")
            overrides.setdefault("api_keys_file", keys_file)
        overrides.setdefault("databases", {"shop": str(db_path)})
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))  # the socket is handed to uvicorn, so no other process can take the port
        port = sock.getsockname()[1]
        config = ServeConfig(host="127.0.0.1", port=port, **overrides)
        engine = backend if backend is not None else ScriptedBackend(
            script={k: list(v) for k, v in (script if script is not None else SCRIPT).items()})
        app = create_app(config, engine)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                                  name=f"tunesql-test-server-{port}")
        thread.start()
        url = f"http://127.0.0.1:{port}"
        running.append(RunningServer(url, engine, config, key, db_path, server, thread, sock))
        _wait_until_up(url, thread)
        return running[-1]

    yield make
    for srv in running:
        srv.stop()


@pytest.fixture
def server(make_server: Callable[..., RunningServer]) -> RunningServer:
    """An open-access server (no keys file) with the scripted backend and the shop database."""
    return make_server()


@pytest.fixture
def keyed_server(make_server: Callable[..., RunningServer]) -> RunningServer:
    """The same with an API keys file; ``keyed_server.key`` is the one valid key."""
    return make_server(keyed=True)
