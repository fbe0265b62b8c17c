"""The one client of the pik HTTP API: concurrent ``POST /ingest`` over keep-alive connections with
a progress bar, and ``POST /replay`` followed across continuations; SigV4-signed for a deployed
stack (give a boto3 session), plain for the local stack.

    api = ApiClient("http://127.0.0.1:8080/v1")
    api.ingest([{"source": "app", ...}])[0].status        # "ACCEPTED"
    api.replay({"entity_id": "user_123", "start_time": "...", "end_time": "..."})["matched"]
    api.steer("rp-...", "pause")["status"]                 # "PAUSED" (or RUNNING with requested: pause)

``pik_nb`` (``kit.replay``) and ``pik`` (``pik ingest``, ``pik demo``) both use it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from tqdm.auto import tqdm

from pik.core import limits
from pik.core.errors import PikError
from pik.core.replay import StopReason

ARRIVAL_HEADER = "X-Pik-Simulated-Arrival"  # honoured only by the local stack's API (pik_local.api)

HEADERS = {"Content-Type": "application/json"}
BATCH_SIZE = 500  # events per POST /ingest batch (the API's limit)
MAX_BATCH_BYTES = limits.API_BODY_BYTES - 1024  # what ingest accepts in one body, less the {"events": []} around it


class ApiError(PikError):
    """The pik HTTP API answered an error (``status`` 0: no answer); ``body`` holds its ``{error, details}``."""

    def __init__(self, message: str, *, status: int, body: dict) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


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


class ApiClient:
    """``POST`` JSON to one stack's API; ``session`` (boto3) signs every request with SigV4.

    >>> ApiClient("http://127.0.0.1:8080/v1").replay({"entity_id": "u1", "start_time": "2026-11-20T00:00:00Z",
    ...                                               "end_time": "2026-11-21T00:00:00Z"})["dry_run"]   # doctest: +SKIP
    True
    """

    def __init__(self, api_url: str, *, session: Any = None, workers: int = 8, timeout_s: float = 60) -> None:
        if not api_url:
            raise ApiError(
                "no API URL: connect to a stack with an api_url output, or pass api_url=...", status=0, body={}
            )
        self.api_url = api_url.rstrip("/")
        self.session = session
        self.workers = workers
        retries = urllib3.Retry(total=3, connect=3, read=0, status=0, backoff_factor=0.1)
        self._http = urllib3.PoolManager(
            maxsize=workers, block=True, retries=retries, timeout=urllib3.Timeout(connect=5, read=timeout_s)
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.clear()

    def send(self, path: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict]:
        """POST ``body`` (a dict is JSON-encoded; a str is sent as it is) and decode the JSON answer."""
        data = body.encode("utf-8") if isinstance(body, str) else json.dumps(body).encode("utf-8")
        url = self.api_url + path
        all_headers = {**HEADERS, **(headers or {})}
        if self.session is not None:
            all_headers = self._signed(url, data, all_headers)
        response = self._http.request("POST", url, body=data, headers=all_headers)
        try:
            answer = json.loads(response.data or b"{}")
        except ValueError:
            answer = {"error": response.data[:200].decode("utf-8", "replace")}
        return response.status, answer

    def post(self, path: str, body: dict) -> dict:
        """The 200 answer of ``POST path``; anything else is an ``ApiError`` naming status, error and details."""
        try:
            status, answer = self.send(path, body)
        except urllib3.exceptions.HTTPError as exc:
            raise ApiError(f"POST {path}: {exc}", status=0, body={}) from exc
        if status != 200:
            details = "; ".join(f"{d.get('field')}: {d.get('message')}" for d in answer.get("details", []) or [])
            error = answer.get("error") or answer.get("message")
            raise ApiError(
                f"POST {path} answered {status}: {error}" + (f" ({details})" if details else ""),
                status=status,
                body=answer,
            )
        return answer

    def replay(self, request: dict, *, follow: bool = True, on_step: Callable[[dict], None] | None = None) -> dict:
        """``POST /replay``; with ``follow`` a run that stopped early is continued until it completes (one
        stopped by ``target_errors`` is tried once more, then returned: fix the target, call again).
        ``on_step`` sees each answer that is continued (the run's counts so far)."""
        run = self.post("/replay", request)
        return self._follow(run, request, on_step) if follow else run

    def steer(
        self, replay_id: str, action: str, *, follow: bool = True, on_step: Callable[[dict], None] | None = None
    ) -> dict:
        """``POST /replay/{replay_id}`` with ``{"action": "pause" | "resume" | "cancel"}``; the run as it then
        stands. A ``resume`` is followed across continuations like ``replay`` (unless ``follow=False``).

        >>> api.steer("rp-3f2a...", "resume")["status"]      # doctest: +SKIP
        'COMPLETED'
        """
        run = self.post(f"/replay/{replay_id}", {"action": action})
        if not (follow and action == "resume"):
            return run
        return self._follow(run, {"replay_id": replay_id}, on_step, past_limit=False)

    def _follow(
        self, run: dict, request: dict, on_step: Callable[[dict], None] | None, *, past_limit: bool = True
    ) -> dict:
        """Send ``request`` with the run's continuation until it has none (or, unless ``past_limit``, it
        stopped at its ``limit``: each resume moves a limited run one limit on)."""
        retried_target = False  # a run the target stopped is resumed once per call (a repeated command), not in a loop
        while (
            run.get("continuation")
            and (past_limit or run.get("stopped") != StopReason.LIMIT)
            and not (run.get("stopped") == StopReason.TARGET_ERRORS and retried_target)
        ):
            retried_target = retried_target or run.get("stopped") == StopReason.TARGET_ERRORS
            if on_step is not None:
                on_step(run)
            run = self.post("/replay", {**request, "continuation": run["continuation"]})
        return run

    def ingest(
        self,
        events: Sequence[Any] | Iterable[Any],
        *,
        progress: bool = True,
        description: str = "ingest",
        arrivals: Sequence[datetime] | None = None,
    ) -> list[IngestResult]:
        """POST every event to ``/ingest`` on ``workers`` threads; results in input order.

        Events are dicts (JSON-encoded) or raw strings (sent as they are, e.g. a broken body). A
        request that gets no answer (connection refused after retries) is an ``UNSENT`` result.
        ``arrivals`` (one per event) are sent as simulated arrival times, which only a local stack
        started with ``simulated_arrival=True`` honours.
        """
        events = list(events)
        headers = [{ARRIVAL_HEADER: when.isoformat()} for when in arrivals] if arrivals else [{}] * len(events)
        with (
            ThreadPoolExecutor(self.workers) as pool,
            tqdm(total=len(events), desc=description, unit="ev", disable=None if progress else True) as bar,
        ):

            def one(event: Any, header: dict[str, str]) -> IngestResult:
                try:
                    status, body = self.send("/ingest", event, header)
                except urllib3.exceptions.HTTPError as exc:  # one lost request must not abort the others
                    status, body = 0, {"error": str(exc)}
                bar.update(1)
                return IngestResult(status, body)

            return list(pool.map(one, events, headers))

    def ingest_batches(
        self,
        events: Sequence[Any] | Iterable[Any],
        *,
        batch_size: int = BATCH_SIZE,
        progress: bool = True,
        description: str = "ingest",
    ) -> list[IngestResult]:
        """POST ``events`` to ``/ingest`` as ``{"events": [...]}`` batches of at most ``batch_size``
        (and ``MAX_BATCH_BYTES``), ``workers`` batches at a time; one result per event, in input order.

        Each result carries the batch's HTTP status and the event's own answer; a batch refused
        whole (or unanswered) gives every event of it that answer.

        >>> ApiClient(url).ingest_batches([event, event])[1].status      # doctest: +SKIP
        'DUPLICATE'
        """
        chunks = list(_chunks(list(events), batch_size))
        with (
            ThreadPoolExecutor(self.workers) as pool,
            tqdm(
                total=sum(len(c) for c in chunks), desc=description, unit="ev", disable=None if progress else True
            ) as bar,
        ):

            def one(chunk: list[Any]) -> list[IngestResult]:
                try:
                    status, body = self.send("/ingest", {"events": chunk})
                except urllib3.exceptions.HTTPError as exc:
                    status, body = 0, {"error": str(exc)}
                bar.update(len(chunk))
                if status == 200 and len(body.get("results") or []) == len(chunk):
                    return [IngestResult(status, result) for result in body["results"]]
                return [IngestResult(status, body)] * len(chunk)

            return [result for results in pool.map(one, chunks) for result in results]

    def _signed(self, url: str, data: bytes, headers: dict[str, str]) -> dict[str, str]:
        credentials = self.session.get_credentials()
        if credentials is None:
            raise ApiError("no AWS credentials to sign the API request", status=0, body={})
        request = AWSRequest("POST", url, data=data, headers=headers)
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", self.session.region_name).add_auth(request)
        return dict(request.headers.items())


def ingest_events(
    api_url: str,
    events: Sequence[Any] | Iterable[Any],
    *,
    workers: int = 8,
    progress: bool = True,
    description: str = "ingest",
    arrivals: Sequence[datetime] | None = None,
) -> list[IngestResult]:
    """``ApiClient(api_url, workers=workers).ingest(...)``: ``ingest_events(url, [event])[0].status``."""
    with ApiClient(api_url, workers=workers) as api:
        return api.ingest(events, progress=progress, description=description, arrivals=arrivals)


def replay(api_url: str, request: dict) -> dict:
    """``POST /replay`` on an unsigned API, followed until the run completes; ``ApiError`` on refusal.

    >>> replay(url, {"entity_id": "user_123", "start_time": "...", "end_time": "...",
    ...              "dry_run": False})  # doctest: +SKIP
    {'replay_id': 'rp-...', 'status': 'COMPLETED', 'matched': 1, 'sent': 1, ...}
    """
    with ApiClient(api_url, workers=1) as api:
        return api.replay(request)


def _chunks(events: list[Any], size: int) -> Iterable[list[Any]]:
    """Consecutive runs of at most ``size`` events and ``MAX_BATCH_BYTES`` of JSON."""
    chunk: list[Any] = []
    total = 0
    for event in events:
        length = len(json.dumps(event).encode("utf-8")) + 2  # and ", "
        if chunk and (len(chunk) >= size or total + length > MAX_BATCH_BYTES):
            yield chunk
            chunk, total = [], 0
        chunk.append(event)
        total += length
    if chunk:
        yield chunk


def count_statuses(results: Iterable[IngestResult]) -> dict[str, int]:
    """``{"ACCEPTED": 3, "DUPLICATE": 1}``: how many answers had each status."""
    return dict(Counter(result.status for result in results))
