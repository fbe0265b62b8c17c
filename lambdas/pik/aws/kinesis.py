"""Kinesis adapter: a stream as a replay target, PutRecords (at most 500 records) with failed records
re-sent; the partition key is the event's entity_id, so one entity's events stay in order on one shard."""

from __future__ import annotations

import time
from typing import Any

from ..core.targets import Delivered, Outgoing, Target, body, encoded
from . import clients
from .delivery import deliver_entries

PUT_RECORDS_MAX = 500
BATCH = 100  # progress is saved after every batch: a crash re-sends at most this many


class StreamTarget:
    """``pik.core.ports.ReplayTarget`` for a Kinesis data stream (by ARN)."""

    batch_size = BATCH

    def __init__(self, target: Target, client: Any = None, sleep=time.sleep) -> None:
        self.target, self._client, self.sleep = target, client, sleep

    @property
    def client(self) -> Any:
        return self._client or clients.client("kinesis")

    def deliver(self, outgoing: list[Outgoing], replay_id: str) -> Delivered:
        def entry(event: Outgoing, attempt: int) -> dict:
            data = encoded(body(event, replay_id=replay_id, raw=self.target.raw, attempt=attempt))
            return {"Data": data.encode("utf-8"), "PartitionKey": event.entity_id}

        def put(entries: dict[int, dict]) -> tuple[set[int], str | None]:
            keys = list(entries)
            response = self.client.put_records(StreamARN=self.target.address, Records=[entries[key] for key in keys])
            failed = [(key, r) for key, r in zip(keys, response["Records"]) if r.get("ErrorCode")]
            error = f"{failed[-1][1]['ErrorCode']}: {failed[-1][1].get('ErrorMessage')}" if failed else None
            return {key for key, _ in failed}, error

        return deliver_entries(outgoing[:PUT_RECORDS_MAX], entry, put, sleep=self.sleep)
