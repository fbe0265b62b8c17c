"""An SQS event source mapping: long-poll a queue, invoke the function, honour partial failures.

Like Lambda's: batches of up to ``BatchSize`` records in the Lambda SQS event shape; with
``ReportBatchItemFailures`` only the reported messages fail; a handler error, a timeout or a
malformed response fails the whole batch. Successes are deleted. Failures are made visible
again at once (Lambda waits out the visibility timeout; locally that would stall retries for
minutes), so each retry counts as a receive and SQS's redrive policy moves a message to the
dead-letter queue after ``maxReceiveCount`` receives.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .runtime import LocalFunction

log = logging.getLogger("pik_local")


@dataclass(frozen=True)
class Mapping:
    """One SQS event of a function in the template."""

    queue_url: str
    queue_arn: str
    batch_size: int = 10
    report_failures: bool = False


def lambda_record(message: dict, queue_arn: str, region: str) -> dict:
    """A ``receive_message`` message as Lambda delivers it in ``event["Records"]``."""
    attributes = {k: v for k, v in message.get("Attributes", {}).items()}
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": {name: _attribute(value) for name, value in message.get("MessageAttributes", {}).items()},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def _attribute(value: dict) -> dict:
    return {
        "stringValue": value.get("StringValue"),
        "binaryValue": value.get("BinaryValue"),
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value["DataType"],
    }


def failed_ids(invocation_ok: bool, result: Any, message_ids: list[str], report_failures: bool) -> set[str]:
    """Which messages failed, by Lambda's rules: ``failed_ids(True, {"batchItemFailures": []}, ids, True) == set()``."""
    if not invocation_ok:
        return set(message_ids)
    if not report_failures:
        return set()
    try:
        failures = {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures") or []}
    except (AttributeError, KeyError, TypeError):
        return set(message_ids)  # a malformed response fails the whole batch
    return set(message_ids) if failures - set(message_ids) else failures


class PollingThread(threading.Thread):
    """An event source mapping's loop: ``poll_once()`` until ``stop()``, waiting ``idle_s`` after
    a poll that read nothing; a failed AWS call or batch is logged and backed off, never fatal."""

    service = "AWS"  # named in the log line of a failed call
    idle_s = 0.0

    def __init__(self, name: str, function: LocalFunction) -> None:
        super().__init__(name=name, daemon=True)
        self.function = function
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()
        self.join()

    def poll_once(self) -> int:
        """Read one batch, deliver it, settle it; returns how many records were read."""
        raise NotImplementedError

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                if not self.poll_once() and self.idle_s:
                    self._stopping.wait(self.idle_s)
            except (BotoCoreError, ClientError):
                if not self._stopping.is_set():  # moto going away during shutdown is expected
                    log.exception("%s %s: %s call failed", self.name, self.function.name, self.service)
                    self._stopping.wait(1)  # back off, but wake at once on stop()
            except Exception:  # an event source mapping keeps polling whatever one batch did
                log.exception("%s %s: batch failed", self.name, self.function.name)
                self._stopping.wait(1)


class Poller(PollingThread):
    """Feeds one queue to one function until ``stop()``; e.g. ``Poller(sqs, mapping, fn).start()``."""

    service = "SQS"  # no idle wait: the receive long-polls for ``wait_s`` already

    def __init__(self, sqs: Any, mapping: Mapping, function: LocalFunction, region: str, wait_s: int = 1) -> None:
        super().__init__(f"pik-poller-{function.name}", function)
        self.sqs, self.mapping, self.region = sqs, mapping, region
        self.wait_s = wait_s  # long-poll length: also the most a shutdown waits for this thread

    def poll_once(self) -> int:
        """Receive one batch, invoke, settle it; returns how many messages were received."""
        messages = self._receive(self.mapping.batch_size, self.wait_s)
        while messages and len(messages) < self.mapping.batch_size:
            more = self._receive(self.mapping.batch_size - len(messages), 0)  # fill from what is queued
            if not more:
                break
            messages += more
        if messages:
            self._settle(messages)
        return len(messages)

    def _receive(self, count: int, wait_s: int) -> list[dict]:
        response = self.sqs.receive_message(
            QueueUrl=self.mapping.queue_url,
            MaxNumberOfMessages=min(count, 10),
            WaitTimeSeconds=wait_s,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return response.get("Messages", [])

    def _settle(self, messages: list[dict]) -> None:
        event = {"Records": [lambda_record(m, self.mapping.queue_arn, self.region) for m in messages]}
        outcome = self.function.invoke(event)
        failed = failed_ids(
            outcome.ok, outcome.result, [m["MessageId"] for m in messages], self.mapping.report_failures
        )
        handles = [(m["MessageId"], m["ReceiptHandle"]) for m in messages]
        done = [{"Id": str(i), "ReceiptHandle": h} for i, (mid, h) in enumerate(handles) if mid not in failed]
        again = [
            {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
            for i, (mid, h) in enumerate(handles)
            if mid in failed
        ]
        if done:
            self.sqs.delete_message_batch(QueueUrl=self.mapping.queue_url, Entries=done)
        if again:
            self.sqs.change_message_visibility_batch(QueueUrl=self.mapping.queue_url, Entries=again)
        if failed:
            log.warning(
                "%s: %d of %d messages failed and will be retried", self.function.name, len(failed), len(messages)
            )


def mappings(
    specs: dict[str, dict], queue_urls: dict[str, str], queue_arns: dict[str, str]
) -> list[tuple[str, Mapping]]:
    """``[(function logical id, Mapping)]`` from the template's ``SQS`` events; a queue given as
    ``!Ref Parameter`` (a tap's existing queue) is looked up under the parameter's name."""
    found = []
    for name, spec in specs.items():
        for event in spec["events"].values():
            if event["Type"] != "SQS":
                continue
            props = event["Properties"]
            queue = props["Queue"]["Fn::GetAtt"][0] if "Fn::GetAtt" in props["Queue"] else props["Queue"]["Ref"]
            found.append(
                (
                    name,
                    Mapping(
                        queue_urls[queue],
                        queue_arns[queue],
                        int(props.get("BatchSize", 10)),
                        "ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                    ),
                )
            )
    return found
