"""Incremental recompute (reused contributions, only new raw objects read) equals a recompute
from every raw object, on random histories: exact counts, sums, minima and maxima."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import boto3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pik.core import keys
from pik.core.metrics import compute
from pik.handlers import ingest
from pik.handlers.processor import recomputer
from pik.settings import Settings
from tests.support.events import make_event
from tests.support.lambdas import call
from tests.support.replays import DAY

FIELDS = "amount,cart.total"
# Any JSON number, extremes included: beyond DynamoDB's range (1e-130..1e126) or its 38 digits,
# and pairs whose float sum would overflow; aggregates store those exactly as decimal text.
numbers = st.one_of(
    st.integers(-(10**6), 10**6),
    st.integers(-(10**50), 10**50),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e308, -1e308, 1e-200, 1.5e-205]),
)
payloads = st.fixed_dictionaries(
    {},
    optional={
        "amount": st.one_of(numbers, st.booleans(), st.text(max_size=3), st.none()),
        "cart": st.one_of(st.fixed_dictionaries({}, optional={"total": numbers}), numbers),
        "note": st.text(max_size=5),
    },
)
# A history: batches of (minute of the day, payload); a minute may repeat (a duplicate event when
# the payload is equal too); after each batch the processor recomputes the day.
histories = st.lists(
    st.lists(st.tuples(st.integers(0, 1439), payloads), min_size=1, max_size=6), min_size=1, max_size=4
)
_entities = iter(range(10**6))


def _full_recompute(stack, entity: str) -> dict:
    """count/sum/min/max from every ACCEPTED event's raw object, in the index's order."""
    ddb, s3 = boto3.client("dynamodb"), boto3.client("s3")
    items = ddb.query(
        TableName=stack.outputs["events_table_name"],
        IndexName=keys.ENTITY_INDEX,
        KeyConditionExpression="ent_pk = :p",
        ExpressionAttributeValues={":p": {"S": keys.entity_pk(entity)}},
    )["Items"]
    raw = [
        json.loads(s3.get_object(Bucket=stack.outputs["raw_bucket_name"], Key=i["s3_key"]["S"])["Body"].read())
        for i in items
        if i["status"]["S"] == "ACCEPTED"
    ]
    values = compute([doc["event"]["payload"] for doc in raw], tuple(FIELDS.split(",")))
    return {metric: _exact(value) for metric, value in values.items()}


def _exact(value):
    """A metric value as the exact decimal it stands for (stored as a number or as decimal text)."""
    if value is None or isinstance(value, bool):
        return value
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))


def _latest_values(stack, entity: str, day: str) -> dict:
    """The latest version's value of each metric, exactly as stored (number or decimal text)."""
    table = boto3.resource("dynamodb").Table(stack.outputs["aggregates_table_name"])
    items = table.query(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": keys.aggregate_pk(entity)})[
        "Items"
    ]
    latest: dict = {}
    for item in items:
        if item["day"] == day and item["version"] > latest.get(item["metric"], {}).get("version", 0):
            latest[item["metric"]] = item
    return {metric: _exact(item.get("value")) for metric, item in latest.items()}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories)
def test_incremental_recompute_equals_a_full_recompute(stack, monkeypatch, history):
    monkeypatch.setenv("AGGREGATE_FIELDS", FIELDS)
    entity, day = f"prop-{next(_entities)}", DAY.date().isoformat()
    reads = []
    for batch in history:
        for minute, payload in batch:
            status, _ = call(
                ingest,
                "/ingest",
                make_event(entity_id=entity, payload=payload, event_time=(DAY + timedelta(minutes=minute)).isoformat()),
            )
            assert status == 200
        work = recomputer(Settings.from_env())
        work.store.get_many = _counting(work.store.get_many, reads)
        work.recompute(entity, day, replay_id="prop")
        assert _latest_values(stack, entity, day) == _full_recompute(stack, entity)
    accepted = len({(m, json.dumps(p, sort_keys=True)) for batch in history for m, p in batch})
    assert sum(reads) == accepted  # every raw object was read once, by the recompute after it arrived


def _counting(get_many, reads: list[int]):
    def counted(keys_: list[str], *args, **kwargs):
        reads.append(len(keys_))
        return get_many(keys_, *args, **kwargs)

    return counted
