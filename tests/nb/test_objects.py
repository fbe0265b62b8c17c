"""The raw bucket's signed-GET reader against moto: missing keys, retries, checksums, clear failures."""

from __future__ import annotations

import boto3
import pytest

from pik.core.errors import StorageError
from tests.support.kit import intercept


def inject(kit, answers: list[tuple[int, dict, bytes]]) -> list:
    return intercept(kit, "s3", "GetObject", answers)


def error(code: str, message: str) -> bytes:
    return f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()


@pytest.fixture
def stored(kit):
    key = "raw/source=a/event_type=b/event_date=2026-11-20/x y+z.json"  # botocore's quoting of odd keys
    boto3.client("s3").put_object(Bucket=kit.resources.raw_bucket_name, Key=key, Body=b'{"a": 1}')
    return key


def test_reads_bytes_and_a_missing_key_as_none(kit, stored):
    assert kit.stack.documents.read(stored) == b'{"a": 1}'
    assert kit.stack.documents.read("raw/nothing-here.json") is None


def test_throttling_5xx_and_a_corrupted_body_are_retried(kit, stored):
    seen = inject(
        kit,
        [
            (503, {}, error("SlowDown", "slow down")),
            (500, {}, b""),
            (200, {"x-amz-checksum-crc32": "AAAAAA=="}, b'{"a": 1}'),
        ],
    )
    assert kit.stack.documents.read(stored) == b'{"a": 1}'
    assert len(seen) == 3


def test_a_refusal_fails_with_the_service_code_and_a_missing_bucket_is_not_a_missing_key(kit, stored):
    inject(kit, [(403, {}, error("AccessDenied", "no"))])
    with pytest.raises(StorageError, match="AccessDenied: no"):
        kit.stack.documents.read(stored)
    inject(kit, [(404, {}, error("NoSuchBucket", "gone"))])
    with pytest.raises(StorageError, match="NoSuchBucket"):
        kit.stack.documents.read(stored)
