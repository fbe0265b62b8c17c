"""``Stack``: one deployed or local pik stack as the loaders see it: a boto3 session, the stack's
resource names, pooled clients, the fast DynamoDB reader, the raw bucket and the HTTP API.
No verbs: loaders and investigations take a ``Stack``; ``Kit`` is the facade over both.

    stack = Stack(boto3.Session(), Resources.of(outputs, "stack pik-prod"))
    stack.client("sqs"), stack.reader, stack.documents.read("raw/..."), stack.api.replay({...})
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import boto3

from pik.aws.clients import make_client
from pik_api import ApiClient

from .._errors import ConnectError
from ._dynamodb import FastReader
from ._s3 import ObjectReader

# AWS's own endpoint hosts, per partition (botocore's endpoints.json: dnsSuffix / dualStackDnsSuffix).
AWS_DNS_SUFFIXES = (
    ".amazonaws.com",
    ".amazonaws.com.cn",
    ".api.aws",
    ".c2s.ic.gov",
    ".sc2s.sgov.gov",
    ".cloud.adc-e.uk",
    ".csp.hci.ic.gov",
    ".api.amazonwebservices.com.cn",
)

REQUIRED = ("raw_bucket_name", "events_table_name", "aggregates_table_name", "replays_table_name")


@dataclass(frozen=True)
class Resources:
    """The stack outputs ``pik_nb`` uses, in snake_case (``RawBucketName`` -> ``raw_bucket_name``)."""

    raw_bucket_name: str
    events_table_name: str
    aggregates_table_name: str
    replays_table_name: str
    replay_queue_url: str = ""
    replay_dead_letter_queue_url: str = ""
    api_url: str = ""
    extra: dict = field(default_factory=dict)  # other outputs, kept for display

    @classmethod
    def of(cls, outputs: dict[str, Any], origin: str) -> Resources:
        """Build from snake_case outputs; ``ConnectError`` names every missing one and where it looked.

        >>> Resources.of({"raw_bucket_name": "b", "events_table_name": "e", "aggregates_table_name": "a",
        ...               "replays_table_name": "r", "Other": "x"}, "test").extra
        {'Other': 'x'}
        """
        known = {f.name for f in fields(cls)} - {"extra"}
        missing = [name for name in REQUIRED if not outputs.get(name)]
        if missing:
            raise ConnectError(f"{origin} lacks {', '.join(missing)}")
        return cls(
            **{k: v for k, v in outputs.items() if k in known},
            extra={k: v for k, v in outputs.items() if k not in known},
        )


class Stack:
    """Session, resource names and lazily made, pooled clients (``workers`` concurrent calls each).

    ``sign_api``: SigV4-sign API calls (a deployed stack); the local stack's API is plain HTTP.
    ``endpoint_url``: one endpoint for every service (the local stack's moto). Without it, each client
    takes the endpoint the AWS SDK resolves: ``AWS_ENDPOINT_URL``/``AWS_ENDPOINT_URL_<SERVICE>`` or a
    profile's ``endpoint_url``/``services`` section in ``~/.aws/config`` (boto3's own rules), else AWS.
    ``fan_out``: parallel queries per load (default ``workers``, or 1 when DynamoDB is not AWS's own).
    """

    def __init__(
        self,
        session: boto3.session.Session,
        resources: Resources,
        *,
        endpoint_url: str | None = None,
        sign_api: bool = True,
        workers: int = 32,
        fan_out: int | None = None,
    ) -> None:
        self.session = session
        self.resources = resources
        self._endpoint_url = endpoint_url
        self.sign_api = sign_api
        self.workers = workers
        self._fan_out = fan_out
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def endpoint_url(self) -> str | None:
        """The S3 endpoint when it is not AWS's own (the local stack, an emulator), else None."""
        return self._endpoint_url or self.endpoint("s3")

    def endpoint(self, service: str) -> str | None:
        """The endpoint ``service`` is reached at when it is not AWS's own, else None.

        >>> import boto3
        >>> stack = Stack(boto3.Session(region_name="eu-west-1"), Resources("b", "e", "a", "r"))
        >>> stack.endpoint("s3") is None, stack.client("s3").meta.endpoint_url
        (True, 'https://s3.eu-west-1.amazonaws.com')
        """
        url = self._endpoint_url or self.client(service).meta.endpoint_url
        return None if is_aws_endpoint(url) else url

    @property
    def fan_out(self) -> int:
        """Parallel reads worth making: ``workers`` against AWS; 1 against another endpoint, where moto
        answers on one core, so slicing a window only adds requests (docs/performance.md)."""
        if self._fan_out is None:
            self._fan_out = 1 if self.endpoint("dynamodb") else self.workers
        return self._fan_out

    def __repr__(self) -> str:
        where = self.endpoint_url or self.session.region_name
        return f"Stack({where}, events={self.resources.events_table_name!r}, bucket={self.resources.raw_bucket_name!r})"

    def client(self, service: str) -> Any:
        """The stack's boto3 client for ``service``, pooled for ``workers`` concurrent calls."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = make_client(
                    self.session, service, endpoint_url=self._endpoint_url, pool=self.workers
                )
            return self._clients[service]

    @cached_property
    def reader(self) -> FastReader:
        """The fast DynamoDB reader (Query/Scan pages parsed by Arrow)."""
        return FastReader(self.session, self.client("dynamodb"), max_connections=self.workers)

    @cached_property
    def documents(self) -> ObjectReader:
        """The raw bucket (raw objects, quarantine, manifests) by signed GET: ``read(key)`` -> bytes or None."""
        return ObjectReader(
            self.session, self.client("s3"), self.resources.raw_bucket_name, max_connections=self.workers
        )

    @property
    def api(self) -> ApiClient:
        """A client of the stack's HTTP API (signed when ``sign_api``); ``ConnectError`` without an ``api_url``."""
        if not self.resources.api_url:
            raise ConnectError("this stack has no api_url (pass api_url=... to connect, or connect to a stack)")
        return ApiClient(self.resources.api_url, session=self.session if self.sign_api else None, workers=1)


def is_aws_endpoint(url: str) -> bool:
    """Whether ``url`` is one of AWS's own endpoints (any partition), not an emulator or a proxy.

    >>> is_aws_endpoint("https://dynamodb.us-east-1.amazonaws.com"), is_aws_endpoint("http://127.0.0.1:4566")
    (True, False)
    """
    host = urlsplit(url).hostname or ""
    return host.endswith(AWS_DNS_SUFFIXES)
