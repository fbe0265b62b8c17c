"""POST /replay (IAM-authenticated)."""

from __future__ import annotations

import json

from ..bootstrap import adapters
from ..core.errors import FieldError, ValidationError
from ..core.timefmt import now
from ..services.replay import replay
from ..settings import Settings
from .http import json_response, raw_body, resolver
from .observability import api_handler, count, logger

app = resolver(rejected_metric="ReplayRejectedCount", failed_metric="ReplayErrorCount")


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
    wired = adapters(settings)
    sent: list[int] = []  # by this invocation: a resumed or repeated run's earlier sends were counted then
    run = replay(data, requester=requester, now=now(), remaining_ms=app.lambda_context.get_remaining_time_in_millis,
                 index=wired.events, runs=wired.runs, queue=wired.queue, settings=settings, on_sent=sent.append)
    count("ReplayMessageCount", sum(sent))
    logger.info("replay", extra={k: run[k] for k in ("replay_id", "dry_run", "matched", "sent", "status")})
    return json_response(200, run)


@api_handler
def handler(event: dict, context) -> dict:
    return app.resolve(event, context)
