"""The fast reader against moto: retries on throttling and on a corrupted page, clear failures."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pik.core.errors import StorageError
from tests.support.events import make_event
from tests.support.kit import DAY, intercept, post


def inject(kit, answers: list[tuple[int, dict, bytes]]) -> list:
    return intercept(kit, "dynamodb", "Query", answers)


def load(kit):
    return kit.events(entity_id="customer-42", start=DAY, end=DAY + timedelta(days=1), progress=False)


def test_throttling_and_a_corrupted_page_are_retried(kit):
    answer = post(make_event(event_time=(DAY + timedelta(hours=1)).isoformat()))
    throttled = b'{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"slow down"}'
    seen = inject(kit, [(400, {}, throttled), (200, {"x-amz-crc32": "1"}, b'{"Items":[],"Count":0}')])
    assert list(load(kit)["event_id"]) == [answer["event_id"]]
    assert len(seen) == 2


def test_a_refused_request_fails_with_the_service_message(kit):
    refused = b'{"__type":"com.amazon.coral.validate#ValidationException","message":"bad key"}'
    inject(kit, [(400, {}, refused)])
    with pytest.raises(StorageError, match="ValidationException: bad key"):
        load(kit)
