"""S3's 409 ConditionalRequestConflict on a conditional put: retried a bounded number of times, then
read as a 412 (the key is someone else's write). moto never answers 409: it is injected here with a
botocore hook, as AWS answers it while another ``If-None-Match`` write of the same key is in flight."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from pik.aws import clients, s3
from pik.aws.s3 import DocumentStore
from pik.handlers import ingest as ingest_handler
from tests.support.events import make_event
from tests.support.lambdas import call
from tests.support.stored import raw_keys

HOOK = "before-parameter-build.s3.PutObject"


@pytest.fixture
def conflicts(stack, monkeypatch):
    """``conflicts(n)``: the next ``n`` conditional PutObject calls answer 409; returns the call log."""
    monkeypatch.setattr(s3, "CONFLICT_BACKOFF_S", 0.0)
    calls: list[str] = []
    pending = {"left": 0}

    def conflict(params, **_):
        if params.get("IfNoneMatch") != "*":
            return
        calls.append(params["Key"])
        if pending["left"] > 0:
            pending["left"] -= 1
            raise ClientError(
                {
                    "Error": {"Code": "ConditionalRequestConflict", "Message": "retry the upload"},
                    "ResponseMetadata": {"HTTPStatusCode": 409},
                },
                "PutObject",
            )

    def arm(count: int) -> list[str]:
        pending["left"] = count
        return calls

    clients.client("s3").meta.events.register(HOOK, conflict, unique_id="conflict-409")
    yield arm
    clients.client("s3").meta.events.unregister(HOOK, unique_id="conflict-409")


def test_a_409_is_retried_and_the_object_written_once(stack, conflicts):
    calls = conflicts(2)
    store = DocumentStore(stack.outputs["raw_bucket_name"])
    assert store.put_new("raw/a.json", {"a": 1}) is True
    assert calls == ["raw/a.json"] * 3
    body = boto3.client("s3").get_object(Bucket=stack.outputs["raw_bucket_name"], Key="raw/a.json")["Body"].read()
    assert body == b'{"a":1}'


def test_409s_past_the_bound_read_as_already_written(stack, conflicts):
    calls = conflicts(s3.CONFLICT_RETRIES + 1)
    store = DocumentStore(stack.outputs["raw_bucket_name"])
    assert store.put_new("raw/b.json", {"b": 1}) is False
    assert len(calls) == s3.CONFLICT_RETRIES + 1
    assert store.read("raw/b.json") is None


def test_ingest_under_a_409_is_accepted_after_the_retry(stack, conflicts):
    conflicts(1)
    status, body = call(ingest_handler, "/ingest", make_event(entity_id="c-409"))
    assert (status, body["status"]) == (200, "ACCEPTED")
    assert raw_keys(stack, "raw/") == [body["s3_key"]]


def test_ingest_when_the_other_writer_never_lands_fails_retryably_and_stores_nothing(stack, conflicts):
    conflicts(s3.CONFLICT_RETRIES + 1)
    status, body = call(ingest_handler, "/ingest", make_event(entity_id="c-gone"))
    assert status == 503 and raw_keys(stack) == []
    status, body = call(ingest_handler, "/ingest", make_event(entity_id="c-gone"))  # the producer's retry
    assert (status, body["status"]) == (200, "ACCEPTED") and raw_keys(stack, "raw/") == [body["s3_key"]]
