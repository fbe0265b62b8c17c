"""POST /ingest through the real handler, against moto, with tables from template.yaml."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError

from pik.aws import clients
from pik.core.timefmt import UTC
from pik.handlers import ingest
from tests.support.events import make_event
from tests.support.lambdas import call
from tests.support.stored import items, raw_keys


def post(body, request_id=None):
    return call(ingest, "/ingest", body, request_id)


def test_first_event_is_accepted_and_stored_as_received(stack):
    body = make_event(event_time="2026-11-20T10:00:00+01:00", payload={"b": 1, "a": [1, 2]})
    status, answer = post(body, request_id="req-1")
    assert status == 200 and answer["status"] == "ACCEPTED"
    assert answer["s3_key"] == (
        f"raw/source=checkout/event_type=order_placed/event_date=2026-11-20/{answer['event_id']}.json"
    )
    stored = json.loads(
        boto3.client("s3").get_object(Bucket=stack.outputs["raw_bucket_name"], Key=answer["s3_key"])["Body"].read()
    )
    assert stored["event"] == body
    assert stored["envelope"]["event_id"] == answer["event_id"]
    assert stored["envelope"]["request_id"] == "req-1"
    rows = {row["sk"].split("#")[0]: row for row in items(stack, answer["event_id"])}
    assert rows["META"]["duplicate_count"] == 0 and rows["ATT"]["status"] == "ACCEPTED"
    assert rows["ATT"]["event_time"] == "2026-11-20T09:00:00.000000Z"


def test_duplicate_is_recorded_as_its_own_attempt_and_never_overwrites(stack):
    body = make_event()
    _, first = post(body)
    _, second = post(body)
    _, third = post(body)
    assert [first["status"], second["status"], third["status"]] == ["ACCEPTED", "DUPLICATE", "DUPLICATE"]
    assert second["s3_key"] == first["s3_key"] and second["event_id"] == first["event_id"]
    rows = items(stack, first["event_id"])
    meta = next(r for r in rows if r["sk"] == "META")
    attempts = sorted((r for r in rows if r["sk"].startswith("ATT#")), key=lambda r: r["ingest_time"])
    assert meta["duplicate_count"] == 2 and meta["first_attempt_id"] == first["attempt_id"]
    assert [a["status"] for a in attempts] == ["ACCEPTED", "DUPLICATE", "DUPLICATE"]
    assert len({a["ingest_time"] + a["attempt_id"] for a in attempts}) == 3
    assert raw_keys(stack, "raw/") == [first["s3_key"]]


def test_same_idempotency_key_with_other_payload_is_a_conflict_keeping_both(stack):
    _, first = post(make_event(idempotency_key="order-7", payload={"amount": 1}))
    _, second = post(make_event(idempotency_key="order-7", payload={"amount": 2}))
    _, again = post(make_event(idempotency_key="order-7", payload={"amount": 2}))
    assert (first["status"], second["status"], again["status"]) == ("ACCEPTED", "CONFLICT", "CONFLICT")
    assert second["event_id"] == first["event_id"]
    assert second["s3_key"].startswith("conflicts/") and second["s3_key"] != first["s3_key"]
    s3 = boto3.client("s3")
    kept = json.loads(s3.get_object(Bucket=stack.outputs["raw_bucket_name"], Key=second["s3_key"])["Body"].read())
    assert kept["event"]["payload"] == {"amount": 2}
    meta = next(r for r in items(stack, first["event_id"]) if r["sk"] == "META")
    assert meta["conflict_count"] == 2 and meta["duplicate_count"] == 0


def test_negative_lag_is_recorded_not_clamped(stack):
    ahead = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    _, answer = post(make_event(event_time=ahead))
    assert answer["status"] == "ACCEPTED" and -601_000 <= answer["ingest_lag_ms"] < -590_000


def test_same_instant_in_other_offsets_is_the_same_event(stack):
    _, utc = post(make_event(event_time="2026-11-20T08:00:00Z"))
    _, tokyo = post(make_event(event_time="2026-11-20T17:00:00+09:00"))
    assert tokyo["event_id"] == utc["event_id"] and tokyo["status"] == "DUPLICATE"


def test_thirty_two_concurrent_identical_ingests_accept_exactly_once(stack):
    """32 racing requests, as 32 Lambda containers would run them (the service, one call each)."""
    from pik.aws.dynamodb import EventIndex
    from pik.aws.s3 import DocumentStore
    from pik.services.ingest import ingest as ingest_service
    from pik.settings import Settings

    settings = Settings.from_env()
    body = json.dumps(make_event(entity_id="racer")).encode()

    def one(i):
        return ingest_service(
            body,
            request_id=f"req-{i}",
            now=datetime.now(UTC),
            store=DocumentStore(settings.raw_bucket),
            index=EventIndex(settings.events_table),
            settings=settings,
        )

    with ThreadPoolExecutor(max_workers=32) as pool:
        outcomes = list(pool.map(one, range(32)))
    statuses = sorted(o.status for o in outcomes)
    assert statuses.count("ACCEPTED") == 1 and statuses.count("DUPLICATE") == 31
    event_id = outcomes[0].body["event_id"]
    meta = next(r for r in items(stack, event_id) if r["sk"] == "META")
    assert meta["duplicate_count"] == 31
    assert sorted(r["request_id"] for r in items(stack, event_id) if r["sk"].startswith("ATT#")) == sorted(
        f"req-{i}" for i in range(32)
    )
    assert len(raw_keys(stack, "raw/")) == 1


def test_base64_bodies_are_decoded_and_bad_utf8_is_a_400(stack):
    import base64

    from tests.support.events import api_event
    from tests.support.lambdas import LambdaContext

    good = api_event("/ingest", base64.b64encode(json.dumps(make_event()).encode()).decode())
    good["isBase64Encoded"] = True
    assert json.loads(ingest.handler(good, LambdaContext())["body"])["status"] == "ACCEPTED"
    bad = api_event("/ingest", base64.b64encode(b'{"source": "\xff\xfe"}').decode())
    bad["isBase64Encoded"] = True
    response = ingest.handler(bad, LambdaContext())
    assert response["statusCode"] == 400 and json.loads(response["body"])["details"][0]["rule"] == "utf8"


class Crash(Exception):
    pass


def crash_on(service: str, operation: str, when: str = "before"):
    """Make the next ``operation`` call fail (before it reaches AWS, or after it succeeded)."""
    client = clients.client(service)
    state = {"armed": True}

    def boom(**_):
        if state["armed"]:
            state["armed"] = False
            raise Crash(f"{when} {operation}")

    client.meta.events.register(f"{'before' if when == 'before' else 'after'}-call.{service}.{operation}", boom)
    return state


@pytest.mark.parametrize(
    "service,operation,when",
    [
        ("s3", "PutObject", "before"),
        ("s3", "PutObject", "after"),
        ("dynamodb", "TransactWriteItems", "before"),
        ("dynamodb", "TransactWriteItems", "after"),
    ],
)
def test_crash_at_each_write_boundary_then_retry_loses_nothing(stack, service, operation, when):
    body = make_event(entity_id=f"crash-{operation}-{when}")
    crash_on(service, operation, when)
    with pytest.raises(Crash):
        post(body, request_id="req-crashed")
    status, answer = post(body, request_id="req-retry")
    assert status == 200
    # Once the first request's bytes are stored, that request is the ACCEPTED one (its arrival is
    # the event's); the retry completes the metadata if needed and is a DUPLICATE of it.
    stored = (service, when) != ("s3", "before")
    assert answer["status"] == ("DUPLICATE" if stored else "ACCEPTED")
    assert raw_keys(stack, "raw/") == [answer["s3_key"]]
    rows = items(stack, answer["event_id"])
    accepted = [r for r in rows if r["sk"].startswith("ATT#") and r["status"] == "ACCEPTED"]
    assert len(accepted) == 1
    envelope = json.loads(
        boto3.client("s3").get_object(Bucket=stack.outputs["raw_bucket_name"], Key=answer["s3_key"])["Body"].read()
    )["envelope"]
    assert accepted[0]["request_id"] == envelope["request_id"] == ("req-crashed" if stored else "req-retry")
    meta = next(r for r in rows if r["sk"] == "META")
    assert meta["s3_key"] == answer["s3_key"] and meta["first_attempt_id"] == envelope["attempt_id"]


def test_storage_outage_answers_503_and_the_retry_succeeds(stack):
    body = make_event(entity_id="outage")
    client = clients.client("dynamodb")

    def unavailable(**_):
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "down"}}, "TransactWriteItems")

    client.meta.events.register_first("before-call.dynamodb.TransactWriteItems", unavailable, unique_id="outage")
    status, answer = post(body)
    assert status == 503 and "retry" in answer["error"]
    client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", unique_id="outage")
    status, answer = post(body)
    assert (status, answer["status"]) == (200, "DUPLICATE")  # of the first request, whose bytes were stored
    accepted = [r for r in items(stack, answer["event_id"]) if r.get("status") == "ACCEPTED"]
    assert len(accepted) == 1


def test_a_crashed_first_attempt_with_other_content_wins_and_the_retry_is_a_conflict(stack):
    first = make_event(idempotency_key="k-1", payload={"v": 1})
    crash_on("dynamodb", "TransactWriteItems", "before")
    with pytest.raises(Crash):
        post(first)
    _, answer = post(make_event(idempotency_key="k-1", payload={"v": 2}, event_time=first["event_time"]))
    assert answer["status"] == "CONFLICT"
    _, retry = post(first)
    assert retry["status"] == "DUPLICATE"
    rows = items(stack, answer["event_id"])
    assert sorted(r["status"] for r in rows if "status" in r) == ["ACCEPTED", "CONFLICT", "DUPLICATE"]


def test_dry_run_validates_and_answers_but_writes_nothing(stack, monkeypatch):
    monkeypatch.setenv("DRY_RUN", "true")
    status, answer = post(make_event())
    assert status == 200 and answer["dry_run"] is True and answer["status"] == "ACCEPTED"
    status, bad = post({"source": "x"})
    assert status == 400
    assert raw_keys(stack) == []
    assert boto3.client("dynamodb").scan(TableName=stack.outputs["events_table_name"])["Count"] == 0


LONG = "x" * 300
BAD_INPUT = [
    ("not json", "body", "json", 400),
    ("[1, 2]", "body", "object", 400),
    ('"text"', "body", "object", 400),
    ('{"a": 1, "a": 2}', "body", "json", 400),
    (json.dumps(make_event(source=None)), "source", "required", 400),
    (json.dumps(make_event(source=7)), "source", "type", 400),
    (json.dumps(make_event(source="a/b")), "source", "pattern", 400),
    (json.dumps(make_event(source="..")), "source", "pattern", 400),
    (json.dumps(make_event(source="a..b")), "source", "pattern", 400),
    (json.dumps(make_event(event_type="a#b")), "event_type", "pattern", 400),
    (json.dumps(make_event(event_type="k=v")), "event_type", "pattern", 400),
    (json.dumps(make_event(event_type="x" * 65)), "event_type", "max_length", 400),
    (json.dumps(make_event(entity_id="")), "entity_id", "min_length", 400),
    (json.dumps(make_event(entity_id=LONG)), "entity_id", "max_length", 400),
    (json.dumps(make_event(entity_id="a\nb")), "entity_id", "no_control_chars", 400),
    (json.dumps(make_event(entity_id="a\u202eb")), "entity_id", "no_control_chars", 400),
    (json.dumps(make_event(event_time="yesterday")), "event_time", "iso8601", 400),
    (json.dumps(make_event(event_time="2026-11-20T10:00:00")), "event_time", "offset_required", 400),
    (json.dumps(make_event(event_time="1970-01-01T00:00:00Z")), "event_time", "range", 400),
    (json.dumps(make_event(event_time="2999-01-01T00:00:00Z")), "event_time", "range", 400),
    (json.dumps(make_event(event_time=1700000000)), "event_time", "type", 400),
    (json.dumps(make_event(payload="text")), "payload", "type", 400),
    (json.dumps(make_event(payload=None)), "payload", "type", 400),
    (json.dumps({k: v for k, v in make_event().items() if k != "payload"}), "payload", "required", 400),
    (
        json.dumps(make_event(payload=[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]])),
        "payload",
        "max_depth",
        400,
    ),
    (json.dumps(make_event(payload={"blob": "y" * 300_000})), "payload", "max_bytes", 413),
    (json.dumps(make_event(payload={"blob": "y" * 1_100_000})), "body", "max_bytes", 413),
    ('{"source": "a", "payload": {"x": NaN}}', "body", "json", 400),
    (json.dumps(make_event(idempotency_key=LONG)), "idempotency_key", "max_length", 400),
    (json.dumps({**make_event(), "extra": 1}), "extra", "unknown_field", 400),
    # hostile numbers and text: never a 5xx, never stored
    (json.dumps(make_event(payload={"a": 1})).replace('"a": 1', '"a": 1e400'), "body", "number_range", 400),
    (json.dumps(make_event(payload={"a": 1})).replace('"a": 1', '"a": -1e999'), "body", "number_range", 400),
    (json.dumps(make_event(payload={"a": 1})).replace('"a": 1', '"a": 1e-400'), "body", "number_range", 400),
    (json.dumps(make_event(payload={"a": 1})).replace('"a": 1', '"a": NaN'), "body", "json", 400),
    (json.dumps(make_event(payload={"a": 1})).replace('"a": 1', '"a": Infinity'), "body", "json", 400),
    (json.dumps(make_event(payload={"a": "\ud800"})), "payload", "unicode", 400),
    (json.dumps(make_event(payload={"\udc00": 1})), "payload", "unicode", 400),
    (json.dumps(make_event(payload=[[{"deep": ["\udbff"]}]])), "payload", "unicode", 400),
    (json.dumps(make_event(entity_id="u\ud800")), "entity_id", "unicode", 400),
]


@pytest.mark.parametrize("body,field,rule,http_status", BAD_INPUT)
def test_bad_input_is_rejected_naming_field_and_rule_and_only_quarantined(stack, body, field, rule, http_status):
    status, answer = post(body)
    assert status == http_status and answer["status"] == "REJECTED"
    assert {"field": field, "rule": rule} in [{"field": d["field"], "rule": d["rule"]} for d in answer["details"]]
    assert raw_keys(stack) == [answer["rejected_key"]]
    stored = json.loads(
        boto3.client("s3")
        .get_object(Bucket=stack.outputs["raw_bucket_name"], Key=answer["rejected_key"])["Body"]
        .read()
    )
    assert stored["errors"] == answer["details"]
    assert len(stored["body"]) <= 65_536 and stored["body_bytes"] == len(body.encode())
    assert boto3.client("dynamodb").scan(TableName=stack.outputs["events_table_name"])["Count"] == 0


def test_arrival_is_when_api_gateway_received_the_request(stack):
    from tests.support.events import api_event
    from tests.support.lambdas import LambdaContext

    received = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    body = make_event(event_time=(received - timedelta(seconds=90)).isoformat())
    response = ingest.handler(api_event("/ingest", body, arrived_ms=int(received.timestamp() * 1000)), LambdaContext())
    answer = json.loads(response["body"])
    assert answer["ingest_lag_ms"] == 90_000
    [attempt] = [r for r in items(stack, answer["event_id"]) if r["sk"].startswith("ATT#")]
    assert attempt["ingest_time"] == received.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def transaction_conflicts(times: int) -> list[int]:
    """Cancel the next ``times`` TransactWriteItems calls as DynamoDB does when another transaction
    is writing the same item (moto never does); the list counts the calls made."""
    client = clients.client("dynamodb")
    calls: list[int] = []

    def conflict(**_):
        calls.append(1)
        if len(calls) <= times:
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                    "CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}],
                },
                "TransactWriteItems",
            )

    client.meta.events.register_first("before-call.dynamodb.TransactWriteItems", conflict, unique_id="conflict")
    return calls


def test_transaction_conflicts_are_retried_and_the_event_is_accepted_once(stack):
    calls = transaction_conflicts(times=3)
    status, answer = post(make_event(entity_id="contended"))
    clients.client("dynamodb").meta.events.unregister("before-call.dynamodb.TransactWriteItems", unique_id="conflict")
    assert (status, answer["status"], len(calls)) == (200, "ACCEPTED", 4)
    rows = items(stack, answer["event_id"])
    assert sorted(r.get("status", "META") for r in rows) == ["ACCEPTED", "META"]


def test_contention_that_outlasts_the_retries_is_a_503_and_writes_no_metadata(stack):
    from pik.aws.dynamodb import TRANSACT_ATTEMPTS

    calls = transaction_conflicts(times=1_000)
    body = make_event(entity_id="contended-long")
    status, answer = post(body)
    clients.client("dynamodb").meta.events.unregister("before-call.dynamodb.TransactWriteItems", unique_id="conflict")
    assert status == 503 and len(calls) == TRANSACT_ATTEMPTS
    assert boto3.client("dynamodb").scan(TableName=stack.outputs["events_table_name"])["Count"] == 0
    status, retry = post(body)  # the raw object is there: the retry completes the metadata
    assert (status, retry["status"]) == (200, "DUPLICATE")
    assert [r.get("status") for r in items(stack, retry["event_id"])].count("ACCEPTED") == 1


def paused_after_raw_write(request_id: str) -> tuple[threading.Event, threading.Event]:
    """Hold the request ``request_id`` right after its raw object is stored, until released:
    (stored, release). Other requests pass through. Forces the interleaving deterministically."""
    stored, release = threading.Event(), threading.Event()
    client = clients.client("s3")

    def hold(**_):
        if threading.current_thread().name == request_id and not stored.is_set():
            stored.set()
            assert release.wait(timeout=30)

    client.meta.events.register("after-call.s3.PutObject", hold, unique_id=f"hold-{request_id}")
    return stored, release


@pytest.mark.parametrize("second_payload,second_status", [({"v": 2}, "CONFLICT"), ({"v": 1}, "DUPLICATE")])
def test_a_request_paused_after_its_raw_write_is_still_the_accepted_one(stack, second_payload, second_status):
    """A stores its bytes and stalls; B arrives, finds A's bytes, records A as ACCEPTED and itself
    as the repeat; A resumes and is answered ACCEPTED. Raw envelope and metadata both name A."""
    first = make_event(idempotency_key="race", payload={"v": 1})
    second = {**first, "payload": second_payload}
    stored, release = paused_after_raw_write("req-A")
    answers: dict[str, tuple[int, dict]] = {}
    a = threading.Thread(target=lambda: answers.__setitem__("A", post(first, request_id="req-A")), name="req-A")
    a.start()
    assert stored.wait(timeout=30)
    answers["B"] = post(second, request_id="req-B")
    release.set()
    a.join(timeout=30)
    clients.client("s3").meta.events.unregister("after-call.s3.PutObject", unique_id="hold-req-A")
    assert (answers["A"][0], answers["A"][1]["status"]) == (200, "ACCEPTED")
    assert (answers["B"][0], answers["B"][1]["status"]) == (200, second_status)
    rows = items(stack, answers["A"][1]["event_id"])
    attempts = sorted((r["status"], r["request_id"]) for r in rows if r["sk"].startswith("ATT#"))
    assert attempts == sorted([("ACCEPTED", "req-A"), (second_status, "req-B")])
    meta = next(r for r in rows if r["sk"] == "META")
    assert meta["first_attempt_id"] == answers["A"][1]["attempt_id"]
    s3 = boto3.client("s3")
    envelope = json.loads(
        s3.get_object(Bucket=stack.outputs["raw_bucket_name"], Key=answers["A"][1]["s3_key"])["Body"].read()
    )["envelope"]
    assert envelope["request_id"] == "req-A" and envelope["attempt_id"] == answers["A"][1]["attempt_id"]
    if second_status == "CONFLICT":  # both payloads kept
        kept = json.loads(
            s3.get_object(Bucket=stack.outputs["raw_bucket_name"], Key=answers["B"][1]["s3_key"])["Body"].read()
        )
        assert kept["event"]["payload"] == {"v": 2} and meta["conflict_count"] == 1


def test_a_duplicate_storm_contending_on_the_gate_counter_still_answers_every_request(stack):
    """Repeats of one event all count on its gate; contention there (TransactionConflictException
    on the counter update) is retried, and if it outlasts the retries the attempt is still stored."""
    body = make_event(entity_id="storm")
    assert post(body)[1]["status"] == "ACCEPTED"
    client = clients.client("dynamodb")
    conflicts = {"left": 2}

    def busy(**_):
        if conflicts["left"]:
            conflicts["left"] -= 1
            raise ClientError({"Error": {"Code": "TransactionConflictException", "Message": "busy"}}, "UpdateItem")

    client.meta.events.register_first("before-call.dynamodb.UpdateItem", busy, unique_id="busy")
    try:
        assert post(body)[1]["status"] == "DUPLICATE"  # counted after two retries
        conflicts["left"] = 10_000
        status, answer = post(body)  # never counted, still recorded and answered
    finally:
        client.meta.events.unregister("before-call.dynamodb.UpdateItem", unique_id="busy")
    assert (status, answer["status"]) == (200, "DUPLICATE")
    rows = items(stack, answer["event_id"])
    assert sorted(r.get("status", "META") for r in rows) == ["ACCEPTED", "DUPLICATE", "DUPLICATE", "META"]
    assert next(r for r in rows if r["sk"] == "META")["duplicate_count"] == 1  # one short, never over
