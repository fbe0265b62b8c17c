"""Item shapes: the exact DynamoDB items and S3 documents pik writes, as plain dicts.

Events table, one partition per event (``EVT#<event_id>``):
- ``META``: the dedup gate and first-seen record, never overwritten; counters only grow.
- ``ATT#<ingest_time>#<attempt_id>``: one item per ingest attempt (ACCEPTED, DUPLICATE or
  CONFLICT) with its own arrival time; carries the keys of the secondary indexes, among them the
  time it was *recorded* (written; ``rec_sk``), which the archive's watermark follows: arrival can
  be much older (a queued tap record, a Kinesis backfill, a repair, a retry completing a crash).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import MAX_PREC, Context, Decimal
from enum import StrEnum
from typing import Any

from . import keys
from .contract import ValidEvent
from .metrics import as_decimal
from .timefmt import key_time, lag_ms, now

__all__ = [
    "AttemptStatus",
    "OutcomeStatus",
    "ACCEPTED",
    "DUPLICATE",
    "CONFLICT",
    "REJECTED",
    "FAILED",
    "RAW_SCHEMA",
    "EVENT_ITEM",
    "ATTEMPT_ITEM",
    "ATTEMPT_FIELDS",
    "ATTEMPT_KEYS",
    "AGGREGATE_FIELDS",
    "Attempt",
    "lag_of",
    "raw_document",
    "rejected_document",
    "meta_item",
    "attempt_item",
    "recorded_at",
    "aggregate_item",
    "storable_number",
    "read_number",
    "answered_number",
    "manifest_document",
]


class AttemptStatus(StrEnum):
    """What became of one ingest request, as the API answers it and an attempt item stores it.

    A ``str``: a member equals (and hashes, prints, serialises as) its value, so stored items and
    answers hold the same strings as before the enum.

    >>> AttemptStatus("DUPLICATE") is AttemptStatus.DUPLICATE, AttemptStatus.ACCEPTED == "ACCEPTED"
    (True, True)
    >>> [str(status) for status in AttemptStatus]
    ['ACCEPTED', 'DUPLICATE', 'CONFLICT', 'REJECTED']
    """

    ACCEPTED = "ACCEPTED"  # first arrival of an event id: stored, counted
    DUPLICATE = "DUPLICATE"  # the same event id and the same content again: recorded, not counted
    CONFLICT = "CONFLICT"  # the same event id with another content: recorded and kept, not counted
    REJECTED = "REJECTED"  # broke the contract: quarantined in raw/rejected/, no attempt item


class OutcomeStatus(StrEnum):
    """The status a batch (``POST /ingest`` with ``events``) or a tap answers for an event that has no
    ``AttemptStatus``: it broke on an outage (or after one, in its entity's order), nothing of it was
    recorded; send it again. Each event's ``status`` is an ``AttemptStatus`` or this.

    >>> OutcomeStatus.FAILED == "FAILED", "FAILED" in {OutcomeStatus.FAILED}
    (True, True)
    """

    FAILED = "FAILED"


ACCEPTED, DUPLICATE, CONFLICT, REJECTED = (
    AttemptStatus.ACCEPTED,
    AttemptStatus.DUPLICATE,
    AttemptStatus.CONFLICT,
    AttemptStatus.REJECTED,
)
FAILED = OutcomeStatus.FAILED
RAW_SCHEMA = "pik.raw.v1"
EVENT_ITEM, ATTEMPT_ITEM = "event", "attempt"  # ``item_type`` of the gate and of an attempt

#: What an investigator reads of an attempt item (``attempt_item`` without its key attributes),
#: with each field's kind: ``text``, ``label`` (few distinct values), ``time`` (a key-time
#: string), ``int``, ``float``. ``pik_nb.read.frames`` types its DataFrame columns from this.
ATTEMPT_FIELDS = {
    "event_id": "text",
    "attempt_id": "text",
    "status": "label",
    "source": "label",
    "event_type": "label",
    "entity_id": "text",
    "event_time": "time",
    "event_date": "text",
    "ingest_time": "time",
    "ingest_lag_ms": "int",
    "request_id": "text",
    "s3_key": "text",
    "payload_sha256": "text",
    "content_sha256": "text",
    "idempotency_key": "text",
}
#: The key attributes of an attempt item: table keys and the three indexes' keys.
ATTEMPT_KEYS = (
    "pk",
    "sk",
    "item_type",
    "ent_pk",
    "ent_sk",
    "std_pk",
    "arrival_sk",
    "lateness_sk",
    "rec_pk",
    "rec_sk",
    "expires_at",
)

#: What an investigator reads of an aggregate version (``aggregate_item`` without ``pk``/``sk``).
AGGREGATE_FIELDS = {
    "entity_id": "text",
    "day": "text",
    "metric": "label",
    "version": "int",
    "value": "float",
    "input_count": "int",
    "inputs_hash": "text",
    "code_version": "label",
    "computed_at": "time",
    "replay_id": "text",
    "manifest_key": "text",
}


@dataclass(frozen=True)
class Attempt:
    """One arrival of a request at the ingest API."""

    ingest_time: datetime
    request_id: str
    attempt_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def ingest_time_key(self) -> str:
        return key_time(self.ingest_time)


def lag_of(event: ValidEvent, attempt: Attempt) -> int:
    return lag_ms(event.event_time, attempt.ingest_time)


def raw_document(event: ValidEvent, attempt: Attempt) -> dict[str, Any]:
    """What a raw object holds: the event as received plus an envelope."""
    return {
        "envelope": {
            "schema": RAW_SCHEMA,
            "event_id": event.event_id,
            "ingest_time": attempt.ingest_time_key,
            "request_id": attempt.request_id,
            "attempt_id": attempt.attempt_id,
            "payload_sha256": event.payload_sha256,
            "content_sha256": event.content_sha256,
        },
        "event": event.received,
    }


def rejected_document(body: bytes, attempt: Attempt, errors: list[dict[str, Any]], max_bytes: int) -> dict[str, Any]:
    """A bounded copy of a refused body with the reasons; ``truncated`` says if bytes were cut."""
    return {
        "schema": "pik.rejected.v1",
        "ingest_time": attempt.ingest_time_key,
        "request_id": attempt.request_id,
        "attempt_id": attempt.attempt_id,
        "errors": errors,
        "body_bytes": len(body),
        "truncated": len(body) > max_bytes,
        "body": body[:max_bytes].decode("utf-8", errors="replace"),
    }


def meta_item(event: ValidEvent, attempt: Attempt, *, s3_key: str, expires_at: int | None = None) -> dict[str, Any]:
    """The dedup gate: written once, in the same transaction as the first ACCEPTED attempt."""
    item = {
        "pk": keys.event_pk(event.event_id),
        "sk": keys.META_SK,
        "item_type": EVENT_ITEM,
        "event_id": event.event_id,
        "source": event.source,
        "event_type": event.event_type,
        "entity_id": event.entity_id,
        "event_time": event.event_time_key,
        "event_date": event.event_date,
        "s3_key": s3_key,
        "payload_sha256": event.payload_sha256,
        "content_sha256": event.content_sha256,
        "first_ingest_time": attempt.ingest_time_key,
        "first_attempt_id": attempt.attempt_id,
        "duplicate_count": 0,
        "conflict_count": 0,
    }
    if event.idempotency_key is not None:
        item["idempotency_key"] = event.idempotency_key
    if expires_at is not None:
        item["expires_at"] = expires_at
    return item


def attempt_item(
    event: ValidEvent,
    attempt: Attempt,
    *,
    status: str,
    s3_key: str,
    expires_at: int | None = None,
    recorded_at: datetime | None = None,
) -> dict[str, Any]:
    """One ingest attempt, indexed by entity/time, by source/type/day in arrival and lateness order,
    and by the time it is recorded (``recorded_at``, the clock now unless given: build the item just
    before writing it)."""
    lag = lag_of(event, attempt)
    recorded = key_time(recorded_at or now())
    item = {
        "pk": keys.event_pk(event.event_id),
        "sk": keys.attempt_sk(attempt.ingest_time_key, attempt.attempt_id),
        "item_type": ATTEMPT_ITEM,
        "event_id": event.event_id,
        "attempt_id": attempt.attempt_id,
        "status": status,
        "source": event.source,
        "event_type": event.event_type,
        "entity_id": event.entity_id,
        "event_time": event.event_time_key,
        "event_date": event.event_date,
        "ingest_time": attempt.ingest_time_key,
        "ingest_lag_ms": lag,
        "request_id": attempt.request_id,
        "s3_key": s3_key,
        "payload_sha256": event.payload_sha256,
        "content_sha256": event.content_sha256,
        "ent_pk": keys.entity_pk(event.entity_id),
        "ent_sk": keys.entity_sk(event.event_time_key, event.event_id, attempt.attempt_id),
        "std_pk": keys.source_type_day_pk(event.source, event.event_type, event.event_date),
        "arrival_sk": keys.arrival_sk(attempt.ingest_time_key, event.event_id, attempt.attempt_id),
        "lateness_sk": keys.lateness_sk(lag, event.event_id, attempt.attempt_id),
        "rec_pk": keys.recorded_pk(recorded, attempt.attempt_id),
        "rec_sk": keys.recorded_sk(recorded, event.event_id, attempt.attempt_id),
    }
    if event.idempotency_key is not None:
        item["idempotency_key"] = event.idempotency_key
    if expires_at is not None:
        item["expires_at"] = expires_at
    return item


def recorded_at(item: dict[str, Any]) -> str:
    """When an attempt item was recorded (key-time string), read back from its index key."""
    return str(item["rec_sk"]).split("#", 1)[0]


def aggregate_item(
    *,
    entity_id: str,
    day: str,
    metric: str,
    version: int,
    value: Any,
    input_count: int,
    inputs_hash: str,
    code_version: str,
    computed_at: datetime,
    replay_id: str | None,
    manifest_key: str,
) -> dict[str, Any]:
    """One append-only aggregate version."""
    return {
        "pk": keys.aggregate_pk(entity_id),
        "sk": keys.aggregate_sk(day, metric, version),
        "entity_id": entity_id,
        "day": day,
        "metric": metric,
        "version": version,
        "value": storable_number(value),
        "input_count": input_count,
        "inputs_hash": inputs_hash,
        "code_version": code_version,
        "computed_at": key_time(computed_at),
        "replay_id": replay_id or "",
        "manifest_key": manifest_key,
    }


def storable_number(value: Any) -> Any:
    """``value`` as DynamoDB can store it: a number with at most 38 significant digits between
    1e-130 and 1e126 stays a number; any other number becomes its exact decimal text (a string
    attribute), never rounded, never an error that would leave an aggregate half-written.

    >>> storable_number(7), storable_number(1e130), storable_number(10**45 + 1), storable_number(10**45)
    (7, '1E+130', '1000000000000000000000000000000000000000000001', Decimal('1E+45'))
    """
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return value
    number = as_decimal(value)
    if not number.is_finite():
        return str(number)
    digits = number.normalize(Context(prec=MAX_PREC))
    if not (digits.is_zero() or (len(digits.as_tuple().digits) <= 38 and -130 <= digits.adjusted() < 126)):
        return str(value) if isinstance(value, int) else str(digits)
    return value if len(number.as_tuple().digits) <= 38 else digits  # trailing zeros need no precision


def read_number(value: Decimal) -> int | float:
    """A stored number as pik reads it back: an ``int`` when integral, else a ``float``.

    >>> read_number(Decimal("5")), read_number(Decimal("0.3"))
    (5, 0.3)
    """
    return int(value) if value == value.to_integral_value() else float(value)


def answered_number(value: Any) -> Any:
    """``value`` as a reader of its aggregate version will see it: stored (``storable_number``), read back.

    >>> answered_number(Decimal("0.3")), answered_number(7), answered_number(10**45 + 1)
    (0.3, 7, '1000000000000000000000000000000000000000000001')
    """
    stored = storable_number(value)
    if isinstance(stored, float):
        stored = as_decimal(stored)
    return read_number(stored) if isinstance(stored, Decimal) else stored


def manifest_document(entity_id: str, day: str, inputs_hash: str, inputs: list[dict[str, Any]]) -> dict[str, Any]:
    """Every input of an aggregate: event id, payload hash and raw key, sorted by event id."""
    rows = sorted(inputs, key=lambda row: row["event_id"])
    return {
        "schema": "pik.manifest.v1",
        "entity_id": entity_id,
        "day": day,
        "inputs_hash": inputs_hash,
        "input_count": len(rows),
        "inputs": rows,
    }
