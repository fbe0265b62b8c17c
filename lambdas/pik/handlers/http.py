"""What the HTTP handlers share: JSON responses, error mapping, logger and metrics."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types

from ..core.errors import FieldError, PikError, StorageError, ValidationError
from ..core.timefmt import UTC

logger = Logger(service="pik")
metrics = Metrics(namespace="Pik", service="pik")


def json_response(status: int, body: dict) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=json.dumps(body, separators=(",", ":"), default=str))


def raw_body(event) -> bytes:
    """The request body as bytes: never decoded as text here, so bad UTF-8 is the contract's 400."""
    body = event.body or ""
    if not event.is_base64_encoded:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error as exc:
        raise ValidationError([FieldError("body", "base64", "body is not valid base64")]) from exc


def now() -> datetime:
    return datetime.now(UTC)


def arrival_time(request_time_epoch: int | None) -> datetime:
    """When API Gateway received the request (``requestTimeEpoch``, ms): the true arrival time,
    unaffected by cold starts or retries inside Lambda. Falls back to the clock when absent."""
    return datetime.fromtimestamp(request_time_epoch / 1000, UTC) if request_time_epoch else now()


def resolver() -> APIGatewayRestResolver:
    """A resolver whose errors become ``{"error", "details"}`` JSON, never a traceback."""
    app = APIGatewayRestResolver()

    @app.exception_handler(ValidationError)
    def _invalid(exc: ValidationError) -> Response:
        return json_response(exc.http_status, exc.to_dict())

    @app.exception_handler(StorageError)
    def _storage(exc: StorageError) -> Response:
        logger.exception("storage failure")
        return json_response(exc.http_status, {"error": "storage unavailable, retry the request", "details": []})

    @app.exception_handler(PikError)
    def _pik(exc: PikError) -> Response:
        return json_response(exc.http_status, {"error": str(exc), "details": []})

    return app
