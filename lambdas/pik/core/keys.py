"""Key layout: every S3 key and DynamoDB key pik writes, derived in one place.

S3 (one bucket):
- ``raw/source=S/event_type=T/event_date=YYYY-MM-DD/<event_id>.json``   first payload, immutable
- ``conflicts/source=S/event_type=T/event_date=D/<event_id>/<content_sha256>.json``
- ``rejected/date=YYYY-MM-DD/<ingest_time>-<attempt_id>.json``        bounded copy + reasons
- ``manifests/entity=<enc entity>/day=D/<inputs_hash>.json``           content-addressed

``source`` and ``event_type`` are restricted by the contract to ``[A-Za-z0-9_.-]`` without
``..``; ``entity_id`` may hold any printable text and is percent-encoded (``enc``) wherever it
becomes part of a key, which is injective, so ``#``, ``/``, ``=`` cannot inject structure.
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote, unquote

__all__ = [
    "ENTITY_INDEX",
    "ARRIVAL_INDEX",
    "LATENESS_INDEX",
    "RECORDED_INDEX",
    "RUNS_INDEX",
    "META_SK",
    "LEASE_PK",
    "LEASE_SK",
    "LAG_OFFSET_MS",
    "LAG_WIDTH",
    "RECORDED_SHARDS",
    "enc",
    "dec",
    "raw_key",
    "conflict_key",
    "rejected_key",
    "manifest_key",
    "replay_ids_key",
    "repair_key",
    "replay_impact_key",
    "event_pk",
    "attempt_sk",
    "entity_pk",
    "entity_sk",
    "source_type_day_pk",
    "arrival_sk",
    "recorded_pk",
    "recorded_bucket",
    "recorded_shard",
    "recorded_sk",
    "lateness_sk",
    "aggregate_pk",
    "aggregate_sk",
    "run_pk",
    "RUNS_GSI_PK",
    "DELIVERY_SK",
    "delivery_pk",
]

# DynamoDB index names, as declared in template.yaml (a test keeps them in step).
ENTITY_INDEX = "by_entity_time"
ARRIVAL_INDEX = "by_source_type_arrival"
LATENESS_INDEX = "by_source_type_lateness"
RECORDED_INDEX = "by_recorded"
RUNS_INDEX = "by_created"

META_SK = "META"
#: The compaction lease: one item in the events table (no attempt, gate or index key).
LEASE_PK, LEASE_SK = "LEASE#compaction", "LEASE"
LAG_OFFSET_MS = 10**13  # lag + offset is positive for any lag the contract admits
LAG_WIDTH = 14
#: The recorded index spreads each hour over this many keys (a GSI key value takes ~1,000 writes/s).
RECORDED_SHARDS = 16


def enc(text: str) -> str:
    """Injective, key-safe encoding: ``enc("a/b#c") == "a%2Fb%23c"``."""
    return quote(text, safe="")


def dec(text: str) -> str:
    return unquote(text)


def raw_key(source: str, event_type: str, event_date: str, event_id: str) -> str:
    return f"raw/source={source}/event_type={event_type}/event_date={event_date}/{event_id}.json"


def conflict_key(source: str, event_type: str, event_date: str, event_id: str, content_sha: str) -> str:
    return f"conflicts/source={source}/event_type={event_type}/event_date={event_date}/{event_id}/{content_sha}.json"


def rejected_key(ingest_time_key: str, attempt_id: str) -> str:
    return f"rejected/date={ingest_time_key[:10]}/{ingest_time_key}-{attempt_id}.json"


def manifest_key(entity_id: str, day: str, inputs_hash: str) -> str:
    return f"manifests/entity={enc(entity_id)}/day={day}/{inputs_hash}.json"


# --- events table -------------------------------------------------------------------------
def replay_ids_key(ids_sha256: str) -> str:
    """The list of event ids a replay run selects (content-addressed: one object per distinct list)."""
    return f"replays/event-ids/{ids_sha256}.json"


def repair_key(replay_id: str, attempt_id: str) -> str:
    """The audit record of one quarantined request a repair run re-submitted."""
    return f"replays/repairs/{replay_id}/{attempt_id}.json"


def replay_impact_key(replay_id: str, impact_sha256: str) -> str:
    """A dry run's impact preview too large for its run item (``pik.services.replay_impact``);
    content-addressed, so it is created once and never overwritten (two racing calls of one step
    each keep their own, and the record names the one whose step won)."""
    return f"replays/impact/{replay_id}/{impact_sha256}.json"


def event_pk(event_id: str) -> str:
    return f"EVT#{event_id}"


def attempt_sk(ingest_time_key: str, attempt_id: str) -> str:
    return f"ATT#{ingest_time_key}#{attempt_id}"


def entity_pk(entity_id: str) -> str:
    return f"ENT#{enc(entity_id)}"


def entity_sk(event_time_key: str, event_id: str, attempt_id: str) -> str:
    return f"{event_time_key}#{event_id}#{attempt_id}"


def source_type_day_pk(source: str, event_type: str, event_date: str) -> str:
    return f"STD#{source}#{event_type}#{event_date}"


def arrival_sk(ingest_time_key: str, event_id: str, attempt_id: str) -> str:
    return f"{ingest_time_key}#{event_id}#{attempt_id}"


def recorded_pk(recorded_at_key: str, attempt_id: str) -> str:
    """The recorded index's key: the hour an attempt was written and a shard of its attempt id.

    >>> recorded_pk("2026-11-20T08:15:00.000000Z", "0a1b")
    'REC#2026-11-20T08#09'
    """
    return recorded_bucket(recorded_at_key[:13], recorded_shard(attempt_id))


def recorded_bucket(hour: str, shard: int) -> str:
    return f"REC#{hour}#{shard:02d}"


def recorded_shard(attempt_id: str) -> int:
    return int(hashlib.sha256(attempt_id.encode("utf-8")).hexdigest()[:8], 16) % RECORDED_SHARDS


def recorded_sk(recorded_at_key: str, event_id: str, attempt_id: str) -> str:
    return f"{recorded_at_key}#{event_id}#{attempt_id}"


def lateness_sk(lag_ms: int, event_id: str, attempt_id: str) -> str:
    """Zero-padded, offset lag so string order is numeric order, negatives included."""
    return f"{lag_ms + LAG_OFFSET_MS:0{LAG_WIDTH}d}#{event_id}#{attempt_id}"


# --- aggregates table ---------------------------------------------------------------------
def aggregate_pk(entity_id: str) -> str:
    return f"AGG#{enc(entity_id)}"


def aggregate_sk(day: str, metric: str, version: int) -> str:
    return f"{day}#{metric}#{version:08d}"


# --- replay runs table --------------------------------------------------------------------
def run_pk(replay_id: str) -> str:
    return f"RUN#{replay_id}"


RUNS_GSI_PK = "RUNS"

#: One item per (external target, event): the latest delivery of that event to that target
#: (``pik.core.deliveries``). The event id is in the partition key, so the writes of one run to one
#: target spread over partitions instead of taking one key's ~1,000 writes/s.
DELIVERY_SK = "DELIVERY"


def delivery_pk(target_key: str, event_id: str) -> str:
    return f"DELIVERY#{target_key}#{event_id}"
