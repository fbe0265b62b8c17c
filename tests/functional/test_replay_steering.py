"""Choosing events by id, pacing at ``rate_per_second`` (a fake clock: waits are recorded, never
slept), and steering runs with ``POST /replay/{id}``: pause, resume, cancel, also while another
call is executing the run (the action is asked for from inside that call's send hook)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from pik.aws.dynamodb import EventIndex, Table
from pik.aws.s3 import DocumentStore
from pik.aws.sqs import ReplayQueue
from pik.bootstrap import replay_target
from pik.core.errors import ValidationError
from pik.core.timefmt import UTC
from pik.handlers import replay
from pik.services import replay as replay_service
from pik.settings import Settings
from tests.support.events import api_event
from tests.support.lambdas import LambdaContext, call
from tests.support.replays import drain, seed, window

ONCALL = "arn:aws:iam::123456789012:user/oncall"


class FakeClock:
    """Time that moves only when the replay waits; every wait is recorded."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
        self.waits: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def wait(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += timedelta(seconds=seconds)


def wiring(clock: FakeClock | None = None, on_sent=lambda sent: None) -> replay_service.Wiring:
    settings = Settings.from_env()
    extra = {"clock": clock, "wait": clock.wait} if clock else {}
    return replay_service.Wiring(
        EventIndex(settings.events_table),
        Table(settings.replays_table),
        ReplayQueue(settings.replay_queue_url),
        DocumentStore(settings.raw_bucket),
        lambda t: replay_target(settings, t),
        "123456789012",
        on_sent=on_sent,
        **extra,
    )


def run_service(body: dict, w: replay_service.Wiring, remaining_ms=lambda: 30_000) -> dict:
    return replay_service.replay(
        body, requester=ONCALL, now=w.clock(), remaining_ms=remaining_ms, settings=Settings.from_env(), wiring=w
    )


def steer_service(replay_id: str, action: str, w: replay_service.Wiring) -> dict:
    return replay_service.steer(
        replay_id,
        {"action": action},
        requester=ONCALL,
        now=w.clock(),
        remaining_ms=lambda: 30_000,
        settings=Settings.from_env(),
        wiring=w,
    )


def steer_call(replay_id: str, body) -> tuple[int, dict]:
    event = api_event(f"/replay/{replay_id}", body)
    event["resource"] = event["requestContext"]["resourcePath"] = "/replay/{replay_id}"
    event["pathParameters"] = {"replay_id": replay_id}
    response = replay.handler(event, LambdaContext())
    return response["statusCode"], json.loads(response["body"])


# --- event_ids --------------------------------------------------------------------------------
def test_event_ids_replay_exactly_the_listed_events_and_count_unknown_ones(stack):
    ids = seed(count=6)
    unknown = "0" * 64
    chosen = [ids[4], ids[1], unknown, ids[4]]  # a repeat is sent once
    status, run = call(replay, "/replay", {"event_ids": chosen, "dry_run": False})
    assert status == 200, run
    assert (run["status"], run["scanned"], run["matched"], run["sent"]) == ("COMPLETED", 3, 2, 2)
    assert sorted(b["event_id"] for b in drain(stack)) == sorted([ids[4], ids[1]])
    assert run["request"]["event_ids_count"] == 3


def test_event_ids_are_validated_naming_the_bad_entry(stack):
    status, body = call(replay, "/replay", {"event_ids": ["a" * 64, "not-an-id"]})
    assert status == 400
    assert body["details"] == [
        {
            "field": "event_ids",
            "rule": "pattern",
            "message": "event_ids[1] is not an event id (64 lowercase hex characters)",
        }
    ]
    status, body = call(replay, "/replay", {"event_ids": ["a" * 64] * 10_001})
    assert (status, body["details"][0]["rule"]) == (400, "size")
    status, body = call(replay, "/replay", {"event_ids": ["a" * 64], "entity_id": "customer-42", **window()})
    assert (status, body["details"][0]["rule"]) == (400, "one_of")


def test_a_dry_run_of_event_ids_executes_once_by_its_id(stack):
    ids = seed(count=3)
    _, preview = call(replay, "/replay", {"event_ids": ids[:2]})
    assert (preview["dry_run"], preview["matched"], preview["sent"]) == (True, 2, 0)
    _, executed = call(replay, "/replay", {"replay_id": preview["replay_id"], "dry_run": False})
    _, again = call(replay, "/replay", {"replay_id": preview["replay_id"], "dry_run": False})
    assert (executed["sent"], again["replay_id"]) == (2, executed["replay_id"])
    assert sorted(b["event_id"] for b in drain(stack)) == sorted(ids[:2])


# --- rate -------------------------------------------------------------------------------------
def test_rate_per_second_spaces_the_batches_on_the_clock(stack):
    seed(count=25)
    clock = FakeClock()
    run = run_service(window(entity_id="customer-42", dry_run=False, rate_per_second=10), wiring(clock))
    assert (run["status"], run["sent"]) == ("COMPLETED", 25)
    assert clock.waits == [1.0, 1.0]  # batches of 10 at 0 s, 1 s, 2 s: 10/s


def test_a_rate_below_one_batch_per_second_sends_smaller_batches(stack):
    seed(count=3)
    clock = FakeClock()
    run = run_service(window(entity_id="customer-42", dry_run=False, rate_per_second=2), wiring(clock))
    assert run["sent"] == 3
    assert clock.waits == [1.0]  # 2 events at 0 s, the third at 1 s


def test_the_rate_holds_across_invocations_through_the_run_record(stack):
    seed(count=20)
    clock = FakeClock()
    sent: list[int] = []
    w = wiring(clock, on_sent=sent.append)
    request = window(entity_id="customer-42", dry_run=False, rate_per_second=10, client_token="paced")
    # the first call's time runs out once its first batch went: its second waits for the next call
    first = run_service(request, w, remaining_ms=lambda: 30_000 if not sent else 5_500)
    assert (first["status"], first["stopped"], first["sent"]) == ("PARTIAL", "time", 10)
    second = run_service({**request, "continuation": first["continuation"]}, w)
    assert (second["status"], second["sent"]) == ("COMPLETED", 20)
    assert clock.waits == [1.0]  # the resumed call waited out the schedule the first one saved


def test_rate_is_validated(stack):
    status, body = call(replay, "/replay", window(entity_id="customer-42", rate_per_second=0))
    assert (status, body["details"][0]["field"], body["details"][0]["rule"]) == (400, "rate_per_second", "range")


# --- steering ---------------------------------------------------------------------------------
def test_pause_then_resume_a_stopped_run(stack):
    ids = seed(count=14)
    request = window(entity_id="customer-42", dry_run=False, limit=10, client_token="steer-1")
    _, first = call(replay, "/replay", request)
    assert (first["status"], first["sent"]) == ("PARTIAL", 10)
    status, paused = steer_call(first["replay_id"], {"action": "pause"})
    assert (status, paused["status"], paused["stopped"], paused["continuation"]) == (200, "PAUSED", "paused", None)
    status, stale = call(replay, "/replay", {**request, "continuation": first["continuation"]})
    assert (status, stale["status"], stale["sent"]) == (200, "PAUSED", 10)  # the old continuation moves nothing
    status, resumed = steer_call(first["replay_id"], {"action": "resume"})
    assert (status, resumed["status"], resumed["stopped"], resumed["sent"]) == (200, "COMPLETED", "completed", 14)
    assert sorted(b["event_id"] for b in drain(stack)) == sorted(ids)


def test_cancel_ends_a_run_and_an_ended_run_refuses_actions(stack):
    seed(count=12)
    _, first = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, limit=10))
    status, cancelled = steer_call(first["replay_id"], {"action": "cancel"})
    assert (status, cancelled["status"], cancelled["stopped"]) == (200, "CANCELLED", "cancelled")
    status, body = steer_call(first["replay_id"], {"action": "resume"})
    assert (status, body["error"]) == (409, f"replay run {first['replay_id']} has ended (cancelled): nothing to resume")


