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
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ..core import keys
from ..core.deliveries import target_key
from ..core.errors import ConflictError, FieldError, ForbiddenError, NotFoundError, ValidationError
from ..core.ports import RunStore
from ..core.replay import (
    ACTIONS,
    ENDED,
    RUN_ID_RE,
    ReplayCall,
    ReplayRequest,
    RunStatus,
    decode_continuation,
    encode_continuation,
    execution_id_for,
    parse_call,
    replay_id_for,
)
from ..core.targets import AllowList, parse_target, target_label
from ..core.timefmt import key_time
from ..settings import Settings
from . import replay_impact
from .replay_deliveries import Ledger
from .replay_execution import RELEASED, RESERVE_MS, Execution, Progress
from .replay_sinks import sink_for
from .replay_wiring import Wiring

__all__ = ["Wiring", "answer", "replay", "steer"]

POLL_S = 0.25  # how often a caller re-reads a run another call is executing
RUNNING, COMPLETED, PARTIAL = RunStatus.RUNNING, RunStatus.COMPLETED, RunStatus.PARTIAL


def replay(
    data: dict, *, requester: str, now: datetime, remaining_ms: Callable[[], int], settings: Settings, wiring: Wiring
) -> dict:
    """``POST /replay``: run (or resume, or return) a replay; returns the run as the API answers it
    (counts over the whole run). ``wiring.on_sent`` hears how many messages each batch of *this* call sent.

    ``replay({"entity_id": "u1", "start_time": ..., "end_time": ...}, requester=arn, now=now,
    remaining_ms=context.get_remaining_time_in_millis, settings=settings,
    wiring=pik.bootstrap.replay_wiring(settings))``
    """
    call = parse_call(data)
    if call.request is not None and call.request.target is not None:
        _allowed(call.request.target, settings, wiring.account)
    deadline = key_time(now + timedelta(milliseconds=remaining_ms()))
    if settings.dry_run:  # records nothing, so the continuation carries the cursor
        return answer(_unrecorded(call, requester, now, deadline, remaining_ms, settings, wiring))
    if call.event_ids and call.request is not None:  # the list is kept apart from the run (size), by its hash
        wiring.documents.put_new(call.request.ids_key(), {"event_ids": list(call.event_ids)})
    run, created, claimable, continued = _open(call, requester, now, deadline, wiring.runs)
    ids = call.event_ids if call.request is not None and run["fingerprint"] == call.request.fingerprint() else None
    view = _drive(run, created, claimable, continued, remaining_ms, settings, wiring, ids)
    return {**view, "impact": replay_impact.load(view, wiring.documents)}  # whole, also when the item keeps a summary


def steer(
    replay_id: str,
    data: dict,
    *,
    requester: str,
    now: datetime,
    remaining_ms: Callable[[], int],
    settings: Settings,
    wiring: Wiring,
) -> dict:
    """``POST /replay/{id}`` with ``{"action": "pause" | "resume" | "cancel"}``.

    A run another call is executing is asked to stop at its next batch (``requested``); any other
    run moves at once. ``resume`` takes the lease of a paused (or stopped) run and executes it in this
    call. A completed or cancelled run refuses (409); so does a dry run (nothing to steer).
    """
    action = _action(replay_id, data)
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
            claimed = Progress(run, runs).save(
                {
                    "status": RUNNING,
                    "lease_until": deadline,
                    "stopped": None,
                    "continuation": None,
                    "requested": None,
                    "updated_at": key_time(wiring.clock()),
                }
            )
            if claimed is not None:
                return _drive(claimed, True, True, None, remaining_ms, settings, wiring)
            continue
        if live:
            if runs.request_action(run["pk"], run["sk"], action):
                return answer(_reread(runs, run))
            continue
        status, stopped = ACTIONS[action]
        moved = Progress(run, runs).save(
            {
                "status": status,
                "stopped": stopped,
                "continuation": None,
                "requested": None,
                "lease_until": RELEASED,
                "updated_at": key_time(wiring.clock()),
            }
        )
        if moved is not None:
            return answer(moved)
    raise ConflictError(f"replay run {replay_id} kept changing: send the action again")


