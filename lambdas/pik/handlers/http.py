"""What the HTTP handlers share: JSON responses, request bodies, and the one table that maps
pik's errors to HTTP statuses (the domain knows nothing of HTTP)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types

from ..core.errors import (
    ConflictError,
    FieldError,
    ForbiddenError,
    NotFoundError,
    PikError,
    StorageError,
    ValidationError,
)
from ..core.pipeline_metrics import Metric
from ..core.timefmt import UTC, now
from .observability import count, logger

# The most specific class in an error's MRO wins; a too-large ValidationError is 413.
HTTP_STATUS: dict[type[PikError], int] = {
    ValidationError: 400,
    ForbiddenError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    StorageError: 503,
    PikError: 500,
}
TOO_LARGE = 413


def http_status(error: PikError) -> int:
    """``http_status(NotFoundError("x")) == 404``."""
    if isinstance(error, ValidationError) and error.too_large:
        return TOO_LARGE
    return next(HTTP_STATUS[cls] for cls in type(error).__mro__ if cls in HTTP_STATUS)


def json_response(status: int, body: dict) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, separators=(",", ":"), default=str),
    )


def raw_body(event) -> bytes:
    """The request body as bytes: never decoded as text here, so bad UTF-8 is the contract's 400."""
    body = event.body or ""
    if not event.is_base64_encoded:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error as exc:
        raise ValidationError([FieldError("body", "base64", "body is not valid base64")]) from exc


def arrival_time(request_time_epoch: int | None) -> datetime:
    """When API Gateway received the request (``requestTimeEpoch``, ms): the true arrival time,
    unaffected by cold starts or retries inside Lambda. Falls back to the clock when absent."""
    return datetime.fromtimestamp(request_time_epoch / 1000, UTC) if request_time_epoch else now()


def resolver(
    *, rejected_metric: Metric, failed_metric: Metric, request_metric: Metric | None = None
) -> APIGatewayRestResolver:
    """A resolver whose errors become ``{"error", "details"}`` JSON, never a traceback, and count
    as ``rejected_metric`` (4xx: the request was refused) or ``failed_metric`` (5xx), and as one
    ``request_metric`` (a request received, even when it never reached the route's own counting)."""
    app = APIGatewayRestResolver()

    @app.exception_handler(PikError)
    def _error(error: PikError) -> Response:
        status = http_status(error)
        if request_metric:
            count(request_metric)
        count(rejected_metric if status < 500 else failed_metric)
        if isinstance(error, ValidationError):
            return json_response(status, error.to_dict())
        if isinstance(error, StorageError):
            logger.exception("storage failure")
            return json_response(status, {"error": "storage unavailable, retry the request", "details": []})
        return json_response(status, {"error": str(error), "details": []})

    return app
