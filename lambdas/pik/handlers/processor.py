"""SQS replay queue -> aggregate versions, with partial batch failures."""

from __future__ import annotations

from typing import Any, cast

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ..bootstrap import recomputer
from ..settings import Settings
from .observability import count, logger, queue_handler

__all__ = ["handler", "recomputer"]

# Every failure is reported per message (never a raised batch), so SQS retries only those.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@queue_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    count("ProcessorMessageCount", len(event.get("Records") or []))
    work = recomputer(Settings.from_env())
    logged: set[tuple[str, str]] = set()

    def record_handler(record: SQSRecord) -> dict:
        result = work.handle(record.body)
        group = (result["entity_id"], result["day"])
        if result["written"] and group not in logged:  # once per entity-day, not per message
            logged.add(group)
            logger.info("aggregate versions", extra=result)
        return result

    response = process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    count("ProcessorErrorCount", len(response["batchItemFailures"]))
    return cast(dict[str, Any], response)  # powertools' PartialItemFailureResponse, a TypedDict
