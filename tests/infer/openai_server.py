"""A small OpenAI-compatible chat server on 127.0.0.1, for testing the HTTP backend over real HTTP.

It records every request body, answers with scripted completions, and can be told to fail: a queue of HTTP
status codes to return before answering normally, a cap on how many choices it returns (servers that ignore
``n``), and whether to check the bearer token. A request with ``stream: true`` gets the completion of choice 0 as
server-sent events, ``stream_piece`` characters per chunk, then a finish chunk and ``data: [DONE]``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def echo_completion(request: dict[str, Any], index: int) -> str:
    """Default script: name the sample index, the seed and the last user message; ends with a stop-worthy tail."""
    last = next((m["content"] for m in reversed(request["messages"]) if m["role"] == "user"), "")
    return f"SELECT {index} /* seed={request.get('seed')} q={last} */;\nTRAILING"


@dataclass
class FakeOpenAIServer:
    completion: Callable[[dict[str, Any], int], str] = echo_completion
    max_choices: int | None = None
    """Return at most this many choices whatever ``n`` asks (None: honour n)."""
    fail_with: list[int] = field(default_factory=list)
    """HTTP statuses to answer with, one per request, before answering normally."""
    api_key: str | None = None
    """When set, requests without ``Authorization: Bearer <api_key>`` get HTTP 401."""
    delay: float = 0.0
    """Seconds every answer waits (timeouts, concurrency limits)."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    """The most requests the server was answering at once."""
    headers: list[dict[str, str]] = field(default_factory=list)
    """Request headers, names lower-cased."""
    stream_piece: int = 3
    """Characters per streamed chunk: small, so stop strings span chunks."""
    finish: str = "stop"
    """The ``finish_reason`` of every choice ("length": as if each ran into ``max_tokens``)."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> str:
        """Serve on an ephemeral port in a daemon thread; return the base URL (``http://127.0.0.1:PORT/v1``)."""
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with server._lock:
                    server.requests.append(body)
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                    status = server.fail_with.pop(0) if server.fail_with else 200
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    if server.delay:
                        time.sleep(server.delay)
                    self._answer(body, status)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self, body: dict[str, Any], status: int) -> None:
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    return self._send(401, {"error": {"message": "Incorrect API key", "type": "invalid_api_key"}})
                if status != 200:
                    return self._send(status, {"error": {"message": f"scripted {status}", "type": "server_error"}})
                if body.get("stream"):
                    return self._stream(body)
                n = int(body.get("n") or 1)
                if server.max_choices is not None:
                    n = min(n, server.max_choices)
                choices = [
                    {
                        "index": i,
                        "message": {"role": "assistant", "content": server.completion(body, i)},
                        "finish_reason": server.finish,
                    }
                    for i in range(n)
                ]
                self._send(200, {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model"),
                    "choices": choices,
                    # 7 prompt tokens per request and 2 per choice: numbers a test can tell apart.
                    "usage": {"prompt_tokens": 7, "completion_tokens": 2 * n, "total_tokens": 7 + 2 * n},
                })

            def _stream(self, body: dict[str, Any]) -> None:
                text = server.completion(body, 0)
                size = max(1, server.stream_piece)
                deltas: list[tuple[dict[str, str], str | None]] = [({"role": "assistant", "content": ""}, None)]
                deltas += [({"content": text[i : i + size]}, None) for i in range(0, len(text), size)]
                deltas.append(({}, "stop"))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()  # HTTP/1.0 without Content-Length: the stream ends when the connection closes
                for delta, finish in deltas:
                    chunk = {
                        "id": "chatcmpl-test",
                        "object": "chat.completion.chunk",
                        "created": 0,
                        "model": body.get("model"),
                        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                    }
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status >= 500:
                    self.send_header("retry-after-ms", "10")  # keep the client's retry backoff short in tests
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def stop(self) -> None:
        """Stop serving and free the port; safe to call twice."""
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()
