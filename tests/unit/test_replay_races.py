"""The replay service's lease and step races on the in-memory fakes of its ports (tests/support/fakes.py):
each interleaving is forced with a one-shot hook that runs another call (or a steer) at the exact moment
named, on a clock the test moves, so every test is deterministic and takes milliseconds. The same rules are
proven against moto in tests/functional/test_replay_runs.py and test_replay_steering.py; here the races.

The design (docs/architecture.md, "Replay"): every write to a run is conditional on its ``step``; a call
executes only while it holds the run's lease; progress (cursor and counts) is saved after every batch; a
failed call releases the lease, a killed one leaves it to expire; only the batch in flight when a call
dies can be sent twice."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest

from pik.core import records
from pik.core.errors import ConflictError, StorageError
from pik.core.replay import replay_id_for
from pik.services import ingest as ingest_service
from pik.services import replay as replay_service
from pik.services.replay_wiring import Wiring
from pik.settings import Settings
from tests.support.fakes import FakeDeadLetters, FakeDocumentStore, FakeEventIndex, FakeMessageQueue, FakeRunStore

NOW = datetime(2026, 11, 20, 23, 0, tzinfo=UTC)
ONCALL = "arn:aws:iam::123456789012:user/oncall"
SETTINGS = Settings(
    raw_bucket="raw", events_table="events", aggregates_table="aggregates", replays_table="runs", replay_queue_url="q"
)
LAMBDA_MS = 30_000  # each call's remaining time: its lease ends 30 s after it starts


class Killed(BaseException):
    """The Lambda runtime stopping the function: no ``except Exception`` runs, so nothing is released."""


class Clock:
    """The time every call reads (``wiring.clock``); the test moves it, and so does a call that waits."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class Stack:
    """The replay service's ports as fakes, 25 ACCEPTED events of customer-42 stored through the real
    ingest service, and ``replay(...)`` as the handler calls it."""

    def __init__(self, events: int = 25) -> None:
        self.documents, self.index = FakeDocumentStore(), FakeEventIndex()
        self.runs, self.queue, self.clock = FakeRunStore(), FakeMessageQueue(), Clock()
        self.dead_letters = FakeDeadLetters()
        self.waits: list[float] = []
        with mock.patch.object(records, "now", self.clock):  # recorded on the test's clock, as arrival is
            self.ids = [self._ingest(i) for i in range(events)]

    def _ingest(self, i: int) -> str:
        event = {
            "source": "checkout",
            "event_type": "order_placed",
            "entity_id": "customer-42",
            "event_time": (NOW.replace(hour=0) + timedelta(minutes=7 * i)).isoformat(),
            "payload": {"amount": i},
        }
        outcome = ingest_service.ingest(
            json.dumps(event).encode(),
            request_id=f"r-{i}",
            now=NOW,
            store=self.documents,
            index=self.index,
            settings=SETTINGS,
        )
        assert outcome.body["status"] == "ACCEPTED", outcome.body
        return outcome.body["event_id"]

    def wait(self, seconds: float) -> None:
        """A waiting call: its time passes (on the clock everyone reads), nothing sleeps."""
        self.waits.append(seconds)
        self.clock.now += timedelta(seconds=seconds)

    def wiring(self) -> Wiring:
        return Wiring(
            index=self.index,
            runs=self.runs,
            queue=self.queue,
            documents=self.documents,
            targets=lambda target: pytest.fail(f"no external target in these tests: {target}"),
            clock=self.clock,
            wait=self.wait,
            dead_letters=self.dead_letters,
        )

    def remaining(self, lambda_ms: int) -> Callable[[], int]:
        """A Lambda's remaining time for a call starting now that may run ``lambda_ms``."""
        deadline = self.clock() + timedelta(milliseconds=lambda_ms)
        return lambda: int((deadline - self.clock()).total_seconds() * 1000)

    def replay(self, body: dict, *, lambda_ms: int = LAMBDA_MS) -> dict:
        return replay_service.replay(
            body,
            requester=ONCALL,
            now=self.clock(),
            remaining_ms=self.remaining(lambda_ms),
            settings=SETTINGS,
            wiring=self.wiring(),
        )

    def steer(self, replay_id: str, action: str) -> dict:
        return replay_service.steer(
            replay_id,
            {"action": action},
            requester=ONCALL,
            now=self.clock(),
            remaining_ms=lambda: LAMBDA_MS,
            settings=SETTINGS,
            wiring=self.wiring(),
        )

    def run(self, replay_id: str) -> dict:
        return self.runs.get(f"RUN#{replay_id}", "RUN")

    def sent(self) -> Counter:
        """How many times each event reached the queue."""
        return Counter(message["event_id"] for message in self.queue.messages)

    def on_send(self, n: int, action: Callable[[], object]) -> None:
        """Run ``action`` just before the ``n``-th send from now (what it raises, the send raises)."""
        self._on_nth(self.queue, "send", n, action)

    def on_advance(self, n: int, action: Callable[[], object]) -> None:
        """Run ``action`` just before the ``n``-th conditional write (``advance``) of a run from now."""
        self._on_nth(self.runs, "advance", n, action)

    @staticmethod
    def _on_nth(fake, operation: str, n: int, action: Callable[[], object]) -> None:
        seen = [0]

        def hook(*_):
            seen[0] += 1
            if seen[0] < n:
                fake.before(operation, hook)  # hooks are one-shot: wait for the n-th
            else:
                action()

        fake.before(operation, hook)


