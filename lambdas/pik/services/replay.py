"""Replay: select events by entity or source/type and time window, and re-emit them to SQS.

Safe by default: ``dry_run`` is true unless the request says false. Every run is recorded
(who, what, counts by day, status, where it stands). A run sends each matched event at most once,
whatever the client does:

- **One executor at a time.** A call executes a run only while it holds the run's lease
  (``lease_until``: the call's own Lambda deadline); every change to the run record is a
  conditional write on its ``step``, which each write increases by one, so two calls can never
  both advance the same page. Other callers wait for the executor (``POLL_S``) while their own
  time allows, then answer the run as it stands (``status: RUNNING``: another call is on it).
- **Progress after every batch.** The cursor and the counts are written after each
  SendMessageBatch; a call that fails releases its lease, one that dies leaves it to expire.
  Either way the same ``client_token`` (or continuation, or ``replay_id``) resumes from the last
  written cursor: at most the one batch in flight is sent again.
- **Single-use continuations.** A continuation names the run and the step it stopped at, and
  must come from the run's requester with the same request (403 / 409). Used once, it moves the
  run on; a repeat answers the run's current state and sends nothing.
- **Without a token**, a scope is a new run each time. To execute a reviewed dry run exactly
  once, send ``{"replay_id": "<dry run's id>", "dry_run": false}``: its one execution run is
  derived from the dry run's id.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from datetime import datetime, timedelta
from typing import Callable, Iterator

from ..core import keys
from ..core.errors import ConflictError, FieldError, ForbiddenError, NotFoundError, PikError, ValidationError
from ..core.ports import SEND_BATCH, EventIndex, MessageQueue, RunStore
from ..core.queries import entity_cursor, stream_cursor
from ..core.records import ACCEPTED, DUPLICATE
from ..core.replay import (ReplayCall, ReplayRequest, Tally, check_cursor, decode_continuation, encode_continuation,
                           execution_id_for, parse_call, replay_id_for)
from ..core.timefmt import days_between, key_time
from ..core.timefmt import now as utc_now
from ..settings import Settings

RESERVE_MS = 5_000  # stop with a continuation when less than this is left
POLL_S = 0.25  # how often a caller re-reads a run another call is executing
RUNNING, COMPLETED, PARTIAL = "RUNNING", "COMPLETED", "PARTIAL"
LIMIT, TIME = "limit", "time"  # why a PARTIAL run stopped (``stopped``)
RELEASED = ""  # ``lease_until`` of a run no call holds: sorts before every time
COUNTS = ("scanned", "matched", "sent", "by_day", "sample_event_ids")


def replay(data: dict, *, requester: str, now: datetime, remaining_ms: Callable[[], int], index: EventIndex,
           runs: RunStore, queue: MessageQueue, settings: Settings, page_size: int | None = None,
           clock: Callable[[], datetime] = utc_now, wait: Callable[[float], None] = time.sleep,
           on_sent: Callable[[int], None] = lambda sent: None) -> dict:
    """Run (or resume, or return) a replay; returns the run as the API answers it (counts over the
    whole run). ``on_sent`` hears how many messages each batch of *this* call sent."""
    call = parse_call(data)
    deadline = key_time(now + timedelta(milliseconds=remaining_ms()))
    if settings.dry_run:  # records nothing, so the continuation carries the cursor
        return answer(_unrecorded(call, requester, now, deadline, remaining_ms, index, page_size))
    run, created, claimable, continued = _open(call, requester, now, deadline, runs)
    while not created:
        if claimable and _may_claim(run, continued, key_time(clock())):
            claimed = _Progress(run, runs).save({"status": RUNNING, "lease_until": deadline, "stopped": None,
                                                 "continuation": None, "updated_at": key_time(clock())})
            if claimed is not None:
                run = claimed
                break
            run = runs.get(run["pk"], run["sk"])  # another call was quicker: answer what it made of the run
            continue
        if not claimable or run["status"] != RUNNING or remaining_ms() < RESERVE_MS:
            return answer(run)
        wait(POLL_S)
        run = runs.get(run["pk"], run["sk"])
    progress = _Progress(run, runs)
    try:
        _execute(progress, index, _Counted(queue, on_sent), remaining_ms, page_size)
    except Exception:
        progress.release()
        raise
    return answer(progress.run if progress.held else runs.get(run["pk"], run["sk"]))


def answer(run: dict) -> dict:
    """The API's view of a run record."""
    fields = ("replay_id", "dry_run", "status", "stopped", "scanned", "matched", "sent", "by_day", "sample_event_ids",
              "requester", "created_at", "request", "continuation")
    return {name: run.get(name) for name in fields}


