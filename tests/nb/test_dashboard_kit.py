"""kit.explain_dashboard on a stack (moto, real handlers, DuckDB over the fresh archive): a dashboard
that counted repeats, a conflict's second payload, a rejected request and a replay's re-sends to an
external queue is explained cause by cause, with the events behind each number."""

from __future__ import annotations

from datetime import timedelta

import boto3
import pandas as pd
import pytest

from pik.handlers import replay
from pik_nb import ScopeError
from tests.support.events import make_event
from tests.support.kit import DAY, post
from tests.support.lambdas import call


def at(hours: int) -> str:
    return (DAY + timedelta(hours=hours)).isoformat()


@pytest.fixture
def history(allowed, kit):
    first = [post(make_event(event_time=at(h), payload={"amount": h})) for h in (1, 2, 3, 4, 29, 30)]
    post(make_event(event_time=at(1), payload={"amount": 1}))  # two repeats of the first event
    post(make_event(event_time=at(1), payload={"amount": 1}))
    post(make_event(event_time=at(31), idempotency_key="k-1", payload={"amount": 10}))
    conflict = post(make_event(event_time=at(31), idempotency_key="k-1", payload={"amount": 99}))
    rejected = post({**make_event(event_time=at(9)), "payload": "not an object"})
    assert (conflict["status"], rejected["status"]) == ("CONFLICT", "REJECTED")
    url = boto3.client("sqs").create_queue(QueueName="their-pipeline")["QueueUrl"]
    status, run = call(
        replay,
        "/replay",
        {
            "entity_id": "customer-42",
            "start_time": DAY.isoformat(),
            "end_time": (DAY + timedelta(days=2)).isoformat(),
            "dry_run": False,
            "target": {"sqs": url},
        },
    )
    assert status == 200 and run["sent"] == 7, run
    return first


def test_every_cause_of_the_dashboard_is_counted_and_named(kit, history):
    day, next_day = pd.Timestamp(DAY), pd.Timestamp(DAY) + pd.Timedelta(days=1)
    shown = pd.DataFrame({"window": [day, next_day], "value": [4 + 2 + 1 + 4, 3 + 1 + 3]})
    ex = kit.explain_dashboard(shown, source="checkout", event_type="order_placed")
    sem = ex.semantics
    assert (sem.time_basis, sem.cutoff, sem.dedup, sem.conflicts, sem.rejected, sem.replayed, sem.fit) == (
        "event_time",
        None,
        False,
        "all",
        True,
        True,
        1.0,
    )
    table = ex.table.set_index("window")
    assert table.loc[day, ["truth", "duplicates", "conflicts", "rejected", "replayed", "unexplained"]].tolist() == [
        4,
        2,
        0,
        1,
        4,
        0,
    ]
    assert table.loc[
        next_day, ["truth", "duplicates", "conflicts", "rejected", "replayed", "unexplained"]
    ].tolist() == [3, 0, 1, 0, 3, 0]
    replayed = ex.events(day, "replayed")
    assert sorted(replayed["event_id"]) == sorted(a["event_id"] for a in history[:4])
    assert ex.events(day, "rejected")["status"].tolist() == ["REJECTED"]
    assert ex.events(day, "duplicates")["event_id"].tolist() == [history[0]["event_id"]] * 2
    assert "11" in ex.summary() and "truth is 4" in ex.summary()


def test_a_sum_of_a_payload_field_counts_the_latest_conflicting_payload(kit, history):
    day, next_day = pd.Timestamp(DAY), pd.Timestamp(DAY) + pd.Timedelta(days=1)
    shown = pd.DataFrame({"window": [day, next_day], "value": [1 + 2 + 3 + 4, 29 + 30 + 99]})
    ex = kit.explain_dashboard(shown, source="checkout", event_type="order_placed", metric="sum", field="amount")
    assert ex.semantics.conflicts == "latest" and ex.semantics.dedup
    assert ex.table["conflicts"].tolist() == [0, 89] and (ex.table["unexplained"] == 0).all()


def test_a_bad_scope_names_the_rule(kit):
    shown = pd.DataFrame({"window": ["2026-11-30"], "value": [1]})
    with pytest.raises(ScopeError, match="source and event_type, or entity_id"):
        kit.explain_dashboard(shown, source="checkout")
    with pytest.raises(ScopeError, match="needs field="):
        kit.explain_dashboard(shown, source="checkout", event_type="order_placed", metric="sum")
