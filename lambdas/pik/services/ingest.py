"""Ingest one event. Write order, chosen so a crash at any point loses nothing:

1. the raw object, at an immutable key derived from the event, created only if absent;
2. the dedup gate (``META``) and the attempt item, in one DynamoDB transaction.

A crash after 1 leaves a raw object without metadata: the client's retry finds it (412) and
completes step 2 for the request that stored it (ACCEPTED, at its own arrival time), then is
its DUPLICATE. The gate exists only once the raw object
does, so DUPLICATE never points at missing bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..core import contract, keys, records
from ..core.contract import Limits, ValidEvent
from ..core.errors import ContentionError, StorageError, ValidationError
from ..core.ports import DocumentStore, EventIndex
from ..core.records import ACCEPTED, CONFLICT, DUPLICATE, REJECTED, Attempt
from ..core.timefmt import parse_aware
from ..settings import Settings

GATE_GRACE_DAYS = 30


@dataclass(frozen=True)
class IngestOutcome:
    """What the API answers: ``body`` is the JSON response; ``error`` why it was REJECTED."""

    status: str
    body: dict
    error: ValidationError | None = None


def ingest(
    body: bytes,
    *,
    request_id: str,
    now: datetime,
    store: DocumentStore,
    index: EventIndex,
    settings: Settings,
    limits: Limits = Limits(),
) -> IngestOutcome:
    """Validate, store and index one request body; see the module docstring for the order."""
    attempt = Attempt(now, request_id)
    try:
        event = contract.validate(body, now=now, limits=limits)
    except ValidationError as err:
        return reject(body, attempt, err, store, settings)
    if settings.dry_run:
        existing = index.get_event(event.event_id)
        status = ACCEPTED if existing is None else _repeat_status(existing, event)
        return _answer(event, attempt, status, _key_for(status, event, existing), dry_run=True)
    expires = _expires_at(now, settings)
    existing = _first_write(event, attempt, store, index, expires)
    if existing is None:
        return _answer(event, attempt, ACCEPTED, event.raw_key)
    status = _repeat_status(existing, event)
    s3_key = _key_for(status, event, existing)
    if status == CONFLICT:
        store.put_new(s3_key, records.raw_document(event, attempt))  # keep the second payload too
    counter = "conflict_count" if status == CONFLICT else "duplicate_count"
    index.record_repeat(records.attempt_item(event, attempt, status=status, s3_key=s3_key, expires_at=expires), counter)
    return _answer(event, attempt, status, s3_key)


def _first_write(
    event: ValidEvent, attempt: Attempt, store: DocumentStore, index: EventIndex, expires: int | None
) -> dict | None:
    """Raw object, then gate + attempt. None when this attempt is the ACCEPTED one; else the gate.

    The gate exists only once the raw object does, so a first event costs two calls (no gate
    read): the gate is read only when the raw object was already there. Then the stored bytes
    came first, whoever sent them: their request (named in the raw envelope) becomes the
    ACCEPTED attempt, recorded by whichever request gets here first, and this one a repeat.
    That request, resuming, finds itself named as the gate's first attempt: ACCEPTED.
    """
    first, first_attempt = event, attempt
    if not store.put_new(event.raw_key, records.raw_document(event, attempt)):
        gate = index.get_event(event.event_id)
        if gate is not None:
            return gate
        first, first_attempt = _from_raw(store.get(event.raw_key))
    meta = records.meta_item(first, first_attempt, s3_key=event.raw_key, expires_at=expires)
    item = records.attempt_item(first, first_attempt, status=ACCEPTED, s3_key=event.raw_key, expires_at=expires)
    try:
        created = index.create_event(meta, item)
    except ContentionError:
        created = False  # another request is writing this gate: read what it wrote
    gate = None if created else index.get_event(event.event_id)
    if created or (gate is not None and gate["first_attempt_id"] == first_attempt.attempt_id):
        # Ours is the gate now (created here, or by a request that found our bytes first).
        return None if first_attempt is attempt else (gate or meta)
    if gate is None:
        raise StorageError("dedup gate missing after a failed conditional write; retry")
    return gate


def _from_raw(document: dict) -> tuple[ValidEvent, Attempt]:
    envelope = document["envelope"]
    arrived = parse_aware(envelope["ingest_time"])
    event = contract.validate(document["event"], now=arrived)
    return event, Attempt(arrived, envelope["request_id"], envelope["attempt_id"])


def _repeat_status(gate: dict, event: ValidEvent) -> str:
    return DUPLICATE if gate["content_sha256"] == event.content_sha256 else CONFLICT


def _key_for(status: str, event: ValidEvent, gate: dict | None) -> str:
    if status == CONFLICT:
        return event.conflict_key
    return gate["s3_key"] if gate else event.raw_key


def _expires_at(now: datetime, settings: Settings) -> int | None:
    """Metadata outlives raw objects, so the gate never forgets an event whose bytes exist."""
    if settings.raw_retention_days <= 0:
        return None
    return int(now.timestamp()) + (settings.raw_retention_days + GATE_GRACE_DAYS) * 86_400


def _answer(event: ValidEvent, attempt: Attempt, status: str, s3_key: str, *, dry_run: bool = False) -> IngestOutcome:
    body = {
        "event_id": event.event_id,
        "status": status,
        "ingest_lag_ms": records.lag_of(event, attempt),
        "s3_key": s3_key,
        "attempt_id": attempt.attempt_id,
    }
    if dry_run:
        body["dry_run"] = True
    return IngestOutcome(status, body)


def reject(
    body: bytes, attempt: Attempt, err: ValidationError, store: DocumentStore, settings: Settings
) -> IngestOutcome:
    """Quarantine a refused body under ``rejected/`` (bounded copy, with the reasons); the REJECTED answer."""
    details = [e.to_dict() for e in err.errors]
    key = keys.rejected_key(attempt.ingest_time_key, attempt.attempt_id)
    if not settings.dry_run:
        store.put(key, records.rejected_document(body, attempt, details, settings.rejected_copy_bytes))
    return IngestOutcome(REJECTED, {**err.to_dict(), "status": REJECTED, "rejected_key": key}, err)
