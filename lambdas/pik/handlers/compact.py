"""Scheduled (EventBridge) compaction: partitions touched since the watermark -> Parquet parts."""

from __future__ import annotations

from ..bootstrap import compactor
from ..settings import Settings
from .observability import count, logger, publish_metrics


@logger.inject_lambda_context
@publish_metrics
def handler(event: dict, context) -> dict:
    result = compactor(Settings.from_env()).run()
    count("CompactedPartitionCount", result["written"])
    count("CompactedEventCount", result["events"])
    logger.info("compaction", extra=result)
    return result