def _open(call: ReplayCall, requester: str, now: datetime, deadline: str,
          runs: RunStore) -> tuple[dict, bool, bool, int | None]:
    """The run this call is about: ``(run, created by this call, may this call execute it, the step
    its continuation stopped at)``."""
    target = None
    if call.replay_id is not None:
        named = _owned(runs, call.replay_id, requester)
        if call.dry_run or not named["dry_run"]:  # read a run, or execute an executed run again: no
            target = named
        else:  # execute a reviewed dry run: its one execution run
            scope = {**named["request"], "dry_run": False}
            scope.pop("client_token", None)
            request = ReplayRequest.from_scope(scope)
            execution = _new_run(execution_id_for(named["replay_id"]), request, requester, now, deadline)
            execution["preview_id"] = named["replay_id"]
            target = execution if call.continuation is None and runs.put_new(execution) else None
            if target is not None:
                return target, True, True, None
            target = _owned(runs, execution["replay_id"], requester)
    if call.continuation is not None:
        position = decode_continuation(call.continuation)
        run = _owned(runs, position.replay_id, requester)
        if (target is not None and run["replay_id"] != target["replay_id"]) or (
                call.request is not None and run["fingerprint"] != call.request.fingerprint()):
            raise ConflictError("a continuation must be sent with the same request that returned it")
        if position.step > run.get("step", 0):
            raise ValidationError([FieldError("continuation", "step", "continuation is ahead of its run: "
                                              "not one a replay returned")])
        return run, False, True, position.step
    if target is not None:
        return target, False, not call.dry_run, None
    replay_id = replay_id_for(requester, call.request.client_token, uuid.uuid4().hex)
    run = _new_run(replay_id, call.request, requester, now, deadline)
    if runs.put_new(run):
        return run, True, True, None
    stored = _owned(runs, replay_id, requester)
    if stored["fingerprint"] != call.request.fingerprint():
        raise ConflictError("client_token was already used for a different replay request")
    return stored, False, True, None


def _may_claim(run: dict, continued: int | None, now: str) -> bool:
    """A call may take the run's lease when its executor is gone (RUNNING, lease past) or when it
    brings the continuation of the step the run stopped at. Taking it is a conditional write on
    ``step``: of any number of such calls, exactly one gets it."""
    if "step" not in run:  # recorded before runs were versioned: answered as it stands
        return False
    orphaned = run["status"] == RUNNING and run.get("lease_until", RELEASED) <= now
    return orphaned or (run["status"] == PARTIAL and continued == run["step"])


def _owned(runs: RunStore, replay_id: str, requester: str) -> dict:
    run = runs.get(keys.run_pk(replay_id), "RUN")
    if run is None:
        raise NotFoundError(f"no replay run {replay_id}")
    if run["requester"] != requester:
        raise ForbiddenError(f"replay run {replay_id} belongs to another requester")
    return run


def _new_run(replay_id: str, request: ReplayRequest, requester: str, now: datetime, deadline: str) -> dict:
    return {
        "pk": keys.run_pk(replay_id), "sk": "RUN", "runs_pk": keys.RUNS_GSI_PK,
        "replay_id": replay_id, "request": request.scope(), "fingerprint": request.fingerprint(),
        "requester": requester, "dry_run": request.dry_run, "status": RUNNING,
        "created_at": key_time(now), "updated_at": key_time(now), "step": 0, "lease_until": deadline, "cursor": {},
        "scanned": 0, "matched": 0, "sent": 0, "by_day": {}, "sample_event_ids": [],
    }


def _unrecorded(call: ReplayCall, requester: str, now: datetime, deadline: str, remaining_ms: Callable[[], int],
                index: EventIndex, page_size: int | None) -> dict:
    """A run under ``DRY_RUN=true``: the full logic, nothing written, nothing sent."""
    if call.request is None:
        raise NotFoundError(f"no replay run {call.replay_id} (DRY_RUN records no runs)")
    request = dataclasses.replace(call.request, dry_run=True)
    replay_id, cursor = replay_id_for(requester, request.client_token, uuid.uuid4().hex), {}
    if call.continuation is not None:
        position = decode_continuation(call.continuation)
        replay_id, cursor = position.replay_id, position.cursor or {}
    run = {**_new_run(replay_id, request, requester, now, deadline), "cursor": cursor}
    progress = _Progress(run, None)
    _execute(progress, index, None, remaining_ms, page_size)
    if progress.run.get("continuation"):
        progress.run["continuation"] = encode_continuation(replay_id, 0, progress.run["cursor"])
    return progress.run


