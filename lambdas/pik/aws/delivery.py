"""What the replay target adapters share: send a batch, re-send the entries the service reports
as failed with back-off, and count it all as a ``pik.core.targets.Delivered``."""

from __future__ import annotations

import time
from typing import Any, Callable

from botocore.exceptions import ClientError

from ..core.targets import Delivered, Outgoing, Target
from . import clients

ATTEMPTS = 4
BACKOFF_S = 0.05

# put(entries by key) -> (keys that failed, last error message or None)
Put = Callable[[dict[int, dict]], tuple[set[int], str | None]]


def deliver_entries(outgoing: list[Outgoing], entry: Callable[[Outgoing, int], dict], put: Put, *,
                    attempts: int = ATTEMPTS, sleep: Callable[[float], None] = time.sleep) -> Delivered:
    """Send every ``entry(event, attempt)``; entries ``put`` reports as failed are re-sent, up to ``attempts``
    times in all. A call the service refuses whole (``ClientError``: no such queue, access denied)
    fails the batch at once: retrying cannot help, and botocore already retried throttling."""
    pending = dict(enumerate(outgoing))
    retried, error = 0, None
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            sleep(BACKOFF_S * 2 ** (attempt - 2))  # back-off between re-sends
            retried += len(pending)
        try:
            failed, error = put({key: entry(event, attempt) for key, event in pending.items()})
        except ClientError as exc:
            error = str(exc)
            break
        pending = {key: event for key, event in pending.items() if key in failed}
        if not pending:
            return Delivered(len(outgoing), (), retried, None)
    return Delivered(len(outgoing) - len(pending), tuple(event.event_id for event in pending.values()), retried, error)


class ServiceTarget:
    """A replay target behind one AWS service's client (``service``: "sqs", "events", "kinesis")."""

    service = ""

    def __init__(self, target: Target, client: Any = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.target, self._client, self.sleep = target, client, sleep

    @property
    def client(self) -> Any:
        return self._client or clients.client(self.service)


def failed_in_order(keys: list[int], results: list[dict]) -> tuple[set[int], str | None]:
    """``put``'s answer for services that answer one result per entry, in entry order, with
    ``ErrorCode``/``ErrorMessage`` on the failed ones (PutEvents, PutRecords).

    >>> failed_in_order([3, 5], [{"EventId": "e"}, {"ErrorCode": "Throttled", "ErrorMessage": "slow down"}])
    ({5}, 'Throttled: slow down')
    """
    failed = [(key, result) for key, result in zip(keys, results) if result.get("ErrorCode")]
    error = f"{failed[-1][1]['ErrorCode']}: {failed[-1][1].get('ErrorMessage')}" if failed else None
    return {key for key, _ in failed}, error
