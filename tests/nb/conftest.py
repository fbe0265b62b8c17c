"""Fixtures for pik_nb: a Kit on the moto ``stack`` and real ingests through the handlers."""

from __future__ import annotations

from datetime import timedelta

import boto3
import pytest

import pik_nb
from pik.handlers import processor, replay
from tests.support.aws import REGION
from tests.support.events import make_event, sqs_event
from tests.support.kit import DAY, post
from tests.support.lambdas import LambdaContext, call


@pytest.fixture
def kit(stack):
    """A Kit connected to the mock stack with explicit outputs, as a deployed stack would be."""
    return pik_nb.connect(session=boto3.session.Session(region_name=REGION), **stack.outputs)


def run_replay(stack, **scope) -> dict:
    """A real (not dry) replay through the handler, then every message through the processor."""
    body = {
        "entity_id": "customer-42",
        "start_time": DAY.isoformat(),
        "end_time": (DAY + timedelta(days=1)).isoformat(),
        "dry_run": False,
        **scope,
    }
    status, run = call(replay, "/replay", body)
    assert status == 200, run
    sqs, url, bodies = boto3.client("sqs"), stack.outputs["replay_queue_url"], []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        bodies += [m["Body"] for m in messages]
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert processor.handler(sqs_event(bodies), LambdaContext()) == {"batchItemFailures": []}
    return run


@pytest.fixture
def story(stack):
    """Three events (the first sent three times), replay 1, a late fourth event, replay 2."""
    bodies = [make_event(event_time=(DAY + timedelta(hours=h)).isoformat(), payload={"amount": h}) for h in (1, 2, 3)]
    first = [post(b) for b in bodies]
    repeats = [post(bodies[0]), post(bodies[0])]
    preview = call(
        replay,
        "/replay",
        {"entity_id": "customer-42", "start_time": DAY.isoformat(), "end_time": (DAY + timedelta(days=1)).isoformat()},
    )[1]
    run1 = run_replay(stack)
    late = post(make_event(event_time=(DAY + timedelta(hours=4)).isoformat(), payload={"amount": 4}))
    run2 = run_replay(stack)
    return {"first": first, "repeats": repeats, "late": late, "runs": [preview, run1, run2]}
