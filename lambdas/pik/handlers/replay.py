"""POST /replay (IAM-authenticated)."""

from __future__ import annotations

import json

from aws_lambda_powertools.metrics import MetricUnit

from ..aws.dynamodb import EventIndex, Table
from ..aws.sqs import ReplayQueue
from ..core.errors import FieldError, ValidationError
from ..services.replay import replay
from ..settings import Settings
from .http import json_response, logger, metrics, now, raw_body, resolver

app = resolver()


@app.post("/replay")
def replay_route():
    request = app.current_event
    try:
        data = json.loads(raw_body(request))
    except ValueError as exc:
        raise ValidationError([FieldError("body", "json", "body is not valid JSON")]) from exc
    identity = request.request_context.identity
    requester = identity.user_arn or identity.caller or identity.source_ip or "anonymous"
    settings = Settings.from_env()
    run = replay(data, requester=requester, now=now(), remaining_ms=app.lambda_context.get_remaining_time_in_millis,
                 index=EventIndex(settings.events_table), runs=Table(settings.replays_table),
                 queue=ReplayQueue(settings.replay_queue_url), settings=settings)
    metrics.add_metric(name="ReplayMessageCount", unit=MetricUnit.Count, value=run["sent"])
    logger.info("replay", extra={k: run[k] for k in ("replay_id", "dry_run", "matched", "sent", "status")})
    return json_response(200, run)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    return app.resolve(event, context)
