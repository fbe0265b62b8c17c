"""Ports: the storage interfaces the services are written against (structural ``Protocol``s).

The services (``pik.services``) are typed against these, never against an adapter class; the
adapters in ``pik.aws`` satisfy them and ``pik.bootstrap`` wires one to each port. A test double
needs only the methods listed here.

    DocumentStore   JSON documents by key: raw events, conflicts, rejected copies, manifests
    EventIndex      the events table: dedup gate, attempts, the entity and stream indexes
    AggregateStore  append-only aggregate versions
    RunStore        replay run records
    MessageQueue    the replay queue (batches of at most ``SEND_BATCH`` messages)
    ReplayTarget    an external replay target (SQS, EventBridge, Kinesis, HTTP)
    DeadLetters     the replay queue's DLQ, for a redrive
    Archive         the curated objects (Parquet parts, manifests, watermark)
    RecordedFeed    the partitions new attempts were recorded in (the compaction feed)
    Lease           the compaction lease (one run at a time)

Items are plain dicts as ``pik.core.records`` shapes them; ``after`` cursors are the key
attributes of the last item read (``pik.core.queries.entity_cursor`` / ``stream_cursor``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from datetime import datetime

    from .curated import Partition
    from .targets import Delivered

SEND_BATCH = 10  # SendMessageBatch takes at most 10 entries


class DocumentStore(Protocol):
    def put_new(self, key: str, document: dict[str, Any]) -> bool:
        """Create ``key`` only if absent; False when it already existed (never overwrites)."""

    def put(self, key: str, document: dict[str, Any]) -> None:
        """Create or replace ``key``."""

    def get(self, key: str) -> dict[str, Any]:
        """The document at ``key``."""

    def get_many(self, keys: list[str]) -> list[dict[str, Any]]:
        """The documents at ``keys``, in the same order."""

    def list_keys(self, prefix: str, *, after: str | None = None) -> list[str]:
        """Keys under ``prefix`` in key order (after ``after`` when given)."""


class EventIndex(Protocol):
    def get_event(self, event_id: str) -> dict[str, Any] | None:
        """The dedup gate of ``event_id`` (consistent read), or None."""

    def create_event(self, meta: dict[str, Any], attempt: dict[str, Any]) -> bool:
        """Gate and first attempt together; False if the gate already existed."""

    def record_repeat(self, attempt: dict[str, Any], counter: str) -> bool:
        """A later attempt plus one on the gate's ``counter``; never overwrites; False when the
        attempt was recorded but contention kept it from being counted."""

    def by_entity(
        self,
        entity_id: str,
        start_key: str,
        end_key: str,
        *,
        after: dict[str, Any] | None = None,
        page_size: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Attempts of one entity with ``start_key <= event_time < end_key``, in event-time order."""

    def by_stream_day(
        self,
        source: str,
        event_type: str,
        day: str,
        *,
        after: dict[str, Any] | None = None,
        page_size: int | None = None,
        lateness: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Attempts of one source/type whose event time falls on ``day``, by arrival (or lateness)."""


class AggregateStore(Protocol):
    def append(self, items: list[dict[str, Any]]) -> bool:
        """Claim one version of several metrics at once (at most 100 items): all written, or
        none and False when another writer holds any of those versions."""

    def versions(self, entity_id: str, start_day: str, end_day: str) -> Iterator[dict[str, Any]]:
        """Every version of one entity for days ``start_day <= day <= end_day``."""


class RunStore(Protocol):
    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        """A run record (consistent read), or None."""

    def put_new(self, item: dict[str, Any]) -> bool:
        """Create a run record; False when its key was taken."""

    def advance(self, pk: str, sk: str, step: int, fields: dict[str, Any], *, unrequested: bool = False) -> bool:
        """Set ``fields`` (a None value removes the attribute) and ``step = step + 1``, only if the
        record's ``step`` is still ``step`` (and, with ``unrequested``, no ``requested`` is set);
        False when another writer moved it first."""

    def request_action(self, pk: str, sk: str, action: str) -> bool:
        """Ask the call executing a run to ``pause`` or ``cancel`` at its next batch (``requested``),
        without moving ``step``; False when the run is not ``RUNNING``."""


class DeliveryLog(Protocol):
    """The latest delivery of each event to each external target (``pik.core.deliveries``)."""

    def delivered(self, target_key: str, event_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The delivery records of those of ``event_ids`` the target already got, by event id."""

    def record(self, items: list[dict[str, Any]]) -> None:
        """Write delivery records (``pik.core.deliveries.delivery_item``), replacing older ones."""


class MessageQueue(Protocol):
    def send(self, messages: list[dict[str, Any]]) -> int:
        """Send up to ``SEND_BATCH`` JSON messages; how many were sent."""


class ReplayTarget(Protocol):
    """An external replay target (``pik.core.targets``): SQS, EventBridge, Kinesis or HTTP."""

    batch_size: int

    def deliver(self, outgoing: list[Any], replay_id: str) -> Delivered:
        """Send ``outgoing`` (``pik.core.targets.Outgoing``), re-sending what failed; never raises for
        the target's refusals, which come back as ``Delivered.failed_ids`` and ``error``."""


class DeadLetters(Protocol):
    """The replay queue's dead-letter queue, drained by a redrive run."""

    def receive(self) -> list[tuple[str, dict[str, Any] | None]]:
        """Up to ``SEND_BATCH`` messages as ``(receipt, body)`` (None: not a replay message); hidden a while."""

    def delete(self, receipts: list[str]) -> None:
        """Remove messages that were redriven."""

    def release(self, receipts: list[str]) -> None:
        """Make received messages that were not redriven visible again at once."""

    def depth(self) -> int:
        """About how many messages wait (``ApproximateNumberOfMessages``)."""


class Archive(Protocol):
    """Objects of the curated archive (``pik.core.curated``): bytes by key."""

    def read(self, key: str) -> bytes | None:
        """The object's bytes, or None when absent."""

    def write(self, key: str, body: bytes) -> None:
        """Create or replace ``key``."""

    def delete(self, keys: list[str]) -> None:
        """Delete ``keys`` (absent ones are fine)."""

    def listed(self, prefix: str) -> dict[str, datetime]:
        """Key -> last modified time of every object under ``prefix``."""


class Catalog(Protocol):
    """The table catalog Athena reads the curated archive through (``pik.aws.glue``)."""

    def register(self, partitions: list[Partition]) -> None:
        """Make each partition of the curated tables (idempotent)."""


class RecordedFeed(Protocol):
    """Where new ingest attempts were recorded (written), whatever their arrival time."""

    def partitions_recorded(self, since: str, until: str) -> set[tuple[str, str, str]]:
        """(source, event_type, event_date) of every attempt recorded at or after ``since``."""

    def partitions_all(self) -> set[tuple[str, str, str]]:
        """(source, event_type, event_date) of every attempt."""


class Lease(Protocol):
    """The compaction lease: at most one unexpired holder; every write conditional."""

    def acquire(self, holder: str, until: datetime, now: datetime, skew_ms: int) -> dict[str, Any]:
        """Take a free (or expired) lease; the previous lease item. ``LeaseError`` when held."""

    def renew(self, holder: str, until: datetime, now: datetime, partition: str) -> None:
        """Extend a lease ``holder`` still holds, recording ``partition``; ``LeaseError`` if lost."""

    def release(self, holder: str, partition: str) -> None:
        """End the lease, leaving ``partition`` for the next holder to collect."""


class Lineage(Protocol):
    """Where OpenLineage RunEvents go (``pik.core.lineage``); never raises."""

    def emit(self, events: list[dict[str, Any]]) -> int:
        """Send ``events`` in order; returns how many were not delivered."""
