"""Signed HTTP for pik_nb's two readers (DynamoDB ``FastReader``, S3 ``ObjectReader``).

botocore's per-call machinery (parameter validation, endpoint rules, handlers, the response
parser) costs more CPU than the request itself: ≈ 45 µs per DynamoDB item, ≈ 1.5 ms per S3 GET
(docs/performance.md). A reader instead builds the request botocore would, signs it with
botocore's own SigV4 signer and the session's credentials (fetched per request, so refreshable
credentials refresh), and sends it over botocore's ``URLLib3Session``. The request goes through
the client's ``before-send`` hook first, so anything that intercepts botocore (moto's
``mock_aws``, Stubber-style hooks) sees it exactly like the client's own calls.
"""

from __future__ import annotations

import random
import time
from typing import Any

import boto3
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.exceptions import HTTPClientError
from botocore.hooks import first_non_none_response
from botocore.httpsession import URLLib3Session
from urllib3.connection import HTTPConnection

from pik.core.errors import StorageError

# A dropped connection, a read timeout or a truncated body: worth another attempt, as botocore would.
TRANSIENT = (HTTPClientError, urllib3.exceptions.HTTPError)
MAX_ATTEMPTS = 6


class SignedHttp:
    """``send(operation, method, url)``: one signed request to ``client``'s service, body read."""

    def __init__(
        self,
        session: boto3.session.Session,
        client: Any,
        *,
        auth: type[SigV4Auth] = SigV4Auth,
        max_connections: int = 16,
        timeout_s: tuple[float, float] = (10, 600),
    ) -> None:
        self._session = session
        self._client = client  # gives the region, the signing name and the before-send hooks
        self._auth = auth
        model = client.meta.service_model
        self._signing_name, self._event = model.signing_name, "before-send." + model.service_id.hyphenize()
        # TCP_NODELAY: botocore sets no socket options, and a request sent as two writes (headers,
        # then body) otherwise waits for a delayed ACK: 40 ms per request on Linux loopback.
        self._http = URLLib3Session(
            max_pool_connections=max_connections,
            timeout=timeout_s,
            socket_options=HTTPConnection.default_socket_options,
        )

    def send(
        self, operation: str, method: str, url: str, *, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> AWSResponse:
        """The answer, its ``content`` already read; raises ``TRANSIENT`` errors for the caller to retry."""
        request = AWSRequest(method, url, data=body, headers=headers or {})
        credentials = self._session.get_credentials()
        if credentials is None:
            raise StorageError(f"no AWS credentials found for {self._signing_name}")
        self._auth(credentials.get_frozen_credentials(), self._signing_name, self._client.meta.region_name).add_auth(
            request
        )
        prepared = request.prepare()
        hooked = first_non_none_response(self._client.meta.events.emit(f"{self._event}.{operation}", request=prepared))
        response = hooked if hooked is not None else self._http.send(prepared)
        response.content  # noqa: B018 - read now, so a truncated body is a TRANSIENT error here
        return response


def back_off(attempt: int) -> None:
    """Full-jitter exponential back-off before retry number ``attempt + 1``."""
    time.sleep(random.uniform(0, 0.05 * 2**attempt))
