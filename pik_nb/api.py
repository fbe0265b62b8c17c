"""The pik HTTP API from a notebook: ``POST /replay``, SigV4-signed for a deployed stack."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import HTTPClientError
from botocore.httpsession import URLLib3Session
from urllib3.connection import HTTPConnection

from pik.core.timefmt import key_time

from .errors import ApiError, ConnectError
from .times import utc

if TYPE_CHECKING:
    from .kit import Kit, Time

_http = URLLib3Session(timeout=60, socket_options=HTTPConnection.default_socket_options)  # TCP_NODELAY, see dynamo.py


def replay(kit: "Kit", *, start: "Time", end: "Time", entity_id: str | None, source: str | None,
           event_type: str | None, limit: int | None, include_duplicates: bool, dry_run: bool,
           client_token: str | None) -> dict:
    """The replay request as the API expects it; see ``Kit.replay``.

    Without a ``limit`` the caller asked for the whole scope, so a ``PARTIAL`` run (the function's
    time ran low) is continued until it completes; with one, the ``PARTIAL`` run is returned and its
    ``continuation`` left to the caller.
    """
    body = {"entity_id": entity_id, "source": source, "event_type": event_type,
            "start_time": key_time(utc(start)), "end_time": key_time(utc(end)), "limit": limit,
            "include_duplicates": include_duplicates, "dry_run": dry_run, "client_token": client_token}
    request = {k: v for k, v in body.items() if v is not None}
    run = post(kit, "/replay", request)
    while limit is None and run.get("continuation"):
        run = post(kit, "/replay", {**request, "continuation": run["continuation"]})
    return run


def post(kit: "Kit", path: str, body: dict[str, Any]) -> dict:
    """POST JSON to the stack's API; ``ApiError`` carries any non-200 answer."""
    if not kit.resources.api_url:
        raise ConnectError("this kit has no api_url (pass api_url=... to connect, or connect to a stack)")
    request = AWSRequest("POST", kit.resources.api_url.rstrip("/") + path, data=json.dumps(body).encode("utf-8"),
                         headers={"Content-Type": "application/json"})
    if kit.sign_api:
        credentials = kit.session.get_credentials()
        if credentials is None:
            raise ConnectError("no AWS credentials to sign the API request")
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", kit.session.region_name).add_auth(request)
    try:
        response = _http.send(request.prepare())
    except HTTPClientError as exc:
        raise ApiError(f"POST {path}: {exc}", status=0, body={}) from exc
    try:
        answer = json.loads(response.content or b"{}")
    except ValueError:
        answer = {"error": response.content[:200].decode("utf-8", "replace")}
    if response.status_code != 200:
        details = "; ".join(f"{d.get('field')}: {d.get('message')}" for d in answer.get("details", []))
        raise ApiError(f"POST {path} answered {response.status_code}: {answer.get('error')}"
                       + (f" ({details})" if details else ""), status=response.status_code, body=answer)
    return answer
