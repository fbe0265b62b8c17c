"""AWS's size limits where moto does not enforce them: a before-call hook that refuses what AWS refuses
(``pik.core.limits``), as AWS answers it, and events large enough to reach those limits."""

from __future__ import annotations

from datetime import timedelta

from botocore.exceptions import ClientError

from pik.core import limits
from pik.handlers import ingest

from .events import make_event
from .lambdas import call
from .replays import DAY


def refuse_over(limit: limits.Limit, entry_limit: limits.Limit, code: str, size, seen: list[int]):
    """A before-call hook that answers as AWS does when a request or one entry is over its limit."""

    def check(params, **_):
        sizes = [size(entry) for entry in params["Entries"]]
        seen.append(sum(sizes))
        if sum(sizes) > limit.value or max(sizes) > entry_limit.value:
            raise ClientError(
                {"Error": {"Code": code, "Message": f"{limit.rule} (injected, as AWS answers)"}}, "SendMessageBatch"
            )

    return check


def sqs_size(entry: dict) -> int:
    """The bytes of one SendMessageBatch entry that count against SQS's limits."""
    return len(entry["MessageBody"].encode("utf-8"))


def large(count: int, payload_bytes: int) -> list[str]:
    """``count`` events of customer-42 on DAY, each with a payload of about ``payload_bytes``."""
    ids = []
    for i in range(count):
        body = make_event(
            event_time=(DAY + timedelta(minutes=i)).isoformat(), payload={"amount": i, "blob": "x" * payload_bytes}
        )
        status, answer = call(ingest, "/ingest", body)
        assert status == 200, answer
        ids.append(answer["event_id"])
    return ids
