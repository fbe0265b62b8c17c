"""moto's server, patched: the backend for a host looked up once; HTTP/1.1 connections kept alive
(for a server process, not for ``mock_aws``)."""

from __future__ import annotations

import socket
import threading
from typing import Any

_installed = False


def install() -> None:
    """Patch moto's server's request dispatch in this process (idempotent)."""
    global _installed
    if not _installed:
        _cached_backend_lookup()
        _installed = True


def _cached_backend_lookup() -> None:
    """moto's server finds the backend for each request by listing its modules and trying every
    backend's URL patterns (~10% of a call); the answer depends on the host name only."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.get_backend_for_host
    cache: dict[str | None, Any] = {}

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        if host not in cache:
            cache[host] = original(self, host)
        return cache[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host


def keep_connections_alive() -> None:
    """Let moto's server keep HTTP/1.1 connections open (werkzeug closes each one; every call
    then pays a TCP connection and a server thread). Each request body is read whole before moto
    sees it, so the next request on the connection always starts at a request line; a chunked
    request body still closes the connection. For a server process, not for ``mock_aws``."""
    import io
    import selectors

    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug import serving

    make_environ, send_header = MotoRequestHandler.make_environ, MotoRequestHandler.send_header
    whole_body_read = threading.local()

    class _NothingLeft:
        """What werkzeug's after-response drain sees once the body was read whole: nothing to
        read (its drain would otherwise swallow the next request, after waiting 10 ms)."""

        def register(self, *_: Any) -> None:
            pass

        def select(self, *_: Any, **__: Any) -> list:
            return []

        def close(self) -> None:
            pass

    class _Selectors:
        def __getattr__(self, name: str) -> Any:
            return getattr(selectors, name)

        def DefaultSelector(self) -> Any:  # noqa: N802 (the selectors module's name)
            return _NothingLeft() if getattr(whole_body_read, "value", False) else selectors.DefaultSelector()

    serving.selectors = _Selectors()

    def read_whole_body(self: Any) -> dict:
        environ = make_environ(self)
        self.pik_keep_alive = "chunked" not in (self.headers.get("Transfer-Encoding") or "").lower()
        whole_body_read.value = self.pik_keep_alive
        if self.pik_keep_alive:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            environ["wsgi.input"] = io.BytesIO(self.rfile.read(length) if length > 0 else b"")
        return environ

    def no_forced_close(self: Any, keyword: str, value: str) -> None:
        if keyword.lower() == "connection" and value.lower() == "close" and getattr(self, "pik_keep_alive", False):
            return  # http.server keeps the connection unless the client asked to close it
        send_header(self, keyword, value)

    def setup(self: Any) -> None:
        super(MotoRequestHandler, self).setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    MotoRequestHandler.make_environ, MotoRequestHandler.send_header = read_whole_body, no_forced_close
    MotoRequestHandler.setup = setup
