"""HTTP adapter: an HTTPS endpoint as a replay target, one signed POST per event (stdlib ``urllib``).

Each request carries ``Content-Type: application/json``, ``X-Pik-Event-Id``, ``X-Pik-Replay-Id``,
``X-Pik-Timestamp`` (Unix seconds) and ``X-Pik-Signature: v1=<hex HMAC-SHA256 of "timestamp.body">``
(``pik.core.targets.signature``); the secret is an SSM parameter (``pik.aws.ssm``). A 2xx is
delivered; a 429, a 5xx or no answer is retried with exponential back-off; any other status fails
that event at once (the endpoint refused it).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from ..core.targets import SIGNATURE_HEADER, TIMESTAMP_HEADER, Delivered, Outgoing, Target, body, encoded, signature

ATTEMPTS = 4
BACKOFF_S = 0.2
TIMEOUT_S = 5
BATCH = 10
RETRIED_STATUSES = (429, 500, 502, 503, 504)


class HttpTarget:
    """``pik.core.ports.ReplayTarget`` for a URL; ``secret`` returns the signing secret."""

    batch_size = BATCH

    def __init__(self, target: Target, secret: Callable[[], str], *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        self.target, self.secret, self.sleep, self.clock = target, secret, sleep, clock

    def deliver(self, outgoing: list[Outgoing], replay_id: str) -> Delivered:
        secret = self.secret()
        with ThreadPoolExecutor(max_workers=max(1, min(BATCH, len(outgoing)))) as pool:
            results = list(pool.map(lambda event: self._post(event, replay_id, secret), outgoing))
        failed = tuple(event.event_id for event, (ok, _, _) in zip(outgoing, results) if not ok)
        errors = [error for ok, _, error in results if not ok]
        return Delivered(len(outgoing) - len(failed), failed, sum(r for _, r, _ in results), errors[-1] if errors else None)

    def _post(self, event: Outgoing, replay_id: str, secret: str) -> tuple[bool, int, str | None]:
        """(delivered, re-sends, last error)."""
        error = None
        for attempt in range(1, ATTEMPTS + 1):
            if attempt > 1:
                self.sleep(BACKOFF_S * 2 ** (attempt - 2))
            text = encoded(body(event, replay_id=replay_id, raw=self.target.raw, attempt=attempt))
            stamp = int(self.clock())
            request = urllib.request.Request(self.target.address, data=text.encode("utf-8"), method="POST", headers={
                "Content-Type": "application/json", "X-Pik-Event-Id": event.event_id, "X-Pik-Replay-Id": replay_id,
                TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: signature(secret, stamp, text)})
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310 (allow-listed URL)
                    response.read()
                return True, attempt - 1, None
            except urllib.error.HTTPError as exc:
                error = f"HTTP {exc.code} from {self.target.address}"
                if exc.code not in RETRIED_STATUSES:
                    return False, attempt - 1, error
            except (urllib.error.URLError, OSError) as exc:
                error = f"{self.target.address}: {getattr(exc, 'reason', exc)}"
        return False, ATTEMPTS - 1, error
