"""An HTTP endpoint on 127.0.0.1 that records every POST it is sent and answers a status set on it
(a port chosen at run time; stopped when the block ends). For targets pik POSTs to: lineage endpoints,
webhooks.

    >>> import urllib.request
    >>> with receiving() as endpoint:
    ...     answer = urllib.request.urlopen(urllib.request.Request(endpoint.url("/hook"), data=b'{"a": 1}'))
    >>> answer.status, [(r.path, r.json) for r in endpoint.received]
    (201, [('/hook', {'a': 1})])
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Request:
    """One POST as it arrived: its path, headers and body bytes."""

    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Receiver(ThreadingHTTPServer):
    """The endpoint: ``received`` in arrival order; the next POST is answered the first status left in
    ``script``, else ``status``."""

    def __init__(self, status: int, script: tuple[int, ...] = ()) -> None:
        super().__init__(("127.0.0.1", 0), _Record)
        self.status, self.script = status, list(script)
        self.received: list[Request] = []
        self.lock = threading.Lock()

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.server_port}{path}"


class _Record(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.received.append(Request(self.path, dict(self.headers), body))
            status = self.server.script.pop(0) if self.server.script else self.server.status
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def receiving(status: int = 201, script: tuple[int, ...] = ()) -> Iterator[Receiver]:
    """An endpoint for the block's length, answering the statuses of ``script`` in turn, then ``status``
    until the test sets another."""
    server = Receiver(status, script)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