def _action(replay_id: str, data: dict) -> str:
    """The steering action of a ``POST /replay/{id}`` body; a 400 naming the field otherwise."""
    action = data.get("action") if isinstance(data, dict) else None
    if not isinstance(action, str) or action not in ACTIONS or set(data) != {"action"}:
        raise ValidationError(
            [FieldError("action", "one_of", 'body must be {"action": "pause" | "resume" | "cancel"}')]
        )
    if not isinstance(replay_id, str) or not RUN_ID_RE.fullmatch(replay_id):
        raise ValidationError([FieldError("replay_id", "pattern", f"replay_id must match {RUN_ID_RE.pattern}")])
    return action


def _allowed(target: dict, settings: Settings, account: str) -> None:
    AllowList.from_text(**settings.replay_targets).check(parse_target(target), settings.region, account)


def _drive(
    run: dict,
    created: bool,
    claimable: bool,
    continued: int | None,
    remaining_ms: Callable[[], int],
    settings: Settings,
    wiring: Wiring,
    event_ids: tuple[str, ...] | None = None,
) -> dict:
    """Execute ``run`` if this call gets its lease; otherwise wait for its executor, then answer it.
    ``event_ids``: the run's id list when this call brought it (else it is read from the bucket)."""
    runs, clock, wait = wiring.runs, wiring.clock, wiring.wait
    while not created:
        if claimable and _may_claim(run, continued, key_time(clock())):
            deadline = key_time(clock() + timedelta(milliseconds=remaining_ms()))
            claimed = Progress(run, runs).save(
                {
                    "status": RUNNING,
                    "lease_until": deadline,
                    "stopped": None,
                    "continuation": None,
                    "requested": None,
                    "updated_at": key_time(clock()),
                }
            )
            if claimed is not None:
                run = claimed
                break
            run = _reread(runs, run)  # another call was quicker: answer what it made of the run
            continue
        if not claimable or run["status"] != RUNNING or remaining_ms() < RESERVE_MS:
            return answer(run)
        wait(POLL_S)
        run = _reread(runs, run)
    progress = Progress(run, runs)
    try:
        target = run["request"].get("target")
        if target is not None:
            _allowed(target, settings, wiring.account)  # still allowed now, not only when the run was made
        Execution(
            progress,
            wiring,
            sink_for(run, wiring, settings),
            remaining_ms,
            event_ids=event_ids,
            ledger=_ledger(run, settings, wiring),
        ).run()
    except Exception:
        progress.release()
        raise
    return answer(progress.run if progress.held else _reread(runs, run))


def answer(run: dict) -> dict:
    """The API's view of a run record; ``target_counts`` names the target with its sent/failed/retried."""
    fields = (
        "replay_id",
        "dry_run",
        "status",
        "stopped",
        "scanned",
        "matched",
        "sent",
        "failed",
        "retried",
        "skipped",
        "already_delivered",
        "by_day",
        "sample_event_ids",
        "failed_event_ids",
        "failed_reasons",
        "last_error",
        "requested",
        "requester",
        "created_at",
        "updated_at",
        "request",
        "continuation",
        "impact",
        "impact_key",
    )
    view = {name: run.get(name) for name in fields}
    view["target"] = target_label((run.get("request") or {}).get("target"))
    view["skipped"] = run.get("skipped", 0)
    view["target_counts"] = {
        view["target"]: {
            "sent": run.get("sent", 0),
            "failed": run.get("failed", 0),
            "retried": run.get("retried", 0),
            "skipped": view["skipped"],
        }
    }
    return view


def _open(
    call: ReplayCall, requester: str, now: datetime, deadline: str, runs: RunStore
) -> tuple[dict, bool, bool, int | None]:
    """The run this call is about: ``(run, created by this call, may this call execute it, the step
    its continuation stopped at)``."""
    target = None
    if call.replay_id is not None:
        named = _owned(runs, call.replay_id, requester)
        if call.dry_run or not named["dry_run"]:  # read a run, or execute an executed run again: no
            target = named
        else:  # execute a reviewed dry run: its one execution run
            scope = {**named["request"], "dry_run": False, "recorded_by": named["created_at"]}  # what was reviewed
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
            call.request is not None and run["fingerprint"] != call.request.fingerprint()
        ):
            raise ConflictError("a continuation must be sent with the same request that returned it")
        if position.step > run.get("step", 0):
            raise ValidationError(
                [FieldError("continuation", "step", "continuation is ahead of its run: not one a replay returned")]
            )
        return run, False, True, position.step
    if target is not None:
        return target, False, not call.dry_run, None
    if call.request is None:  # not reached: a call by replay_id has its target by now
        raise NotFoundError(f"no replay run {call.replay_id}")
    replay_id = replay_id_for(requester, call.request.client_token, uuid.uuid4().hex)
    run = _new_run(replay_id, call.request, requester, now, deadline)
    if runs.put_new(run):
        return run, True, True, None
    stored = _owned(runs, replay_id, requester)
    if stored["fingerprint"] != call.request.fingerprint():
        raise ConflictError("client_token was already used for a different replay request")
    return stored, False, True, None


