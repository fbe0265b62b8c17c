"""A generated incident with ground truth known by construction (deterministic for a seed).

Story, over the last ``days`` days ending now (event times are relative to the current time,
because the API refuses old or future events and measures lag from the real arrival):

- ``sources`` x ``entities`` streams, each on a regular cadence, every payload with an ``amount``;
- lateness: most events are sent about a minute after they happen, a tail up to two hours, and a
  **late burst**: the focus source's events over six hours arrive 6-20 hours late;
- a **duplicate storm**: plain retries (byte-identical) of the focus source's events around one time;
- a **rejected batch**: a bad deploy of the focus source's producer sends invalid events in one go;
- **conflicting duplicates**: a few idempotency keys re-used later with another payload;
- a **missing day**: the focus entity's focus-source events of one day never arrive, until the
  **fix** phase backfills them, so replay + processor give that entity-day a new aggregate version.

Everything happens to the focus source (``mobile_app``, whose producer sends idempotency keys),
and the focus entity is hit by each part inside the incident window, so an investigation scoped
to that entity and stream sees the whole story; the other sources are background traffic.

Events come in the order to send, phase by phase (``stream``, ``conflicts``, ``fix``); within a
phase they may be sent concurrently, and every count in ``Truth`` holds whatever the order.
``sent_at`` is when the simulated producer sent the event: ``pik demo`` passes it as the
arrival time to a local stack started with ``simulated_arrival=True``, so measured lag and
arrival order follow the story; sent without it, every event arrives now.

    incident = generate(events=2_000, seed=7)
    incident.truth.expected()      # {'ACCEPTED': ..., 'DUPLICATE': ..., 'CONFLICT': ..., 'REJECTED': ...}
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pik.core import identity
from pik.core.records import ACCEPTED, CONFLICT, DUPLICATE, REJECTED
from pik.core.timefmt import key_time

UTC = UTC
SOURCES = (("mobile_app", "workout_completed"), ("web", "order_placed"), ("pos", "payment_captured"))
FOCUS_SOURCE = "mobile_app"  # keyed; the late burst, storm, rejected batch and missing day hit it
LATE_AFTER = timedelta(hours=1)
PHASES = ("stream", "conflicts", "fix")


@dataclass(frozen=True)
class PlannedEvent:
    """One request to send: its body (a dict, or a raw string for a broken body) and its expected status."""

    phase: str
    kind: str  # regular, late, retry, rejected, conflict, fix
    body: Any
    expected: str  # ACCEPTED, DUPLICATE, CONFLICT or REJECTED
    event_id: str | None
    sent_at: datetime


@dataclass(frozen=True)
class Truth:
    """What the stack must end up holding, known by construction."""

    seed: int
    generated_at: datetime
    start: datetime  # first possible event time
    end: datetime  # last possible event time
    entities: tuple[str, ...]
    focus_entity: str
    focus_source: str
    focus_event_type: str
    missing_day: str  # the focus entity's day without focus-source events until the fix
    counts: dict[str, dict[str, int]]  # phase -> status -> requests
    late_event_ids: frozenset[str] = field(repr=False)
    storm_event_ids: frozenset[str] = field(repr=False)
    conflict_event_ids: frozenset[str] = field(repr=False)
    fix_event_ids: frozenset[str] = field(repr=False)
    out_of_order: int = 0  # stream-phase events sent after a later event of their stream
    late_burst: tuple[datetime, datetime] | None = None

    @property
    def incident_start(self) -> datetime:
        """The window to investigate and replay: the day before the missing day ..."""
        return datetime.combine(date.fromisoformat(self.missing_day) - timedelta(days=1), time(), tzinfo=UTC)

    @property
    def incident_end(self) -> datetime:
        """... to the end of the day after it (exclusive)."""
        return self.incident_start + timedelta(days=3)

    @property
    def incident_window(self) -> tuple[str, str]:
        """``(start, end)`` of the incident window as ISO strings with ``Z``."""
        return _iso(self.incident_start), _iso(self.incident_end)

    def expected(self, *phases: str) -> dict[str, int]:
        """Requests per status over ``phases`` (default all): ``truth.expected("stream")["DUPLICATE"]``."""
        total: Counter = Counter()
        for phase in phases or PHASES:
            total.update(self.counts.get(phase, {}))
        return dict(total)

    def summary(self) -> dict:
        """The truth as JSON-able numbers and names (what ``pik demo`` writes to ``demo-truth.json``)."""
        return {
            "seed": self.seed,
            "generated_at": _iso(self.generated_at),
            "start": _iso(self.start),
            "end": _iso(self.end),
            "entities": len(self.entities),
            "focus_entity": self.focus_entity,
            "focus_source": self.focus_source,
            "focus_event_type": self.focus_event_type,
            "missing_day": self.missing_day,
            "incident_window": list(self.incident_window),
            "counts": self.counts,
            "expected": self.expected(),
            "late_events": len(self.late_event_ids),
            "stormed_events": len(self.storm_event_ids),
            "conflicting_events": sorted(self.conflict_event_ids),
            "fix_events": len(self.fix_event_ids),
            "out_of_order": self.out_of_order,
            "late_burst": [_iso(t) for t in self.late_burst] if self.late_burst else None,
        }

    def shell_scope(self) -> dict[str, str]:
        """The scope as shell variables (what ``pik demo`` writes to ``.pik/demo.env``): the focus
        entity and stream, the window, the missing day and one event worth explaining (a late one
        that the fix delivered and the replay added to an aggregate)."""
        start, end = self.incident_window
        explain = sorted(self.fix_event_ids) or sorted(self.conflict_event_ids) or sorted(self.late_event_ids)
        return {
            "FOCUS": self.focus_entity,
            "SOURCE": self.focus_source,
            "EVENT_TYPE": self.focus_event_type,
            "START": start,
            "END": end,
            "MISSING_DAY": self.missing_day,
            "EVENT_ID": explain[0] if explain else "",
        }

    def notebook_parameters(self, local_file: str) -> dict[str, str]:
        """The incident notebook's parameters for this incident."""
        return {
            "local_file": str(local_file),
            "entity_id": self.focus_entity,
            "source": self.focus_source,
            "event_type": self.focus_event_type,
            "start": self.incident_window[0],
            "end": self.incident_window[1],
        }


