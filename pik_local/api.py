"""The API Gateway of the local stack: HTTP on loopback -> REST proxy events -> the same handlers.

Each request becomes an event shaped like API Gateway's REST proxy integration (the shape of
``tests/events/apigw_post.json``) under the template's stage, e.g. ``POST /v1/ingest``. The
caller is the local OS user, given as an IAM user ARN in ``requestContext.identity``: the
local API does not check SigV4 signatures, AWS does.

For demos that replay history, a ``LocalApi(simulated_arrival=True)`` takes the arrival time
(``requestTimeEpoch``) from an ``X-Pik-Simulated-Arrival`` header; by default it is ignored.
"""

from __future__ import annotations

import base64
import getpass
import json
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Condition, Thread
from typing import Any
from urllib.parse import parse_qs

from pik.core import limits
from pik_api import ARRIVAL_HEADER

from .runtime import ACCOUNT, Invocation, LocalFunction

MAX_BODY_BYTES = limits.API_GATEWAY_PAYLOAD.value
API_ID = "local"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def local_identity(source_ip: str = "127.0.0.1") -> dict:
    """The ``requestContext.identity`` of the local user: ``arn:aws:iam::<account>:user/<os user>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        user = "local"
    return {
        "cognitoIdentityPoolId": None,
        "accountId": ACCOUNT,
        "cognitoIdentityId": None,
        "caller": user,
        "sourceIp": source_ip,
        "principalOrgId": None,
        "accessKey": "testing",
        "cognitoAuthenticationType": None,
        "cognitoAuthenticationProvider": None,
        "userArn": f"arn:aws:iam::{ACCOUNT}:user/{user}",
        "userAgent": None,
        "user": user,
    }


def proxy_event(
    method: str,
    resource: str,
    stage: str,
    headers: dict[str, str],
    body: bytes,
    identity: dict,
    query: str = "",
    received: datetime | None = None,
    path: str | None = None,
    path_parameters: dict[str, str] | None = None,
) -> dict:
    """A REST proxy event: ``proxy_event("POST", "/ingest", "v1", {}, b"{}", local_identity())``;
    ``resource`` is the route's template (``/replay/{replay_id}``), ``path`` the path asked for."""
    now = received or datetime.now(UTC)
    multi_query = parse_qs(query, keep_blank_values=True) or None
    path = path or resource
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": dict(headers),
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} if multi_query else None,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": resource,
            "httpMethod": method,
            "extendedRequestId": uuid.uuid4().hex,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{stage}{path}",
            "accountId": ACCOUNT,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": API_ID,
            "requestTimeEpoch": (now - EPOCH) // timedelta(milliseconds=1),
            "requestId": str(uuid.uuid4()),
            "identity": identity,
            "domainName": headers.get("Host", "127.0.0.1"),
            "apiId": API_ID,
        },
        # The template declares no BinaryMediaTypes, so API Gateway hands a body over as text; bytes
        # that are not UTF-8 go as base64, unaltered, so the handler refuses them (400) instead of
        # ingesting U+FFFD replacement characters.
        **_body(body),
    }


def _body(body: bytes) -> dict:
    try:
        return {"body": body.decode("utf-8"), "isBase64Encoded": False}
    except UnicodeDecodeError:
        return {"body": base64.b64encode(body).decode("ascii"), "isBase64Encoded": True}


def routes(specs: dict[str, dict], functions: dict[str, LocalFunction]) -> dict[tuple[str, str], LocalFunction]:
    """``{("POST", "/ingest"): <IngestFunction>}`` from the template's ``Api`` events."""
    table = {}
    for name, spec in specs.items():
        for event in spec["events"].values():
            if event["Type"] == "Api":
                props = event["Properties"]
                table[(props["Method"].upper(), props["Path"])] = functions[name]
    return table


