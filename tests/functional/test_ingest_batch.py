"""POST /ingest with {"events": [...]}: per-event answers, each event with its own guarantees."""

from __future__ import annotations

import json
import threading

import pytest
from botocore.exceptions import ClientError

from pik.aws import clients
from pik.handlers import ingest
from pik.services import batch
from tests.support.events import make_event
from tests.support.lambdas import call
from tests.support.stored import items, raw_keys


def post(body, request_id="req-batch"):
    return call(ingest, "/ingest", body, request_id)


def test_a_batch_is_answered_per_event_in_order(stack):
    good = make_event(entity_id="b-1")
    events = [
        good,
        good,
        make_event(entity_id="b-2", event_time="2026-11-20T10:00:00"),
        "not an event",
        make_event(entity_id="b-3", idempotency_key="k", payload={"v": 1}),
        make_event(entity_id="b-3", idempotency_key="k", payload={"v": 2}),
    ]
    status, answer = post({"events": events})
    assert status == 200
    statuses = [r["status"] for r in answer["results"]]
    assert statuses[2:4] == ["REJECTED", "REJECTED"]
    assert sorted(statuses[0:2]) == ["ACCEPTED", "DUPLICATE"]
    assert sorted(statuses[4:6]) == ["ACCEPTED", "CONFLICT"]
    assert [r["index"] for r in answer["results"]] == [0, 1, 2, 3, 4, 5]
    assert answer["counts"] == {"ACCEPTED": 2, "DUPLICATE": 1, "CONFLICT": 1, "REJECTED": 2}
    assert (answer["failed_count"], answer["rejected_count"]) == (0, 2)
    naive = answer["results"][2]
    assert naive["details"] == [
        {"field": "event_time", "rule": "offset_required", "message": naive["details"][0]["message"]}
    ]
    assert answer["results"][3]["details"][0]["rule"] == "object"
    assert len(raw_keys(stack, "raw/")) == 2 and len(raw_keys(stack, "conflicts/")) == 1
    assert len(raw_keys(stack, "rejected/")) == 2
    # each event is its own attempt: request id of the batch plus the event's index
    rows = items(stack, answer["results"][0]["event_id"])
    assert sorted(r["request_id"] for r in rows if r["sk"].startswith("ATT#")) == ["req-batch#0", "req-batch#1"]


def test_two_events_of_one_batch_with_one_key_race_like_two_requests(stack):
    """Both events are held before storing their raw bytes until both are there: a forced race."""
    client = clients.client("s3")
    both_ready, waited = threading.Barrier(2, timeout=30), set()

    def hold(**_):  # each event's first PutObject (its raw bytes) waits for the other's
        me = threading.current_thread().name
        if me.startswith("pik-ingest") and me not in waited:
            waited.add(me)
            both_ready.wait()

    first = make_event(entity_id="race", idempotency_key="same", payload={"v": 1})
    for second_payload, repeat in [({"v": 1}, "DUPLICATE"), ({"v": 2}, "CONFLICT")]:
        key = f"same-{repeat}"
        events = [{**first, "idempotency_key": key}, {**first, "idempotency_key": key, "payload": second_payload}]
        both_ready.reset()
        waited.clear()
        client.meta.events.register("before-call.s3.PutObject", hold, unique_id="hold")
        status, answer = post({"events": events}, request_id=f"req-{repeat}")
        client.meta.events.unregister("before-call.s3.PutObject", unique_id="hold")
        assert status == 200
        assert sorted(r["status"] for r in answer["results"]) == sorted(["ACCEPTED", repeat])
        rows = items(stack, answer["results"][0]["event_id"])
        assert sorted(r["status"] for r in rows if r["sk"].startswith("ATT#")) == sorted(["ACCEPTED", repeat])
        meta = next(r for r in rows if r["sk"] == "META")
        accepted = next(r for r in answer["results"] if r["status"] == "ACCEPTED")
        assert meta["first_attempt_id"] == accepted["attempt_id"]


def test_a_storage_fault_on_one_event_fails_only_that_event_and_it_is_retryable(stack):
    events = [make_event(entity_id=f"fault-{i}") for i in range(6)]
    client = clients.client("s3")

    def unavailable(params, **_):
        if b'"entity_id":"fault-3"' in params["Body"]:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "down"}}, "PutObject")

    client.meta.events.register("before-parameter-build.s3.PutObject", unavailable, unique_id="fault")
    status, answer = post({"events": events})
    client.meta.events.unregister("before-parameter-build.s3.PutObject", unique_id="fault")
    assert status == 200
    assert [r["status"] for r in answer["results"]] == ["ACCEPTED"] * 3 + ["FAILED"] + ["ACCEPTED"] * 2
    assert answer["results"][3] == {
        "index": 3,
        "status": "FAILED",
        "retryable": True,
        "error": "storage unavailable, retry this event",
    }
    assert answer["failed_count"] == 1 and len(raw_keys(stack, "raw/")) == 5
    status, again = post({"events": events}, request_id="req-retry")
    assert [r["status"] for r in again["results"]] == ["DUPLICATE"] * 3 + ["ACCEPTED"] + ["DUPLICATE"] * 2
    assert len(raw_keys(stack, "raw/")) == 6


