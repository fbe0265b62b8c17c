"""boto3 clients, created lazily once per process and shared (Lambda reuses them across calls).

boto3 honours ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>``, which is how the local
stack points the same code at moto: there is no ``if local`` anywhere.

Replay targets (SQS, Kinesis, EventBridge: ``target_client``) get their own clients with short timeouts
and one retry, so that a slow or hanging endpoint answers within a bound a call behind API Gateway's
29 s integration timeout can keep in reserve (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html).
botocore's default timeouts (https://botocore.amazonaws.com/v1/documentation/api/latest/reference/config.html:
``connect_timeout`` and ``read_timeout`` 60 s) with the shared clients' 5 attempts could hold one request
for minutes. ``read_timeout`` bounds each read of the socket, not the whole answer: an endpoint that drips
one byte at a time is not bounded (AWS endpoints answer whole or not at all; the HTTP target, which talks
to anyone's server, has a watchdog instead: ``pik.aws.webhook``).
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config

TARGET_CONNECT_TIMEOUT_S = 1.0  # a TCP + TLS connect to a regional endpoint takes milliseconds
TARGET_READ_TIMEOUT_S = 2.0  # each socket read: SendMessageBatch, PutRecords, PutEvents answer in ~50 ms
TARGET_ATTEMPTS = 2  # ``total_max_attempts``: the first try and one retry (throttling, 5xx, a timeout)
# botocore's standard mode waits rand(0, 1) x min(scale x 2^(attempt-1), 20 s) before a retry (scale 1 when
# throttled, 0.05 otherwise), and honours an ``x-amz-retry-after`` hint up to 5 s beyond that
# (botocore.retries.standard.ExponentialBackoff): after the first try, at most 1 + 5 s.
TARGET_RETRY_WAIT_BOUND_S = 6.0

_clients: dict[str, Any] = {}
_loader: Any = None
_lock = threading.Lock()


def client(service: str) -> Any:
    """The shared client for ``service`` (``"s3"``, ``"dynamodb"``, ``"sqs"``)."""
    with _lock:
        if service not in _clients:
            _clients[service] = make_client(session(), service)
        return _clients[service]


def target_client(service: str) -> Any:
    """The shared client for replay targets of ``service`` (``"sqs"``, ``"kinesis"``, ``"events"``), with
    bounded timeouts and tries (``target_call_worst_s``)."""
    with _lock:
        key = f"target:{service}"
        if key not in _clients:
            _clients[key] = make_client(session(), service, config=target_config())
        return _clients[key]


def target_config() -> Config:
    """The botocore configuration of replay target clients.

    >>> config = target_config()
    >>> config.connect_timeout, config.read_timeout, config.retries
    (1.0, 2.0, {'mode': 'standard', 'total_max_attempts': 2})
    """
    return Config(
        connect_timeout=TARGET_CONNECT_TIMEOUT_S,
        read_timeout=TARGET_READ_TIMEOUT_S,
        retries={"mode": "standard", "total_max_attempts": TARGET_ATTEMPTS},
        max_pool_connections=32,
    )


def target_call_worst_s() -> float:
    """The longest one call of a target client can take: every try to both its timeouts, and every wait
    between tries at its longest.

    >>> target_call_worst_s()
    12.0
    """
    tries = TARGET_ATTEMPTS * (TARGET_CONNECT_TIMEOUT_S + TARGET_READ_TIMEOUT_S)
    return tries + (TARGET_ATTEMPTS - 1) * TARGET_RETRY_WAIT_BOUND_S


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
    session: boto3.session.Session,
    service: str,
    *,
    endpoint_url: str | None = None,
    pool: int = 32,
    config: Config | None = None,
) -> Any:
    """A client with pik's retry policy and a connection pool for ``pool`` concurrent calls (or ``config``).

    >>> make_client(boto3.session.Session(region_name="us-east-1"), "s3", pool=8).meta.service_model.service_name
    's3'
    """
    config = config or Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=pool)
    return session.client(service, endpoint_url=endpoint_url, config=config)


def reset() -> None:
    """Forget every client (tests that swap endpoints or credentials call this)."""
    with _lock:
        _clients.clear()
