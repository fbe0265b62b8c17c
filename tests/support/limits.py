"""AWS's size limits where moto does not enforce them: a before-call hook that refuses what AWS refuses
(``pik.core.limits``), as AWS answers it, and events large enough to reach those limits."""

from __future__ import annotations

from datetime import timedelta

import boto3
from botocore.exceptions import ClientError

from pik.core import limits
from pik.handlers import ingest

from .events import make_event
from .lambdas import call
from .replays import DAY


def refuse_over(limit: limits.Limit, entry_limit: limits.Limit, code: str, size, seen: list[int]):
    """A before-call hook that answers as AWS does when a request or one entry is over its limit."""

    def check(params, **_):
        sizes = [size(entry) for entry in params["Entries"]]
        seen.append(sum(sizes))
        if sum(sizes) > limit.value or max(sizes) > entry_limit.value:
            raise ClientError(
                {"Error": {"Code": code, "Message": f"{limit.rule} (injected, as AWS answers)"}}, "SendMessageBatch"
            )

    return check


def sqs_size(entry: dict) -> int:
    """The bytes of one SendMessageBatch entry that count against SQS's limits: the body and each message
    attribute's name, type and value (API_MessageAttributeValue: "All parts of the message attribute,
    including Name, Type, and Value, are part of the message size restriction (1 MiB or 1,048,576 bytes)")."""
    size = len(entry["MessageBody"].encode("utf-8"))
    for name, value in (entry.get("MessageAttributes") or {}).items():
        data = value.get("BinaryValue") or value.get("StringValue", "").encode("utf-8")
        size += len(name.encode("utf-8")) + len(value["DataType"].encode("utf-8")) + len(data)
    return size


def queue_of(max_message_bytes: int, name: str = "consumer") -> str:
    """A queue (moto) whose ``MaximumMessageSize`` is ``max_message_bytes``: its URL."""
    attributes = {"MaximumMessageSize": str(max_message_bytes)}
    return boto3.client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]


def calls_of(client, operation: str) -> list[dict]:
    """Every request ``client`` makes of ``operation`` from now on, as its parameters (a hook, no fake)."""
    seen: list[dict] = []
    client.meta.events.register(
        f"before-parameter-build.{client.meta.service_model.service_name}.{operation}",
        lambda params, **_: seen.append(dict(params)),
    )
    return seen


def large(count: int, payload_bytes: int) -> list[str]:
    """``count`` events of customer-42 on DAY, each with a payload of about ``payload_bytes``."""
    ids = []
    for i in range(count):
        body = make_event(
            event_time=(DAY + timedelta(minutes=i)).isoformat(), payload={"amount": i, "blob": "x" * payload_bytes}
        )
        status, answer = call(ingest, "/ingest", body)
        assert status == 200, answer
        ids.append(answer["event_id"])
    return ids
