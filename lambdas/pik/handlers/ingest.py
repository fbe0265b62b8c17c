"""POST /ingest."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from ..bootstrap import adapters
from ..services.ingest import ingest
from ..settings import Settings
from .http import arrival_time, http_status, json_response, raw_body, resolver
from .observability import api_handler, count, logger, metrics

app = resolver(rejected_metric="RejectedCount", failed_metric="IngestErrorCount")
STATUS_METRIC = {"ACCEPTED": "IngestCount", "DUPLICATE": "DuplicateCount", "CONFLICT": "ConflictCount",
                 "REJECTED": "RejectedCount"}


@app.post("/ingest")
def ingest_route():
    request = app.current_event
    settings = Settings.from_env()
    context = request.request_context
    wired = adapters(settings)
    outcome = ingest(raw_body(request), request_id=context.request_id, now=arrival_time(context.request_time_epoch),
                     store=wired.documents, index=wired.events, settings=settings)
    count(STATUS_METRIC[outcome.status])
    if "ingest_lag_ms" in outcome.body:
        metrics.add_metric(name="IngestLagMs", unit=MetricUnit.Milliseconds, value=outcome.body["ingest_lag_ms"])
    logger.info("ingest", extra={"status": outcome.status, "event_id": outcome.body.get("event_id")})
    return json_response(http_status(outcome.error) if outcome.error else 200, outcome.body)


@api_handler
def handler(event: dict, context) -> dict:
    return app.resolve(event, context)
