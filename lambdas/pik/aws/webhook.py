"""HTTP adapter: an HTTPS endpoint as a replay target, one POST per event signed per Standard Webhooks
(https://www.standardwebhooks.com), over kept-alive connections (``http.client``, the stdlib).

Each request carries its envelope's ``Content-Type`` (``pik.core.targets.http_message``: with
``cloudevents`` in binary mode, the event's attributes as ``ce-*`` headers too), ``webhook-id``
(``pik.core.targets.webhook_id``: the same for every retry and replay of one event to one target),
``webhook-timestamp`` (Unix seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256 of
"id.timestamp.body">`` over the body as sent (one per secret while a secret is rotated), plus
``X-Pik-Event-Id`` and ``X-Pik-Replay-Id``; the secret (``whsec_...``) is an SSM parameter
(``pik.aws.ssm``). The ``standardwebhooks`` package verifies these requests as they are.

A 2xx is delivered; a 429, a 5xx or no answer is retried with exponential back-off (a
``Retry-After`` of a 429 or 503 is waited instead, up to ``MAX_RETRY_AFTER_S``); any other status
fails that event at once (the endpoint refused it). Every request has a total deadline
(``REQUEST_DEADLINE_S``, connect to last byte): a watchdog closes the socket of an endpoint that
hangs or drips, so a batch takes at most ``worst_batch_s`` and a call behind API Gateway's 29 s
(``pik.core.limits.API_GATEWAY_INTEGRATION_TIMEOUT``) keeps that much in reserve before each batch.
"""

from __future__ import annotations

import http.client
import queue
import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from ..core.errors import PikError, StorageError
from ..core.targets import Delivered, Outgoing, Target, http_message, signing_keys, webhook_id, webhook_signature

ATTEMPTS = 3
BACKOFF_S = 0.2
REQUEST_DEADLINE_S = 3.0  # connect, send, and read the whole answer
MAX_RETRY_AFTER_S = 1.0  # a longer Retry-After ends this call's tries: the run goes on by continuation
MAX_ANSWER_BYTES = 65_536  # what is read of an answer's body (then the connection is dropped)
BATCH = 10
RETRIED_STATUSES = (429, 500, 502, 503, 504)
RETRY_AFTER_STATUSES = (429, 503)
_threads: list[ThreadPoolExecutor] = []
_lock = threading.Lock()


def worst_batch_s(attempts: int = ATTEMPTS) -> float:
    """The longest a batch can take: every try to its deadline, and every wait at its longest.

    >>> worst_batch_s()
    11.0
    """
    waits = sum(max(BACKOFF_S * 2**i, MAX_RETRY_AFTER_S) for i in range(attempts - 1))
    return attempts * REQUEST_DEADLINE_S + waits


def _pool() -> ThreadPoolExecutor:
    """One thread pool per process (Lambda reuses it across invocations)."""
    with _lock:
        if not _threads:
            _threads.append(ThreadPoolExecutor(max_workers=BATCH, thread_name_prefix="pik-http-target"))
        return _threads[0]


class DeadlineExceeded(PikError, OSError):
    """No whole answer within the request's deadline."""


