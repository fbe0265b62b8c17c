"""Tap functions: an SQS queue, a Kinesis stream, or an EventBridge rule's queue -> ingest.

Events are read with powertools' data classes (``SQSEvent``, ``KinesisStreamEvent``): an SQS body
that is an SNS notification is unwrapped (``decoded_nested_sns_event``), Kinesis data that is
gzip/zlib-compressed (a CloudWatch Logs subscription) is inflated (``data_zlib_compressed_as_json``).
What the pipe says of each record is its *envelope*, which a mapping reads as ``$envelope...``:

- every tap: ``arrival_time`` (when the pipe received the record, the attempt's arrival);
- SQS: ``message_id``, ``sent_time``, ``attributes`` (SentTimestamp, MessageGroupId, ...),
  ``message_attributes`` (name -> string value), ``queue_arn``; with SNS, ``sns.timestamp``,
  ``sns.message_id``, ``sns.subject``, ``sns.topic_arn``, ``sns.message_attributes``;
- Kinesis: ``partition_key``, ``sequence_number``, ``event_id``, ``stream_arn``.
EventBridge's own ``time`` and ``id`` are fields of the record (``$.time``, ``$.id``).

Each tap's mapping comes from its own variable (``SQS_TAP_MAPPING``, ...; the template parameter
``SqsTapMapping``, ...), checked on the first call; a mistake fails the invocation with a message
naming the parameter, as the local stack names it at start. The answer is a partial batch
response: only records whose storage failed are retried (an entity's later records with them).
A FIFO queue's batch goes through powertools' ``SqsFifoPartialProcessor`` (``skip_group_on_error``):
"If you're using this feature with a FIFO queue, your function should stop processing messages
after the first failure and return all failed and unprocessed messages" (Lambda developer guide,
*Handling errors for an SQS event source*), per message group: a group's later messages are
reported failed, not ingested, so the queue redelivers them in order.
"""

from __future__ import annotations

import binascii
import functools
import json
import os
import zlib
from collections import Counter
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes import KinesisStreamEvent, SQSEvent
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ..bootstrap import adapters
from ..core.mapping import Mapping, MappingError
from ..core.records import FAILED, Attempt
from ..core.timefmt import UTC
from ..services.batch import EventOutcome
from ..services.ingest import IngestOutcome, ingest, reject
from ..services.tap import TapRecord, failed_items, ingest_record, ingest_records
from ..settings import Settings
from .observability import ingest_metrics, logger, queue_handler

TAPS = {  # preset -> (environment variable, template parameter)
    "sqs": ("SQS_TAP_MAPPING", "SqsTapMapping"),
    "kinesis": ("KINESIS_TAP_MAPPING", "KinesisTapMapping"),
    "eventbridge": ("EVENTBRIDGE_TAP_MAPPING", "EventBridgeTapMapping"),
}


@functools.lru_cache(maxsize=8)
def mapping_for(preset: str, spec: str) -> Mapping:
    """The checked mapping of a tap (parsed once per execution environment), or ``MappingError``
    naming the template parameter: ``SqsTapMapping: entity_id: path 'x' is not valid: ...``."""
    try:
        return Mapping.parse(spec, preset=preset)
    except MappingError as exc:
        raise MappingError(f"{TAPS[preset][1]}: {exc}") from exc


class _Tap:
    """One invocation's wiring: the mapping and the ingest/reject calls of the ingest service."""

    def __init__(self, preset: str) -> None:
        self.preset = preset
        self.settings = Settings.from_env()
        self.wired = adapters(self.settings)
        self.mapping = mapping_for(preset, os.environ.get(TAPS[preset][0], ""))

    def ingest_one(self, body: bytes, request_id: str, arrived: datetime) -> IngestOutcome:
        return ingest(
            body,
            request_id=request_id,
            now=arrived,
            store=self.wired.documents,
            index=self.wired.events,
            settings=self.settings,
        )

    def reject_one(self, data: bytes, request_id: str, arrived: datetime, err: Any) -> IngestOutcome:
        return reject(data, Attempt(arrived, request_id), err, self.wired.documents, self.settings)

    def batch(self, records: list[TapRecord]) -> dict:
        outcomes = ingest_records(records, self.mapping, self.ingest_one, self.reject_one)
        self.report([outcome.to_dict() for outcome in outcomes])
        return {"batchItemFailures": failed_items(records, outcomes)}

    def fifo(self, event: dict, context: Any) -> dict:
        results: list[dict] = []

        def record_handler(record: SQSRecord) -> None:
            outcome = ingest_record(sqs_record(record), self.mapping, self.ingest_one, self.reject_one)
            results.append(EventOutcome(len(results), outcome).to_dict())

        processor = SqsFifoPartialProcessor(skip_group_on_error=True)
        processor.raise_on_entire_batch_failure = False  # answer every failure, as the other taps do
        response = process_partial_response(event, record_handler, processor, context)
        self.report(results + [{"status": FAILED}] * len(response.get("batchItemFailures", [])))
        return dict(response)

    def report(self, results: list[dict]) -> None:
        ingest_metrics(results)
        logger.info("tap batch", extra={"tap": self.preset, "counts": dict(Counter(r["status"] for r in results))})


