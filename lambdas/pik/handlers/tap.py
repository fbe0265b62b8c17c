"""Tap functions: an SQS queue, a Kinesis stream, or an EventBridge rule's queue -> ingest.

Each tap's mapping comes from its own variable (``SQS_TAP_MAPPING``, ``KINESIS_TAP_MAPPING``,
``EVENTBRIDGE_TAP_MAPPING``: JSON over the tap's preset, see ``pik.core.mapping``), checked on
the first call (the local stack checks it at start). The answer is a partial batch response:
only records whose storage failed are retried; REJECTED ones are quarantined, not retried.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
from collections import Counter
from datetime import datetime

from ..bootstrap import adapters
from ..core.mapping import Mapping
from ..core.records import Attempt
from ..core.timefmt import UTC
from ..services.ingest import ingest, reject
from ..services.tap import TapRecord, failed_items, ingest_records
from ..settings import Settings
from .observability import ingest_metrics, logger, queue_handler

MAPPING_VARIABLE = {"sqs": "SQS_TAP_MAPPING", "kinesis": "KINESIS_TAP_MAPPING", "eventbridge": "EVENTBRIDGE_TAP_MAPPING"}


@functools.lru_cache(maxsize=8)
def mapping_for(preset: str, spec: str) -> Mapping:
    """The checked mapping of a tap (cached: parsed once per execution environment)."""
    return Mapping.parse(spec, preset=preset)


def _tap(preset: str, event: dict, records: list[TapRecord]) -> dict:
    settings = Settings.from_env()
    wired = adapters(settings)
    mapping = mapping_for(preset, os.environ.get(MAPPING_VARIABLE[preset], ""))

    def ingest_one(body: bytes, request_id: str, arrived: datetime):
        return ingest(body, request_id=request_id, now=arrived, store=wired.documents, index=wired.events, settings=settings)

    def reject_one(data: bytes, request_id: str, arrived: datetime, err):
        return reject(data, Attempt(arrived, request_id), err, wired.documents, settings)

    outcomes = ingest_records(records, mapping, ingest_one, reject_one)
    ingest_metrics([outcome.to_dict() for outcome in outcomes])
    logger.info("tap batch", extra={"tap": preset, "counts": dict(Counter(o.status for o in outcomes))})
    return {"batchItemFailures": failed_items(records, outcomes)}


def _sqs_records(event: dict) -> list[TapRecord]:
    return [TapRecord(r["messageId"], r["messageId"], _from_ms(r.get("attributes", {}).get("SentTimestamp")),
                      r["body"].encode("utf-8")) for r in event["Records"]]


def _kinesis_record(record: dict) -> TapRecord:
    kinesis = record["kinesis"]
    try:
        data = base64.b64decode(kinesis["data"], validate=True)
    except (binascii.Error, ValueError):
        data = kinesis["data"].encode("utf-8")  # not base64: decoding it as JSON fails, so it is REJECTED
    arrived = datetime.fromtimestamp(float(kinesis["approximateArrivalTimestamp"]), UTC)
    return TapRecord(kinesis["sequenceNumber"], record.get("eventID") or kinesis["sequenceNumber"], arrived, data)


def _from_ms(value: str | None) -> datetime:
    return datetime.fromtimestamp(int(value) / 1000, UTC) if value else datetime.now(UTC)


@queue_handler
def sqs_handler(event: dict, context) -> dict:
    """SQS messages whose body is a pik event (or an SNS notification of one), mapped by ``SQS_TAP_MAPPING``."""
    return _tap("sqs", event, _sqs_records(event))


@queue_handler
def eventbridge_handler(event: dict, context) -> dict:
    """EventBridge events delivered by the tap rule to its queue, mapped by ``EVENTBRIDGE_TAP_MAPPING``."""
    return _tap("eventbridge", event, _sqs_records(event))


@queue_handler
def kinesis_handler(event: dict, context) -> dict:
    """Kinesis records whose data is a JSON event, mapped by ``KINESIS_TAP_MAPPING``."""
    return _tap("kinesis", event, [_kinesis_record(record) for record in event["Records"]])
