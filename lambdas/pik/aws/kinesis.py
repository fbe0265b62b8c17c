"""Kinesis adapter: a stream as a replay target, PutRecords (at most 500 records) with failed records
re-sent; the partition key is the event's entity_id, so one entity's events stay in order on one shard."""

from __future__ import annotations

from ..core.limits import KINESIS_PUT_RECORDS, KINESIS_RECORD
from ..core.targets import Delivered, Outgoing, body, encoded
from .delivery import ByteLimits, ServiceTarget, deliver_entries, failed_in_order

PUT_RECORDS_MAX = 500
BATCH = 100  # progress is saved after every batch: a crash re-sends at most this many
# a record's size is its data plus its partition key; a request's, the sum of its records
RECORD_BYTES = ByteLimits(
    KINESIS_RECORD, KINESIS_PUT_RECORDS, lambda entry: len(entry["Data"]) + len(entry["PartitionKey"].encode("utf-8"))
)


class StreamTarget(ServiceTarget):
    """``pik.core.ports.ReplayTarget`` for a Kinesis data stream (by ARN)."""

    service = "kinesis"
    batch_size = BATCH

    def deliver(self, outgoing: list[Outgoing], replay_id: str) -> Delivered:
        def entry(event: Outgoing, attempt: int) -> dict:
            data = encoded(body(event, replay_id=replay_id, envelope=self.target.envelope, attempt=attempt))
            return {"Data": data.encode("utf-8"), "PartitionKey": event.entity_id}

        def put(entries: dict[int, dict]) -> tuple[set[int], str | None]:
            keys = list(entries)
            response = self.client.put_records(StreamARN=self.target.address, Records=[entries[key] for key in keys])
            return failed_in_order(keys, response["Records"])

        return deliver_entries(outgoing[:PUT_RECORDS_MAX], entry, put, limits=RECORD_BYTES, sleep=self.sleep)
