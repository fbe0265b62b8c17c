"""The AWS limits pik designs around, in one table, each with the AWS page that states it.

moto checks none of these, so every cap in ``template.yaml`` and in code is derived from (or tested
against) this table: ``tests/unit/test_limits.py`` fails when a cap goes past its limit. Values are
the documented quota in bytes, seconds or counts; where AWS writes "MB" for a byte count, the value
is the one its own error message uses (Lambda: "must be smaller than 6291456 bytes").

>>> LAMBDA_SYNC_EVENT.value, SQS_MESSAGE.value
(6291456, 1048576)
>>> LAMBDA_SYNC_EVENT.check(7_000_000, what="an ingest request event")
Traceback (most recent call last):
...
ValueError: an ingest request event is 7000000 bytes; Lambda's synchronous invocation payload ...
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "KiB",
    "MiB",
    "Limit",
    "API_GATEWAY_INTEGRATION_TIMEOUT",
    "API_GATEWAY_PAYLOAD",
    "LAMBDA_SYNC_EVENT",
    "LAMBDA_ENVIRONMENT",
    "LAMBDA_UNZIPPED",
    "LAMBDA_TIMEOUT",
    "LAMBDA_UNRESERVED_FLOOR",
    "SQS_MESSAGE",
    "SQS_MESSAGE_UNREAD",
    "SQS_BATCH",
    "SQS_BATCH_ENTRIES",
    "SQS_VISIBILITY_PER_TIMEOUT",
    "SQS_MAX_RECEIVE_COUNT",
    "SQS_FIFO_LAMBDA_BATCH",
    "SQS_MAXIMUM_CONCURRENCY",
    "EVENTBRIDGE_PUT_EVENTS",
    "KINESIS_RECORD",
    "KINESIS_PUT_RECORDS",
    "ALL",
    "PROXY_EVENT_HEADROOM",
    "JSON_STRING_ESCAPE_RATIO",
    "API_BODY_BYTES",
]

KiB = 1024
MiB = 1024 * KiB


@dataclass(frozen=True)
class Limit:
    """One AWS limit: ``value`` in ``unit``, the rule in words, and the page that says so."""

    name: str
    value: int
    unit: str
    rule: str
    doc: str
    minimum: bool = False

    def respected_by(self, amount: float) -> bool:
        """Whether ``amount`` is within this limit (at most ``value``; at least, for a ``minimum``)."""
        return amount >= self.value if self.minimum else amount <= self.value

    def check(self, amount: int, *, what: str) -> int:
        """``amount`` if it respects this limit, else ``ValueError`` quoting the rule and its page."""
        if not self.respected_by(amount):
            raise ValueError(f"{what} is {amount} {self.unit}; {self.rule} ({self.value}, {self.doc})")
        return amount


_APIGW = "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html"
_LAMBDA = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
_LAMBDA_ENV = "https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html"
_LAMBDA_CONCURRENCY = "https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html"
_SQS = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html"
_SQS_BATCH = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-batch-api.html"
_SQS_ATTRIBUTES = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html"
_SQS_LAMBDA = "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html"
_SQS_SCALING = "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html"
_EVENTS = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html"
_KINESIS = "https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html"

API_GATEWAY_INTEGRATION_TIMEOUT = Limit(
    "API_GATEWAY_INTEGRATION_TIMEOUT",
    29,
    "seconds",
    "a REST API's integration timeout is at most 29 seconds (the client then gets 504)",
    _APIGW,
)
API_GATEWAY_PAYLOAD = Limit(
    "API_GATEWAY_PAYLOAD", 10 * MiB, "bytes", "a REST API request payload is at most 10 MB", _APIGW
)
LAMBDA_SYNC_EVENT = Limit(
    "LAMBDA_SYNC_EVENT",
    6 * MiB,
    "bytes",
    "Lambda's synchronous invocation payload (the whole event) is at most 6 MB",
    _LAMBDA,
)
LAMBDA_ENVIRONMENT = Limit(
    "LAMBDA_ENVIRONMENT",
    4 * KiB,
    "bytes",
    "a function's environment variables total at most 4 KB (keys and values)",
    _LAMBDA_ENV,
)
LAMBDA_UNZIPPED = Limit(
    "LAMBDA_UNZIPPED",
    250 * MiB,
    "bytes",
    "a function's deployment package unzipped, layers included, is at most 250 MB",
    _LAMBDA,
)
LAMBDA_TIMEOUT = Limit("LAMBDA_TIMEOUT", 900, "seconds", "a function's timeout is at most 900 seconds", _LAMBDA)
LAMBDA_UNRESERVED_FLOOR = Limit(
    "LAMBDA_UNRESERVED_FLOOR",
    100,
    "executions",
    "reserving concurrency must leave at least 100 unreserved executions (a new account's limit may be 10)",
    _LAMBDA_CONCURRENCY,
    minimum=True,
)
# A queue's MaximumMessageSize is 1,024 to 1,048,576 bytes (AWS raised the top from 256 KiB in 2025): what
# one message may be is the target queue's own attribute, read per replay call (pik.aws.sqs.QueueTarget);
# the body and every message attribute's name, type and value count (API_MessageAttributeValue).
SQS_MESSAGE = Limit(
    "SQS_MESSAGE",
    1 * MiB,
    "bytes",
    "an SQS message is at most 1 MiB (its queue's MaximumMessageSize, 1 KiB to 1 MiB, may allow less)",
    _SQS_ATTRIBUTES,
)
SQS_MESSAGE_UNREAD = Limit(
    "SQS_MESSAGE_UNREAD",
    256 * KiB,
    "bytes",
    "pik keeps a message to 256 KiB (SQS's maximum before 2025) when it cannot read the queue's MaximumMessageSize",
    _SQS_ATTRIBUTES,
)
SQS_BATCH = Limit(
    "SQS_BATCH",
    1 * MiB,
    "bytes",
    "the messages of one SendMessageBatch total at most 1,048,576 bytes (1 MiB)",
    _SQS_BATCH,
)
SQS_BATCH_ENTRIES = Limit("SQS_BATCH_ENTRIES", 10, "entries", "a SendMessageBatch holds at most 10 messages", _SQS)
SQS_VISIBILITY_PER_TIMEOUT = Limit(
    "SQS_VISIBILITY_PER_TIMEOUT",
    6,
    "times the function timeout",
    "a queue feeding Lambda needs a visibility timeout of at least 6 times the function's timeout",
    _SQS_LAMBDA,
    minimum=True,
)
SQS_MAX_RECEIVE_COUNT = Limit(
    "SQS_MAX_RECEIVE_COUNT",
    5,
    "receives",
    "a queue feeding Lambda needs maxReceiveCount of at least 5 (throttled polls count as receives)",
    _SQS_LAMBDA,
    minimum=True,
)
SQS_FIFO_LAMBDA_BATCH = Limit(
    "SQS_FIFO_LAMBDA_BATCH", 10, "messages", "Lambda reads a FIFO queue in batches of at most 10", _SQS_LAMBDA
)
SQS_MAXIMUM_CONCURRENCY = Limit(
    "SQS_MAXIMUM_CONCURRENCY",
    2,
    "executions",
    "an SQS event source mapping's ScalingConfig.MaximumConcurrency is at least 2",
    _SQS_SCALING,
    minimum=True,
)
EVENTBRIDGE_PUT_EVENTS = Limit(
    "EVENTBRIDGE_PUT_EVENTS", 256 * KiB, "bytes", "a PutEvents request's entries total at most 256 KB", _EVENTS
)
KINESIS_RECORD = Limit(
    "KINESIS_RECORD", 1 * MiB, "bytes", "a Kinesis record (data and partition key) is at most 1 MiB", _KINESIS
)
KINESIS_PUT_RECORDS = Limit(
    "KINESIS_PUT_RECORDS",
    5 * MiB,
    "bytes",
    "a PutRecords request totals at most 5 MiB",
    _KINESIS,
)

ALL: tuple[Limit, ...] = tuple(value for value in list(globals().values()) if isinstance(value, Limit))

# What follows from the table for a Lambda behind a REST API: API Gateway puts the request body into the
# event as a JSON string, so a quote, a backslash or a newline of the body takes two bytes there, and the
# event also carries the headers twice (headers, multiValueHeaders; at most 10 KB each, escaped alike) and
# the request context. A body of at most API_BODY_BYTES therefore always reaches the function whole
# (the function answers 413 past it, naming this number); a larger one may be refused by Lambda before the
# function runs, which API Gateway answers 500, with nothing stored.
PROXY_EVENT_HEADROOM = 64 * KiB
JSON_STRING_ESCAPE_RATIO = 2
API_BODY_BYTES = (LAMBDA_SYNC_EVENT.value - PROXY_EVENT_HEADROOM) // JSON_STRING_ESCAPE_RATIO
