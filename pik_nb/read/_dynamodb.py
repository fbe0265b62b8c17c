"""A fast DynamoDB Query/Scan reader: botocore signs, Arrow (or ``json.loads``) parses and types.

botocore's response parser costs ≈ 45 µs per item here, more than everything else together
(see docs/performance.md). This reader sends the same JSON-protocol request botocore would,
signed and sent by ``pik_nb.read._signed.SignedHttp`` (the client's ``before-send`` hooks see it, so
moto intercepts it), and keeps DynamoDB JSON as parsed; ``pik_nb.read.frames`` then extracts whole
columns at once.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.json as pa_json

from pik.core.errors import StorageError

from ._signed import MAX_ATTEMPTS, TRANSIENT, SignedHttp, back_off

TARGET = "DynamoDB_20120810."
RETRYABLE = {
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "CRC32Mismatch",
}


class FastReader:
    """Pages of raw DynamoDB JSON items for ``Query`` and ``Scan``.

    >>> reader = FastReader(session, session.client("dynamodb"))
    >>> for items in reader.pages("Query", {"TableName": "t", "KeyConditionExpression": "pk = :p",
    ...                                     "ExpressionAttributeValues": {":p": {"S": "EVT#1"}}}):
    ...     print(len(items))
    """

    def __init__(
        self,
        session: boto3.session.Session,
        client: Any,
        max_connections: int = 16,
        timeout_s: tuple[float, float] = (10, 600),
    ) -> None:
        # Read timeout: a 1 MB page of a large scan can take minutes from an emulator; (connect, read).
        self._http = SignedHttp(session, client, max_connections=max_connections, timeout_s=timeout_s)
        self._url = client.meta.endpoint_url.rstrip("/") + "/"

    def pages(self, operation: str, request: dict) -> Iterator[list[dict]]:
        """Every page of ``operation`` (``"Query"`` or ``"Scan"``), following ``LastEvaluatedKey``."""
        request = dict(request)
        while True:
            page = self.call(operation, request)
            yield page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def arrow_pages(self, operation: str, request: dict, item_type: pa.StructType) -> Iterator[pa.Array]:
        """Every page's ``Items`` as one Arrow struct array of ``item_type``, parsed by Arrow's C++
        JSON reader: no Python object per item (about half the cost of ``json.loads``)."""
        options = pa_json.ParseOptions(
            explicit_schema=pa.schema([("Items", pa.list_(item_type))]), unexpected_field_behavior="infer"
        )
        request = dict(request)
        while True:
            body = self.fetch(operation, request)
            try:
                page = pa_json.read_json(
                    pa.py_buffer(body),
                    parse_options=options,
                    read_options=pa_json.ReadOptions(block_size=len(body) + 1),
                )
                found = _project(page.column("Items").combine_chunks().flatten(), item_type)
                last = (
                    page.column("LastEvaluatedKey").to_pylist()[0] if "LastEvaluatedKey" in page.column_names else None
                )
            except pa.ArrowInvalid:  # not a single JSON line (pretty-printed?): the slow, sure way
                answer = json.loads(body)
                found, last = pa.array(answer.get("Items", []), item_type), answer.get("LastEvaluatedKey")
            yield found
            if not last:
                return
            request["ExclusiveStartKey"] = {name: value for name, value in last.items() if value is not None}

    def call(self, operation: str, request: dict) -> dict:
        """One request's parsed answer; see ``fetch``."""
        return json.loads(self.fetch(operation, request))

    def fetch(self, operation: str, request: dict) -> bytes:
        """One request's body, retried with jittered back-off on throttling, 5xx, CRC32 mismatches
        and dropped connections."""
        body = json.dumps(request).encode("utf-8")
        headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": TARGET + operation}
        for attempt in range(MAX_ATTEMPTS):
            try:
                response = self._http.send(operation, "POST", self._url, body=body, headers=headers)
            except TRANSIENT as exc:
                code, message = type(exc).__name__, str(exc)
            else:
                if response.status_code == 200 and _intact(response):
                    return response.content
                code, message = (
                    _error(response.content) if response.status_code != 200 else ("CRC32Mismatch", "retried")
                )
                if response.status_code < 500 and code not in RETRYABLE:
                    break
            back_off(attempt)
        raise StorageError(f"dynamodb {operation} {request.get('TableName')}: {code}: {message}")


def _intact(response: Any) -> bool:
    """DynamoDB's ``x-amz-crc32`` check, which botocore would do (absent header: nothing to check)."""
    expected = response.headers.get("x-amz-crc32")
    return expected is None or zlib.crc32(response.content) == int(expected)


def _project(items: pa.StructArray, item_type: pa.StructType) -> pa.StructArray:
    """Only the fields of ``item_type`` (the reader also parsed the item's other attributes)."""
    children = dict(zip([field.name for field in items.type], items.flatten(), strict=True))
    return pa.StructArray.from_arrays([children[field.name] for field in item_type], fields=list(item_type))


def _error(content: bytes) -> tuple[str, str]:
    try:
        error = json.loads(content or b"{}")
    except ValueError:
        return "InvalidResponse", content[:200].decode("utf-8", "replace")
    return error.get("__type", "").rsplit("#", 1)[-1], error.get("message") or error.get("Message", "")
