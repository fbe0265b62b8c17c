"""Posting OpenLineage RunEvents to an HTTP endpoint (the template's ``OpenLineageUrl``), stdlib only.

What ``openlineage-python``'s HTTP transport does for one event: ``POST`` the event's JSON with
``Content-Type: application/json`` to the lineage endpoint (Marquez: ``<url>/api/v1/lineage``).
Lineage is a side channel: it never fails a replay or a recompute. Each POST waits at most
``TIMEOUT_S``, and never into the function's last ``RESERVE_MS`` (``remaining_ms``: the replay
function must still answer within API Gateway's 29 s); after the first failure an emitter sends
nothing more in that invocation (an endpoint that is down costs one timeout, not one per event),
and the handler counts what it did not send (``LineageErrorCount``). Events are deterministic
(``pik.core.lineage``), so ``kit.lineage(...)`` can send the missed ones later, and a server that
got one twice sees the same run.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from urllib.parse import urlsplit

TIMEOUT_S = 2.0
RESERVE_MS = 1_000  # left to the function after the last POST (to answer API Gateway, or SQS)


class HttpLineage:
    """``HttpLineage("https://marquez.example.com/api/v1/lineage").emit(events)`` -> how many were refused."""

    def __init__(
        self, url: str, *, timeout_s: float = TIMEOUT_S, remaining_ms: Callable[[], int] | None = None
    ) -> None:
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"OpenLineageUrl must be an http(s) URL, not {url[:64]!r}")
        self.url, self.timeout_s, self.remaining_ms, self.down = url, timeout_s, remaining_ms, False

    def emit(self, events: list[dict]) -> int:
        """POST each event in order; the number not delivered (0: all were accepted with a 2xx)."""
        for position, event in enumerate(events):
            if self.down or not self._post(event, self._timeout_s()):
                self.down = True
                return len(events) - position
        return 0

    def _timeout_s(self) -> float:
        if self.remaining_ms is None:
            return self.timeout_s
        return min(self.timeout_s, (self.remaining_ms() - RESERVE_MS) / 1000)

    def _post(self, event: dict, timeout_s: float) -> bool:
        if timeout_s <= 0:
            return False
        body = json.dumps(event, separators=(",", ":")).encode()
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (scheme checked)
                return 200 <= response.status < 300
        except (urllib.error.URLError, OSError, ValueError):  # HTTPError is a URLError; timeouts are OSErrors
            return False


class NoLineage:
    """Emission switched off (``OpenLineageUrl`` empty)."""

    def emit(self, events: list[dict]) -> int:
        return 0
