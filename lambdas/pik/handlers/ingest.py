"""POST /ingest."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from ..aws.dynamodb import EventIndex
from ..aws.s3 import DocumentStore
from ..services.ingest import ingest
from ..settings import Settings
from .http import arrival_time, json_response, logger, metrics, raw_body, resolver

app = resolver()
STATUS_METRIC = {"ACCEPTED": "IngestCount", "DUPLICATE": "DuplicateCount", "CONFLICT": "ConflictCount",
                 "REJECTED": "RejectedCount"}


@app.post("/ingest")
def ingest_route():
    request = app.current_event
    settings = Settings.from_env()
    context = request.request_context
    outcome = ingest(raw_body(request), request_id=context.request_id,
                     now=arrival_time(context.request_time_epoch), store=DocumentStore(settings.raw_bucket), index=EventIndex(settings.events_table),
                     settings=settings)
    metrics.add_metric(name=STATUS_METRIC[outcome.status], unit=MetricUnit.Count, value=1)
    if "ingest_lag_ms" in outcome.body:
        metrics.add_metric(name="IngestLagMs", unit=MetricUnit.Milliseconds, value=outcome.body["ingest_lag_ms"])
    logger.info("ingest", extra={"status": outcome.status, "event_id": outcome.body.get("event_id")})
    return json_response(outcome.http_status, outcome.body)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    return app.resolve(event, context)
