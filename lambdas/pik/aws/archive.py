"""Adapters of the compaction step: the curated archive in S3 and the arrival feed (a filtered
parallel scan of the events table)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from ..core import queries
from ..core.errors import StorageError
from . import clients
from .s3 import DocumentStore

DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
FEED_SEGMENTS = 4


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
            batch = [{"Key": key} for key in keys[start:start + DELETE_BATCH]]
            try:
                answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            except ClientError as exc:
                raise StorageError(f"s3 delete {len(batch)} objects: {exc}") from exc
            if answer.get("Errors"):
                raise StorageError(f"s3 delete: {answer['Errors'][:3]}")


class ArrivalFeed:
    """Partitions touched by attempts that arrived since a time, by a parallel filtered scan."""

    def __init__(self, table: str, client: Any = None, segments: int = FEED_SEGMENTS) -> None:
        self.table = table
        self._client = client
        self.segments = segments

    @property
    def client(self) -> Any:
        return self._client or clients.client("dynamodb")

    def partitions_since(self, ingest_time_key: str) -> set[tuple[str, str, str]]:
        with ThreadPoolExecutor(max_workers=self.segments) as pool:
            parts = pool.map(lambda segment: self._segment(ingest_time_key, segment), range(self.segments))
            return set().union(*parts)

    def _segment(self, ingest_time_key: str, segment: int) -> set[tuple[str, str, str]]:
        request = queries.arrivals_since(self.table, ingest_time_key, segment, self.segments)
        found: set[tuple[str, str, str]] = set()
        while True:
            try:
                page = self.client.scan(**request)
            except ClientError as exc:
                raise StorageError(f"dynamodb scan {self.table}: {exc}") from exc
            found |= {(i["source"]["S"], i["event_type"]["S"], i["event_date"]["S"]) for i in page.get("Items", [])}
            if "LastEvaluatedKey" not in page:
                return found
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