def test_steering_is_validated_and_bound_to_the_requester(stack):
    seed(count=1)
    _, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False))
    status, body = steer_call(run["replay_id"], {"action": "stop"})
    assert (status, body["details"][0]["field"]) == (400, "action")
    status, body = steer_call("rp-nope", {"action": "pause"})
    assert (status, body["details"][0]["field"]) == (400, "replay_id")
    event = api_event(f"/replay/{run['replay_id']}", {"action": "pause"})
    event["requestContext"]["identity"]["userArn"] = "arn:aws:iam::123456789012:user/intruder"
    assert replay.handler(event, LambdaContext())["statusCode"] == 403
    _, preview = call(replay, "/replay", window(entity_id="customer-42"))
    status, body = steer_call(preview["replay_id"], {"action": "pause"})
    assert status == 409


def test_pause_and_cancel_reach_a_run_another_call_is_executing(stack):
    seed(count=35)
    for action, status, stopped in (("pause", "PAUSED", "paused"), ("cancel", "CANCELLED", "cancelled")):
        answers: list[dict] = []
        run_id: list[str] = []
        w = wiring()

        def on_sent(sent: int, w=w, action=action, answers=answers, run_id=run_id) -> None:
            if not answers:  # the executor has sent its first batch and holds the lease
                answers.append(steer_service(run_id[0], action, w))

        original = w.runs.put_new

        def remember(item: dict, original=original, run_id=run_id) -> bool:
            run_id.append(item["replay_id"])
            return original(item)

        w.runs.put_new = remember
        run = run_service(
            window(entity_id="customer-42", dry_run=False), replay_service.Wiring(**{**w.__dict__, "on_sent": on_sent})
        )
        assert (answers[0]["status"], answers[0]["requested"]) == ("RUNNING", action)
        assert (run["status"], run["stopped"], run["sent"], run["requested"]) == (status, stopped, 10, None)
        drain(stack)


