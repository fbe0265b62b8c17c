"""Issue 17, finding 9: what ``POST /ingest`` can actually receive. API Gateway puts the body into the
Lambda event as a JSON string (a quote takes two bytes there) and Lambda refuses an event over 6 MB
before the function runs: API Gateway then answers 500 and nothing is stored or quarantined. So the
cap (``pik.core.limits.API_BODY_BYTES``) is what always arrives, and past it the function answers 413."""

from __future__ import annotations

import json

import boto3

from pik.core import limits
from pik.handlers import ingest
from pik.services import batch
from tests.support.events import api_event, make_event
from tests.support.lambdas import LambdaContext

MAX_HEADERS = 10 * 1024  # API Gateway's REST header limit, sent twice (headers, multiValueHeaders)


def quote_heavy_batch(size: int) -> str:
    """A valid batch body of exactly ``size`` bytes whose payload is all escaped quotes."""
    skeleton = json.dumps({"events": [make_event(payload={"s": ""})]})
    room = size - len(skeleton)
    quotes = '\\"' * (room // 2) + "x" * (room % 2)
    body = skeleton.replace('"s": ""', f'"s": "{quotes}"')
    assert len(body.encode()) == size
    return body


def lambda_event_bytes(body: str) -> int:
    """The size of the proxy event API Gateway sends for ``body`` with the largest headers it allows."""
    event = api_event("/ingest", body)
    padding = "h" * (MAX_HEADERS - 100)
    event["headers"]["X-Padding"] = padding
    event["multiValueHeaders"]["X-Padding"] = [padding]
    return len(json.dumps(event, ensure_ascii=False).encode())


def test_every_body_under_the_cap_reaches_lambda_whole():
    assert batch.MAX_BATCH_BYTES == limits.API_BODY_BYTES
    limits.LAMBDA_SYNC_EVENT.check(
        lambda_event_bytes(quote_heavy_batch(limits.API_BODY_BYTES)), what="the event of a quote-heavy body at the cap"
    )


def test_the_old_five_mebibyte_cap_could_not_reach_lambda():
    """Before issue 17 the handler promised 5 MiB: such a body made an event Lambda refuses (a 500)."""
    assert not limits.LAMBDA_SYNC_EVENT.respected_by(lambda_event_bytes(quote_heavy_batch(5 * limits.MiB)))


def test_past_the_cap_the_answer_is_413_naming_the_limit_and_nothing_is_half_written(stack):
    body = quote_heavy_batch(limits.API_BODY_BYTES + 1)
    response = ingest.handler(api_event("/ingest", body), LambdaContext())
    answer = json.loads(response["body"])
    assert response["statusCode"] == 413 and answer["status"] == "REJECTED"
    assert answer["details"] == [
        {
            "field": "body",
            "rule": "max_bytes",
            "message": f"a batch body must be at most {limits.API_BODY_BYTES} bytes (API Gateway "
            "escapes it into Lambda's 6 MB event; send smaller batches)",
        }
    ]
    s3 = boto3.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=stack.names["RawBucket"]).get("Contents", [])]
    assert [k.split("/")[0] for k in keys] == ["rejected"]  # the quarantined copy, nothing under raw/
    copy = json.loads(s3.get_object(Bucket=stack.names["RawBucket"], Key=keys[0])["Body"].read())
    assert copy["truncated"] is True and len(copy["body"].encode()) <= 65_536 * 2
    items = boto3.client("dynamodb").scan(TableName=stack.names["EventsTable"])["Items"]
    assert items == []  # no attempt, no dedup gate