def _ledger(run: dict, settings: Settings, wiring: Wiring) -> Ledger | None:
    """The deliveries of the run's external target (None: the stack's queue, the repair path, a DLQ redrive)."""
    request = run["request"]
    if request.get("target") is None or request.get("dead_letters") or wiring.deliveries is None:
        return None
    target = parse_target(request["target"])
    return Ledger(
        wiring.deliveries,
        target_key(target, settings.region, wiring.account),
        target.label,
        run["replay_id"],
        resend=bool(request.get("resend")),
        clock=wiring.clock,
        already=run.get("already_delivered"),
    )


def _may_claim(run: dict, continued: int | None, now: str) -> bool:
    """A call may take the run's lease when its executor is gone (RUNNING, lease past) or when it
    brings the continuation of the step the run stopped at. Taking it is a conditional write on
    ``step``: of any number of such calls, exactly one gets it."""
    if "step" not in run:  # recorded before runs were versioned: answered as it stands
        return False
    orphaned = run["status"] == RUNNING and run.get("lease_until", RELEASED) <= now
    return orphaned or (run["status"] == PARTIAL and continued == run["step"])


def _reread(runs: RunStore, run: dict[str, Any]) -> dict[str, Any]:
    """``run`` as stored now (another call may have moved it)."""
    stored = runs.get(run["pk"], run["sk"])
    if stored is None:
        raise NotFoundError(f"no replay run {run['replay_id']}")
    return stored


def _owned(runs: RunStore, replay_id: str, requester: str) -> dict:
    run = runs.get(keys.run_pk(replay_id), "RUN")
    if run is None:
        raise NotFoundError(f"no replay run {replay_id}")
    if run["requester"] != requester:
        raise ForbiddenError(f"replay run {replay_id} belongs to another requester")
    return run


def _new_run(replay_id: str, request: ReplayRequest, requester: str, now: datetime, deadline: str) -> dict:
    return {
        "pk": keys.run_pk(replay_id),
        "sk": "RUN",
        "runs_pk": keys.RUNS_GSI_PK,
        "replay_id": replay_id,
        "request": request.scope(),
        "fingerprint": request.fingerprint(),
        "requester": requester,
        "dry_run": request.dry_run,
        "status": RUNNING,
        "created_at": key_time(now),
        "updated_at": key_time(now),
        "step": 0,
        "lease_until": deadline,
        "cursor": {},
        "scanned": 0,
        "matched": 0,
        "sent": 0,
        "by_day": {},
        "sample_event_ids": [],
        "failed": 0,
        "retried": 0,
    }


def _unrecorded(
    call: ReplayCall,
    requester: str,
    now: datetime,
    deadline: str,
    remaining_ms: Callable[[], int],
    settings: Settings,
    wiring: Wiring,
) -> dict:
    """A run under ``DRY_RUN=true``: the full logic, nothing written, nothing sent."""
    if call.request is None:
        raise NotFoundError(f"no replay run {call.replay_id} (DRY_RUN records no runs)")
    request = dataclasses.replace(call.request, dry_run=True)
    replay_id, cursor = replay_id_for(requester, request.client_token, uuid.uuid4().hex), {}
    if call.continuation is not None:
        position = decode_continuation(call.continuation)
        replay_id, cursor = position.replay_id, position.cursor or {}
    run = {**_new_run(replay_id, request, requester, now, deadline), "cursor": cursor}
    progress = Progress(run, None)
    Execution(
        progress,
        wiring,
        None,
        remaining_ms,
        event_ids=call.event_ids,  # progress has no store: nothing written
        ledger=_ledger(run, settings, wiring),
    ).run()
    if progress.run.get("continuation"):
        progress.run["continuation"] = encode_continuation(replay_id, 0, progress.run["cursor"])
    return progress.run