@pytest.mark.parametrize("body", [{"action": ["pause"]}, {"action": {"pause": 1}}, {}, [], {"action": "pause", "x": 1}])
def test_a_bad_steer_body_is_a_400_naming_action(stack, body):
    status, answer = steer_call("rp-" + "0" * 32, body)
    assert (status, answer["details"][0]["field"], answer["details"][0]["rule"]) == (400, "action", "one_of")


def test_a_replay_id_with_a_trailing_newline_is_refused(stack):
    assert replay_service.RUN_ID_RE.fullmatch("rp-" + "0" * 32 + "\n") is None
    try:
        steer_service("rp-" + "0" * 32 + "\n", "pause", wiring())
    except ValidationError as exc:
        assert exc.errors[0].field == "replay_id"
    else:
        raise AssertionError("accepted a replay id with a trailing newline")


def _recording_ids(w: replay_service.Wiring) -> list[str]:
    run_id: list[str] = []
    original = w.runs.put_new

    def remember(item: dict) -> bool:
        run_id.append(item["replay_id"])
        return original(item)

    w.runs.put_new = remember
    return run_id


def test_a_cancel_sent_while_the_last_limit_cut_batch_is_in_flight_is_not_lost(stack):
    """It answered RUNNING ``requested: cancel``, then the run ended PARTIAL/limit with a continuation."""
    seed(count=20)
    answers: list[dict] = []
    sent: list[int] = []
    w = wiring()
    run_id = _recording_ids(w)

    def on_sent(count: int) -> None:
        sent.append(count)
        if len(sent) == 2:  # the second, short batch (the limit cut it) is delivered; its save is next
            answers.append(steer_service(run_id[0], "cancel", w))

    run = run_service(
        window(entity_id="customer-42", dry_run=False, limit=15),
        replay_service.Wiring(**{**w.__dict__, "on_sent": on_sent}),
    )
    assert (answers[0]["status"], answers[0]["requested"]) == ("RUNNING", "cancel")
    assert (run["status"], run["stopped"], run["sent"], run["continuation"], run["requested"]) == (
        "CANCELLED",
        "cancelled",
        15,
        None,
        None,
    )
    assert len(drain(stack)) == 15


class _StepOnFinalWrite:
    """The run table, with a pause requested at the last moment: just before the executor's final write."""

    def __init__(self, runs, action: str) -> None:
        self.runs, self.action, self.injected = runs, action, False

    def __getattr__(self, name: str):
        return getattr(self.runs, name)

    def advance(self, pk: str, sk: str, step: int, fields: dict, **options) -> bool:
        if fields.get("status") == "PARTIAL" and not self.injected:
            self.injected = self.runs.request_action(pk, sk, self.action)
        return self.runs.advance(pk, sk, step, fields, **options)


def test_a_pause_that_races_the_final_write_wins(stack):
    seed(count=14)
    w = wiring()
    racing = _StepOnFinalWrite(w.runs, "pause")
    run = run_service(
        window(entity_id="customer-42", dry_run=False, limit=10),
        replay_service.Wiring(**{**w.__dict__, "runs": racing}),
    )
    assert racing.injected
    assert (run["status"], run["stopped"], run["sent"], run["continuation"], run["requested"]) == (
        "PAUSED",
        "paused",
        10,
        None,
        None,
    )
    resumed = steer_service(run["replay_id"], "resume", w)
    assert (resumed["status"], resumed["sent"]) == ("COMPLETED", 14)
