"""What the HTTP handlers share: JSON responses, error mapping, logger and metrics."""

from __future__ import annotations

import json
from datetime import datetime

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types

from ..core.errors import PikError, StorageError, ValidationError
from ..core.timefmt import UTC

logger = Logger(service="pik")
metrics = Metrics(namespace="Pik", service="pik")


def json_response(status: int, body: dict) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=json.dumps(body, separators=(",", ":"), default=str))


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
