"""Replay: select events by entity or source/type and time window, and re-emit them to SQS.

Safe by default: ``dry_run`` is true unless the request says false. Every run is recorded
(who, what, counts by day, status). A repeated ``client_token`` returns the first run and
never enqueues twice. Work stops at ``limit`` or when the Lambda's time runs low; the answer
then carries a ``continuation`` that resumes the same run.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Callable, Iterator

from ..core import keys
from ..core.errors import ConflictError, NotFoundError
from ..core.ports import SEND_BATCH, EventIndex, MessageQueue, RunStore
from ..core.queries import entity_cursor, stream_cursor
from ..core.records import ACCEPTED, DUPLICATE
from ..core.replay import ReplayRequest, Tally, decode_cursor, encode_cursor, parse_request, replay_id_for
from ..core.timefmt import days_between, key_time
from ..settings import Settings

RESERVE_MS = 5_000  # stop with a continuation when less than this is left
RUNNING, COMPLETED, PARTIAL = "RUNNING", "COMPLETED", "PARTIAL"


def replay(data: dict, *, requester: str, now: datetime, remaining_ms: Callable[[], int], index: EventIndex,
           runs: RunStore, queue: MessageQueue, settings: Settings, page_size: int | None = None) -> dict:
    """Run (or resume, or return) a replay; returns the run as the API answers it."""
    request, continuation = parse_request(data)
    dry_run = request.dry_run or settings.dry_run
    if continuation:
        position = decode_cursor(continuation)
        run = _stored_run(runs, position["replay_id"], request,
                          "a continuation must be sent with the same request that returned it")
    else:
        replay_id = replay_id_for(requester, request.client_token, uuid.uuid4().hex)
        run = _new_run(replay_id, request, requester, now, dry_run)
        if not settings.dry_run and not runs.put_new(run):
            return answer(_stored_run(runs, replay_id, request,
                                      "client_token was already used for a different replay request"))
        position = {"replay_id": replay_id}
    tally = Tally(run["scanned"], run["matched"], run["sent"], run["by_day"], run["sample_event_ids"])
    stop = _emit(request, run["replay_id"], position, tally, index, queue, dry_run, remaining_ms, page_size)
    run.update(tally.to_dict(), status=PARTIAL if stop else COMPLETED, updated_at=key_time(now),
               continuation=encode_cursor(stop) if stop else None)
    if not settings.dry_run:
        runs.update(run["pk"], run["sk"], {k: run[k] for k in ("scanned", "matched", "sent", "by_day",
                    "sample_event_ids", "status", "updated_at", "continuation") if run[k] is not None})
    return answer(run)


def answer(run: dict) -> dict:
    """The API's view of a run record."""
    fields = ("replay_id", "dry_run", "status", "scanned", "matched", "sent", "by_day", "sample_event_ids",
              "requester", "created_at", "request", "continuation")
    return {name: run.get(name) for name in fields}


def _new_run(replay_id: str, request: ReplayRequest, requester: str, now: datetime, dry_run: bool) -> dict:
    return {
        "pk": keys.run_pk(replay_id), "sk": "RUN", "runs_pk": keys.RUNS_GSI_PK,
        "replay_id": replay_id, "request": request.scope(), "fingerprint": request.fingerprint(),
        "requester": requester, "dry_run": dry_run, "status": RUNNING,
        "created_at": key_time(now), "updated_at": key_time(now),
        "scanned": 0, "matched": 0, "sent": 0, "by_day": {}, "sample_event_ids": [], "continuation": None,
    }


def _stored_run(runs: RunStore, replay_id: str, request: ReplayRequest, mismatch: str) -> dict:
    """The recorded run, which must have been made by this very request."""
    run = runs.get(keys.run_pk(replay_id), "RUN")
    if run is None:
        raise NotFoundError(f"no replay run {replay_id}")
    if run["fingerprint"] != request.fingerprint():
        raise ConflictError(mismatch)
    return run


def _emit(request: ReplayRequest, replay_id: str, position: dict, tally: Tally, index: EventIndex,
          queue: MessageQueue, dry_run: bool, remaining_ms: Callable[[], int], page_size: int | None) -> dict | None:
    """Walk the scope from ``position``; returns where to resume, or None when done."""
    batch: list[dict] = []
    resume_at = position
    stop = None
    matched_here = 0
    for item, after in _scope(request, position, index, page_size):
        selected = _selected(item, request)
        if remaining_ms() < RESERVE_MS or (selected and matched_here >= request.limit):
            stop = resume_at
            break
        tally.scanned += 1
        if selected:
            matched_here += 1
            tally.match(item["event_id"], item["event_date"])
            if not dry_run:
                batch.append(_message(item, replay_id))
                if len(batch) == SEND_BATCH:
                    tally.sent += queue.send(batch)
                    batch = []
        resume_at = after
    if batch:
        tally.sent += queue.send(batch)
    return stop


def _scope(request: ReplayRequest, position: dict, index: EventIndex,
           page_size: int | None) -> Iterator[tuple[dict, dict]]:
    """Candidate attempts with the position just after each one."""
    replay_id = position["replay_id"]
    if request.entity_id is not None:
        items = index.by_entity(request.entity_id, key_time(request.start), key_time(request.end),
                                after=position.get("after"), page_size=page_size)
        for item in items:
            yield item, {"replay_id": replay_id, "after": entity_cursor(item)}
        return
    days = days_between(request.start, request.end)
    first = days.index(position["day"]) if "day" in position else 0
    for day in days[first:]:
        after = position.get("after") if position.get("day") == day else None
        for item in index.by_stream_day(request.source, request.event_type, day, after=after, page_size=page_size):
            yield item, {"replay_id": replay_id, "day": day, "after": stream_cursor(item)}


def _selected(item: dict, request: ReplayRequest) -> bool:
    wanted = (ACCEPTED, DUPLICATE) if request.include_duplicates else (ACCEPTED,)
    return item["status"] in wanted and key_time(request.start) <= item["event_time"] < key_time(request.end)


def _message(item: dict, replay_id: str) -> dict:
    fields = ("event_id", "attempt_id", "status", "source", "event_type", "entity_id", "event_time", "event_date", "s3_key")
    return {"replay_id": replay_id, **{name: item[name] for name in fields}}
