"""The impact of a replay to the stack's processor, shown by its dry run before anything is sent.

A replay to the processor makes it recompute every (entity, day) a selected event falls on, over
all ACCEPTED events of that entity-day. The impact says, per (entity, day, metric), the value now
(the latest version) and the value after (the version the replay would write), and which events
would enter (or leave) the inputs. It comes from ``Recomputer.preview``, i.e. the processor's own
``plan``: the same aggregator over the same input set the recompute reads, so after the replay the
aggregate diff equals the preview value for value (unless events arrive in between; then the
processor is right and the preview was right when it was made: ``computed_at``).

    impact = build(groups, recomputer, remaining_ms, previous=None, computed_at=now)
    {"complete": True, "entity_days": 1, "computed": 1, "not_previewed": 0, "pending": [],
     "rows": [{"entity_id", "day", "metric", "now", "after", "version_now", "version_after", "changed",
               "inputs_now", "inputs_after"}],
     "events": [{"entity_id", "day", "event_id", "change": "enters" | "leaves"}], "events_total": 1, ...}

Bounds. At most ``MAX_ENTITY_DAYS`` entity-days are previewed per run (each costs an index query,
an aggregates query, a manifest read and the raw reads of new inputs); the others are counted in
``not_previewed`` and ``complete`` is false. Entity-days not reached before the call's time ran low
are ``pending``: the dry run then stops with a continuation and the next call previews them. At
most ``MAX_EVENTS`` events are listed (``events_total`` counts them all).

Storage. The impact is part of the run's audit record. A DynamoDB item holds at most 400 KB
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html, "Item size"),
so an impact whose JSON exceeds ``INLINE_BYTES`` is written to S3 beside the run's other documents
(``replays/impact/<replay_id>/<sha256>.json``, created once, as AWS's "Best practices for storing large items and
attributes" recommend,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-use-s3-too.html)
and the item keeps its summary (no rows or events,
``stored_in_s3: true``) and the object's key (``impact_key``); the API answers the full impact.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from ..core import identity, keys
from ..core.ports import DocumentStore
from ..core.replay import ReplayRequest
from .process import Recomputer

MAX_ENTITY_DAYS = 100
MAX_EVENTS = 10_000
INLINE_BYTES = 100_000  # of the item's 400 KB: the rest of the run record stays far below the remainder
RESERVE_MS = 2_500  # previewing stops with this much left (the walk's own reserve is larger)

Group = tuple[str, str]  # (entity_id, day)


def applies(request: ReplayRequest) -> bool:
    """Only a replay to the stack's processor changes aggregates (not an external target, the repair
    path or a DLQ redrive, whose dry run does not read the messages)."""
    return request.target is None and not request.repair and not request.dead_letters


def build(
    groups: Iterable[Group],
    recomputer: Recomputer,
    remaining_ms: Callable[[], int],
    *,
    previous: dict | None,
    computed_at: str,
) -> dict:
    """The impact of ``groups`` (entity-days in walk order) added to ``previous`` (the run's impact so far)."""
    impact = _start(previous, computed_at, recomputer.code_version)
    seen = {(row["entity_id"], row["day"]) for row in impact["rows"]} | {tuple(g) for g in impact["pending"]}
    todo = [tuple(g) for g in impact["pending"]] + [g for g in dict.fromkeys(groups) if g not in seen]
    impact["pending"] = []
    for entity_id, day in todo:
        if impact["computed"] >= MAX_ENTITY_DAYS:
            impact["not_previewed"] += 1
        elif remaining_ms() < RESERVE_MS:
            impact["pending"].append([entity_id, day])
        else:
            _add(impact, recomputer.preview(entity_id, day))
    impact["entity_days"] = impact["computed"] + len(impact["pending"]) + impact["not_previewed"]
    impact["complete"] = not impact["pending"] and not impact["not_previewed"]
    return impact


def _start(previous: dict | None, computed_at: str, code_version: str) -> dict:
    if previous and "rows" in previous:
        return {
            **previous,
            "rows": list(previous["rows"]),
            "events": list(previous["events"]),
            "pending": list(previous.get("pending", [])),
            "computed_at": computed_at,
        }
    return {
        "complete": True,
        "entity_days": 0,
        "computed": 0,
        "not_previewed": 0,
        "pending": [],
        "rows": [],
        "events": [],
        "events_total": 0,
        "changed": 0,
        "code_version": code_version,
        "computed_at": computed_at,
    }


def _add(impact: dict, preview: dict) -> None:
    where = {"entity_id": preview["entity_id"], "day": preview["day"]}
    impact["computed"] += 1
    for metric in preview["metrics"]:
        impact["rows"].append(
            {**where, **metric, "inputs_now": preview["inputs_now"], "inputs_after": preview["inputs_after"]}
        )
        impact["changed"] += metric["changed"]
    for change, ids in (("enters", preview["entering"]), ("leaves", preview["leaving"])):
        impact["events_total"] += len(ids)
        room = MAX_EVENTS - len(impact["events"])
        impact["events"] += [{**where, "event_id": event_id, "change": change} for event_id in ids[: max(0, room)]]


def summary(impact: dict) -> dict:
    """The impact without its rows and events: what the run item keeps when the whole is in S3."""
    return {k: v for k, v in impact.items() if k not in ("rows", "events")}


def stored(impact: dict, replay_id: str, documents: DocumentStore | None) -> dict:
    """The run-record fields that keep ``impact``: inline when small, else in S3 (a create-only,
    content-addressed object: the same impact twice is one object) with a summary inline."""
    text = json.dumps(impact, sort_keys=True, separators=(",", ":"), default=str)
    if len(text) <= INLINE_BYTES or documents is None:
        return {"impact": impact, "impact_key": None}
    key = keys.replay_impact_key(replay_id, identity.sha256_hex(text))
    documents.put_new(key, impact)
    return {"impact": {**summary(impact), "stored_in_s3": True}, "impact_key": key}


def load(run: dict, documents: DocumentStore | None) -> dict | None:
    """The run's whole impact (read from S3 when the item keeps only its summary); None without one."""
    impact = run.get("impact")
    if impact and impact.get("stored_in_s3") and run.get("impact_key") and documents is not None:
        return documents.get(run["impact_key"])
    return impact
