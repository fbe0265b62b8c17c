"""Calling a handler as Lambda does: a context object powertools can read, and ``call`` for the API."""

from __future__ import annotations

import json

from .events import api_event


class LambdaContext:
    """The attributes powertools reads from a Lambda context object."""

    function_name = "pik-test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:pik-test"
    aws_request_id = "test-request"

    def __init__(self, remaining_ms: int = 30_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def call(
    handler_module, path: str, body, request_id: str | None = None, remaining_ms: int = 30_000
) -> tuple[int, dict]:
    response = handler_module.handler(api_event(path, body, request_id), LambdaContext(remaining_ms))
    return response["statusCode"], json.loads(response["body"])
