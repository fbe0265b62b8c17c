"""SSM adapter: the HTTP replay target's signing secret, a SecureString parameter read once per process."""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import ClientError

from ..core.errors import StorageError
from . import clients

_cache: dict[str, str] = {}
_lock = threading.Lock()


def secret(name: str, client: Any = None) -> str:
    """The decrypted value of parameter ``name`` (cached: rotate by redeploying or waiting for a cold start).

    >>> secret("/pik/replay-http-secret")   # doctest: +SKIP
    'a long random string'
    """
    with _lock:
        if name not in _cache:
            try:
                answer = (client or clients.client("ssm")).get_parameter(Name=name, WithDecryption=True)
            except ClientError as exc:
                raise StorageError(f"ssm get_parameter {name}: {exc}") from exc
            _cache[name] = answer["Parameter"]["Value"]
        return _cache[name]


def forget() -> None:
    """Drop cached secrets (tests that change a parameter call this)."""
    with _lock:
        _cache.clear()
