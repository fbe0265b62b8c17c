"""boto3 clients, created lazily once per process and shared (Lambda reuses them across calls).

boto3 honours ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>``, which is how the local
stack points the same code at moto: there is no ``if local`` anywhere.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config

_clients: dict[str, Any] = {}
_loader: Any = None
_lock = threading.Lock()


def client(service: str) -> Any:
    """The shared client for ``service`` (``"s3"``, ``"dynamodb"``, ``"sqs"``)."""
    with _lock:
        if service not in _clients:
            _clients[service] = make_client(session(), service)
        return _clients[service]


def session(**kwargs: Any) -> boto3.session.Session:
    """A new boto3 session that shares this process's botocore data loader, so service models are
    read from disk once per process rather than once per session (~70 ms per service).

    >>> session(region_name="us-east-1").region_name
    'us-east-1'
    """
    global _loader
    if _loader is None:
        _loader = botocore.loaders.create_loader()
    core = botocore.session.get_session()
    core.register_component("data_loader", _loader)
    return boto3.session.Session(botocore_session=core, **kwargs)


def make_client(
    session: boto3.session.Session, service: str, *, endpoint_url: str | None = None, pool: int = 32
) -> Any:
    """A client with pik's retry policy and a connection pool for ``pool`` concurrent calls.

    >>> make_client(boto3.session.Session(region_name="us-east-1"), "s3", pool=8).meta.service_model.service_name
    's3'
    """
    config = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=pool)
    return session.client(service, endpoint_url=endpoint_url, config=config)


def reset() -> None:
    """Forget every client (tests that swap endpoints or credentials call this)."""
    with _lock:
        _clients.clear()
