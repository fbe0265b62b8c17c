"""SQS replay queue -> aggregate versions, with partial batch failures."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ..aws.dynamodb import AggregateStore, EventIndex
from ..aws.s3 import DocumentStore
from ..core.metrics import load_aggregator
from ..services.process import Recomputer
from ..settings import Settings
from .http import logger, metrics, now

# Every failure is reported per message (never a raised batch), so SQS retries only those.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def recomputer(settings: Settings) -> Recomputer:
    aggregator, code_version = load_aggregator(settings.aggregator)
    return Recomputer(index=EventIndex(settings.events_table), store=DocumentStore(settings.raw_bucket),
                      aggregates=AggregateStore(settings.aggregates_table), aggregator=aggregator,
                      code_version=code_version, fields=settings.aggregate_fields, now=now,
                      dry_run=settings.dry_run)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context) -> dict:
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
    metrics.add_metric(name="ProcessorErrorCount", unit=MetricUnit.Count, value=len(response["batchItemFailures"]))
    return response
