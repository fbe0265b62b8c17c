"""A replay run sends each matched event at most once, whatever the client does: continuations
are single-use, validated and bound to the requester; progress survives a crash after any
batch; concurrent callers with one token share one executor; a dry run executes once by its id.

Interleavings are forced with botocore event hooks and barriers (no sleeps); what reached the
queue is counted in moto's SQS queue itself."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import boto3
import pytest

from pik.aws import clients
from pik.aws.dynamodb import Table
from pik.core.timefmt import UTC
from pik.handlers import ingest, replay
from pik.services import replay as replay_service
from tests.support.events import api_event, make_event
from tests.support.lambdas import LambdaContext, call
from tests.support.replays import DAY, ONCALL, Killed, drain, replay_id_of, run_service, seed, stored, window

OTHER = "arn:aws:iam::123456789012:user/intruder"


def call_as(requester: str, body: dict) -> tuple[int, dict]:
    event = api_event("/replay", body)
    event["requestContext"]["identity"]["userArn"] = requester
    response = replay.handler(event, LambdaContext())
    return response["statusCode"], json.loads(response["body"])


def once_each(bodies: list[dict]) -> Counter:
    return Counter(body["event_id"] for body in bodies)


@pytest.fixture
def on_send():
    """Register a hook on SendMessageBatch (``before-call`` or ``after-call``); removed afterwards."""
    client, registered = clients.client("sqs"), []

    def register(when: str, hook):
        name = f"{when}.sqs.SendMessageBatch"
        client.meta.events.register(name, hook)
        registered.append((name, hook))

    yield register
    for name, hook in registered:
        client.meta.events.unregister(name, hook)


def crash_on_batch(n: int, error: BaseException):
    """A hook raising ``error`` on the n-th SendMessageBatch (1-based), once."""
    seen = []

    def hook(**_):
        seen.append(1)
        if len(seen) == n:
            raise error

    return hook


# -- continuations -------------------------------------------------------------------------------


def test_a_used_continuation_answers_the_current_run_and_sends_nothing(stack):
    ids = seed(count=7)
    request = window(entity_id="customer-42", dry_run=False, limit=3)
    _, first = call(replay, "/replay", request)
    _, second = call(replay, "/replay", {**request, "continuation": first["continuation"]})
    assert (first["stopped"], second["stopped"], second["sent"]) == ("limit", "limit", 6)
    status, repeat = call(replay, "/replay", {**request, "continuation": first["continuation"]})
    assert status == 200 and repeat == second  # the run as it stands, its current continuation included
    _, last = call(replay, "/replay", {**request, "continuation": repeat["continuation"]})
    _, again = call(replay, "/replay", {**request, "continuation": repeat["continuation"]})
    assert (last["status"], last["stopped"], last["continuation"], last["sent"]) == ("COMPLETED", "completed", None, 7)
    assert again == last
    assert once_each(drain(stack)) == Counter(ids)


def forged(replay_id: str, **fields) -> str:
    return base64.urlsafe_b64encode(json.dumps({"replay_id": replay_id, **fields}).encode()).decode()


def test_forged_continuations_are_400s_naming_field_and_rule(stack):
    seed(count=4)
    request = window(entity_id="customer-42", dry_run=False, limit=2)
    _, run = call(replay, "/replay", request)
    rid = run["replay_id"]
    for continuation, rule in [
        (forged(rid, step=1, after="EVT#x"), "format"),  # cursors are kept on the run, never taken from a client
        (forged(rid, step="1"), "step"),
        (forged(rid, step=99), "step"),  # ahead of the run: never issued
        (forged("rp-zzz", step=1), "replay_id"),
        ("%%%", "format"),
    ]:
        status, answer = call(replay, "/replay", {**request, "continuation": continuation})
        assert status == 400, (continuation, answer)
        assert [(d["field"], d["rule"]) for d in answer["details"]] == [("continuation", rule)]
    assert stored(stack, rid)["sent"] == 2 and len(drain(stack)) == 2


def test_under_dry_run_env_the_cursor_travels_in_the_continuation_and_is_checked(stack, monkeypatch):
    seed(count=5)
    monkeypatch.setenv("DRY_RUN", "true")
    request = {"source": "checkout", "event_type": "order_placed", "limit": 2, "dry_run": False, **window()}
    _, part = call(replay, "/replay", request)
    pages = [part]
    while part["continuation"]:
        _, part = call(replay, "/replay", {**request, "continuation": part["continuation"]})
        pages.append(part)
    assert part["status"] == "COMPLETED" and [p["matched"] for p in pages] == [2, 2, 1]  # nothing recorded: per call
    assert {p["replay_id"] for p in pages} == {pages[0]["replay_id"]} and sum(p["sent"] for p in pages) == 0
    outside = forged(part["replay_id"], step=0, cursor={"day": "1999-01-01"})
    as_text = forged(part["replay_id"], step=0, cursor={"day": window()["start_time"][:10], "after": "EVT#x"})
    for continuation, rule in [(outside, "day"), (as_text, "after")]:
        status, answer = call(replay, "/replay", {**request, "continuation": continuation})
        assert status == 400 and [(d["field"], d["rule"]) for d in answer["details"]] == [("continuation", rule)]
    assert boto3.client("dynamodb").scan(TableName=stack.outputs["replays_table_name"])["Count"] == 0
    assert drain(stack) == []


def test_a_continuation_is_bound_to_its_requester(stack):
    seed(count=4)
    request = window(entity_id="customer-42", dry_run=False, limit=2)
    _, run = call(replay, "/replay", request)
    status, answer = call_as(OTHER, {**request, "continuation": run["continuation"]})
    assert status == 403 and "another requester" in answer["error"]
    status, answer = call_as(OTHER, {"replay_id": run["replay_id"]})
    assert status == 403
    item = stored(stack, run["replay_id"])
    assert (item["requester"], item["sent"], item["status"]) == (ONCALL, 2, "PARTIAL")
    assert len(drain(stack)) == 2


# -- crashes -------------------------------------------------------------------------------------


def test_a_run_that_fails_after_batch_k_resumes_with_its_token_and_sends_each_event_once(stack, on_send):
    ids = seed(count=30, step=timedelta(minutes=1))
    request = window(entity_id="customer-42", dry_run=False, client_token="crash-1")
    on_send("before-call", crash_on_batch(2, RuntimeError("connection reset")))  # batch 2 never reaches SQS
    with pytest.raises(RuntimeError):
        run_service(request)
    assert len(drain_keep(stack)) == 10
    run = run_service(request)
    assert (run["status"], run["matched"], run["sent"]) == ("COMPLETED", 30, 30)
    assert once_each(drain(stack)) == Counter(ids)


def drain_keep(stack) -> list[dict]:
    """The messages in the queue now, left there (visibility reset to 0)."""
    sqs, url, bodies, handles = boto3.client("sqs"), stack.outputs["replay_queue_url"], [], []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            break
        bodies += [json.loads(m["Body"]) for m in got]
        handles += [m["ReceiptHandle"] for m in got]
    for handle in handles:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    return bodies


def test_a_killed_run_is_in_progress_until_its_lease_ends_then_resumes_from_its_last_batch(stack, on_send):
    ids = seed(count=30, step=timedelta(minutes=1))
    request = window(entity_id="customer-42", dry_run=False, client_token="kill-1")
    on_send("before-call", crash_on_batch(3, Killed()))  # killed mid-run: nothing released
    with pytest.raises(Killed):
        run_service(request)
    item = stored(stack, replay_id_of(request))
    assert (item["status"], item["sent"], item["step"]) == ("RUNNING", 20, 2)
    later = datetime.now(UTC) + timedelta(seconds=31)  # past the killed call's Lambda deadline
    run = run_service(request, clock=lambda: later)
    assert (run["status"], run["matched"], run["sent"]) == ("COMPLETED", 30, 30)
    assert once_each(drain(stack)) == Counter(ids)


def test_while_the_lease_lasts_another_caller_is_told_the_run_is_in_progress(stack, on_send):
    seed(count=12, step=timedelta(minutes=1))
    request = window(entity_id="customer-42", dry_run=False, client_token="kill-2")
    on_send("before-call", crash_on_batch(2, Killed()))
    with pytest.raises(Killed):
        run_service(request)
    polls, left = [], iter([30_000, 30_000, 30_000, 4_000])  # the caller's own time runs low while it waits
    answer = run_service(request, wait=polls.append, remaining_ms=lambda: next(left))
    assert (answer["status"], answer["sent"], answer["continuation"]) == ("RUNNING", 10, None) and len(polls) == 2
    assert answer == replay_service.answer(
        Table(stack.outputs["replays_table_name"]).get(f"RUN#{replay_id_of(request)}", "RUN")
    )  # the run as it stands: in progress, counts as saved
    assert len(drain(stack)) == 10


def test_a_batch_that_reached_the_queue_before_the_crash_is_the_only_one_sent_twice(stack, on_send):
    ids = seed(count=30, step=timedelta(minutes=1))
    request = window(entity_id="customer-42", dry_run=False, client_token="crash-2")
    on_send("after-call", crash_on_batch(2, RuntimeError("lost the answer")))  # batch 2 is in the queue
    with pytest.raises(RuntimeError):
        run_service(request)
    run = run_service(request)
    assert (run["status"], run["matched"], run["sent"]) == ("COMPLETED", 30, 30)
    counts = once_each(drain(stack))
    assert set(counts) == set(ids)
    assert sum(counts.values()) - len(ids) <= 10 and max(counts.values()) == 2


# -- concurrency ---------------------------------------------------------------------------------


def test_concurrent_callers_with_one_token_share_one_executor_and_one_answer(stack, on_send):
    ids = seed(count=25, step=timedelta(minutes=1))
    request = window(entity_id="customer-42", dry_run=False, client_token="double-click")
    callers = 8
    start, seen_running = threading.Barrier(callers), threading.Semaphore(0)
    dynamodb, table = clients.client("dynamodb"), stack.outputs["replays_table_name"]

    def count_running_reads(parsed, model, **_):  # another caller found the run in progress
        if model.name == "GetItem" and parsed.get("Item", {}).get("status", {}).get("S") == "RUNNING":
            seen_running.release()

    def hold_executor(params, **_):  # the executor's first batch waits until all others saw RUNNING
        if not hold_executor.done:
            hold_executor.done = True
            for _ in range(callers - 1):
                assert seen_running.acquire(timeout=60)

    hold_executor.done = False
    dynamodb.meta.events.register("after-call.dynamodb.GetItem", count_running_reads)
    on_send("before-call", hold_executor)

    def one(_):
        start.wait()
        return run_service(request, wait=lambda s: None)  # polls without pausing: the test is not timed

    try:
        with ThreadPoolExecutor(callers) as pool:
            answers = list(pool.map(one, range(callers)))
    finally:
        dynamodb.meta.events.unregister("after-call.dynamodb.GetItem", count_running_reads)
    final = replay_service.answer(Table(table).get(f"RUN#{answers[0]['replay_id']}", "RUN"))
    assert all(answer == final for answer in answers)
    assert (final["status"], final["sent"]) == ("COMPLETED", 25)
    assert once_each(drain(stack)) == Counter(ids)


def test_two_callers_with_one_fresh_continuation_advance_the_run_once(stack):
    ids = seed(count=9, step=timedelta(minutes=1))
    request = window(entity_id="customer-42", dry_run=False, limit=3, client_token="race-1")
    first = run_service(request)
    both, local = threading.Barrier(2), threading.local()
    dynamodb = clients.client("dynamodb")

    def meet_before_claiming(params, **_):  # both have read the PARTIAL run; both now try to claim it
        if not getattr(local, "met", False):
            local.met = True
            both.wait(timeout=60)

    dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", meet_before_claiming)
    try:
        with ThreadPoolExecutor(2) as pool:
            answers = list(
                pool.map(
                    lambda _: run_service({**request, "continuation": first["continuation"]}, wait=lambda s: None),
                    range(2),
                )
            )
    finally:
        dynamodb.meta.events.unregister("before-call.dynamodb.UpdateItem", meet_before_claiming)
    assert answers[0] == answers[1] and answers[0]["sent"] == 6
    assert once_each(drain(stack)) == Counter(ids[:6])


# -- without a token -----------------------------------------------------------------------------


def test_a_reviewed_dry_run_executes_once_by_its_id(stack):
    ids = seed(count=5)
    _, preview = call(replay, "/replay", window(entity_id="customer-42"))
    execute = {"replay_id": preview["replay_id"], "dry_run": False}
    _, run = call(replay, "/replay", execute)
    _, again = call(replay, "/replay", execute)
    assert run["replay_id"] != preview["replay_id"]
    assert (run["dry_run"], run["status"], run["sent"]) == (False, "COMPLETED", 5)
    assert again == run
    assert once_each(drain(stack)) == Counter(ids)
    assert stored(stack, run["replay_id"])["preview_id"] == preview["replay_id"]
    _, looked_up = call(replay, "/replay", {"replay_id": preview["replay_id"]})
    assert looked_up == preview  # naming a run without dry_run=false only reads it
    _, executed_again = call(replay, "/replay", {"replay_id": run["replay_id"], "dry_run": False})
    assert executed_again == run and drain(stack) == []
    assert call_as(OTHER, execute)[0] == 403
    status, answer = call(replay, "/replay", {**execute, "entity_id": "customer-42"})
    assert status == 400 and answer["details"][0]["rule"] == "with_replay_id"


def test_run_executes_the_reviewed_dry_run_exactly_its_scope_once(stack):
    ids = seed(count=3)
    others = seed(entity="customer-7", count=2)  # same window, outside the reviewed scope
    _, preview = call(replay, "/replay", window(entity_id="customer-42", limit=2))
    status, run = call(replay, "/replay", {"run": preview["replay_id"]})
    while status == 200 and run["continuation"]:
        status, run = call(replay, "/replay", {"run": preview["replay_id"], "continuation": run["continuation"]})
    assert status == 200, run
    assert (run["dry_run"], run["status"], run["matched"], run["sent"]) == (False, "COMPLETED", 3, 3)
    assert run["request"]["entity_id"] == "customer-42" and run["request"]["limit"] == 2
    assert once_each(drain(stack)) == Counter(ids) and not set(others) & set(ids)
    assert stored(stack, run["replay_id"])["preview_id"] == preview["replay_id"]
    _, again = call(replay, "/replay", {"run": preview["replay_id"]})
    assert again["replay_id"] == run["replay_id"] and again["sent"] == 3 and drain(stack) == []
    assert call_as(OTHER, {"run": preview["replay_id"]})[0] == 403
    assert call(replay, "/replay", {"run": "rp-" + "0" * 32})[0] == 404


# --- execute what you reviewed: attempts recorded after the dry run began are not sent (issue 19, 11) --
def _ingest_at(body: dict, arrived_ms: int) -> dict:
    """``body`` ingested as API Gateway received it at ``arrived_ms`` (its attempt's ingest_time)."""
    response = ingest.handler(api_event("/ingest", body, arrived_ms=arrived_ms), LambdaContext())
    assert response["statusCode"] == 200, response
    return json.loads(response["body"])


def _reviewed_then_late(stack) -> tuple[dict, dict, list[str]]:
    """Three events and a duplicate of the first, previewed with include_duplicates (matched 4); then,
    recorded after the dry run began, a new event of the scope (ACCEPTED) that arrived a minute before it
    (a tap record that waited in its queue) and a duplicate of the second (DUPLICATE) arriving a second
    after it. The dry run, the two late answers and the seeded ids."""
    ids = seed(count=3)
    first, second = (
        make_event(event_time=(DAY + timedelta(minutes=7 * i)).isoformat(), payload={"amount": i}) for i in (0, 1)
    )
    assert _ingest_at(first, int(time.time() * 1000))["status"] == "DUPLICATE"
    _, preview = call(replay, "/replay", window(entity_id="customer-42", include_duplicates=True))
    assert (preview["dry_run"], preview["scanned"], preview["matched"]) == (True, 4, 4)
    began = int(datetime.fromisoformat(preview["created_at"]).timestamp() * 1000)
    new = make_event(event_time=(DAY + timedelta(hours=5)).isoformat(), payload={"amount": 99})
    late = {"ACCEPTED": _ingest_at(new, began - 60_000), "DUPLICATE": _ingest_at(second, began + 1_000)}
    assert {status: answer["status"] for status, answer in late.items()} == {
        "ACCEPTED": "ACCEPTED",
        "DUPLICATE": "DUPLICATE",
    }
    return preview, late, ids


def test_executing_a_dry_run_leaves_out_an_event_and_a_duplicate_recorded_after_it_began(stack):
    """The execution reads both late attempts (scanned 6) and sends only the 4 reviewed (matched 4, sent 4);
    its recorded request says which attempts it covers (recorded_by: the dry run's created_at)."""
    preview, late, ids = _reviewed_then_late(stack)
    status, run = call(replay, "/replay", {"run": preview["replay_id"]})
    assert status == 200, run
    assert (run["dry_run"], run["status"], run["scanned"], run["matched"], run["sent"]) == (
        False,
        "COMPLETED",
        6,
        4,
        4,
    )
    assert run["request"]["recorded_by"] == preview["created_at"]
    assert run["request"]["include_duplicates"] is True
    sent = Counter((body["event_id"], body["status"]) for body in drain(stack))
    assert sent == Counter([(i, "ACCEPTED") for i in ids] + [(ids[0], "DUPLICATE")])  # each once, as reviewed
    assert late["ACCEPTED"]["event_id"] not in {event_id for event_id, _ in sent}
    assert stored(stack, run["replay_id"])["request"]["recorded_by"] == preview["created_at"]


def test_an_execution_not_from_a_dry_run_sends_what_has_arrived_late_events_included(stack):
    """The same scope executed directly (no ``run``) has no such bound: the late event and the late
    duplicate go too."""
    _, late, ids = _reviewed_then_late(stack)
    _, run = call(replay, "/replay", window(entity_id="customer-42", include_duplicates=True, dry_run=False))
    assert (run["dry_run"], run["status"], run["scanned"], run["matched"], run["sent"]) == (
        False,
        "COMPLETED",
        6,
        6,
        6,
    )
    assert "recorded_by" not in run["request"]
    sent = Counter((body["event_id"], body["status"]) for body in drain(stack))
    assert sent == Counter(
        [(i, "ACCEPTED") for i in ids]
        + [(ids[0], "DUPLICATE"), (ids[1], "DUPLICATE"), (late["ACCEPTED"]["event_id"], "ACCEPTED")]
    )


@pytest.mark.parametrize(
    "body, field, rule",
    [
        ({"run": "rp-x"}, "run", "pattern"),
        ({"run": ["rp-" + "0" * 32]}, "run", "pattern"),
        ({"run": "rp-" + "0" * 32, "entity_id": "customer-7"}, "entity_id", "with_run"),
        ({"run": "rp-" + "0" * 32, "dry_run": True}, "dry_run", "with_run"),
        ({"run": "rp-" + "0" * 32, "target": {"sqs": "https://sqs.eu-west-1.amazonaws.com/1/q"}}, "target", "with_run"),
    ],
)
def test_run_beside_anything_that_would_change_its_scope_is_a_400_naming_the_field(stack, body, field, rule):
    status, answer = call(replay, "/replay", body)
    assert status == 400 and (answer["details"][0]["field"], answer["details"][0]["rule"]) == (field, rule), answer


def test_a_bounded_dry_run_executes_page_by_page_by_its_id(stack):
    ids = seed(count=5)
    _, preview = call(replay, "/replay", window(entity_id="customer-42", limit=2))
    execute = {"replay_id": preview["replay_id"], "dry_run": False}
    _, part = call(replay, "/replay", execute)
    while part["continuation"]:
        _, part = call(replay, "/replay", {**execute, "continuation": part["continuation"]})
    assert (part["status"], part["sent"]) == ("COMPLETED", 5)
    assert once_each(drain(stack)) == Counter(ids)


def test_the_same_scope_without_a_token_is_a_new_run_each_time(stack):
    seed(count=2)
    request = window(entity_id="customer-42", dry_run=False)
    _, one = call(replay, "/replay", request)
    _, two = call(replay, "/replay", request)
    assert one["replay_id"] != two["replay_id"] and len(drain(stack)) == 4


def test_a_run_stopped_by_time_says_so(stack):
    seed(count=3)
    status, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False), remaining_ms=1_000)
    assert (status, run["status"], run["stopped"]) == (200, "PARTIAL", "time")


def test_the_message_metric_counts_what_this_call_sent(stack, capsys):
    seed(count=3)
    request = window(entity_id="customer-42", dry_run=False, client_token="metric-1")
    call(replay, "/replay", request)
    call(replay, "/replay", request)  # the same run answered again: nothing sent
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"ReplayMessageCount"' in line]
    assert [line["ReplayMessageCount"] for line in lines] == [[3.0], [0.0]]
