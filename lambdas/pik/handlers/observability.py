"""Logging and metrics for every handler: one powertools ``Logger`` and ``Metrics`` and the
decorators that wrap each entry point.

- ``api_handler``: Lambda context in every log line, ``correlation_id`` = API Gateway's request
  id (``requestContext.requestId``, the id a caller sees in ``x-amzn-RequestId``).
- ``queue_handler``: Lambda context in every log line (SQS batches have no single request id).
- Both publish the invocation's EMF metrics once, at the end, and only when it added some: every
  path a handler answers adds its metric (the error paths theirs, see ``pik.handlers.http``), so
  an empty set means an unexpected exception, which Lambda reports on its own.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from pik.core.pipeline_metrics import NAMESPACE, ORIGINAL_NAMES, SERVICE, Metric
from pik.core.records import AttemptStatus, OutcomeStatus

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

EMF_MAX_AGE = timedelta(days=14)
Handler = Callable[[dict, Any], dict]


STATUS_METRIC = {
    AttemptStatus.ACCEPTED: Metric.INGEST_COUNT,
    AttemptStatus.DUPLICATE: Metric.DUPLICATE_COUNT,
    AttemptStatus.CONFLICT: Metric.CONFLICT_COUNT,
    AttemptStatus.REJECTED: Metric.REJECTED_COUNT,
    OutcomeStatus.FAILED: Metric.INGEST_ERROR_COUNT,
}  # FAILED: a request that broke on an outage, no attempt


def count(metric: Metric, value: int = 1) -> None:
    """Add ``value`` to the ``metric`` count of this invocation (and to its original name, docs/health.md).
    Only a declared ``Metric`` (``pik.core.pipeline_metrics``): mypy and tests/unit/test_template_health.py
    refuse a string."""
    metrics.add_metric(name=metric.value, unit=MetricUnit.Count, value=value)
    if metric in ORIGINAL_NAMES:
        metrics.add_metric(name=ORIGINAL_NAMES[metric], unit=MetricUnit.Count, value=value)


def metrics_at(arrival: datetime) -> None:
    """Date this invocation's metrics at the request's arrival (API Gateway's request time, so
    "now" in AWS; a demo's simulated arrival locally), when CloudWatch would accept it (14 days)."""
    if abs(datetime.now(UTC) - arrival) < EMF_MAX_AGE:
        metrics.set_timestamp(arrival)


def ingest_metrics(results: list[dict]) -> None:
    """For answered events (``{"status", "ingest_lag_ms"?}``): IngestRequestCount, one count per
    status (FAILED as IngestErrorCount), then every event's IngestLagMs, at least 0.

    CloudWatch computes no percentile for a metric with any negative value ("percentiles are not
    available", and the p99 lag alarm goes blind): an event from a clock ahead of ours (allowed skew)
    adds 0 there and 1 to ClockSkewCount."""
    count(Metric.INGEST_REQUEST_COUNT, len(results))
    for status, n in Counter(result["status"] for result in results).items():
        count(STATUS_METRIC[status], n)
    lags = [result["ingest_lag_ms"] for result in results if "ingest_lag_ms" in result]
    for lag in lags:
        metrics.add_metric(name=Metric.INGEST_LAG_MS.value, unit=MetricUnit.Milliseconds, value=max(0, lag))
    skewed = sum(1 for lag in lags if lag < 0)
    if skewed:
        count(Metric.CLOCK_SKEW_COUNT, skewed)


def publish_metrics(handler: Handler) -> Handler:
    """Flush the metrics ``handler`` added, once, whatever it returns or raises; nothing (and no
    powertools "No application metrics to publish" warning) when it added none."""

    @functools.wraps(handler)
    def publishing(event: dict, context: Any) -> dict:
        try:
            return handler(event, context)
        finally:
            if metrics.metric_set:
                metrics.flush_metrics()
            else:
                metrics.clear_metrics()  # dimensions or metadata an empty invocation may have set
            metrics.provider.timestamp = None  # powertools keeps a set timestamp across invocations

    return publishing


def api_handler(handler: Handler) -> Handler:
    """Entry point of an API Gateway (REST proxy) function."""
    return logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)(
        publish_metrics(handler)
    )


def queue_handler(handler: Handler) -> Handler:
    """Entry point of an SQS-triggered function."""
    return logger.inject_lambda_context(publish_metrics(handler))
