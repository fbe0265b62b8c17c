"""Adapters of the compaction step: the curated archive in S3, the recorded feed (the events
table's ``by_recorded`` index, a full scan only for a first run) and the compaction lease (one
conditional item in the events table)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from ..core import keys, queries
from ..core.errors import LeaseError, StorageError
from . import clients
from .dynamodb import Table, deserialize, serialize
from .s3 import DocumentStore

DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
FEED_SEGMENTS = 4
FEED_WORKERS = 8


class ArchiveBucket(DocumentStore):
    """Curated objects (Parquet parts, manifests, the watermark) in the raw bucket; reads and
    lists as a ``DocumentStore``, writes bytes that may replace a manifest or the watermark."""

    def write(self, key: str, body: bytes) -> None:
        kind = "application/json" if key.endswith(".json") else "application/vnd.apache.parquet"
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=kind)
        except ClientError as exc:
            raise StorageError(f"s3 put {key}: {exc}") from exc

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": key} for key in keys[start : start + DELETE_BATCH]]
            try:
                answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            except ClientError as exc:
                raise StorageError(f"s3 delete {len(batch)} objects: {exc}") from exc
            if answer.get("Errors"):
                raise StorageError(f"s3 delete: {answer['Errors'][:3]}")

    def listed(self, prefix: str) -> dict[str, datetime]:
        """Key -> last modified (UTC) of every object under ``prefix`` (every page followed)."""
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            return {
                item["Key"]: item["LastModified"].astimezone(UTC) for page in pages for item in page.get("Contents", [])
            }
        except ClientError as exc:
            raise StorageError(f"s3 list {prefix}: {exc}") from exc


class RecordedFeed:
    """Which partitions new attempts landed in: a Query per recorded-index key (hour x shard)
    since the watermark, so a run reads what was recorded since, not the table; a parallel scan
    (every attempt) only when there is no watermark yet."""

    def __init__(self, table: str, client: Any = None, segments: int = FEED_SEGMENTS) -> None:
        self.table = table
        self._client = client
        self.segments = segments

    @property
    def client(self) -> Any:
        return self._client or clients.client("dynamodb")

    def partitions_recorded(self, since: str, until: str) -> set[tuple[str, str, str]]:
        """(source, event_type, event_date) of every attempt recorded at or after ``since`` (key-time
        strings; ``until`` bounds the hours asked, it is not a filter)."""
        requests = [
            {**queries.recorded_since(self.table, bucket, since), **_PARTITION_FIELDS}
            for bucket in queries.recorded_buckets(since, until)
        ]
        return self._union(requests, "query")

    def partitions_all(self) -> set[tuple[str, str, str]]:
        """(source, event_type, event_date) of every attempt in the table (a full parallel scan)."""
        requests = [queries.arrivals_since(self.table, "", segment, self.segments) for segment in range(self.segments)]
        return self._union(requests, "scan")

    def _union(self, requests: list[dict], operation: str) -> set[tuple[str, str, str]]:
        with ThreadPoolExecutor(max_workers=min(FEED_WORKERS, max(1, len(requests)))) as pool:
            return set().union(*pool.map(lambda request: self._pages(request, operation), requests))

    def _pages(self, request: dict, operation: str) -> set[tuple[str, str, str]]:
        found: set[tuple[str, str, str]] = set()
        call = getattr(self.client, operation)
        while True:
            try:
                page = call(**request)
            except ClientError as exc:
                raise StorageError(f"dynamodb {operation} {self.table}: {exc}") from exc
            found |= {(i["source"]["S"], i["event_type"]["S"], i["event_date"]["S"]) for i in page.get("Items", [])}
            if "LastEvaluatedKey" not in page:
                return found
            request = {**request, "ExclusiveStartKey": page["LastEvaluatedKey"]}


_PARTITION_FIELDS = {"ProjectionExpression": "#s, event_type, event_date", "ExpressionAttributeNames": {"#s": "source"}}


class CompactionLease(Table):
    """The one compaction lease: an item ``{holder, until_ms, partition}`` written only by
    conditional writes, so at most one holder's lease is unexpired at any time.

    ``until_ms`` is epoch milliseconds; ``partition`` is the partition path the holder was
    writing (left in place when a run fails or dies, so the next holder collects its parts)."""

    def acquire(self, holder: str, until: datetime, now: datetime, skew_ms: int) -> dict:
        """Take the lease if it is free or ended more than ``skew_ms`` ago; the previous lease item
        ({} when none). ``LeaseError`` naming the holder and its end when it is taken."""
        item = {"pk": keys.LEASE_PK, "sk": keys.LEASE_SK, "holder": holder, "until_ms": _ms(until), "partition": ""}
        try:
            answer = self.client.put_item(
                TableName=self.name,
                Item=serialize(item),
                ReturnValues="ALL_OLD",
                ConditionExpression="attribute_not_exists(pk) OR until_ms < :free",
                ExpressionAttributeValues={":free": {"N": str(_ms(now) - skew_ms)}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                current = self.get(keys.LEASE_PK, keys.LEASE_SK) or {}
                raise LeaseError(
                    f"another compaction holds the lease ({current.get('holder')}, until "
                    f"{_time(current.get('until_ms', 0))}); try again after it"
                ) from exc
            raise StorageError(f"dynamodb put {self.name} (lease): {exc}") from exc
        return deserialize(answer.get("Attributes", {}))

    def renew(self, holder: str, until: datetime, now: datetime, partition: str) -> None:
        """Extend the lease to ``until`` and record ``partition``, only while ``holder`` still holds an
        unexpired lease; else ``LeaseError`` (it was lost: stop before switching anything)."""
        values = {":u": {"N": str(_ms(until))}, ":p": {"S": partition}, ":now": {"N": str(_ms(now))}}
        self._update(holder, "SET until_ms = :u, #p = :p", values, "holder = :h AND until_ms >= :now", "renew")

    def release(self, holder: str, partition: str) -> None:
        """End the lease now, keeping ``partition`` ("" after a clean run) for the next holder."""
        self._update(
            holder, "SET until_ms = :u, #p = :p", {":u": {"N": "0"}, ":p": {"S": partition}}, "holder = :h", "release"
        )

    def _update(self, holder: str, expression: str, values: dict, condition: str, what: str) -> None:
        try:
            key = serialize({"pk": keys.LEASE_PK, "sk": keys.LEASE_SK})
            self.client.update_item(
                TableName=self.name,
                Key=key,
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#p": "partition"},
                ExpressionAttributeValues={**values, ":h": {"S": holder}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise LeaseError(f"this compaction lost its lease ({what}): another run holds it") from exc
            raise StorageError(f"dynamodb update {self.name} (lease {what}): {exc}") from exc


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()