class _Counted:
    """The queue, telling ``on_sent`` what each send confirmed."""

    def __init__(self, queue: MessageQueue, on_sent: Callable[[int], None]) -> None:
        self.queue, self.on_sent = queue, on_sent

    def send(self, messages: list[dict]) -> int:
        sent = self.queue.send(messages)
        self.on_sent(sent)
        return sent


class _Progress:
    """The run record as this call holds it: each ``save`` is one conditional write on ``step``."""

    def __init__(self, run: dict, runs: RunStore | None) -> None:
        self.run, self.runs, self.held = run, runs, True

    def save(self, fields: dict) -> dict | None:
        """Write ``fields`` and step on; None (and no longer held) when another call moved the run."""
        if self.runs is not None and not self.runs.advance(self.run["pk"], self.run["sk"], self.run["step"], fields):
            self.held = False
            return None
        self.run = {**{k: v for k, v in self.run.items() if k not in fields}, "step": self.run["step"] + 1,
                    **{k: v for k, v in fields.items() if v is not None}}
        return self.run

    def release(self) -> None:
        """Best effort after a failure: let the next caller resume at once instead of at lease expiry."""
        if self.held and self.runs is not None:
            try:
                self.save({"lease_until": RELEASED})
            except PikError:
                pass


def _execute(progress: _Progress, index: EventIndex, queue: MessageQueue | None,
             remaining_ms: Callable[[], int], page_size: int | None) -> None:
    """Walk the run's scope from its cursor, sending and saving progress after every batch."""
    run = progress.run
    request = ReplayRequest.from_scope(run["request"])
    check_cursor(run["cursor"], request)
    tally = Tally(*(run[name] for name in COUNTS))
    batch: list[dict] = []
    position, stopped, matched_here = run["cursor"], None, 0

    def saved(**fields) -> bool:
        now = key_time(utc_now())
        return progress.save({**tally.to_dict(), "cursor": position, "updated_at": now, **fields}) is not None

    for item, after in _scope(request, position, index, page_size):
        selected = _selected(item, request)
        if remaining_ms() < RESERVE_MS:
            stopped = TIME
        elif selected and matched_here >= request.limit:
            stopped = LIMIT
        if stopped:
            break
        tally.scanned += 1
        if selected:
            matched_here += 1
            tally.match(item["event_id"], item["event_date"])
            if not request.dry_run:
                batch.append(_message(item, run["replay_id"]))
        position = after
        if len(batch) == SEND_BATCH:
            tally.sent += queue.send(batch)
            batch = []
            if not saved():
                return
    if batch:
        tally.sent += queue.send(batch)
    continuation = encode_continuation(run["replay_id"], progress.run["step"] + 1) if stopped else None
    saved(status=PARTIAL if stopped else COMPLETED, stopped=stopped, continuation=continuation, lease_until=RELEASED)


def _scope(request: ReplayRequest, position: dict, index: EventIndex,
           page_size: int | None) -> Iterator[tuple[dict, dict]]:
    """Candidate attempts with the position just after each one."""
    if request.entity_id is not None:
        items = index.by_entity(request.entity_id, key_time(request.start), key_time(request.end),
                                after=position.get("after"), page_size=page_size)
        for item in items:
            yield item, {"after": entity_cursor(item)}
        return
    days = days_between(request.start, request.end)
    first = days.index(position["day"]) if "day" in position else 0
    for day in days[first:]:
        after = position.get("after") if position.get("day") == day else None
        for item in index.by_stream_day(request.source, request.event_type, day, after=after, page_size=page_size):
            yield item, {"day": day, "after": stream_cursor(item)}


def _selected(item: dict, request: ReplayRequest) -> bool:
    wanted = (ACCEPTED, DUPLICATE) if request.include_duplicates else (ACCEPTED,)
    return item["status"] in wanted and key_time(request.start) <= item["event_time"] < key_time(request.end)


def _message(item: dict, replay_id: str) -> dict:
    fields = ("event_id", "attempt_id", "status", "source", "event_type", "entity_id", "event_time", "event_date", "s3_key")
    return {"replay_id": replay_id, **{name: item[name] for name in fields}}