class Connections:
    """Kept-alive connections to one origin; ``post`` bounds each request by a total deadline."""

    def __init__(self, url: str, deadline_s: float | None = None) -> None:
        parts = urlsplit(url)
        self.https, self.host, self.port = parts.scheme == "https", parts.hostname or "", parts.port
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.deadline_s = deadline_s or REQUEST_DEADLINE_S
        self.idle: queue.SimpleQueue[http.client.HTTPConnection] = queue.SimpleQueue()

    def post(self, data: bytes, headers: dict) -> tuple[int, dict]:
        """(status, headers) of one POST; ``DeadlineExceeded`` or ``OSError`` when no whole answer came."""
        conn = self._take()
        expired = threading.Event()
        watchdog = threading.Timer(self.deadline_s, self._expire, (conn, expired))
        watchdog.start()
        try:
            conn.request("POST", self.path, body=data, headers=headers)
            response = conn.getresponse()
            response.read(MAX_ANSWER_BYTES)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            conn.close()
            # the socket's own timeout is the deadline too: it fires only after one step waited all of it,
            # and may beat the watchdog's thread to it on a loaded machine
            if expired.is_set() or isinstance(exc, TimeoutError):
                raise DeadlineExceeded(f"no whole answer within {self.deadline_s:g} s") from exc
            raise OSError(str(exc) or type(exc).__name__) from exc
        finally:
            watchdog.cancel()
        if expired.is_set() or response.will_close or not response.isclosed():
            conn.close()
        else:
            self.idle.put(conn)
        return response.status, {name.lower(): value for name, value in response.getheaders()}

    def _take(self) -> http.client.HTTPConnection:
        try:
            return self.idle.get_nowait()
        except queue.Empty:
            pass
        if self.https:
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=self.deadline_s, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=self.deadline_s)

    @staticmethod
    def _expire(conn: http.client.HTTPConnection, expired: threading.Event) -> None:
        expired.set()
        if conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked reading it
            except OSError:
                pass


def retry_after_s(value: str | None, now: float) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta-seconds or an HTTP date), or None.

    >>> retry_after_s("2", 0), retry_after_s("Thu, 01 Jan 1970 00:00:05 GMT", 1.0), retry_after_s("soon", 0)
    (2.0, 4.0, None)
    """
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


class HttpTarget:
    """``pik.core.ports.ReplayTarget`` for a URL; ``secret`` returns the signing secret parameter's value."""

    batch_size = BATCH
    worst_batch_s = worst_batch_s()

    def __init__(
        self,
        target: Target,
        secret: Callable[[], str],
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.target, self.secret, self.sleep, self.clock = target, secret, sleep, clock
        self.connections = Connections(target.address)

    def deliver(self, outgoing: list[Outgoing], replay_id: str) -> Delivered:
        try:
            keys = signing_keys(self.secret())
        except (StorageError, ValueError) as exc:  # nothing can be signed, so nothing is sent
            return Delivered(0, tuple(event.event_id for event in outgoing), 0, f"signing secret: {exc}")
        results = list(_pool().map(lambda event: self._post(event, replay_id, keys), outgoing))
        failed = tuple(event.event_id for event, (ok, _, _) in zip(outgoing, results, strict=True) if not ok)
        errors = [error for ok, _, error in results if not ok]
        return Delivered(
            len(outgoing) - len(failed), failed, sum(r for _, r, _ in results), errors[-1] if errors else None
        )

    def _post(self, event: Outgoing, replay_id: str, keys: tuple[bytes, ...]) -> tuple[bool, int, str | None]:
        """(delivered, re-sends, last error)."""
        error, wait, msg_id = None, 0.0, webhook_id(event.event_id, self.target)
        for attempt in range(1, ATTEMPTS + 1):
            if attempt > 1:
                self.sleep(wait)
            headers, text = http_message(event, self.target, replay_id=replay_id, attempt=attempt)
            stamp = int(self.clock())
            headers |= {
                "webhook-id": msg_id,
                "webhook-timestamp": str(stamp),
                "webhook-signature": webhook_signature(keys, msg_id, stamp, text),
                "X-Pik-Event-Id": event.event_id,
                "X-Pik-Replay-Id": replay_id,
            }
            wait = BACKOFF_S * 2 ** (attempt - 1)
            try:
                status, answer = self.connections.post(text.encode("utf-8"), headers)
            except OSError as exc:
                error = f"{self.target.address}: {exc}"
                continue
            if 200 <= status < 300:
                return True, attempt - 1, None
            error = f"HTTP {status} from {self.target.address}"
            if status not in RETRIED_STATUSES:
                return False, attempt - 1, error
            asked = retry_after_s(answer.get("retry-after"), self.clock()) if status in RETRY_AFTER_STATUSES else None
            if asked is not None and asked > MAX_RETRY_AFTER_S:
                return False, attempt - 1, f"{error} (Retry-After {asked:g} s: continue the run later)"
            wait = max(wait, asked or 0.0)
        return False, ATTEMPTS - 1, error
