"""Posting OpenLineage RunEvents to an HTTP endpoint (the template's ``OpenLineageUrl``), stdlib only.

What ``openlineage-python``'s HTTP transport does for one event: ``POST`` the event's JSON with
``Content-Type: application/json`` to the lineage endpoint (Marquez: ``<url>/api/v1/lineage``).
Lineage is a side channel: it never fails a replay or a recompute. Each POST waits at most
``TIMEOUT_S``; after the first failure an emitter sends nothing more in that invocation (an endpoint
that is down costs one timeout, not one per event) and counts what it did not send
(``LineageErrorCount``). Events are deterministic (``pik.core.lineage``), so ``kit.lineage(...)``
can send the missed ones later, and a server that got one twice sees the same run.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import urlsplit

TIMEOUT_S = 2.0


class HttpLineage:
    """``HttpLineage("https://marquez.example.com/api/v1/lineage").emit(events)`` -> how many were refused."""

    def __init__(self, url: str, *, timeout_s: float = TIMEOUT_S) -> None:
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"OpenLineageUrl must be an http(s) URL, not {url[:64]!r}")
        self.url, self.timeout_s, self.down = url, timeout_s, False

    def emit(self, events: list[dict]) -> int:
        """POST each event in order; the number not delivered (0: all were accepted with a 2xx)."""
        for position, event in enumerate(events):
            if self.down or not self._post(event):
                self.down = True
                return len(events) - position
        return 0

    def _post(self, event: dict) -> bool:
        body = json.dumps(event, separators=(",", ":")).encode()
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310 (scheme checked)
                return 200 <= response.status < 300
        except (urllib.error.URLError, OSError, ValueError):  # HTTPError is a URLError; timeouts are OSErrors
            return False


class NoLineage:
    """Emission switched off (``OpenLineageUrl`` empty)."""

    def emit(self, events: list[dict]) -> int:
        return 0