def request(**extra) -> dict:
    return {
        "entity_id": "customer-42",
        "start_time": "2026-11-20T00:00:00+00:00",
        "end_time": "2026-11-21T00:00:00+00:00",
        "dry_run": False,
        "client_token": "race-1",
        **extra,
    }


RUN_ID = replay_id_for(ONCALL, "race-1", "")


def kill() -> None:
    raise Killed()


def killed_after_two_batches(stack: Stack) -> None:
    """A call killed just before its third send: 20 events sent and saved, the lease still its own."""
    stack.on_send(3, kill)
    with pytest.raises(Killed):
        stack.replay(request())
    run = stack.run(RUN_ID)
    assert (run["status"], run["sent"], run["step"], run["lease_until"]) == (
        "RUNNING",
        20,
        2,
        "2026-11-20T23:00:30.000000Z",
    )
    assert len(stack.queue.messages) == 20


def test_a_second_call_with_the_token_waits_for_the_executor_then_answers_the_run_as_it_stands():
    stack, answers = Stack(), []

    def second_call(*_):  # a Lambda with 6 s: it waits while more than RESERVE_MS (5 s) is left
        answers.append(stack.replay(request(), lambda_ms=6_000))

    stack.on_send(2, second_call)  # while the first call holds the lease, between its first and second batch
    first = stack.replay(request())
    assert (first["status"], first["matched"], first["sent"]) == ("COMPLETED", 25, 25)
    [second] = answers
    assert (second["replay_id"], second["status"], second["sent"], second["stopped"]) == (RUN_ID, "RUNNING", 10, None)
    assert stack.waits == [replay_service.POLL_S] * 5  # re-read every 0.25 s until 1 s of time was used
    assert stack.sent() == Counter(stack.ids)  # each event once
    assert stack.run(RUN_ID)["step"] == 3  # two saves after a batch, then the last one


def test_two_calls_racing_for_an_expired_lease_one_executes_the_other_answers_it_and_nothing_is_sent_twice():
    stack, answers = Stack(), []
    killed_after_two_batches(stack)
    stack.clock.now = NOW + timedelta(seconds=31)  # past the killed call's deadline: its lease has ended

    def quicker_call(*_):
        answers.append(stack.replay(request()))

    stack.on_advance(1, quicker_call)  # both read step 2; the quicker one takes the lease first
    slower = stack.replay(request())
    [quicker] = answers
    assert (quicker["status"], quicker["sent"], quicker["matched"]) == ("COMPLETED", 25, 25)
    assert slower == quicker  # its own claim on step 2 was refused: it answers what the other made of the run
    assert stack.sent() == Counter(stack.ids)  # 20 by the killed call, the last 5 once, by the quicker call
    assert stack.run(RUN_ID)["step"] == 4  # the quicker call's claim and its last save


