"""Replay: select events (by entity or source/type and window, by id, by status, the DLQ) and send
them to the stack's replay queue or an external target, at a chosen rate; steer runs by id.

What is walked is ``replay_selection``; where batches go is ``replay_sinks``; the rules of targets
and pacing are ``pik.core.targets`` and ``pik.core.pacing``. ``steer`` is ``POST /replay/{id}``.

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
import uuid
from datetime import datetime, timedelta
from typing import Callable

from ..core import keys
from ..core.errors import ConflictError, FieldError, ForbiddenError, NotFoundError, PikError, ValidationError
from ..core.pacing import Pacer
from ..core.ports import SEND_BATCH, RunStore
from ..core.replay import (ENDED, RUN_ID_RE, ReplayCall, ReplayRequest, RunStatus, StopReason, Tally, check_cursor,
                           decode_continuation, encode_continuation, execution_id_for, parse_call, replay_id_for)
from ..core.targets import AllowList, parse_target, target_label
from ..core.timefmt import key_time
from ..settings import Settings
from .replay_selection import candidates, selected
from .replay_sinks import Sink, sink_for
from .replay_wiring import Wiring

__all__ = ["Wiring", "answer", "replay", "steer"]

RESERVE_MS = 5_000  # stop with a continuation when less than this is left
POLL_S = 0.25  # how often a caller re-reads a run another call is executing
RUNNING, COMPLETED, PARTIAL = RunStatus.RUNNING, RunStatus.COMPLETED, RunStatus.PARTIAL
ACTIONS = {"pause": (RunStatus.PAUSED, StopReason.PAUSED), "cancel": (RunStatus.CANCELLED, StopReason.CANCELLED),
           "resume": (RunStatus.RUNNING, None)}
RELEASED = ""  # ``lease_until`` of a run no call holds: sorts before every time
COUNTS = ("scanned", "matched", "sent", "by_day", "sample_event_ids")
STEER_CHECK_MS = 1_000  # how often an executing call reads its run for a requested pause or cancel
FAILED_SAMPLE = 100  # event ids a target refused, kept on the run (replay them with ``event_ids``)


def replay(data: dict, *, requester: str, now: datetime, remaining_ms: Callable[[], int], settings: Settings,
           wiring: Wiring) -> dict:
    """``POST /replay``: run (or resume, or return) a replay; returns the run as the API answers it
    (counts over the whole run). ``wiring.on_sent`` hears how many messages each batch of *this* call sent.

    ``replay({"entity_id": "u1", "start_time": ..., "end_time": ...}, requester=arn, now=now,
    remaining_ms=context.get_remaining_time_in_millis, settings=settings, wiring=pik.bootstrap.replay_wiring(settings))``
    """
    call = parse_call(data)
    if call.request is not None and call.request.target is not None:
        _allowed(call.request.target, settings, wiring.account)
    deadline = key_time(now + timedelta(milliseconds=remaining_ms()))
    if settings.dry_run:  # records nothing, so the continuation carries the cursor
        return answer(_unrecorded(call, requester, now, deadline, remaining_ms, wiring))
    if call.event_ids and wiring.documents is not None:  # the list is kept apart from the run (size), by its hash
        wiring.documents.put_new(keys.replay_ids_key(call.request.event_ids_sha256),
                                 {"event_ids": list(call.event_ids)})
    run, created, claimable, continued = _open(call, requester, now, deadline, wiring.runs)
    ids = call.event_ids if call.request is not None and run["fingerprint"] == call.request.fingerprint() else None
    return _drive(run, created, claimable, continued, remaining_ms, settings, wiring, ids)


def steer(replay_id: str, data: dict, *, requester: str, now: datetime, remaining_ms: Callable[[], int],
          settings: Settings, wiring: Wiring) -> dict:
    """``POST /replay/{id}`` with ``{"action": "pause" | "resume" | "cancel"}``.

    A run another call is executing is asked to stop at its next batch (``requested``); any other
    run moves at once. ``resume`` takes the lease of a paused (or stopped) run and executes it in this
    call. A completed or cancelled run refuses (409); so does a dry run (nothing to steer).
    """
    action = data.get("action") if isinstance(data, dict) else None
    if action not in ACTIONS or set(data) != {"action"}:
        raise ValidationError([FieldError("action", "one_of", "body must be {\"action\": \"pause\" | \"resume\" | \"cancel\"}")])
    if not isinstance(replay_id, str) or not RUN_ID_RE.match(replay_id):
        raise ValidationError([FieldError("replay_id", "pattern", f"replay_id must match {RUN_ID_RE.pattern}")])
    if settings.dry_run:
        raise NotFoundError(f"no replay run {replay_id} (DRY_RUN records no runs)")
    runs = wiring.runs
    deadline = key_time(now + timedelta(milliseconds=remaining_ms()))
    for _ in range(8):  # each pass either moves the run or sees another call move it
        run = _owned(runs, replay_id, requester)
        if run["dry_run"]:
            raise ConflictError(f"replay run {replay_id} is a dry run: nothing to {action}")
        if run["status"] in ENDED:
            raise ConflictError(f"replay run {replay_id} has ended ({run['status'].lower()}): nothing to {action}")
        live = run["status"] == RUNNING and run.get("lease_until", RELEASED) > key_time(wiring.clock())
        if action == "resume":
            if live:
                return answer(run)
            claimed = _Progress(run, runs).save({"status": RUNNING, "lease_until": deadline, "stopped": None,
                                                 "continuation": None, "requested": None,
                                                 "updated_at": key_time(wiring.clock())})
            if claimed is not None:
                return _drive(claimed, True, True, None, remaining_ms, settings, wiring)
            continue
        if live:
            if runs.request_action(run["pk"], run["sk"], action):
                return answer(runs.get(run["pk"], run["sk"]))
            continue
        status, stopped = ACTIONS[action]
        moved = _Progress(run, runs).save({"status": status, "stopped": stopped, "continuation": None, "requested": None,
                                           "lease_until": RELEASED, "updated_at": key_time(wiring.clock())})
        if moved is not None:
            return answer(moved)
    raise ConflictError(f"replay run {replay_id} kept changing: send the action again")


def _allowed(target: dict, settings: Settings, account: str) -> None:
    AllowList.from_text(**settings.replay_targets).check(parse_target(target), settings.region, account)


def _drive(run: dict, created: bool, claimable: bool, continued: int | None, remaining_ms: Callable[[], int],
           settings: Settings, wiring: Wiring, event_ids: tuple[str, ...] | None = None) -> dict:
    """Execute ``run`` if this call gets its lease; otherwise wait for its executor, then answer it.
    ``event_ids``: the run's id list when this call brought it (else it is read from the bucket)."""
    runs, clock, wait = wiring.runs, wiring.clock, wiring.wait
    while not created:
        if claimable and _may_claim(run, continued, key_time(clock())):
            deadline = key_time(clock() + timedelta(milliseconds=remaining_ms()))
            claimed = _Progress(run, runs).save({"status": RUNNING, "lease_until": deadline, "stopped": None,
                                                 "continuation": None, "requested": None,
                                                 "updated_at": key_time(clock())})
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
        target = run["request"].get("target")
        if target is not None:
            _allowed(target, settings, wiring.account)  # still allowed now, not only when the run was made
        _execute(progress, wiring, sink_for(run, wiring, settings), remaining_ms, event_ids=event_ids)
    except Exception:
        progress.release()
        raise
    return answer(progress.run if progress.held else runs.get(run["pk"], run["sk"]))


