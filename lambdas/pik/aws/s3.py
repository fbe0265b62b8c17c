"""S3 adapter: immutable JSON documents (raw events, conflicts, rejected copies, manifests)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from ..core.errors import StorageError
from . import clients


def _encode(document: dict) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class DocumentStore:
    """JSON documents in one bucket; ``put_new`` never overwrites."""

    def __init__(self, bucket: str, client: Any = None) -> None:
        self.bucket = bucket
        self._client = client

    @property
    def client(self) -> Any:
        return self._client or clients.client("s3")

    def put_new(self, key: str, document: dict) -> bool:
        """Create ``key`` only if absent (``If-None-Match: *``); False when it already existed."""
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=_encode(document),
                                   ContentType="application/json", IfNoneMatch="*")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
                return False
            raise StorageError(f"s3 put {key}: {exc}") from exc
        return True

    def put(self, key: str, document: dict) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=_encode(document), ContentType="application/json")
        except ClientError as exc:
            raise StorageError(f"s3 put {key}: {exc}") from exc

    def get(self, key: str) -> dict:
        body = self.read(key)
        if body is None:
            raise StorageError(f"s3 get {key}: no such key")
        return json.loads(body)

    def read(self, key: str) -> bytes | None:
        """The object's bytes, or None when ``key`` does not exist."""
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise StorageError(f"s3 get {key}: {exc}") from exc

    def list_keys(self, prefix: str, *, after: str | None = None) -> list[str]:
        """Keys under ``prefix`` in key order, those after ``after`` only (every page followed)."""
        extra = {"StartAfter": after} if after else {}
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix, **extra)
            return [item["Key"] for page in pages for item in page.get("Contents", [])]
        except ClientError as exc:
            raise StorageError(f"s3 list {prefix}: {exc}") from exc

    def get_many(self, keys: list[str], workers: int = 16) -> list[dict]:
        """Fetch concurrently, results in the order of ``keys``."""
        if len(keys) <= 1:
            return [self.get(key) for key in keys]
        with ThreadPoolExecutor(max_workers=min(workers, len(keys))) as pool:
            return list(pool.map(self.get, keys))