def test_a_kill_between_send_and_save_re_sends_that_batch_alone_once_the_lease_has_ended():
    stack = Stack()
    stack.on_send(2, lambda: stack.on_advance(1, kill))  # the second batch reaches the queue, its save never runs
    with pytest.raises(Killed):
        stack.replay(request())
    run = stack.run(RUN_ID)
    assert (run["status"], run["sent"], run["step"], len(stack.queue.messages)) == ("RUNNING", 10, 1, 20)
    waiting = stack.replay(request(), lambda_ms=6_000)  # while the lease lasts: waits, then answers the run
    assert (waiting["status"], waiting["sent"], len(stack.waits), len(stack.queue.messages)) == ("RUNNING", 10, 5, 20)

    stack.clock.now = NOW + timedelta(seconds=31)
    resumed = stack.replay(request())
    assert (resumed["status"], resumed["matched"], resumed["sent"]) == ("COMPLETED", 25, 25)
    in_flight = stack.ids[10:20]  # the batch sent but not saved: the only one sent twice
    assert stack.sent() == Counter(stack.ids) + Counter(in_flight)
    assert len(stack.queue.messages) == 35


def test_a_failed_send_releases_the_lease_so_the_same_token_resumes_at_once_from_the_last_save():
    stack = Stack()
    stack.on_send(3, lambda: setattr(stack.queue, "refuse", 1))  # SQS refuses the third batch
    with pytest.raises(StorageError):
        stack.replay(request())
    run = stack.run(RUN_ID)
    assert (run["status"], run["sent"], run["step"], run["lease_until"]) == ("RUNNING", 20, 3, "")  # released
    resumed = stack.replay(request())  # no clock moved: a released lease is free now
    assert (resumed["status"], resumed["sent"]) == ("COMPLETED", 25)
    assert stack.sent() == Counter(stack.ids)


def test_a_cancel_landing_between_two_batches_stops_the_run_after_the_batch_in_hand():
    stack, steered = Stack(), []
    stack.on_advance(1, lambda: steered.append(stack.steer(RUN_ID, "cancel")))  # before the first save
    run = stack.replay(request())
    [asked] = steered
    assert (asked["status"], asked["requested"], asked["sent"]) == ("RUNNING", "cancel", 0)  # asked, not moved
    assert (run["status"], run["stopped"], run["sent"], run["requested"]) == ("CANCELLED", "cancelled", 10, None)
    assert stack.sent() == Counter(stack.ids[:10])
    again = stack.replay(request())  # the same token later: the cancelled run as it stands, nothing sent
    assert (again["status"], again["sent"], len(stack.queue.messages)) == ("CANCELLED", 10, 10)


def test_a_cancel_landing_during_the_last_write_of_a_complete_run_finds_nothing_left_to_cancel():
    stack = Stack()
    stack.on_advance(3, lambda: stack.steer(RUN_ID, "cancel"))  # the write that would complete the run
    run = stack.replay(request())
    assert (run["status"], run["stopped"], run["sent"], run["requested"]) == ("COMPLETED", "completed", 25, None)
    assert "requested" not in stack.run(RUN_ID)
    assert stack.sent() == Counter(stack.ids)


def test_a_cancel_landing_during_the_last_write_of_a_stopped_run_wins_over_its_continuation():
    stack = Stack()
    stack.on_advance(2, lambda: stack.steer(RUN_ID, "cancel"))  # the write that would stop the run at its limit
    run = stack.replay(request(limit=15))
    assert (run["status"], run["stopped"], run["sent"], run["continuation"]) == ("CANCELLED", "cancelled", 15, None)
    assert stack.sent() == Counter(stack.ids[:15])