def sqs_record(record: SQSRecord) -> TapRecord:
    """A Lambda SQS record as a tap record: its body (an SNS notification's ``Message``) and envelope."""
    arrived = _from_ms(record.attributes.sent_timestamp)
    envelope: dict[str, Any] = {
        "arrival_time": _iso(arrived),
        "sent_time": _iso(arrived),
        "message_id": record.message_id,
        "attributes": dict(record.get("attributes") or {}),
        "queue_arn": record.event_source_arn,
        "message_attributes": {
            name: value.get("stringValue") for name, value in (record.get("messageAttributes") or {}).items()
        },
    }
    body = record.body
    if _is_sns_notification(body):
        sns = record.decoded_nested_sns_event
        envelope["sns"] = {
            "timestamp": sns.get("Timestamp"),
            "message_id": sns.get("MessageId"),
            "subject": sns.get("Subject"),
            "topic_arn": sns.get("TopicArn"),
            "message_attributes": {n: v.get("Value") for n, v in (sns.get("MessageAttributes") or {}).items()},
        }
        body = sns.message
    return TapRecord(record.message_id, record.message_id, arrived, body.encode("utf-8"), envelope)


def kinesis_record(record: KinesisStreamRecord) -> TapRecord:
    """A Lambda Kinesis record as a tap record: its data (inflated when compressed) and envelope."""
    payload = record.kinesis
    arrived = datetime.fromtimestamp(float(payload.approximate_arrival_timestamp), UTC)
    envelope = {
        "arrival_time": _iso(arrived),
        "partition_key": payload.partition_key,
        "sequence_number": payload.sequence_number,
        "event_id": record.get("eventID"),
        "stream_arn": record.get("eventSourceARN"),
    }
    request_id = record.get("eventID") or payload.sequence_number
    return TapRecord(payload.sequence_number, request_id, arrived, _kinesis_data(record), envelope)


def _kinesis_data(record: KinesisStreamRecord) -> bytes:
    try:
        data = record.kinesis.data_as_bytes()
    except (binascii.Error, ValueError):
        return record.kinesis.data.encode("utf-8")  # not base64: decoding it as JSON fails, so it is REJECTED
    if data[:2] == b"\x1f\x8b" or (len(data) > 1 and data[0] == 0x78 and (data[0] << 8 | data[1]) % 31 == 0):
        try:  # gzip (a CloudWatch Logs subscription) or zlib
            return json.dumps(record.kinesis.data_zlib_compressed_as_json(), ensure_ascii=False).encode("utf-8")
        except (ValueError, zlib.error):  # not compressed JSON after all: the bytes are the record
            return data
    return data


def _is_sns_notification(body: str) -> bool:
    if '"TopicArn"' not in body:
        return False
    try:
        value = json.loads(body)
    except ValueError:
        return False
    return (
        isinstance(value, dict)
        and value.get("Type") == "Notification"
        and "TopicArn" in value
        and isinstance(value.get("Message"), str)
    )


def _from_ms(value: str | None) -> datetime:
    return datetime.fromtimestamp(int(value) / 1000, UTC) if value else datetime.now(UTC)


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _is_fifo(event: dict) -> bool:
    records = event.get("Records") or []
    return bool(records) and str(records[0].get("eventSourceARN", "")).endswith(".fifo")


@queue_handler
def sqs_handler(event: dict, context: Any) -> dict:
    """SQS messages whose body is a pik event (or an SNS notification of one), by ``SQS_TAP_MAPPING``."""
    tap = _Tap("sqs")
    if _is_fifo(event):
        return tap.fifo(event, context)
    return tap.batch([sqs_record(record) for record in SQSEvent(event).records])


@queue_handler
def eventbridge_handler(event: dict, context: Any) -> dict:
    """EventBridge events delivered by the tap rule to its queue, mapped by ``EVENTBRIDGE_TAP_MAPPING``."""
    return _Tap("eventbridge").batch([sqs_record(record) for record in SQSEvent(event).records])


@queue_handler
def kinesis_handler(event: dict, context: Any) -> dict:
    """Kinesis records whose data is a JSON event, mapped by ``KINESIS_TAP_MAPPING``."""
    return _Tap("kinesis").batch([kinesis_record(record) for record in KinesisStreamEvent(event).records])
