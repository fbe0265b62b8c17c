"""The one place that wires concrete adapters (``pik.aws``) to the ports the services use.

Handlers call ``adapters(settings)`` and pass what a service needs; tests can build the same
``Adapters`` from fakes. Adapters are cheap to build: boto3 clients are shared per process
(``pik.aws.clients``) and created on first use.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .aws import ssm
from .aws.dynamodb import AggregateStore as DynamoAggregates
from .aws.dynamodb import DeliveryRecords, Table
from .aws.dynamodb import EventIndex as DynamoEventIndex
from .aws.eventbridge import BusTarget
from .aws.kinesis import StreamTarget
from .aws.lineage import HttpLineage, NoLineage
from .aws.s3 import DocumentStore as S3Documents
from .aws.sqs import DeadLetterQueue, QueueTarget, ReplayQueue
from .aws.webhook import HttpTarget
from .core import ports
from .core.errors import FieldError, ValidationError
from .core.lineage import Names
from .core.metrics import load_aggregator
from .core.targets import Target
from .core.timefmt import now
from .services.process import Recomputer
from .services.replay_wiring import Wiring
from .settings import Settings

if TYPE_CHECKING:
    from datetime import datetime

    from .services.compact import Compactor


@dataclass(frozen=True)
class Adapters:
    """One adapter per port."""

    documents: ports.DocumentStore
    events: ports.EventIndex
    aggregates: ports.AggregateStore
    runs: ports.RunStore
    queue: ports.MessageQueue
    dead_letters: ports.DeadLetters | None = None


def adapters(settings: Settings) -> Adapters:
    """The AWS adapters for the resources ``settings`` names."""
    return Adapters(
        documents=S3Documents(settings.raw_bucket),
        events=DynamoEventIndex(settings.events_table),
        aggregates=DynamoAggregates(settings.aggregates_table),
        runs=Table(settings.replays_table),
        queue=ReplayQueue(settings.replay_queue_url),
        dead_letters=DeadLetterQueue(settings.replay_dlq_url),
    )


def replay_target(settings: Settings, target: Target) -> ports.ReplayTarget:
    """The adapter for an (allowed) external replay target: ``replay_target(settings, parse_target({"sqs": url}))``."""
    if target.kind == "sqs":
        return QueueTarget(target)
    if target.kind == "eventbridge":
        return BusTarget(target)
    if target.kind == "kinesis":
        return StreamTarget(target)
    name = settings.replay_http_secret_parameter
    if not name:
        raise ValidationError(
            [
                FieldError(
                    "target.http",
                    "no_secret",
                    "this deployment signs HTTP replays with the "
                    "SSM parameter ReplayHttpSecretParameter, which is not set",
                )
            ]
        )
    return HttpTarget(target, lambda: ssm.secret(name))


def replay_wiring(
    settings: Settings,
    account: str = "",
    *,
    on_sent: Callable[[int], None] = lambda sent: None,
    wired: Adapters | None = None,
) -> Wiring:
    """What the replay service reads and writes, for the resources ``settings`` names, in ``account``
    (the function's own: where a bus named without an ARN lives): ``replay_wiring(settings, "123456789012")``."""
    wired = wired or adapters(settings)
    return Wiring(
        wired.events,
        wired.runs,
        wired.queue,
        wired.documents,
        lambda t: replay_target(settings, t),
        account,
        on_sent=on_sent,
        dead_letters=wired.dead_letters,
        deliveries=DeliveryRecords(settings.replays_table),
        recomputer=recomputer(settings, wired),
    )


def lineage(settings: Settings, remaining_ms: Callable[[], int] | None = None) -> ports.Lineage:
    """Where this invocation sends OpenLineage RunEvents: the ``OpenLineageUrl`` endpoint (within the
    invocation's ``remaining_ms``), or nowhere."""
    return HttpLineage(settings.lineage_url, remaining_ms=remaining_ms) if settings.lineage_url else NoLineage()


def lineage_names(settings: Settings) -> Names:
    """The deployment's datasets as lineage names them (``pik.core.lineage``)."""
    return Names(
        settings.raw_bucket,
        settings.aggregates_table,
        settings.replay_queue_url,
        settings.region,
        settings.replay_dlq_url,
    )


def recomputer(settings: Settings, wired: Adapters | None = None) -> Recomputer:
    """A processor for one invocation, with the configured aggregator and its code version."""
    wired = wired or adapters(settings)
    aggregator, code_version = load_aggregator(settings.aggregator)
    return Recomputer(
        index=wired.events,
        store=wired.documents,
        aggregates=wired.aggregates,
        aggregator=aggregator,
        code_version=code_version,
        fields=settings.aggregate_fields,
        now=now,
        dry_run=settings.dry_run,
    )


def compactor(settings: Settings, *, deadline: datetime | None = None, holder: str = "compaction") -> Compactor:
    """The compaction step for one invocation (its lease never outlives ``deadline``). Imports
    pyarrow (via ``pik.parquet``) only here, so no other function loads it."""
    from . import parquet
    from .aws.archive import ArchiveBucket, CompactionLease, RecordedFeed
    from .aws.glue import GlueCatalog
    from .services.compact import Compactor

    return Compactor(
        index=DynamoEventIndex(settings.events_table),
        documents=S3Documents(settings.raw_bucket),
        archive=ArchiveBucket(settings.raw_bucket),
        feed=RecordedFeed(settings.events_table),
        lease=CompactionLease(settings.events_table),
        encode=parquet.encode,
        decode=parquet.decode,
        now=now,
        deadline=deadline,
        holder=f"{holder}-{uuid.uuid4().hex[:12]}",
        catalog=GlueCatalog(settings.curated_database) if settings.curated_database else None,
    )