def answer(run: dict) -> dict:
    """The API's view of a run record; ``target_counts`` names the target with its sent/failed/retried."""
    fields = ("replay_id", "dry_run", "status", "stopped", "scanned", "matched", "sent", "failed", "retried",
              "by_day", "sample_event_ids", "failed_event_ids", "last_error", "requested", "requester", "created_at",
              "request", "continuation")
    view = {name: run.get(name) for name in fields}
    view["target"] = target_label((run.get("request") or {}).get("target"))
    view["target_counts"] = {view["target"]: {"sent": run.get("sent", 0), "failed": run.get("failed", 0),
                                              "retried": run.get("retried", 0)}}
    return view


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
        "scanned": 0, "matched": 0, "sent": 0, "by_day": {}, "sample_event_ids": [], "failed": 0, "retried": 0,
    }


def _unrecorded(call: ReplayCall, requester: str, now: datetime, deadline: str, remaining_ms: Callable[[], int],
                wiring: Wiring) -> dict:
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
    _execute(progress, dataclasses.replace(wiring, runs=None), None, remaining_ms, event_ids=call.event_ids)
    if progress.run.get("continuation"):
        progress.run["continuation"] = encode_continuation(replay_id, 0, progress.run["cursor"])
    return progress.run


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


def _execute(progress: _Progress, wiring: Wiring, sink: Sink | None,
             remaining_ms: Callable[[], int], *, event_ids: tuple[str, ...] | None = None) -> None:
    """Walk the run's scope from its cursor, sending (paced) and saving progress after every batch.

    Counts move only with a delivered batch: a batch not sent (time ran low before its turn, or
    the target refused all of it) leaves the cursor before its first event, so it goes next time."""
    run = progress.run
    request = ReplayRequest.from_scope(run["request"])
    check_cursor(run["cursor"], request)
    tally = Tally(*(run[name] for name in COUNTS))
    failed, retried = run.get("failed", 0), run.get("retried", 0)
    failed_ids, last_error = list(run.get("failed_event_ids", [])), run.get("last_error")
    pacer = Pacer(request.rate_per_second, run.get("pace_at_ms", int(wiring.clock().timestamp() * 1000)))
    size = pacer.batch_size(sink.batch_size if sink else SEND_BATCH)
    batch: list[dict] = []
    position = before = run["cursor"]
    stopped, matched_here, scanned_here, unsent = None, 0, 0, False
    steer_check_ms = 0  # the first batch looks at once
    held: set[str] = set()  # DLQ messages this call received (hidden) and has not redriven yet

    def release() -> None:
        """Received but not redriven (stopped early, or refused): visible again for the next call."""
        if held:
            wiring.dead_letters.release(sorted(held))
            held.clear()

    def now_ms() -> int:
        return int(wiring.clock().timestamp() * 1000)

    def saved(**fields) -> bool:
        return progress.save({**tally.to_dict(), "cursor": position, "updated_at": key_time(wiring.clock()),
                              "failed": failed, "retried": retried, "failed_event_ids": failed_ids,
                              "last_error": last_error, "pace_at_ms": pacer.next_ms if pacer.rate else None,
                              **fields}) is not None

    def flush() -> str | None:
        """Deliver the batch; a stop reason when it did not go (the cursor then goes back before it)."""
        nonlocal batch, failed, retried, failed_ids, last_error, scanned_here, position, before
        delay = pacer.delay_ms(now_ms())
        if remaining_ms() - delay < RESERVE_MS:
            position = before
            return StopReason.TIME
        if delay:
            wiring.wait(delay / 1000)  # the rate's schedule, not synchronisation
        started = now_ms()  # the schedule counts from when a batch starts, so sending time is not added to it
        result = sink.deliver(batch)
        pacer.sent(len(batch), started)
        wiring.on_sent(result.sent)
        failed, retried = failed + result.failed, retried + result.retried
        last_error = result.error or last_error
        if result.sent == 0 and result.failed and getattr(sink, "stops_on_refusal", True):
            position = before
            return StopReason.TARGET_ERRORS
        failed_ids = (failed_ids + list(result.failed_ids))[:FAILED_SAMPLE]
        if request.dead_letters:  # redriven: out of the DLQ (a crash before this re-sends the batch, never loses it)
            done = [item["receipt"] for item in batch if item["event_id"] not in result.failed_ids]
            wiring.dead_letters.delete(done)
            held.difference_update(done)
        tally.sent += result.sent
        tally.scanned += scanned_here
        for item in batch:
            tally.match(item["event_id"], item["event_date"])
        batch, scanned_here, before = [], 0, position
        return None

    if request.dead_letters and sink is None:  # a dry run of a redrive counts the DLQ without touching it
        tally.scanned = tally.matched = wiring.dead_letters.depth()
        saved(status=COMPLETED, stopped=StopReason.COMPLETED, continuation=None, lease_until=RELEASED)
        return
    for item, after in candidates(request, position, wiring, event_ids, run, held):
        chosen = selected(item, request)
        if remaining_ms() < RESERVE_MS:
            stopped = StopReason.TIME
        elif chosen and matched_here >= request.limit:
            stopped = StopReason.LIMIT
        if stopped:
            break
        position = after
        if sink is None:  # a dry run counts as it reads
            tally.scanned += 1
            if chosen:
                matched_here += 1
                tally.match(item["event_id"], item["event_date"])
            continue
        scanned_here += 1
        if chosen:
            matched_here += 1
            batch.append(item)
        if len(batch) == size:
            stopped = flush()
            if stopped:
                unsent = True
                break
            if not saved():
                return release()
            if now_ms() >= steer_check_ms:  # a pause or cancel is looked for at most once a second
                steer_check_ms = now_ms() + STEER_CHECK_MS
                if _steered(progress, saved):
                    return release()
    if sink is not None and not unsent:
        if batch:  # the last, short batch (or the one in hand when time or the limit stopped the walk)
            reason = flush()
            stopped, unsent = reason or stopped, reason is not None
        if not unsent:
            tally.scanned += scanned_here
    release()
    continuation = encode_continuation(run["replay_id"], progress.run["step"] + 1) if stopped else None
    saved(status=PARTIAL if stopped else COMPLETED, stopped=stopped or StopReason.COMPLETED, continuation=continuation,
          lease_until=RELEASED)


def _steered(progress: _Progress, saved: Callable[..., bool]) -> bool:
    """True when a pause or cancel was asked for: the run is then stopped and saved so."""
    current = progress.runs.get(progress.run["pk"], progress.run["sk"]) if progress.runs is not None else None
    action = (current or {}).get("requested")
    if action not in ("pause", "cancel") or current.get("step") != progress.run["step"]:
        return False
    status, stopped = ACTIONS[action]
    saved(status=status, stopped=stopped, continuation=None, requested=None, lease_until=RELEASED)
    return True
