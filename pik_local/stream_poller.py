"""A Kinesis event source mapping: read every shard in order, invoke the function, retry, give up.

Like Lambda's, per shard: batches of up to ``BatchSize`` records in the Lambda Kinesis event
shape, from ``StartingPosition`` (``LATEST`` is taken when the poller starts, so records put
after the stack is up are read). With ``ReportBatchItemFailures`` the batch is retried from the
lowest failed sequence number; a function error retries the whole batch, split in halves when
``BisectBatchOnFunctionError`` is on. After ``MaximumRetryAttempts`` retries the batch is
described to the ``OnFailure`` destination (an SQS queue) and the shard moves on. Retries are
immediate (Lambda backs off); ordering within a shard is kept.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .poller import PollingThread, failed_ids
from .runtime import LocalFunction

log = logging.getLogger("pik_local")


@dataclass(frozen=True)
class StreamMapping:
    """One Kinesis event of a function in the template."""

    stream_arn: str
    starting_position: str = "LATEST"
    batch_size: int = 100
    report_failures: bool = False
    bisect: bool = False
    max_retries: int = -1  # -1: until the records expire, as Lambda's default
    on_failure_url: str | None = None


def lambda_record(record: dict, shard_id: str, stream_arn: str, region: str) -> dict:
    """A ``get_records`` record as Lambda delivers it in ``event["Records"]``."""
    arrival = record["ApproximateArrivalTimestamp"]
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record["PartitionKey"],
            "sequenceNumber": record["SequenceNumber"],
            "data": base64.b64encode(record["Data"]).decode("ascii"),
            "approximateArrivalTimestamp": arrival.timestamp(),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{record['SequenceNumber']}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/pik-local",
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    }


class StreamPoller(PollingThread):
    """Feeds every shard of one stream to one function until ``stop()``."""

    service = "Kinesis"

    def __init__(
        self, kinesis: Any, sqs: Any, mapping: StreamMapping, function: LocalFunction, region: str, idle_s: float = 0.25
    ) -> None:
        super().__init__(f"pik-stream-{function.name}", function)
        self.kinesis, self.sqs, self.mapping, self.region = kinesis, sqs, mapping, region
        self.idle_s = idle_s
        name = mapping.stream_arn.split("/", 1)[1]
        shards = kinesis.list_shards(StreamName=name)["Shards"]
        self._iterators = {
            shard["ShardId"]: kinesis.get_shard_iterator(
                StreamName=name, ShardId=shard["ShardId"], ShardIteratorType=mapping.starting_position
            )["ShardIterator"]
            for shard in shards
        }  # taken now: LATEST means "after the stack started"

    def poll_once(self) -> int:
        """One batch from each shard, delivered; returns how many records were read."""
        read = 0
        for shard_id, iterator in list(self._iterators.items()):
            response = self.kinesis.get_records(ShardIterator=iterator, Limit=self.mapping.batch_size)
            self._iterators[shard_id] = response["NextShardIterator"]
            records = response["Records"]
            if records:
                self._deliver(
                    [lambda_record(r, shard_id, self.mapping.stream_arn, self.region) for r in records], shard_id
                )
            read += len(records)
        return read

    def _deliver(self, batch: list[dict], shard_id: str) -> None:
        retries = 0
        while batch:
            outcome = self.function.invoke({"Records": batch})
            ids = [r["kinesis"]["sequenceNumber"] for r in batch]
            failed = failed_ids(outcome.ok, outcome.result, ids, self.mapping.report_failures)
            if not failed:
                return
            if not outcome.ok and self.mapping.bisect and len(batch) > 1:
                half = len(batch) // 2
                self._deliver(batch[:half], shard_id)
                self._deliver(batch[half:], shard_id)
                return
            if 0 <= self.mapping.max_retries <= retries:
                self._give_up(batch, shard_id)
                return
            retries += 1
            first = min(ids.index(i) for i in failed)  # checkpoint: resume at the lowest failed record
            batch = batch[first:]
            log.warning("%s: retrying %d records of %s (retry %d)", self.function.name, len(batch), shard_id, retries)

    def _give_up(self, batch: list[dict], shard_id: str) -> None:
        log.error("%s: %d records of %s exhausted their retries", self.function.name, len(batch), shard_id)
        if not self.mapping.on_failure_url:
            return
        arrivals = [r["kinesis"]["approximateArrivalTimestamp"] for r in batch]
        message = {
            "requestContext": {
                "condition": "RetryAttemptsExhausted",
                "functionArn": self.function.name,
                "approximateInvokeCount": self.mapping.max_retries + 1,
            },
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "KinesisBatchInfo": {
                "shardId": shard_id,
                "streamArn": self.mapping.stream_arn,
                "batchSize": len(batch),
                "startSequenceNumber": batch[0]["kinesis"]["sequenceNumber"],
                "endSequenceNumber": batch[-1]["kinesis"]["sequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(min(arrivals)),
                "approximateArrivalOfLastRecord": _iso(max(arrivals)),
            },
        }
        self.sqs.send_message(QueueUrl=self.mapping.on_failure_url, MessageBody=json.dumps(message))


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat()


def stream_mappings(
    specs: dict[str, dict], parameters: dict[str, str], queue_urls: dict[str, str], stream_arns: dict[str, str]
) -> list[tuple[str, StreamMapping]]:
    """``[(function logical id, StreamMapping)]`` from the template's ``Kinesis`` events; ``Ref``
    values are read from ``parameters``, streams from ``stream_arns`` (parameter -> local ARN)."""
    found = []
    for name, spec in specs.items():
        for event in spec["events"].values():
            if event["Type"] != "Kinesis":
                continue
            props = event["Properties"]
            stream = stream_arns[props["Stream"]["Ref"]]
            position = props.get("StartingPosition", "LATEST")
            position = parameters.get(position["Ref"], "LATEST") if isinstance(position, dict) else position
            destination = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            found.append(
                (
                    name,
                    StreamMapping(
                        stream,
                        position,
                        int(props.get("BatchSize", 100)),
                        "ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                        bool(props.get("BisectBatchOnFunctionError", False)),
                        int(props.get("MaximumRetryAttempts", -1)),
                        queue_urls.get(destination["Fn::GetAtt"][0]) if destination else None,
                    ),
                )
            )
    return found
