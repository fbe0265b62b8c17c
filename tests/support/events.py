"""Events as tests send them: ingest bodies (``make_event``, ``example_event``) and the Lambda events that
carry them (``api_event``: an API Gateway REST proxy event, ``sqs_event``: an SQS batch), from the real
shapes in ``tests/events/``; ``tap_sqs_event`` and ``kinesis_event``: what the taps receive)."""

from __future__ import annotations

import base64
import copy
import json
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from pik.core.timefmt import UTC

EVENTS = Path(__file__).resolve().parents[1] / "events"


def make_event(**overrides) -> dict:
    """A valid ingest body, one hour old unless told otherwise."""
    event = {
        "source": "checkout",
        "event_type": "order_placed",
        "entity_id": "customer-42",
        "event_time": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "payload": {"amount": 12.5, "items": 2},
    }
    event.update(overrides)
    return event


def example_event(**overrides) -> dict:
    """The original project's documented example, with a recent event time."""
    event = {
        "source": "mobile_app",
        "event_type": "workout_completed",
        "entity_id": "user_123",
        "event_time": (datetime.now(UTC) - timedelta(minutes=5)).isoformat().replace("+00:00", "Z"),
        "payload": {"steps": 1200, "duration_sec": 300},
    }
    event.update(overrides)
    return event


def api_event(path: str, body: str | dict, request_id: str | None = None, arrived_ms: int | None = None) -> dict:
    """A real-shaped API Gateway REST proxy event (tests/events/apigw_post.json) for ``path``,
    received now (or at ``arrived_ms``, epoch milliseconds)."""
    event = copy.deepcopy(json.loads((EVENTS / "apigw_post.json").read_text()))
    event["requestContext"]["requestTimeEpoch"] = arrived_ms or int(time.time() * 1000)
    event["path"] = event["resource"] = event["requestContext"]["resourcePath"] = path
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    event["requestContext"]["requestId"] = request_id or str(uuid.uuid4())
    return event


def sqs_event(bodies: list[str]) -> dict:
    template_record = json.loads((EVENTS / "sqs_batch.json").read_text())["Records"][0]
    records = []
    for i, body in enumerate(bodies):
        record = copy.deepcopy(template_record)
        record["messageId"], record["body"] = f"msg-{i}", body
        records.append(record)
    return {"Records": records}


def tap_sqs_event(bodies: list[str], sent_ms: int | None = None) -> dict:
    """An SQS batch whose messages SQS received at ``sent_ms`` (epoch milliseconds; now by default)."""
    event = sqs_event(bodies)
    for record in event["Records"]:
        record["attributes"]["SentTimestamp"] = str(sent_ms or int(time.time() * 1000))
    return event


def kinesis_event(datas: list[bytes]) -> dict:
    """A Kinesis batch (tests/events/kinesis_batch.json) of one record per ``datas`` item, arrived now."""
    template_record = json.loads((EVENTS / "kinesis_batch.json").read_text())["Records"][0]
    records = []
    for i, data in enumerate(datas):
        record = copy.deepcopy(template_record)
        record["kinesis"]["data"] = base64.b64encode(data).decode("ascii")
        record["kinesis"]["sequenceNumber"] = f"4959{i:04d}"
        record["kinesis"]["approximateArrivalTimestamp"] = time.time()
        record["eventID"] = f"shardId-000000000000:4959{i:04d}"
        records.append(record)
    return {"Records": records}