def match(
    table: dict[tuple[str, str], LocalFunction], method: str, path: str
) -> tuple[LocalFunction, str, dict[str, str]] | None:
    """The route for ``path`` as API Gateway picks it: an exact path, else a template whose ``{name}``
    segments take one path segment each: ``match(t, "POST", "/replay/rp-1")`` -> (fn, "/replay/{replay_id}", {...})."""
    if (method, path) in table:
        return table[(method, path)], path, {}
    asked = path.strip("/").split("/")
    for (route_method, template), function in table.items():
        parts = template.strip("/").split("/")
        if route_method != method or len(parts) != len(asked):
            continue
        params = {p[1:-1]: a for p, a in zip(parts, asked, strict=True) if p.startswith("{") and p.endswith("}") and a}
        if all(p == a or (p.startswith("{") and p[1:-1] in params) for p, a in zip(parts, asked, strict=True)):
            return function, template, params
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so clients reuse connections
    server: LocalApi

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in separate writes: without NODELAY, Nagle + delayed ACK add ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self._dispatch()

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch()

    def log_message(self, *_: Any) -> None:
        """Quiet: one line per request would drown the stack's own output."""

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._discard(length)  # read what the client sends, so it gets the 413, not a broken pipe
            return self._send(413, {"message": "Request Too Long"})
        body = self.rfile.read(length)
        prefix = f"/{self.server.stage}"
        resource, _, query = self.path.partition("?")
        found = (
            match(self.server.routes, self.command, resource[len(prefix) :])
            if resource.startswith(prefix + "/")
            else None
        )
        if found is None:
            return self._send(404, {"message": f"no route for {self.command} {resource}; try POST {prefix}/ingest"})
        function, template, path_parameters = found
        try:
            received = self.server.received(self.headers.get(ARRIVAL_HEADER))
        except ValueError as exc:
            return self._send(400, {"message": f"{ARRIVAL_HEADER}: {exc}"})
        event = proxy_event(
            self.command,
            template,
            self.server.stage,
            dict(self.headers.items()),
            body,
            local_identity(self.client_address[0]),
            query,
            received,
            resource[len(prefix) :],
            path_parameters,
        )
        if not limits.LAMBDA_SYNC_EVENT.respected_by(len(json.dumps(event, ensure_ascii=False).encode())):
            # Lambda refuses the invoke (the body, escaped into the event, made it too large): API Gateway
            # answers 500 and the function never runs, as on AWS (pik.core.limits.API_BODY_BYTES).
            return self._send(500, {"message": "Internal server error"})
        outcome = self.server.invoke(function, event)
        if outcome is None:
            self.close_connection = True
            return self._send(503, {"message": "the local stack is stopping"})
        if not outcome.ok:  # what API Gateway answers when the Lambda fails or times out
            return self._send(504 if outcome.timed_out else 502, {"message": "Internal server error"})
        self._respond(outcome.result)

    def _discard(self, length: int, most: int = 8 * MAX_BODY_BYTES) -> None:
        """Read and drop up to ``most`` bytes of a body that will not be used."""
        left = min(length, most)
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 20))
            if not chunk:
                return
            left -= len(chunk)

    def _respond(self, result: dict) -> None:
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
        headers = dict(result.get("headers") or {})
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers.setdefault(name, ", ".join(values))
        self._write(int(result.get("statusCode", 200)), headers, data)

    def _send(self, status: int, body: dict) -> None:
        self._write(status, {"Content-Type": "application/json"}, json.dumps(body).encode())

    def _write(self, status: int, headers: dict[str, str], data: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class LocalApi(ThreadingHTTPServer):
    """The API on ``127.0.0.1:port`` (0 = a free port), served from a daemon thread.

    >>> api = LocalApi(0, "v1", routes)  # doctest: +SKIP
    >>> api.start(); api.url             # doctest: +SKIP
    'http://127.0.0.1:50123/v1'
    """

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # 16+ clients connecting at once must not be reset

    def __init__(
        self,
        port: int,
        stage: str,
        table: dict[tuple[str, str], LocalFunction],
        simulated_arrival: bool = False,
        reuse_port: bool = False,
    ) -> None:
        self.reuse_port = reuse_port  # several worker processes listen on one port
        super().__init__(("127.0.0.1", port), _Handler)
        self.stage, self.routes, self.simulated_arrival = stage, table, simulated_arrival
        self._thread = Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2}, name="pik-api", daemon=True)
        self._calls = Condition()  # guards the two fields below
        self.durable: Callable[[], None] | None = None  # called after each call, before its answer is sent
        self._active, self._closing = 0, False

    def server_bind(self) -> None:
        if self.reuse_port:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()

    def received(self, header: str | None) -> datetime | None:
        """The request's arrival time: now, or the simulated one a demo replaying history sends.

        A simulated arrival (ISO-8601 with offset, not in the future) is what API Gateway would
        have put in ``requestTimeEpoch`` had the request come then; the real API has no such thing.
        """
        if not (self.simulated_arrival and header):
            return None
        value = datetime.fromisoformat(header.replace("Z", "+00:00"))
        if value.tzinfo is None or value > datetime.now(UTC):
            raise ValueError("must be ISO-8601 with an offset, and not in the future")
        return value

    def invoke(self, function: LocalFunction, event: dict) -> Invocation | None:
        """Run one invocation, or None once ``stop()`` began (no new work while state is saved)."""
        with self._calls:
            if self._closing:
                return None
            self._active += 1
        try:
            outcome = function.invoke(event)
            if self.durable:
                self.durable()
            return outcome
        finally:
            with self._calls:
                self._active -= 1
                self._calls.notify_all()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{self.stage}"

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 60) -> None:
        """Refuse new calls (503), let calls in flight finish (bounded), stop accepting, close the socket."""
        with self._calls:
            self._closing = True
            self._calls.wait_for(lambda: self._active == 0, timeout=timeout_s)
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)
