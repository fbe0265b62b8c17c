"""Replays as the tests drive them: events seeded through the real ingest handler on ``DAY``, the scope's
window, the replay queue drained (and fed to the processor), the replay service called directly with its
wiring's knobs, and the run record as DynamoDB stores it."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta

import boto3

from pik.bootstrap import replay_wiring
from pik.core.timefmt import UTC
from pik.handlers import ingest, processor
from pik.services import replay as replay_service
from pik.settings import Settings

from .events import make_event, sqs_event
from .lambdas import LambdaContext, call
from .queues import drain_queue

DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
ONCALL = "arn:aws:iam::123456789012:user/oncall"


def seed(entity="customer-42", count=5, start=DAY, step=timedelta(minutes=7), source="checkout", **extra):
    """``count`` events of ``entity`` from ``start``, ``step`` apart, ingested; their event ids."""
    ids = []
    for i in range(count):
        body = make_event(
            entity_id=entity, source=source, event_time=(start + i * step).isoformat(), payload={"amount": i}, **extra
        )
        status, answer = call(ingest, "/ingest", body)
        assert status == 200, answer
        ids.append(answer["event_id"])
    return ids


def window(**extra):
    """A replay request over ``DAY``, plus ``extra``."""
    return {"start_time": DAY.isoformat(), "end_time": (DAY + timedelta(days=1)).isoformat(), **extra}


def drain(stack):
    """The replay queue's message bodies, received and deleted."""
    return [json.loads(m["Body"]) for m in drain_queue(boto3.client("sqs"), stack.outputs["replay_queue_url"])]


def process_queue(stack, batch_size=10):
    """Feed the queue to the processor in batches, as Lambda's event source mapping would."""
    bodies = [json.dumps(b) for b in drain(stack)]
    responses = [
        processor.handler(sqs_event(bodies[i : i + batch_size]), LambdaContext())
        for i in range(0, len(bodies), batch_size)
    ]
    return bodies, responses


class Killed(BaseException):
    """The Lambda runtime stopping the function: no ``except Exception`` runs."""


def run_service(
    body: dict,
    *,
    requester: str = ONCALL,
    clock=None,
    page_size: int | None = 4,
    wait=None,
    remaining_ms=lambda: 30_000,
) -> dict:
    """The replay service itself (no handler), on the stack's wiring with ``page_size`` items a page."""
    settings = Settings.from_env()
    extra = {"clock": clock} if clock else {}
    if wait:
        extra["wait"] = wait
    wiring = dataclasses.replace(replay_wiring(settings, "123456789012"), page_size=page_size, **extra)
    return replay_service.replay(
        body, requester=requester, now=datetime.now(UTC), remaining_ms=remaining_ms, settings=settings, wiring=wiring
    )


def stored(stack, replay_id: str) -> dict:
    """The run record as the replays table holds it."""
    return (
        boto3.resource("dynamodb")
        .Table(stack.outputs["replays_table_name"])
        .get_item(Key={"pk": f"RUN#{replay_id}", "sk": "RUN"})["Item"]
    )


def replay_id_of(request: dict) -> str:
    """The run id ``ONCALL``'s request with a ``client_token`` gets."""
    from pik.core.replay import replay_id_for

    return replay_id_for(ONCALL, request["client_token"], "")
