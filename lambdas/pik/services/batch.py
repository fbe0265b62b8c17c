"""Ingest many events in one call: ``POST /ingest`` with ``{"events": [...]}``, and the taps.

Each event goes through ``pik.services.ingest.ingest`` on its own, exactly as if it had come in
its own request (its own attempt, raw object, transaction and dedup decision): two events of one
batch with the same identity race like two requests, and a failure of one (a storage error, a
crash of its thread) never changes another's outcome. The work runs on a bounded thread pool.

An event whose storage failed is answered ``FAILED`` with ``retryable: true``: the write order
makes resending it safe (it becomes ACCEPTED, or a DUPLICATE of its own stored bytes).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..core import limits
from ..core.contract import Limits, parse_body
from ..core.errors import FieldError, StorageError, ValidationError
from ..core.records import FAILED, REJECTED
from .ingest import IngestOutcome

MAX_EVENTS = 500
MAX_BATCH_BYTES = limits.API_BODY_BYTES  # every body up to it reaches the function whole (pik.core.limits)
WORKERS = 16
HALTED = "not ingested: an earlier record of its entity failed in this batch; retry after it"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EventOutcome:
    """One event of a batch: its ingest outcome, or the error that stopped it (``status`` FAILED)."""

    index: int
    outcome: IngestOutcome | None
    failure: str | None = None

    @property
    def status(self) -> str:
        return self.outcome.status if self.outcome else FAILED

    def to_dict(self) -> dict:
        """The per-event answer: ``{"index": 0, "status": "ACCEPTED", "event_id": ..., ...}``."""
        if self.outcome is None:
            return {"index": self.index, "status": FAILED, "retryable": True, "error": self.failure}
        return {"index": self.index, **self.outcome.body}


def is_batch(body: bytes) -> bool:
    """Whether a request body is a batch (a JSON object with an ``events`` field), cheaply: only a
    body that mentions ``"events"`` (or holds an escape, which may spell it: ``"\\u0065vents"``) is
    parsed here; any other, and any body that is not UTF-8 JSON, goes to single-event ingest.

    >>> is_batch(b'{"events": []}'), is_batch(b'{"\\\\u0065vents": []}'), is_batch(b'{"source": "app"}')
    (True, True, False)
    """
    if b'"events"' not in body and b"\\u" not in body:
        return False
    try:
        value = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return False
    return isinstance(value, dict) and "events" in value


def split(body: bytes) -> list[bytes]:
    """The events of a batch body, each re-encoded as its own request body, or ``ValidationError``
    naming the field and rule (``413`` past ``MAX_EVENTS`` events or ``MAX_BATCH_BYTES`` bytes).

    An element that is not an event (a string, a number) is kept: single-event ingest rejects it
    with its own reasons, so the answer still has one result per element.

    >>> [json.loads(b)["source"] for b in split(b'{"events": [{"source": "a"}, {"source": "b"}]}')]
    ['a', 'b']
    """
    if len(body) > MAX_BATCH_BYTES:
        raise ValidationError(
            [
                FieldError(
                    "body",
                    "max_bytes",
                    f"a batch body must be at most {MAX_BATCH_BYTES} bytes "
                    "(API Gateway escapes it into Lambda's 6 MB event; send smaller batches)",
                )
            ],
            too_large=True,
        )
    data = parse_body(body, Limits(max_body_bytes=MAX_BATCH_BYTES))
    unknown = [name for name in data if name != "events"]
    if unknown:
        raise ValidationError(
            [FieldError(name, "unknown_field", f"a batch holds only 'events', not {name[:64]!r}") for name in unknown]
        )
    events = data["events"]
    if not isinstance(events, list):
        raise ValidationError([FieldError("events", "type", "events must be a JSON array of events")])
    if not events:
        raise ValidationError([FieldError("events", "min_items", "events must hold at least one event")])
    if len(events) > MAX_EVENTS:
        raise ValidationError(
            [FieldError("events", "max_items", f"events holds {len(events)} events; the limit is {MAX_EVENTS}")],
            too_large=True,
        )
    return [json.dumps(event, ensure_ascii=True, separators=(",", ":")).encode("ascii") for event in events]


def ingest_all(
    count: int,
    ingest_one: Callable[[int], IngestOutcome],
    *,
    workers: int = WORKERS,
    lane: Callable[[int], str] | None = None,
    halt_lane: bool = False,
) -> list[EventOutcome]:
    """``ingest_one(i)`` for ``i`` in ``range(count)`` on at most ``workers`` threads, outcomes in
    order; an exception of one becomes its FAILED outcome, never another's. With ``lane``, indices
    of one lane run one after another in input order (lanes run concurrently), so the first of two
    records of one entity is the one ACCEPTED, as a pipe's per-key order promises. With
    ``halt_lane``, once one of a lane's records fails its later ones are FAILED without being
    ingested (``HALTED``): retried after it, they keep their order.

    >>> [o.status for o in ingest_all(2, lambda i: IngestOutcome("ACCEPTED", {"status": "ACCEPTED"}))]
    ['ACCEPTED', 'ACCEPTED']
    """

    def guarded(index: int) -> EventOutcome:
        try:
            return EventOutcome(index, ingest_one(index))
        except StorageError as exc:
            log.warning("event %d of a batch: %s", index, exc)
            return EventOutcome(index, None, "storage unavailable, retry this event")
        except Exception:  # a bug in one event's path must not sink the others; the write order makes a retry safe
            log.exception("event %d of a batch failed", index)
            return EventOutcome(index, None, "internal error, retry this event")

    lanes: dict[str, list[int]] = {}
    for index in range(count):
        lanes.setdefault(lane(index) if lane else str(index), []).append(index)
    outcomes: list[EventOutcome | None] = [None] * count

    def run(indices: list[int]) -> None:
        for position, index in enumerate(indices):
            outcomes[index] = guarded(index)
            if halt_lane and outcomes[index].outcome is None:  # type: ignore[union-attr]
                for later in indices[position + 1 :]:
                    outcomes[later] = EventOutcome(later, None, HALTED)
                return

    if len(lanes) <= 1:
        for indices in lanes.values():
            run(indices)
    else:
        pool_size = min(workers, len(lanes))
        with ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="pik-ingest") as pool:
            list(pool.map(run, lanes.values()))
    return outcomes  # type: ignore[return-value]  # every index ran in exactly one lane


def answer(outcomes: list[EventOutcome]) -> dict:
    """The batch response body: per-event ``results`` in input order, ``counts`` per status and
    ``failed_count`` (events to resend: FAILED; REJECTED ones need fixing, not resending)."""
    counts: dict[str, int] = {}
    for item in outcomes:
        counts[item.status] = counts.get(item.status, 0) + 1
    return {
        "results": [item.to_dict() for item in outcomes],
        "counts": counts,
        "failed_count": counts.get(FAILED, 0),
        "rejected_count": counts.get(REJECTED, 0),
    }


def ingest_batch(
    body: bytes, ingest_one: Callable[[bytes, str], IngestOutcome], *, request_id: str, workers: int = WORKERS
) -> dict:
    """Split a batch body and ingest every event (``ingest_one(event_body, request_id)``); the
    response body. Event ``i`` is recorded with request id ``{request_id}#{i}``."""
    bodies = split(body)
    return answer(ingest_all(len(bodies), lambda i: ingest_one(bodies[i], f"{request_id}#{i}"), workers=workers))
