"""External replay targets in tests: the deployment's allow-list as the local stack sets it (moto's account,
loopback URLs, the webhook secret in SSM), reading a consumer queue, and an HTTP endpoint on 127.0.0.1 that
checks each request's Standard Webhooks signature (``Receiver``; ``webhook_receivers`` starts and stops them).
The fixtures ``allowed`` and ``receiver`` (tests/conftest.py) wrap these."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
from standardwebhooks import Webhook, WebhookVerificationError

from pik.aws import ssm

from .queues import drain_queue

ACCOUNT = "123456789012"
SECRET_NAME = "/pik/test/replay-secret"
SECRET = "whsec_" + base64.b64encode(b"test-secret-of-32-bytes-length!!").decode()


@contextmanager
def targets_allowed(monkeypatch) -> Iterator[None]:
    """The deployment's allow-list as the local stack sets it: moto's account, loopback URLs."""
    monkeypatch.setenv("REPLAY_TARGET_QUEUES", f"arn:aws:sqs:*:{ACCOUNT}:*")
    monkeypatch.setenv("REPLAY_TARGET_BUSES", f"arn:aws:events:*:{ACCOUNT}:event-bus/*")
    monkeypatch.setenv("REPLAY_TARGET_STREAMS", f"arn:aws:kinesis:*:{ACCOUNT}:stream/*")
    monkeypatch.setenv("REPLAY_TARGET_URLS", "http://127.0.0.1:*")
    monkeypatch.setenv("REPLAY_HTTP_SECRET_PARAMETER", SECRET_NAME)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    boto3.client("ssm").put_parameter(Name=SECRET_NAME, Value=SECRET, Type="SecureString")
    ssm.forget()
    yield
    ssm.forget()


def tapped_bus(name: str = "orders", pattern: dict | None = None) -> tuple[str, str]:
    """An EventBridge bus and a queue a rule feeds from it (``pattern``: the rule's, by default every
    ``checkout`` event): ``(bus ARN, queue URL)``, so what the bus got is read with ``read_queue``."""
    events, sqs = boto3.client("events"), boto3.client("sqs")
    bus = events.create_event_bus(Name=name)["EventBusArn"]
    url = sqs.create_queue(QueueName=f"{name}-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = json.dumps(pattern or {"source": ["checkout"]})
    events.put_rule(Name="tap", EventBusName=name, EventPattern=rule)
    events.put_targets(Rule="tap", EventBusName=name, Targets=[{"Id": "queue", "Arn": arn}])
    return bus, url


def read_queue(url: str) -> list[dict]:
    """Every message of the queue at ``url``, received and deleted."""
    return drain_queue(boto3.client("sqs"), url)


class Receiver(ThreadingHTTPServer):
    """An HTTP endpoint on 127.0.0.1 that checks the signature; ``answers`` scripts its first statuses."""

    def __init__(self, answers: list[int]) -> None:
        self.answers, self.got, self.paths, self.headers, self.lock = list(answers), [], [], [], threading.Lock()
        self.secret, self.retry_after, self.times = SECRET, None, []
        super().__init__(("127.0.0.1", 0), _Receive)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _Receive(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802
        text = self.rfile.read(int(self.headers["Content-Length"])).decode("utf-8")
        try:  # the Standard Webhooks reference verifier, as a receiver would use it
            Webhook(self.server.secret).verify(text, dict(self.headers), json_parse=False)
            valid = True
        except WebhookVerificationError:
            valid = False
        with self.server.lock:
            status = self.server.answers.pop(0) if self.server.answers else 200
            self.server.got.append((status, valid, self.headers["X-Pik-Event-Id"], json.loads(text)))
            self.server.paths.append(self.path)
            self.server.headers.append(dict(self.headers))
            self.server.times.append(time.monotonic())
        self.send_response(status)
        if self.server.retry_after and status in (429, 503):
            self.send_header("Retry-After", self.server.retry_after)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_) -> None:
        pass


@contextmanager
def webhook_receivers() -> Iterator[Callable[[list[int]], Receiver]]:
    """``start(answers)`` starts a ``Receiver``; every one started is shut down at the end."""
    servers: list[Receiver] = []

    def start(answers: list[int]) -> Receiver:
        server = Receiver(answers)
        server.thread.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
