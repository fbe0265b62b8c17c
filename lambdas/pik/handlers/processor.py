"""SQS replay queue -> aggregate versions, with partial batch failures."""

from __future__ import annotations

from typing import Any, cast

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ..bootstrap import lineage, lineage_names, recomputer
from ..core.lineage import version_events
from ..core.pipeline_metrics import Metric
from ..settings import Settings
from .observability import count, logger, queue_handler

__all__ = ["handler", "recomputer"]

# Every failure is reported per message (never a raised batch), so SQS retries only those.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@queue_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    count(Metric.PROCESSOR_MESSAGE_COUNT, len(event.get("Records") or []))
    settings = Settings.from_env()
    work, emitter = recomputer(settings), lineage(settings, context.get_remaining_time_in_millis)
    logged: set[tuple[str, str]] = set()

    def record_handler(record: SQSRecord) -> dict:
        result = work.handle(record.body)
        group = (result["entity_id"], result["day"])
        if result["written"] and group not in logged:  # once per entity-day, not per message
            logged.add(group)
            logger.info("aggregate versions", extra=result)
            if settings.lineage_url and not result["dry_run"]:
                count(
                    Metric.LINEAGE_ERROR_COUNT, emitter.emit(version_events(_version(result), lineage_names(settings)))
                )
        return result

    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    count(Metric.PROCESSOR_ERROR_COUNT, len(response["batchItemFailures"]))
    return cast(dict[str, Any], response)  # powertools' PartialItemFailureResponse, a TypedDict


def _version(result: dict) -> dict:
    """A recompute's answer as the aggregate version ``pik.core.lineage.version_events`` names."""
    written = result["written"]
    named = ("entity_id", "day", "inputs_hash", "code_version", "input_count", "replay_id")
    return {
        **{k: result[k] for k in named},
        "computed_at": min(row["computed_at"] for row in written),
        "versions": {row["metric"]: row["version"] for row in written},
    }
