"""The raw bucket as pik_nb reads it: ``ObjectReader.read(key)`` -> bytes, or None when absent.

One signed GET per object (``pik_nb.read._signed``) instead of boto3's ``get_object``: boto3 spends
≈ 1.5 ms of CPU per GET in parameter validation, endpoint rules, handlers and its parser, and
32 threads doing that are bound by the GIL (docs/performance.md has the figures). The object
URL comes from the client itself (a presigned URL's path, computed once), so endpoint, addressing
style and ``AWS_ENDPOINT_URL_S3`` are botocore's choice, as for any other call.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zlib
from collections.abc import Callable
from functools import cached_property
from typing import Any
from urllib.parse import quote

import boto3
from botocore.auth import S3SigV4Auth

from pik.core.errors import StorageError

from ._signed import MAX_ATTEMPTS, TRANSIENT, SignedHttp, back_off

MISSING = {"NoSuchKey", "NotFound", ""}  # "" : a 404 without an error document (as HEAD answers)
RETRYABLE = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "ServiceUnavailable",
    "ChecksumMismatch",
}
# Response checksums S3 sends with ``x-amz-checksum-mode: ENABLED`` that the stdlib can verify
# (CRC32C/CRC64NVME need awscrt, as in botocore; composite multipart values end in "-N": skipped).
CHECKSUMS: dict[str, Callable[[bytes], bytes]] = {
    "crc32": lambda body: zlib.crc32(body).to_bytes(4, "big"),
    "sha256": lambda body: hashlib.sha256(body).digest(),
    "sha1": lambda body: hashlib.sha1(body).digest(),
}


class ObjectReader:
    """Objects of one bucket by signed GET, retried on throttling, 5xx, checksum mismatches and
    dropped connections; a missing key reads as None.

    >>> reader = ObjectReader(session, session.client("s3"), "pik-raw")
    >>> reader.read("raw/source=checkout/.../e1.json")
    b'{"envelope": ...}'
    """

    def __init__(
        self,
        session: boto3.session.Session,
        client: Any,
        bucket: str,
        *,
        max_connections: int = 32,
        timeout_s: tuple[float, float] = (10, 60),
    ) -> None:
        self.bucket = bucket
        self._client = client
        self._http = SignedHttp(session, client, auth=S3SigV4Auth, max_connections=max_connections, timeout_s=timeout_s)

    @cached_property
    def _base(self) -> str:
        """``https://bucket.s3.amazonaws.com/`` or ``http://127.0.0.1:PORT/bucket/``: as botocore addresses it."""
        url = self._client.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": "_"})
        return url.split("?", 1)[0].removesuffix("_")

    def read(self, key: str) -> bytes | None:
        """The object's bytes, or None when ``key`` does not exist."""
        url = self._base + quote(key, safe="/~")
        for attempt in range(MAX_ATTEMPTS):
            try:
                response = self._http.send("GetObject", "GET", url, headers={"x-amz-checksum-mode": "ENABLED"})
            except TRANSIENT as exc:
                code, message = type(exc).__name__, str(exc)
            else:
                if response.status_code == 200:
                    if _intact(response):
                        return response.content
                    code, message = "ChecksumMismatch", "retried"
                else:
                    code, message = _error(response.content)
                    if response.status_code == 404 and code in MISSING:
                        return None
                    if response.status_code < 500 and code not in RETRYABLE:
                        break
            back_off(attempt)
        raise StorageError(f"s3 get {key}: {code}: {message}")


def _intact(response: Any) -> bool:
    for name, digest in CHECKSUMS.items():
        expected = response.headers.get(f"x-amz-checksum-{name}")
        if expected and "-" not in expected:
            return base64.b64encode(digest(response.content)).decode() == expected
    return True


def _error(content: bytes) -> tuple[str, str]:
    """``(Code, Message)`` of an S3 XML error document (empty strings when absent)."""
    text = content[:4096].decode("utf-8", "replace")
    found = [re.search(f"<{tag}>(.*?)</{tag}>", text, re.S) for tag in ("Code", "Message")]
    return tuple(match.group(1) if match else "" for match in found)  # type: ignore[return-value]
