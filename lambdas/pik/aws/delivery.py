"""What the replay target adapters share: send a batch, re-send the entries the service reports
as failed with back-off, and count it all as a ``pik.core.targets.Delivered``.

A batch takes at most ``WORST_BATCH_S``: its first request may take a target client's worst call
(``clients.target_call_worst_s``: every try to its timeouts, every wait at its longest), and a further
request (the next part of a batch cut by bytes, a re-send of failed entries) starts only while a whole
worst call still fits, i.e. within ``FURTHER_REQUESTS_S`` of the batch's start. A call behind API
Gateway's 29 s keeps that much in reserve before each batch (``pik.services.replay_execution``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..core.limits import Limit
from ..core.targets import Delivered, Outgoing, Target
from . import clients

ATTEMPTS = 4
BACKOFF_S = 0.05
FURTHER_REQUESTS_S = 1.0  # after the first request, more start only this long into a batch


def worst_batch_s() -> float:
    """The longest a batch can take (a target client's worst call, started up to ``FURTHER_REQUESTS_S`` in).

    >>> worst_batch_s()
    13.0
    """
    return clients.target_call_worst_s() + FURTHER_REQUESTS_S


# put(entries by key) -> (keys that failed, last error message or None)
Put = Callable[[dict[int, dict]], tuple[set[int], str | None]]


@dataclass(frozen=True)
class ByteLimits:
    """How a service bounds a request in bytes: each entry (``entry``), all entries of one request
    (``request``), and how an entry is measured (``size``, as the service counts it)."""

    entry: Limit
    request: Limit
    size: Callable[[dict], int]

    def cut(self, entries: dict[int, dict]) -> tuple[list[dict[int, dict]], dict[int, str]]:
        """``entries`` in requests within ``request`` bytes (order kept), and the entries no request can
        carry, with why.

        >>> from pik.core.limits import SQS_BATCH, SQS_MESSAGE
        >>> limits = ByteLimits(SQS_MESSAGE, SQS_BATCH, lambda e: len(e["MessageBody"]))
        >>> chunks, refused = limits.cut({0: {"MessageBody": "x" * 600_000}, 1: {"MessageBody": "y" * 600_000},
        ...                               2: {"MessageBody": "z" * 1_100_000}})
        >>> [list(chunk) for chunk in chunks], list(refused)
        ([[0], [1]], [2])
        """
        chunks: list[dict[int, dict]] = []
        refused: dict[int, str] = {}
        current: dict[int, dict] = {}
        used = 0
        for key, entry in entries.items():
            size = self.size(entry)
            if not self.entry.respected_by(size) or not self.request.respected_by(size):
                refused[key] = f"{size} bytes: {self.entry.rule} ({self.entry.doc})"
                continue
            if current and used + size > self.request.value:
                chunks.append(current)
                current, used = {}, 0
            current[key], used = entry, used + size
        if current:
            chunks.append(current)
        return chunks, refused


def deliver_entries(
    outgoing: list[Outgoing],
    entry: Callable[[Outgoing, int], dict],
    put: Put,
    *,
    limits: ByteLimits | None = None,
    attempts: int = ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    started: float | None = None,
) -> Delivered:
    """Send every ``entry(event, attempt)``, in requests cut to the service's byte ``limits``; entries
    ``put`` reports as failed are re-sent, up to ``attempts`` times in all. An entry larger than the
    service takes is never sent: it is reported ``undeliverable`` with the rule. A call the service
    refuses whole (``ClientError``: no such queue, access denied) or never answers within the client's
    tries (``BotoCoreError``: a timeout, no connection) fails the rest of the batch at once: botocore
    already retried, and the next call sends it again. So does time: a request after the first starts
    only within ``FURTHER_REQUESTS_S`` of the first (``worst_batch_s``); ``started``: the batch's first
    request was made before, at that ``clock()`` (an SQS target reading its queue's limit), so every put
    here is a further request."""
    pending = dict(enumerate(outgoing))
    retried, error, undeliverable = 0, None, {}
    started, puts = (clock(), 0) if started is None else (started, 1)
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            sleep(BACKOFF_S * 2 ** (attempt - 2))  # back-off between re-sends
            if clock() - started > FURTHER_REQUESTS_S:
                error = _out_of_time()
                break
            retried += len(pending)
        entries = {key: entry(event, attempt) for key, event in pending.items()}
        chunks, refused = limits.cut(entries) if limits else ([entries], {})
        for key, reason in refused.items():
            undeliverable[pending.pop(key).event_id] = reason
        done: set[int] = set()
        stopped = None  # why the rest of the batch fails now: the service refused, or no time is left
        try:
            for chunk in chunks:
                if puts and clock() - started > FURTHER_REQUESTS_S:
                    stopped = _out_of_time()
                    break
                puts += 1
                chunk_failed, chunk_error = put(chunk)
                done |= set(chunk) - chunk_failed
                error = chunk_error or error
        except (ClientError, BotoCoreError) as exc:
            stopped = str(exc)
        pending = {key: event for key, event in pending.items() if key not in done}
        if stopped is not None:
            error = stopped
            break
        if not pending:
            break
    failed_ids = tuple(undeliverable) + tuple(event.event_id for event in pending.values())
    if not failed_ids:
        error = None
    elif undeliverable and not pending:
        events = "1 event" if len(undeliverable) == 1 else f"{len(undeliverable)} events"
        error = f"{events} too large for this target: {next(iter(undeliverable.values()))}"
    return Delivered(len(outgoing) - len(failed_ids), failed_ids, retried, error, tuple(undeliverable.items()))


def _out_of_time() -> str:
    return f"no time for another request in this batch: one starts only within {FURTHER_REQUESTS_S:g} s of the first"


class ServiceTarget:
    """A replay target behind one AWS service's client (``service``: "sqs", "events", "kinesis"), with
    bounded timeouts and tries (``clients.target_client``)."""

    service = ""
    worst_batch_s = worst_batch_s()

    def __init__(self, target: Target, client: Any = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.target, self._client, self.sleep = target, client, sleep

    @property
    def client(self) -> Any:
        return self._client or clients.target_client(self.service)


def failed_in_order(keys: list[int], results: list[dict]) -> tuple[set[int], str | None]:
    """``put``'s answer for services that answer one result per entry, in entry order, with
    ``ErrorCode``/``ErrorMessage`` on the failed ones (PutEvents, PutRecords).

    >>> failed_in_order([3, 5], [{"EventId": "e"}, {"ErrorCode": "Throttled", "ErrorMessage": "slow down"}])
    ({5}, 'Throttled: slow down')
    """
    failed = [(key, result) for key, result in zip(keys, results, strict=True) if result.get("ErrorCode")]
    error = f"{failed[-1][1]['ErrorCode']}: {failed[-1][1].get('ErrorMessage')}" if failed else None
    return {key for key, _ in failed}, error