@dataclass(frozen=True)
class Incident:
    events: list[PlannedEvent]
    truth: Truth

    def phase(self, name: str) -> list[PlannedEvent]:
        """The events of one phase, in sending order."""
        return [event for event in self.events if event.phase == name]


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class _Budget:
    """How ``events`` requests split between the parts of the story."""

    conflicts: int
    rejected: int
    retries: int
    regular: int
    entities: int

    @classmethod
    def of(cls, events: int) -> _Budget:
        if events < 60:
            raise ValueError("an incident needs at least 60 events")
        conflicts, rejected, retries = max(2, events // 2000), max(3, events // 200), max(4, events // 10)
        regular = events - conflicts - rejected - retries
        return cls(conflicts, rejected, retries, regular, max(3, min(50, regular // 350)))


def generate(events: int = 20_000, *, seed: int = 7, days: int = 6, now: datetime | None = None) -> Incident:
    """The incident: ``events`` requests in sending order (exactly), and the truth.

    >>> incident = generate(200, seed=1)
    >>> len(incident.events), sum(incident.truth.expected().values())
    (200, 200)
    """
    if days < 4:
        raise ValueError("an incident spans at least 4 days (the missing day is 3 days ago)")
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    budget = _Budget.of(events)
    today = datetime.combine(now.date(), time(), tzinfo=UTC)
    start, end = today - timedelta(days=days), now - timedelta(minutes=10)
    missing_day = (today - timedelta(days=3)).date().isoformat()
    entities = tuple(f"user_{i:03d}" for i in range(1, budget.entities + 1))
    focus = rng.choice(entities)
    burst = (today - timedelta(days=2) + timedelta(hours=8), today - timedelta(days=2) + timedelta(hours=14))
    regular = _streams(rng, entities, budget.regular, start, end, now, burst)
    fix = [e for e in regular if (e["entity_id"], e["source"], e["event_date"]) == (focus, FOCUS_SOURCE, missing_day)]
    withheld = {e["event_id"] for e in fix}
    stream = [e for e in regular if e["event_id"] not in withheld]
    hot = [e for e in stream if e["source"] == FOCUS_SOURCE]
    storm_at = datetime.combine(date.fromisoformat(missing_day), time(15), tzinfo=UTC) - timedelta(days=1)
    retries = _storm(rng, _focus_first(hot, focus, storm_at), budget.retries, now)
    conflicts = _conflicts(rng, _focus_first(hot, focus, storm_at - timedelta(hours=6)), budget.conflicts, now)
    rejected = _rejected(focus, budget.rejected, burst[1] + timedelta(hours=2))
    planned = (
        _plan("stream", sorted(stream + retries + rejected, key=lambda e: e["sent_at"]))
        + _plan("conflicts", conflicts)
        + _plan("fix", [{**e, "kind": "fix", "sent_at": now} for e in fix])
    )
    truth = Truth(
        seed=seed,
        generated_at=now,
        start=start,
        end=end,
        entities=entities,
        focus_entity=focus,
        focus_source=FOCUS_SOURCE,
        focus_event_type=dict(SOURCES)[FOCUS_SOURCE],
        missing_day=missing_day,
        counts={phase: dict(Counter(p.expected for p in planned if p.phase == phase)) for phase in PHASES},
        late_event_ids=frozenset(e["event_id"] for e in stream if e["kind"] == "late"),
        storm_event_ids=frozenset(e["event_id"] for e in retries),
        conflict_event_ids=frozenset(e["event_id"] for e in conflicts),
        fix_event_ids=frozenset(e["event_id"] for e in fix),
        out_of_order=_out_of_order([p for p in planned if p.phase == "stream" and p.kind in ("regular", "late")]),
        late_burst=burst,
    )
    return Incident(planned, truth)


def _streams(
    rng: random.Random,
    entities: tuple[str, ...],
    total: int,
    start: datetime,
    end: datetime,
    now: datetime,
    burst: tuple[datetime, datetime],
) -> list[dict]:
    """Every (source, entity) stream on a regular cadence, ``total`` events in all."""
    streams = [(source, kind, entity) for source, kind in SOURCES for entity in entities]
    events = []
    for index, (source, kind, entity) in enumerate(streams):
        count = total // len(streams) + (1 if index < total % len(streams) else 0)
        step = (end - start) / count
        for seq in range(count):
            when = start + step * (seq + 0.5 + rng.uniform(-0.3, 0.3))
            events.append(_event(rng, source, kind, entity, seq, when, now, burst))
    return events


def _event(
    rng: random.Random,
    source: str,
    kind: str,
    entity: str,
    seq: int,
    when: datetime,
    now: datetime,
    burst: tuple[datetime, datetime],
) -> dict:
    in_burst = source == FOCUS_SOURCE and burst[0] <= when < burst[1]
    lateness = _lateness(rng, in_burst)
    sent_at = min(when + lateness, now)
    payload = {"amount": rng.randint(1, 500), "seq": seq}
    body = {"source": source, "event_type": kind, "entity_id": entity, "event_time": _iso(when), "payload": payload}
    if source == FOCUS_SOURCE:
        body["idempotency_key"] = f"{entity}-{seq:06d}"
    return _with_identity(body, sent_at, kind="late" if sent_at - when >= LATE_AFTER else "regular")


def _lateness(rng: random.Random, in_burst: bool) -> timedelta:
    if in_burst:
        return timedelta(hours=rng.uniform(6, 20))
    if rng.random() < 0.05:
        return timedelta(minutes=rng.uniform(10, 120))
    return timedelta(seconds=5 + rng.expovariate(1 / 60))


def _with_identity(body: dict, sent_at: datetime, *, kind: str) -> dict:
    """The event plus bookkeeping: ``event_id`` as the API will compute it, day, send time, kind."""
    when = datetime.fromisoformat(body["event_time"].replace("Z", "+00:00"))
    event_id = identity.event_id(
        body["source"],
        body["event_type"],
        body["entity_id"],
        key_time(when),
        identity.payload_sha256(body["payload"]),
        body.get("idempotency_key"),
    )
    return {
        "body": body,
        "event_id": event_id,
        "source": body["source"],
        "entity_id": body["entity_id"],
        "event_time": when,
        "event_date": when.date().isoformat(),
        "sent_at": sent_at,
        "kind": kind,
    }


def _focus_first(events: list[dict], focus: str, center: datetime) -> list[dict]:
    """The focus entity's event nearest ``center``, then every other event by distance to it."""
    nearest = sorted(events, key=lambda e: abs(e["event_time"] - center))
    first = next((e for e in nearest if e["entity_id"] == focus), None)
    return [first] + [e for e in nearest if e is not first] if first else nearest


def _storm(rng: random.Random, nearest: list[dict], budget: int, now: datetime) -> list[dict]:
    """``budget`` byte-identical retries of the events in ``nearest``'s order, 1-4 each."""
    retries: list[dict] = []
    for event in nearest * (budget // max(1, len(nearest)) + 1):
        if len(retries) == budget:
            break
        for _ in range(min(rng.randint(1, 4), budget - len(retries))):
            again = min(event["sent_at"] + timedelta(seconds=rng.uniform(0.5, 30)), now)
            retries.append({**event, "kind": "retry", "sent_at": again})
    return retries


def _conflicts(rng: random.Random, candidates: list[dict], count: int, now: datetime) -> list[dict]:
    """The same idempotency key again, with another amount: a producer bug, sent after the stream.

    The first candidate is always chosen (the focus entity's), the others at random.
    """
    chosen = candidates[:1] + rng.sample(candidates[1:], count - 1)
    variants = []
    for event in sorted(chosen, key=lambda e: e["sent_at"]):
        body = {
            **event["body"],
            "payload": {**event["body"]["payload"], "amount": event["body"]["payload"]["amount"] + 1000},
        }
        variants.append({**_with_identity(body, now, kind="conflict"), "event_id": event["event_id"]})
    return variants


def _rejected(entity: str, count: int, at: datetime) -> list[dict]:
    """One batch from a bad deploy: naive times, missing fields, a bad source, a broken body."""
    breaks = [
        lambda body: {**body, "event_time": body["event_time"].rstrip("Z")},
        lambda body: {k: v for k, v in body.items() if k != "entity_id"},
        lambda body: {**body, "source": f"{FOCUS_SOURCE}/v2"},
        lambda body: {**body, "payload": "amount=12"},
        lambda body: json.dumps(body)[:60],
    ]
    batch = []
    for i in range(count):
        good = {
            "source": FOCUS_SOURCE,
            "event_type": dict(SOURCES)[FOCUS_SOURCE],
            "entity_id": entity,
            "event_time": _iso(at - timedelta(seconds=i)),
            "payload": {"amount": i},
        }
        batch.append({"body": breaks[i % len(breaks)](good), "event_id": None, "sent_at": at, "kind": "rejected"})
    return batch


def _plan(phase: str, events: list[dict]) -> list[PlannedEvent]:
    seen: set[str] = set()
    planned = []
    for event in events:
        expected = {"rejected": REJECTED, "conflict": CONFLICT}.get(event["kind"])
        if expected is None:
            expected = DUPLICATE if event["event_id"] in seen else ACCEPTED
            seen.add(event["event_id"])
        planned.append(
            PlannedEvent(phase, event["kind"], event["body"], expected.value, event["event_id"], event["sent_at"])
        )
    return planned


def _out_of_order(planned: list[PlannedEvent]) -> int:
    """Events sent after a later event of the same stream (source, entity) had been sent."""
    latest: dict[tuple[str, str], str] = {}
    count = 0
    for event in planned:
        stream = (event.body["source"], event.body["entity_id"])
        if stream in latest and event.body["event_time"] < latest[stream]:
            count += 1
        latest[stream] = max(latest.get(stream, ""), event.body["event_time"])
    return count
