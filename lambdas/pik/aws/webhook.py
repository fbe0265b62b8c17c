"""HTTP adapter: an HTTPS endpoint as a replay target, one signed POST per event, over kept-alive
connections (``urllib3``, which botocore already brings into every Lambda runtime).

Each request carries ``Content-Type: application/json``, ``X-Pik-Event-Id``, ``X-Pik-Replay-Id``,
``X-Pik-Timestamp`` (Unix seconds) and ``X-Pik-Signature: v1=<hex HMAC-SHA256 of "timestamp.body">``
(``pik.core.targets.signature``); the secret is an SSM parameter (``pik.aws.ssm``). A 2xx is
delivered; a 429, a 5xx or no answer is retried with exponential back-off; any other status fails
that event at once (the endpoint refused it).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import urllib3

from ..core.errors import StorageError
from ..core.targets import SIGNATURE_HEADER, TIMESTAMP_HEADER, Delivered, Outgoing, Target, body, encoded, signature

ATTEMPTS = 4
BACKOFF_S = 0.2
TIMEOUT_S = 5
BATCH = 10
RETRIED_STATUSES = (429, 500, 502, 503, 504)
_shared: dict[str, Any] = {}  # "http": the PoolManager, "threads": the ThreadPoolExecutor
_lock = threading.Lock()


def _pool() -> tuple[urllib3.PoolManager, ThreadPoolExecutor]:
    """One connection pool and one thread pool per process (Lambda reuses them across invocations)."""
    with _lock:
        if not _shared:
            _shared["http"] = urllib3.PoolManager(maxsize=BATCH, retries=False, timeout=urllib3.Timeout(total=TIMEOUT_S))
            _shared["threads"] = ThreadPoolExecutor(max_workers=BATCH, thread_name_prefix="pik-http-target")
        return _shared["http"], _shared["threads"]


class HttpTarget:
    """``pik.core.ports.ReplayTarget`` for a URL; ``secret`` returns the signing secret."""

    batch_size = BATCH

    def __init__(self, target: Target, secret: Callable[[], str], *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        self.target, self.secret, self.sleep, self.clock = target, secret, sleep, clock

    def deliver(self, outgoing: list[Outgoing], replay_id: str) -> Delivered:
        try:
            secret = self.secret()
        except StorageError as exc:  # a missing or unreadable parameter: nothing can be signed, so nothing is sent
            return Delivered(0, tuple(event.event_id for event in outgoing), 0, f"signing secret: {exc}")
        http, threads = _pool()
        results = list(threads.map(lambda event: self._post(http, event, replay_id, secret), outgoing))
        failed = tuple(event.event_id for event, (ok, _, _) in zip(outgoing, results) if not ok)
        errors = [error for ok, _, error in results if not ok]
        return Delivered(len(outgoing) - len(failed), failed, sum(r for _, r, _ in results), errors[-1] if errors else None)

    def _post(self, http: urllib3.PoolManager, event: Outgoing, replay_id: str, secret: str) -> tuple[bool, int, str | None]:
        """(delivered, re-sends, last error)."""
        error = None
        for attempt in range(1, ATTEMPTS + 1):
            if attempt > 1:
                self.sleep(BACKOFF_S * 2 ** (attempt - 2))
            text = encoded(body(event, replay_id=replay_id, raw=self.target.raw, attempt=attempt))
            stamp = int(self.clock())
            headers = {"Content-Type": "application/json", "X-Pik-Event-Id": event.event_id, "X-Pik-Replay-Id": replay_id,
                       TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: signature(secret, stamp, text)}
            try:
                response = http.request("POST", self.target.address, body=text.encode("utf-8"), headers=headers,
                                        redirect=False)
            except urllib3.exceptions.HTTPError as exc:
                error = f"{self.target.address}: {exc}"
                continue
            if 200 <= response.status < 300:
                return True, attempt - 1, None
            error = f"HTTP {response.status} from {self.target.address}"
            if response.status not in RETRIED_STATUSES:
                return False, attempt - 1, error
        return False, ATTEMPTS - 1, error
