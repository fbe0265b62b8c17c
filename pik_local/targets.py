"""Replay targets on the local stack: everything moto serves, and any HTTP endpoint on 127.0.0.1.

The template's allow-list parameters get values that admit any queue, bus or stream of moto's
account and any loopback URL (overridable with ``pik local up --param``), and the HTTP signing
secret is created in moto's SSM with a random value, so a local receiver can verify signatures:

    aws --endpoint-url $ENDPOINT ssm get-parameter --name /pik/local/replay-http-secret --with-decryption
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from .runtime import ACCOUNT

HTTP_SECRET_PARAMETER = "/pik/local/replay-http-secret"
PARAMETERS = {
    "ReplayTargetQueueArns": f"arn:aws:sqs:*:{ACCOUNT}:*",
    "ReplayTargetBusArns": f"arn:aws:events:*:{ACCOUNT}:event-bus/*",
    "ReplayTargetStreamArns": f"arn:aws:kinesis:*:{ACCOUNT}:stream/*",
    "ReplayTargetUrls": "http://127.0.0.1:*,http://localhost:*",
    "ReplayHttpSecretParameter": HTTP_SECRET_PARAMETER,
}


def create_http_secret(session: Any, name: str) -> None:
    """A fresh random Standard Webhooks signing secret (``whsec_<base64 of 32 bytes>``) under ``name``
    (SSM SecureString), unless the name is empty."""
    if name:
        value = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")
        session.client("ssm").put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