def test_a_crash_in_one_event_thread_does_not_change_the_others(stack):
    events = [make_event(entity_id=f"crash-{i}") for i in range(4)]
    client = clients.client("dynamodb")

    class Crash(Exception):
        pass

    def crash(params, **_):
        if "crash-1" in json.dumps(params, default=str):
            raise Crash("the thread dies mid-write")

    client.meta.events.register("before-parameter-build.dynamodb.TransactWriteItems", crash, unique_id="crash")
    status, answer = post({"events": events})
    client.meta.events.unregister("before-parameter-build.dynamodb.TransactWriteItems", unique_id="crash")
    assert [r["status"] for r in answer["results"]] == ["ACCEPTED", "FAILED", "ACCEPTED", "ACCEPTED"]
    assert answer["results"][1]["error"] == "internal error, retry this event"
    _, again = post({"events": [events[1]]}, request_id="req-retry")
    assert again["results"][0]["status"] == "DUPLICATE"  # its bytes were stored first: that attempt is the ACCEPTED one
    rows = items(stack, again["results"][0]["event_id"])
    assert sorted(r["status"] for r in rows if r["sk"].startswith("ATT#")) == ["ACCEPTED", "DUPLICATE"]


@pytest.mark.parametrize(
    "body,http_status,field,rule",
    [
        ({"events": []}, 400, "events", "min_items"),
        ({"events": {"a": 1}}, 400, "events", "type"),
        ({"events": [make_event()], "extra": 1}, 400, "extra", "unknown_field"),
        ({"events": [make_event()] * (batch.MAX_EVENTS + 1)}, 413, "events", "max_items"),
        ('{"events": [1, 2], "events": [3]}', 400, "body", "json"),
    ],
)
def test_a_malformed_batch_is_refused_whole_naming_field_and_rule(stack, body, http_status, field, rule):
    status, answer = post(body)
    assert status == http_status and answer["status"] == "REJECTED"
    assert (answer["details"][0]["field"], answer["details"][0]["rule"]) == (field, rule)
    assert raw_keys(stack, "raw/") == [] and len(raw_keys(stack, "rejected/")) == 1


def test_a_batch_over_what_lambda_can_receive_is_a_413_naming_the_limit(stack):
    padding = "x" * (batch.MAX_BATCH_BYTES + 1)
    status, answer = post(json.dumps({"events": [make_event(payload={"p": padding})]}))
    assert status == 413 and answer["details"][0] == {
        "field": "body",
        "rule": "max_bytes",
        "message": f"a batch body must be at most {batch.MAX_BATCH_BYTES} bytes "
        "(API Gateway escapes it into Lambda's 6 MB event; send smaller batches)",
    }


def test_a_single_event_body_is_answered_as_before(stack):
    status, answer = post(make_event(entity_id="single"))
    assert status == 200 and answer["status"] == "ACCEPTED" and "results" not in answer
    status, answer = post({"source": "app", "events": 1})  # an object with "events" is read as a batch
    assert status == 400 and answer["status"] == "REJECTED"
    assert [(d["field"], d["rule"]) for d in answer["details"]] == [("source", "unknown_field")]


def test_batch_metrics_count_each_status(stack, capsys):
    event = make_event(entity_id="m")
    post({"events": [event, event, "bad"]})
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    metrics = {
        name: value for line in emf for name, value in line.items() if name.endswith("Count") or name == "IngestLagMs"
    }
    assert (metrics["IngestCount"], metrics["DuplicateCount"], metrics["RejectedCount"]) == ([1.0], [1.0], [1.0])
    assert len(metrics["IngestLagMs"]) == 2


def _post_bytes(raw: bytes) -> tuple[int, dict]:
    import base64

    from tests.support.events import api_event
    from tests.support.lambdas import LambdaContext

    event = api_event("/ingest", base64.b64encode(raw).decode())
    event["isBase64Encoded"] = True
    response = ingest.handler(event, LambdaContext())
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"])
@pytest.mark.parametrize("shape", ["event", "batch"])
def test_a_utf16_or_utf32_body_is_refused_naming_body_and_utf8(stack, encoding, shape):
    """JSON between systems is UTF-8 (RFC 8259 §8.1); Python's json.loads(bytes) would accept these."""
    body = make_event(entity_id="wide") if shape == "event" else {"events": [make_event(entity_id="wide")]}
    status, answer = _post_bytes(json.dumps(body).encode(encoding))
    assert status == 400 and answer["status"] == "REJECTED"
    assert [(d["field"], d["rule"]) for d in answer["details"]] == [("body", "utf8")]
    assert raw_keys(stack, "raw/") == [] and len(raw_keys(stack, "rejected/")) == 1


def test_a_utf8_byte_order_mark_is_read_past(stack):
    assert _post_bytes(b"\xef\xbb\xbf" + json.dumps(make_event(entity_id="bom")).encode())[1]["status"] == "ACCEPTED"


def test_an_events_key_spelled_with_escapes_is_read_as_a_batch(stack):
    batch = {"events": [make_event(entity_id="esc-1"), make_event(entity_id="esc-2")]}
    body = json.dumps(batch).replace('"events"', '"\\u0065vents"')
    assert '"\\u0065vents"' in body
    status, answer = post(body)
    assert status == 200 and [r["status"] for r in answer["results"]] == ["ACCEPTED", "ACCEPTED"]


def test_a_batch_refused_whole_counts_as_one_request(stack, capsys):
    status, _ = post({"events": []})
    assert status == 400
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    metrics = {name: value for line in emf for name, value in line.items() if name.endswith("Count")}
    assert (metrics["IngestRequestCount"], metrics["RejectedCount"]) == ([1.0], [1.0])
