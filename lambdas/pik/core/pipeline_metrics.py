"""The pipeline's own CloudWatch metrics: every name pik's functions publish (EMF, namespace ``Pik``,
dimension ``service=pik``), declared once here for every reader: the handlers publish ``Metric``
members (``pik.handlers.observability.count``), ``kit.metrics()`` reads back each of them
(``COUNTS`` and the lag percentiles are the columns of its frame, ``pik_nb.analyses.health``), and
``tests/unit/test_template_health.py`` holds the template's alarms and dashboard to them (YAML
cannot import this) and the handlers to publishing members only, never a string.

    >>> COUNTS[:2], LAG, METRIC_COLUMNS[-2:]
    (('IngestRequestCount', 'IngestCount'), 'IngestLagMs', ['IngestLagMs_p50', 'IngestLagMs_p99'])
    >>> Metric.INGEST_COUNT == "IngestCount", ORIGINAL_NAMES[Metric.INGEST_COUNT]
    (True, 'IngestAcceptedCount')
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["COUNTS", "LAG", "METRIC_COLUMNS", "Metric", "NAMESPACE", "ORIGINAL_NAMES", "PERCENTILES", "SERVICE"]

NAMESPACE, SERVICE = "Pik", "pik"


class Metric(StrEnum):
    """A metric pik publishes under its own name; each is a Count but ``INGEST_LAG_MS`` (Milliseconds).
    The order is the order of ``kit.metrics()``'s columns (docs/health.md's table follows it)."""

    # ingest: the HTTP ingest function and the taps
    INGEST_REQUEST_COUNT = "IngestRequestCount"  # events received (each of a batch), refused requests too
    INGEST_COUNT = "IngestCount"  # ACCEPTED
    DUPLICATE_COUNT = "DuplicateCount"
    CONFLICT_COUNT = "ConflictCount"
    REJECTED_COUNT = "RejectedCount"  # REJECTED events, and refused (4xx) ingest requests
    INGEST_ERROR_COUNT = "IngestErrorCount"  # 5xx and FAILED batch events: storage outages
    CLOCK_SKEW_COUNT = "ClockSkewCount"  # event time after arrival (within the allowed skew)
    # replay
    REPLAY_MESSAGE_COUNT = "ReplayMessageCount"  # messages sent to the target
    REPLAY_REJECTED_COUNT = "ReplayRejectedCount"  # refused (4xx) replay requests
    REPLAY_ERROR_COUNT = "ReplayErrorCount"  # replay requests that failed (5xx)
    # processor
    PROCESSOR_MESSAGE_COUNT = "ProcessorMessageCount"
    PROCESSOR_ERROR_COUNT = "ProcessorErrorCount"  # messages failed (retried, then the DLQ)
    # lineage (replay and processor): OpenLineage events the configured endpoint did not take
    LINEAGE_ERROR_COUNT = "LineageErrorCount"
    # compaction (the scheduled function)
    COMPACTION_SKIPPED_COUNT = "CompactionSkippedCount"  # a run that found the lease held
    COMPACTED_PARTITION_COUNT = "CompactedPartitionCount"  # partitions whose Parquet parts were (re)written
    COMPACTED_EVENT_COUNT = "CompactedEventCount"  # events rows in the partitions compacted
    COMPACTION_ORPHAN_COUNT = "CompactionOrphanCount"  # parts no manifest lists (a crashed run's), deleted
    # per ingested event: arrival - event time, in ms, at least 0
    INGEST_LAG_MS = "IngestLagMs"


# The original project's names, published next to ours (same value) so its dashboards and alarms keep working.
ORIGINAL_NAMES: dict[Metric, str] = {
    Metric.INGEST_COUNT: "IngestAcceptedCount",
    Metric.REJECTED_COUNT: "InvalidCount",
    Metric.REPLAY_MESSAGE_COUNT: "ReplayRequestedCount",
}

LAG = str(Metric.INGEST_LAG_MS)
COUNTS = tuple(str(metric) for metric in Metric if metric != LAG)  # kit.metrics() sums each per period
PERCENTILES = (50, 99)
METRIC_COLUMNS = [*COUNTS, *(f"{LAG}_p{p}" for p in PERCENTILES)]  # the columns of kit.metrics()
