"""What a replay run walks: the candidates of its selection, each with the position just after it.

an entity or a source/type   the events table's indexes, in a window (``pik.core.queries`` cursors)
event_ids                    the listed events' dedup gates, in the order given (``{"index": n}``)
statuses ["REJECTED"]        the quarantine (``rejected/date=D/``) of the window's arrival days
dead_letters                 the replay queue's DLQ, until it answers empty (no cursor)
"""

from __future__ import annotations

from collections.abc import Iterator

from ..core import records
from ..core.queries import entity_cursor, stream_cursor
from ..core.records import ACCEPTED, REJECTED
from ..core.replay import ReplayRequest
from ..core.timefmt import key_time
from .replay_wiring import Wiring


def candidates(
    request: ReplayRequest, position: dict, wiring: Wiring, event_ids: tuple[str, ...] | None, run: dict, held: set[str]
) -> Iterator[tuple[dict, dict]]:
    """Candidate attempts with the position just after each one (``held`` collects DLQ receipts)."""
    if request.dead_letters:
        yield from _dead_letters(wiring, held)
    elif request.repair:
        yield from _rejected(request, position, wiring)
    elif request.event_ids_count is not None:
        yield from _listed(request, position, wiring, event_ids)
    elif request.entity_id is not None:
        start, end = request.window()
        items = wiring.index.by_entity(
            request.entity_id, key_time(start), key_time(end), after=position.get("after"), page_size=wiring.page_size
        )
        for item in items:
            yield item, {"after": entity_cursor(item)}
    else:
        yield from _by_stream(request, position, wiring)


def _dead_letters(wiring: Wiring, held: set[str]) -> Iterator[tuple[dict, dict]]:
    """Until the DLQ answers empty; what was received stays hidden from later receives."""
    dead_letters = wiring.dead_letter_queue()
    while messages := dead_letters.receive():
        held.update(receipt for receipt, _ in messages)  # all of them now: the walk may stop mid-way
        for receipt, body in messages:
            yield {**(body or {"event_id": "", "status": "UNREADABLE"}), "receipt": receipt}, {}


def _rejected(request: ReplayRequest, position: dict, wiring: Wiring) -> Iterator[tuple[dict, dict]]:
    """The quarantined requests of the window's arrival days, in key order."""
    days = request.days()
    first = days.index(position["day"]) if "day" in position else 0
    for day in days[first:]:
        prefix = f"rejected/date={day}/"
        after = position.get("key") if position.get("day") == day else None
        for key in wiring.documents.list_keys(prefix, after=after):
            doc = wiring.documents.get(key)
            yield (
                {
                    "status": REJECTED,
                    "event_id": doc["attempt_id"],
                    "event_date": day,
                    "s3_key": key,
                    "event_time": doc["ingest_time"],
                    "doc": doc,
                },
                {"day": day, "key": key},
            )


def _listed(
    request: ReplayRequest, position: dict, wiring: Wiring, event_ids: tuple[str, ...] | None
) -> Iterator[tuple[dict, dict]]:
    """The listed events' gates, in the order given (the list read back from S3 when not passed)."""
    if event_ids is None:
        event_ids = tuple(wiring.documents.get(request.ids_key())["event_ids"])
    for i in range(position.get("index", 0), len(event_ids)):
        yield _gate_item(wiring.index.get_event(event_ids[i]), event_ids[i]), {"index": i + 1}


def _by_stream(request: ReplayRequest, position: dict, wiring: Wiring) -> Iterator[tuple[dict, dict]]:
    """A source/type's events, day by day of the window."""
    days = request.days()
    first = days.index(position["day"]) if "day" in position else 0
    for day in days[first:]:
        after = position.get("after") if position.get("day") == day else None
        for item in wiring.index.by_stream_day(*request.stream(), day, after=after, page_size=wiring.page_size):
            yield item, {"day": day, "after": stream_cursor(item)}


def _gate_item(gate: dict | None, event_id: str) -> dict:
    """An event named by id, as its first (ACCEPTED) attempt; ``MISSING`` when pik has no such event."""
    if gate is None:
        return {"event_id": event_id, "status": "MISSING"}
    return {**gate, "status": ACCEPTED, "attempt_id": gate["first_attempt_id"]}


def _recorded(item: dict) -> str:
    """When an attempt was recorded; an item written before ``rec_sk`` existed, by its arrival."""
    return records.recorded_at(item) if "rec_sk" in item else str(item.get("ingest_time", ""))


def selected(item: dict, request: ReplayRequest) -> bool:
    if item["status"] not in request.wanted():
        return False
    if request.recorded_by is not None and _recorded(item) > request.recorded_by:
        return False  # recorded after the reviewed dry run began: not part of what was reviewed
    if request.start is None or request.end is None:  # event ids without a window
        return True
    return key_time(request.start) <= item["event_time"] < key_time(request.end)
