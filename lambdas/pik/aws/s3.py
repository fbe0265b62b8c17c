"""S3 adapter: immutable JSON documents (raw events, conflicts, rejected copies, manifests).

A conditional put (``If-None-Match: *``) answers 412 ``PreconditionFailed`` when the key exists and,
while another conditional write of the same key is in flight, 409 ``ConditionalRequestConflict``:
"If a conflicting operation occurs during the upload, S3 returns a 409 ConditionalRequestConflict
response. On a 409 failure, retry the upload" (S3 User Guide, *Conditional writes*). botocore does
not retry a 409, so ``put_new`` retries it ``CONFLICT_RETRIES`` times, then answers as for a 412:
the caller reads what the other writer stored (ingest's first-write path does exactly that, and
fails retryably if the other writer gave up) -- never an error for a benign race.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import botocore
from botocore.exceptions import ClientError

from ..core.errors import PikError, StorageError
from . import clients

CONFLICT_RETRIES = 3
CONFLICT_BACKOFF_S = 0.05  # doubled per retry: 50, 100, 200 ms
log = logging.getLogger(__name__)


class SdkTooOldError(PikError, RuntimeError):
    """The runtime's botocore cannot send what pik's write order needs (raised at import: init fails)."""


def require_conditional_writes(service_model: Any = None) -> None:
    """Fail at init, with the fix, when botocore cannot send ``If-None-Match`` on PutObject.

    Raw bytes are written create-only (``put_new``); a botocore older than S3's conditional writes
    (August 2024) refuses the parameter, and the bucket policy refuses a put without it. Lambda's
    python3.12 runtime bundles a botocore that varies by region and date, so this checks the
    capability itself, not a version number.
    """
    model = service_model or clients.session(region_name="us-east-1")._session.get_service_model("s3")
    if "IfNoneMatch" not in model.operation_model("PutObject").input_shape.members:
        raise SdkTooOldError(
            f"botocore {botocore.__version__} cannot send If-None-Match on S3 PutObject, which pik's raw "
            "writes need (conditional writes, August 2024): add boto3>=1.35.16 to lambdas/requirements.txt "
            "(about 37 MB unzipped) and sam build again, or deploy in a region whose runtime bundles it"
        )


require_conditional_writes()


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
        """Create ``key`` only if absent (``If-None-Match: *``); False when it already existed, or
        when a concurrent conditional write of it kept answering 409 (see the module docstring)."""
        body = _encode(document)
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                self.client.put_object(
                    Bucket=self.bucket, Key=key, Body=body, ContentType="application/json", IfNoneMatch="*"
                )
                return True
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code in ("PreconditionFailed", "412"):
                    return False
                if code not in ("ConditionalRequestConflict", "409"):
                    raise StorageError(f"s3 put {key}: {exc}") from exc
                if attempt < CONFLICT_RETRIES:
                    time.sleep(CONFLICT_BACKOFF_S * 2**attempt)
        log.warning(
            "s3 put %s: 409 ConditionalRequestConflict %d times; read as already written", key, CONFLICT_RETRIES + 1
        )
        return False

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
