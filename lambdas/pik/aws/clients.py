"""boto3 clients, created lazily once per process and shared (Lambda reuses them across calls).

boto3 honours ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>``, which is how the local
stack points the same code at moto: there is no ``if local`` anywhere.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32)
_clients: dict[str, Any] = {}
_lock = threading.Lock()


def client(service: str) -> Any:
    """The shared client for ``service`` (``"s3"``, ``"dynamodb"``, ``"sqs"``)."""
    with _lock:
        if service not in _clients:
            _clients[service] = boto3.session.Session().client(service, config=_CONFIG)
        return _clients[service]


def reset() -> None:
    """Forget every client (tests that swap endpoints or credentials call this)."""
    with _lock:
        _clients.clear()
