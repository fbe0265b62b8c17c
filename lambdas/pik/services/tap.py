"""Taps: records from a pipe a team already has (EventBridge, SQS, Kinesis) -> the ingest service.

Each record is decoded (JSON; the handler has already unwrapped an SNS notification and
decompressed gzip/zlib data), mapped to an event (``pik.core.mapping``, which may read the pipe's
envelope) and ingested exactly like an HTTP request (``pik.services.ingest``): same identity, dedup,
raw layout and statuses, arrival = when the pipe received the record. A record that cannot be
decoded or breaks the contract is REJECTED and quarantined, and the batch goes on; only records
whose storage failed (retrying is safe) are reported back as failures.

Order under faults: the records of one entity are ingested one after another, and once one fails
its later ones are not ingested but reported failed with it, so the retry delivers them after it,
in their order (docs/adr/0007). Otherwise a retried ``v1`` would arrive after
``v2`` was ACCEPTED and turn into a CONFLICT of it: the later version would win.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..core.contract import parse_body
from ..core.errors import FieldError, ValidationError
from ..core.mapping import Mapping
from .batch import EventOutcome, ingest_all
from .ingest import IngestOutcome


@dataclass(frozen=True)
class TapRecord:
    """One record of a pipe: ``item_id`` is what a partial batch failure names (SQS message id,
    Kinesis sequence number), ``request_id`` what the attempt records, ``data`` its bytes,
    ``envelope`` what the pipe says of it (``$envelope`` in a mapping)."""

    item_id: str
    request_id: str
    arrived: datetime
    data: bytes
    envelope: dict = field(default_factory=dict)


IngestOne = Callable[[bytes, str, datetime], IngestOutcome]
RejectOne = Callable[[bytes, str, datetime, ValidationError], IngestOutcome]


def decode(data: bytes) -> Any:
    """A record's JSON, or ``ValidationError`` on field ``record``.

    >>> decode(b'{"a": 1}')
    {'a': 1}
    """
    try:
        return parse_body(data)
    except ValidationError as err:
        raise ValidationError(
            [FieldError("record", e.rule, f"record: {e.message}") for e in err.errors], too_large=err.too_large
        ) from err


def ingest_records(
    records: list[TapRecord], mapping: Mapping, ingest_one: IngestOne, reject_one: RejectOne, *, workers: int = 16
) -> list[EventOutcome]:
    """Map and ingest every record, outcomes in input order (FAILED ones to retry). Records of one
    entity are ingested in record order (the first of two equal ones is ACCEPTED), entities
    concurrently; after an entity's first failure its later records are FAILED, not ingested.

    >>> [o.status for o in ingest_records(records, Mapping.parse(preset="sqs"),
    ...                                   ingest_one, reject_one)]  # doctest: +SKIP
    ['ACCEPTED', 'REJECTED']
    """
    mapped: list[dict | Exception] = []
    for record in records:
        try:
            mapped.append(mapping.apply(decode(record.data), record.envelope))
        except Exception as exc:  # noqa: BLE001 - rejected or FAILED in its own lane below, never the batch's
            mapped.append(exc)

    def lane(index: int) -> str:
        event = mapped[index]
        return f"entity:{event.get('entity_id')!r}" if isinstance(event, dict) else f"record:{index}"

    def one(index: int) -> IngestOutcome:
        return _ingest_mapped(records[index], mapped[index], ingest_one, reject_one)

    return ingest_all(len(records), one, workers=workers, lane=lane, halt_lane=True)


def ingest_record(record: TapRecord, mapping: Mapping, ingest_one: IngestOne, reject_one: RejectOne) -> IngestOutcome:
    """Map and ingest one record (REJECTED when it cannot be decoded or mapped); raises when its
    storage failed. What a FIFO queue's processor calls record by record (``pik.handlers.tap``)."""
    try:
        event: dict | Exception = mapping.apply(decode(record.data), record.envelope)
    except ValidationError as exc:
        event = exc
    return _ingest_mapped(record, event, ingest_one, reject_one)


def _ingest_mapped(
    record: TapRecord, event: dict | Exception, ingest_one: IngestOne, reject_one: RejectOne
) -> IngestOutcome:
    if isinstance(event, ValidationError):
        return reject_one(record.data, record.request_id, record.arrived, event)
    if isinstance(event, Exception):
        raise event  # this record's FAILED outcome
    body = json.dumps(event, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return ingest_one(body, record.request_id, record.arrived)


def failed_items(records: list[TapRecord], outcomes: list[EventOutcome]) -> list[dict[str, str]]:
    """``batchItemFailures`` for the records whose ingest failed (retryable), in record order."""
    return [
        {"itemIdentifier": record.item_id}
        for record, outcome in zip(records, outcomes, strict=True)
        if outcome.outcome is None
    ]
