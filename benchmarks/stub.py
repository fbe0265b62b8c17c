"""A stub AWS endpoint on 127.0.0.1 for client benchmarks, run in its own process.

- DynamoDB ``Query`` (``X-Amz-Target``): serves pre-encoded pages in turn; a page's
  ``LastEvaluatedKey`` names the next one, so a client follows them like real pages.
- S3 ``GET /bucket/key``: answers after ``delay_s`` with a raw document for that key.

HTTP/1.1 keep-alive like AWS; the process stops itself after ``lifetime_s`` even if its parent
forgets to, and at once when the parent stops it.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else headers and body in two writes meet delayed ACKs: +40 ms

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        start = request.get("ExclusiveStartKey", {}).get("pk", {}).get("S", "page#0")
        self._send(self.server.pages[int(start.split("#")[1])], "application/x-amz-json-1.0")

    def do_GET(self) -> None:
        time.sleep(self.server.delay_s)  # the simulated S3 latency
        key = self.path.split("/", 2)[2]
        self._send(self.server.document.replace(b"__KEY__", key.encode()), "application/json")

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self._headers_buffer.append(b"\r\n" + body)  # one write: headers and body together
        self.flush_headers()

    def log_message(self, *_) -> None:
        pass


def _serve(pages: list[bytes], document: bytes, delay_s: float, lifetime_s: float, ready) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.pages, server.document, server.delay_s = pages, document, delay_s
    threading.Timer(lifetime_s, server.shutdown).start()
    ready.send(server.server_port)
    server.serve_forever()


class Stub:
    """``with Stub(pages, document) as url:`` a stub endpoint at ``url`` for the block's duration."""

    def __init__(self, pages: list[bytes], document: bytes, *, delay_s: float = 0.02, lifetime_s: float = 600) -> None:
        self._args = (pages, document, delay_s, lifetime_s)

    def __enter__(self) -> str:
        receive, send = multiprocessing.Pipe(duplex=False)
        self._process = multiprocessing.get_context("fork").Process(
            target=_serve, args=(*self._args, send), daemon=True
        )
        self._process.start()
        return f"http://127.0.0.1:{receive.recv()}"

    def __exit__(self, *_) -> None:
        self._process.terminate()
        self._process.join()
