"""The pipeline's own CloudWatch metrics: the names pik's functions publish (EMF, namespace ``Pik``,
dimension ``service=pik``) and ``kit.metrics()`` reads back, one list for both readers
(``pik_nb.analyses.health`` and the ``metrics`` frame schema); ``tests/unit/test_template_health.py``
holds it to what the handlers emit.

    >>> COUNTS[:2], LAG, METRIC_COLUMNS[-2:]
    (('IngestRequestCount', 'IngestCount'), 'IngestLagMs', ['IngestLagMs_p50', 'IngestLagMs_p99'])
"""

from __future__ import annotations

__all__ = ["COUNTS", "LAG", "METRIC_COLUMNS", "NAMESPACE", "PERCENTILES", "SERVICE"]

NAMESPACE, SERVICE = "Pik", "pik"
COUNTS = (
    "IngestRequestCount",
    "IngestCount",
    "DuplicateCount",
    "ConflictCount",
    "RejectedCount",
    "IngestErrorCount",
    "ClockSkewCount",
    "ReplayMessageCount",
    "ReplayRejectedCount",
    "ProcessorMessageCount",
    "ProcessorErrorCount",
)
LAG = "IngestLagMs"  # per ingested event: arrival - event time, in ms
PERCENTILES = (50, 99)
METRIC_COLUMNS = [*COUNTS, *(f"{LAG}_p{p}" for p in PERCENTILES)]  # the columns of kit.metrics()
