"""Talk to the pik HTTP API the way a producer does: concurrent POST /ingest over keep-alive
connections, with a progress bar; and POST /replay.

    results = ingest_events("http://127.0.0.1:8080/v1", [{"source": "app", ...}], workers=8)
    results[0].status          # "ACCEPTED"
"""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Sequence

import urllib3
from tqdm.auto import tqdm

from .api import ARRIVAL_HEADER

HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class IngestResult:
    """One answer of ``POST /ingest``: HTTP status and JSON body (``status`` is the pik status).

    ``http_status`` 0 means the request never got an answer (``status`` ``"UNSENT"``).
    """

    http_status: int
    body: dict

    @property
    def status(self) -> str:
        return self.body.get("status") or ("UNSENT" if self.http_status == 0 else f"HTTP {self.http_status}")


def _pool(workers: int) -> urllib3.PoolManager:
    retries = urllib3.Retry(total=3, connect=3, read=0, status=0, backoff_factor=0.1)
    return urllib3.PoolManager(maxsize=workers, block=True, retries=retries, timeout=urllib3.Timeout(connect=5, read=60))


def post_json(http: urllib3.PoolManager, url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    """POST ``body`` (a dict is JSON-encoded; a str is sent as-is) and decode the JSON answer."""
    data = body.encode("utf-8") if isinstance(body, str) else json.dumps(body).encode("utf-8")
    response = http.request("POST", url, body=data, headers={**HEADERS, **(headers or {})})
    try:
        answer = json.loads(response.data or b"{}")
    except ValueError:
        answer = {"error": response.data[:200].decode("utf-8", "replace")}
    return response.status, answer


def ingest_events(api_url: str, events: Sequence[Any] | Iterable[Any], *, workers: int = 8, progress: bool = True,
                  description: str = "ingest", arrivals: Sequence[datetime] | None = None) -> list[IngestResult]:
    """POST every event to ``{api_url}/ingest`` with ``workers`` threads; results in input order.

    Events are dicts (JSON-encoded) or raw strings (sent as they are, e.g. a broken body). A
    request that gets no answer (connection refused after retries) is an ``UNSENT`` result.
    ``arrivals`` (one per event) are sent as simulated arrival times, which only a local stack
    started with ``simulated_arrival=True`` honours.
    """
    events = list(events)
    url = api_url.rstrip("/") + "/ingest"
    headers = [{ARRIVAL_HEADER: when.isoformat()} for when in arrivals] if arrivals else [{}] * len(events)
    with _pool(workers) as http, ThreadPoolExecutor(workers) as pool, \
            tqdm(total=len(events), desc=description, unit="ev", disable=not progress) as bar:
        def send(event: Any, header: dict[str, str]) -> IngestResult:
            try:
                status, body = post_json(http, url, event, header)
            except urllib3.exceptions.HTTPError as exc:  # one lost request must not abort the others
                status, body = 0, {"error": str(exc)}
            bar.update(1)
            return IngestResult(status, body)
        return list(pool.map(send, events, headers))


def count_statuses(results: Iterable[IngestResult]) -> dict[str, int]:
    """``{"ACCEPTED": 3, "DUPLICATE": 1}``: how many answers had each status."""
    return dict(Counter(result.status for result in results))


def replay(api_url: str, request: dict) -> dict:
    """POST ``request`` to ``{api_url}/replay``, following ``continuation`` until the run completes.

    >>> replay(url, {"entity_id": "user_123", "start_time": "...", "end_time": "...", "dry_run": False})  # doctest: +SKIP
    {'replay_id': 'rp-...', 'status': 'COMPLETED', 'matched': 1, 'sent': 1, ...}
    """
    url = api_url.rstrip("/") + "/replay"
    with _pool(1) as http:
        status, run = post_json(http, url, request)
        while status == 200 and run.get("continuation"):
            status, run = post_json(http, url, {**request, "continuation": run["continuation"]})
    if status != 200:
        raise ApiError(status, run)
    return run


class ApiError(Exception):
    """The API answered with an HTTP error; ``body`` holds its ``{error, details}``."""

    def __init__(self, http_status: int, body: dict) -> None:
        super().__init__(f"HTTP {http_status}: {body.get('error') or body.get('message')} {body.get('details') or ''}".strip())
        self.http_status, self.body = http_status, body
