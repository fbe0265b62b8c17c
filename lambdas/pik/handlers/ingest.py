"""POST /ingest: one event, or ``{"events": [...]}`` answered per event (``pik.services.batch``)."""

from __future__ import annotations

from ..bootstrap import adapters
from ..core.errors import ValidationError
from ..core.pipeline_metrics import Metric
from ..core.records import Attempt
from ..services import batch
from ..services.ingest import IngestOutcome, ingest, reject
from ..settings import Settings
from .http import arrival_time, http_status, json_response, raw_body, resolver
from .observability import api_handler, ingest_metrics, logger, metrics_at

app = resolver(
    rejected_metric=Metric.REJECTED_COUNT,
    failed_metric=Metric.INGEST_ERROR_COUNT,
    request_metric=Metric.INGEST_REQUEST_COUNT,
)


@app.post("/ingest")
def ingest_route():
    request = app.current_event
    settings = Settings.from_env()
    context = request.request_context
    wired = adapters(settings)
    now = arrival_time(context.request_time_epoch)
    metrics_at(now)

    def ingest_one(body: bytes, request_id: str) -> IngestOutcome:
        return ingest(
            body, request_id=request_id, now=now, store=wired.documents, index=wired.events, settings=settings
        )

    body = raw_body(request)
    if batch.is_batch(body):  # 200 with one result per event, like Kinesis PutRecords (docs/api.md)
        try:
            answer = batch.ingest_batch(body, ingest_one, request_id=context.request_id)
        except ValidationError as err:  # the batch itself is malformed: refused and quarantined whole
            outcome = reject(body, Attempt(now, context.request_id), err, wired.documents, settings)
            ingest_metrics([outcome.body])  # one request, refused: IngestRequestCount and RejectedCount
            return json_response(http_status(err), outcome.body)
        ingest_metrics(answer["results"])
        logger.info("ingest batch", extra={"counts": answer["counts"]})
        return json_response(200, answer)
    outcome = ingest_one(body, context.request_id)
    ingest_metrics([outcome.body])
    logger.info("ingest", extra={"status": outcome.status, "event_id": outcome.body.get("event_id")})
    return json_response(http_status(outcome.error) if outcome.error else 200, outcome.body)


@api_handler
def handler(event: dict, context) -> dict:
    return app.resolve(event, context)