def test_two_calls_with_one_continuation_one_resumes_the_other_answers_and_nothing_is_sent_twice():
    stack, answers = Stack(), []
    first = stack.replay(request(limit=10, client_token=None))
    assert (first["status"], first["stopped"], first["sent"]) == ("PARTIAL", "limit", 10)
    again = request(limit=10, client_token=None, continuation=first["continuation"])
    stack.on_advance(1, lambda: answers.append(stack.replay(again)))  # both read the run at the same step
    slower = stack.replay(again)
    [quicker] = answers
    assert (quicker["status"], quicker["sent"], quicker["stopped"]) == ("PARTIAL", 20, "limit")
    assert slower == quicker
    assert stack.sent() == Counter(stack.ids[:20])


def test_a_reviewed_dry_run_executed_by_two_calls_at_once_runs_once():
    stack, answers = Stack(), []
    preview = stack.replay(request(dry_run=True, client_token=None))
    assert (preview["status"], preview["matched"], preview["sent"], stack.queue.messages) == ("COMPLETED", 25, 0, [])
    execute = {"replay_id": preview["replay_id"], "dry_run": False}
    stack.runs.before("put_new", lambda *_: answers.append(stack.replay(execute)))  # both derive the one run id
    slower = stack.replay(execute)
    [quicker] = answers
    assert (quicker["status"], quicker["sent"], quicker["replay_id"]) == ("COMPLETED", 25, slower["replay_id"])
    assert slower == quicker  # its create was refused: the run the other call executed, as it stands
    assert stack.sent() == Counter(stack.ids)


def test_two_resumes_of_a_paused_run_at_once_one_executes_the_rest_the_other_is_told_it_has_ended():
    stack, answers = Stack(), []
    stack.on_advance(1, lambda: stack.steer(RUN_ID, "pause"))  # asked before the first save: paused after 10
    paused = stack.replay(request())
    assert (paused["status"], paused["stopped"], paused["sent"]) == ("PAUSED", "paused", 10)
    stack.on_advance(1, lambda: answers.append(stack.steer(RUN_ID, "resume")))  # both read the paused run
    with pytest.raises(ConflictError, match=f"replay run {RUN_ID} has ended \\(completed\\): nothing to resume"):
        stack.steer(RUN_ID, "resume")
    [quicker] = answers
    assert (quicker["status"], quicker["sent"], quicker["matched"]) == ("COMPLETED", 25, 25)
    assert stack.sent() == Counter(stack.ids)


def test_a_redrive_killed_between_sending_a_batch_and_deleting_it_sends_that_batch_again_and_loses_nothing():
    stack = Stack(events=12)
    stack.replay(request(client_token="first"))
    for message in stack.queue.messages:  # the processor failed them all: the DLQ holds the 12 messages
        stack.dead_letters.add(message)
    stack.queue.messages.clear()
    redrive = {"dead_letters": True, "dry_run": False, "client_token": "redrive-1"}
    stack.dead_letters.before("delete", lambda *_: kill())  # the first batch is on the replay queue, still in the DLQ
    with pytest.raises(Killed):
        stack.replay(redrive)
    assert (len(stack.queue.messages), stack.dead_letters.depth(), len(stack.dead_letters.hidden)) == (10, 2, 10)
    stack.dead_letters.visibility_ends()
    stack.clock.now = NOW + timedelta(seconds=31)  # and the killed call's lease has ended
    run = stack.replay(redrive)
    assert (run["status"], run["scanned"], run["matched"], run["sent"]) == ("COMPLETED", 12, 12, 12)
    first_batch = [message["event_id"] for message in stack.queue.messages[:10]]
    assert stack.sent() == Counter(stack.ids) + Counter(first_batch)  # that batch twice, nothing lost
    assert (stack.dead_letters.depth(), stack.dead_letters.hidden) == (0, {})
