"""SQS adapters: the stack's replay queue, and any queue as a replay target (standard or FIFO);
batched sends that re-send the entries SQS reports as failed."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..core.errors import StorageError
from ..core.limits import SQS_BATCH, SQS_MESSAGE, SQS_MESSAGE_UNREAD, Limit
from ..core.ports import SEND_BATCH
from ..core.targets import Delivered, Outgoing, body, encoded
from . import clients
from .delivery import ByteLimits, ServiceTarget, deliver_entries

log = logging.getLogger(__name__)

BATCH = SEND_BATCH
ATTRIBUTE_DOC = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_MessageAttributeValue.html"


def message_bytes(entry: dict) -> int:
    """The bytes of one SendMessageBatch entry as SQS counts them against a message's and a batch's limits:
    the body and every message attribute's name, type and value (``ATTRIBUTE_DOC``: "All parts of the
    message attribute, including Name, Type, and Value, are part of the message size restriction"), in
    UTF-8. pik sets no message attributes today; the deduplication and group ids are not attributes.

    >>> message_bytes({"MessageBody": "é" * 10})
    20
    >>> message_bytes({"MessageBody": "{}", "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "a"}}})
    13
    """
    size = len(entry["MessageBody"].encode("utf-8"))
    for name, value in (entry.get("MessageAttributes") or {}).items():
        data = value.get("BinaryValue", b"") or value.get("StringValue", "").encode("utf-8")
        size += len(name.encode("utf-8")) + len(value["DataType"].encode("utf-8")) + len(data)
    return size


def queue_message_limit(client: Any, url: str) -> Limit:
    """The most one message to the queue at ``url`` may be: its ``MaximumMessageSize`` (1,024 to 1,048,576
    bytes, ``pik.core.limits.SQS_MESSAGE``), read with ``GetQueueAttributes``. When SQS refuses to say
    (denied: the role lacks ``sqs:GetQueueAttributes``, or another error answer), ``SQS_MESSAGE_UNREAD``'s
    256 KiB, with why in the rule (and a warning logged); the send then says whether the queue can be
    reached. No answer at all within the client's tries raises ``BotoCoreError`` (the caller fails the
    batch as it would a send that got none)."""
    try:
        answer = client.get_queue_attributes(QueueUrl=url, AttributeNames=["MaximumMessageSize"])
        value = min(int(answer["Attributes"]["MaximumMessageSize"]), SQS_MESSAGE.value)
    except (ClientError, KeyError, ValueError) as exc:
        why = str(exc)[:300]
        log.warning(
            "sqs target %s: MaximumMessageSize unreadable (%s); messages kept to %d bytes",
            url,
            why,
            SQS_MESSAGE_UNREAD.value,
        )
        return replace(SQS_MESSAGE_UNREAD, rule=f"{SQS_MESSAGE_UNREAD.rule} (GetQueueAttributes: {why})")
    return replace(
        SQS_MESSAGE, name="MaximumMessageSize", value=value, rule=f"this queue's MaximumMessageSize is {value} bytes"
    )


class ReplayQueue:
    """The replay queue (``pik.core.ports.MessageQueue``)."""

    def __init__(self, url: str, client: Any = None, attempts: int = 4) -> None:
        self.url = url
        self._client = client
        self.attempts = attempts

    @property
    def client(self) -> Any:
        return self._client or clients.client("sqs")

    def send(self, messages: list[dict]) -> int:
        """Send up to 10 JSON bodies; retry failed entries; returns how many were sent."""
        pending = {str(i): message for i, message in enumerate(messages[:BATCH])}
        for attempt in range(self.attempts):
            entries = [
                {"Id": key, "MessageBody": json.dumps(body, separators=(",", ":"))} for key, body in pending.items()
            ]
            try:
                response = self.client.send_message_batch(QueueUrl=self.url, Entries=entries)
            except ClientError as exc:
                raise StorageError(f"sqs send: {exc}") from exc
            failed = {entry["Id"] for entry in response.get("Failed", [])}
            pending = {key: body for key, body in pending.items() if key in failed}
            if not pending:
                return len(messages[:BATCH])
            time.sleep(0.05 * 2**attempt)  # back-off between re-sends, not synchronisation
        raise StorageError(f"sqs send: {len(pending)} entries still failing after {self.attempts} attempts")


class QueueTarget(ServiceTarget):
    """Any SQS queue as a replay target (``pik.core.ports.ReplayTarget``). A FIFO queue gets
    ``MessageDeduplicationId`` = event_id (SQS drops a re-send within 5 minutes) and
    ``MessageGroupId`` = the target's ``fifo_group_id``, or the event's entity_id (order per entity)."""

    service = "sqs"
    batch_size = BATCH
    _limits: ByteLimits | None = None

    def byte_limits(self) -> tuple[ByteLimits, bool]:
        """This queue's limits (``queue_message_limit`` per message, ``SQS_BATCH`` per request), read on
        the first batch and kept by this adapter, which lives for one replay call: a change of the queue's
        attribute is seen by the next call. Also whether they were read just now."""
        if self._limits is not None:
            return self._limits, False
        self._limits = ByteLimits(queue_message_limit(self.client, self.target.address), SQS_BATCH, message_bytes)
        return self._limits, True

    def deliver(self, outgoing: list[Outgoing], replay_id: str) -> Delivered:
        def entry(event: Outgoing, attempt: int) -> dict:
            document = body(event, replay_id=replay_id, envelope=self.target.envelope, attempt=attempt)
            message = {"MessageBody": encoded(document)}
            if self.target.fifo:
                message |= {
                    "MessageDeduplicationId": event.event_id,
                    "MessageGroupId": self.target.fifo_group_id or event.entity_id,
                }
            return message

        def put(entries: dict[int, dict]) -> tuple[set[int], str | None]:
            response = self.client.send_message_batch(
                QueueUrl=self.target.address, Entries=[{"Id": str(key), **e} for key, e in entries.items()]
            )
            failed = response.get("Failed", [])
            return {int(f["Id"]) for f in failed}, (
                f"{failed[-1].get('Code')}: {failed[-1].get('Message')}" if failed else None
            )

        began = time.monotonic()
        try:
            limits, read_now = self.byte_limits()  # reading them is the batch's first request
        except BotoCoreError as exc:  # no answer within the tries: the batch fails whole, the next call re-sends
            return Delivered(0, tuple(event.event_id for event in outgoing), 0, str(exc))
        return deliver_entries(
            outgoing, entry, put, limits=limits, sleep=self.sleep, started=began if read_now else None
        )


class DeadLetterQueue:
    """The replay queue's DLQ (``pik.core.ports.DeadLetters``): what a redrive run reads and deletes."""

    def __init__(self, url: str, client: Any = None, visibility_s: int = 120) -> None:
        self.url, self._client, self.visibility_s = url, client, visibility_s

    @property
    def client(self) -> Any:
        return self._client or clients.client("sqs")

    def receive(self) -> list[tuple[str, dict | None]]:
        try:
            messages = self.client.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=BATCH, WaitTimeSeconds=0, VisibilityTimeout=self.visibility_s
            ).get("Messages", [])
        except ClientError as exc:
            raise StorageError(f"sqs receive: {exc}") from exc
        return [(m["ReceiptHandle"], _body(m["Body"])) for m in messages]

    def delete(self, receipts: list[str]) -> None:
        self._batch("delete_message_batch", [{"ReceiptHandle": r} for r in receipts])

    def release(self, receipts: list[str]) -> None:
        self._batch("change_message_visibility_batch", [{"ReceiptHandle": r, "VisibilityTimeout": 0} for r in receipts])

    def depth(self) -> int:
        try:
            attributes = self.client.get_queue_attributes(
                QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessages"]
            )
        except ClientError as exc:
            raise StorageError(f"sqs attributes: {exc}") from exc
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])

    def _batch(self, operation: str, entries: list[dict]) -> None:
        for start in range(0, len(entries), BATCH):
            chunk = [{"Id": str(i), **e} for i, e in enumerate(entries[start : start + BATCH])]
            try:
                getattr(self.client, operation)(QueueUrl=self.url, Entries=chunk)
            except ClientError as exc:
                raise StorageError(f"sqs {operation}: {exc}") from exc


def _body(text: str) -> dict | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) and isinstance(value.get("event_id"), str) else None
