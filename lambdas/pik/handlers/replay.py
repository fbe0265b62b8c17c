"""POST /replay and POST /replay/{replay_id} (IAM-authenticated)."""

from __future__ import annotations

import json
import time

from ..bootstrap import lineage, lineage_names, replay_wiring
from ..core.errors import FieldError, ValidationError
from ..core.limits import API_GATEWAY_INTEGRATION_TIMEOUT
from ..core.lineage import replay_events
from ..core.pipeline_metrics import Metric
from ..core.timefmt import now
from ..services.replay import Wiring, replay, steer
from ..settings import Settings
from .http import json_response, raw_body, resolver
from .observability import api_handler, count, logger

app = resolver(rejected_metric=Metric.REPLAY_REJECTED_COUNT, failed_metric=Metric.REPLAY_ERROR_COUNT)


def _call() -> tuple[dict, str, Settings, Wiring, list[int]]:
    """The body, the requester, the settings and what a replay is wired to (``sent`` fills per batch)."""
    request = app.current_event
    try:
        data = json.loads(raw_body(request))
    except ValueError as exc:
        raise ValidationError([FieldError("body", "json", "body is not valid JSON")]) from exc
    except RecursionError as exc:  # json's decoder recurses per level: a body nested ~1,000 deep
        raise ValidationError([FieldError("body", "depth", "body nests too deep to be a replay request")]) from exc
    identity = request.request_context.identity
    requester = identity.user_arn or identity.caller or identity.source_ip or "anonymous"
    settings = Settings.from_env()
    sent: list[int] = []  # by this invocation: a resumed or repeated run's earlier sends were counted then
    account = app.lambda_context.invoked_function_arn.split(":")[4]
    return data, requester, settings, replay_wiring(settings, account, on_sent=sent.append), sent


def _answered(run: dict, sent: list[int], settings: Settings) -> object:
    count(Metric.REPLAY_MESSAGE_COUNT, sum(sent))
    if settings.lineage_url and not run["dry_run"]:  # the run's OpenLineage events as it stands (idempotent)
        count(
            Metric.LINEAGE_ERROR_COUNT,
            lineage(settings, _remaining_ms).emit(replay_events(run, lineage_names(settings))),
        )
    logger.info("replay", extra={k: run[k] for k in ("replay_id", "dry_run", "matched", "sent", "status", "target")})
    return json_response(200, run)


def _remaining_ms() -> int:
    """The call's time left: the function's, and no more than API Gateway's 29 s counted from the
    request's arrival (``requestTimeEpoch``; a cold start spends some of it)."""
    own = app.lambda_context.get_remaining_time_in_millis()
    budget_ms = API_GATEWAY_INTEGRATION_TIMEOUT.value * 1000
    elapsed = int(time.time() * 1000) - (app.current_event.request_context.request_time_epoch or 0)
    return min(own, budget_ms - elapsed) if 0 <= elapsed <= budget_ms else own  # else: a simulated arrival


@app.post("/replay")
def replay_route():
    data, requester, settings, wiring, sent = _call()
    run = replay(data, requester=requester, now=now(), remaining_ms=_remaining_ms, settings=settings, wiring=wiring)
    return _answered(run, sent, settings)


@app.post("/replay/<replay_id>")
def steer_route(replay_id: str):
    data, requester, settings, wiring, sent = _call()
    run = steer(
        replay_id, data, requester=requester, now=now(), remaining_ms=_remaining_ms, settings=settings, wiring=wiring
    )
    return _answered(run, sent, settings)


@api_handler
def handler(event: dict, context) -> dict:
    return app.resolve(event, context)
