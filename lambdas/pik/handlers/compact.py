"""Scheduled (EventBridge) compaction: partitions recorded in since the watermark -> Parquet parts.

One run at a time by the compaction lease (``pik.services.compact``), whose end is this
invocation's own deadline: a run that finds the lease held (a manual ``pik compact``, or a slow
earlier run) does nothing and says so; the next schedule catches up."""

from __future__ import annotations

from datetime import timedelta

from ..bootstrap import compactor
from ..core.errors import LeaseError
from ..core.pipeline_metrics import Metric
from ..core.timefmt import now
from ..settings import Settings
from .observability import count, logger, publish_metrics


@logger.inject_lambda_context
@publish_metrics
def handler(event: dict, context) -> dict:
    deadline = now() + timedelta(milliseconds=context.get_remaining_time_in_millis())
    try:
        result = compactor(Settings.from_env(), deadline=deadline, holder=f"lambda-{context.aws_request_id}").run()
    except LeaseError as err:
        count(Metric.COMPACTION_SKIPPED_COUNT, 1)
        logger.warning("compaction skipped", extra={"reason": str(err)})
        return {"skipped": str(err)}
    count(Metric.COMPACTED_PARTITION_COUNT, result["written"])
    count(Metric.COMPACTED_EVENT_COUNT, result["events"])
    count(Metric.COMPACTION_ORPHAN_COUNT, result["orphans"])
    logger.info("compaction", extra=result)
    return result
