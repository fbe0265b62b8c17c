"""Incremental recompute (reused contributions, only new raw objects read) equals a recompute
from every raw object, on random histories: exact counts, sums, minima and maxima."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pik.core import keys
from pik.core.metrics import compute
from pik.handlers import ingest
from pik.handlers.processor import recomputer
from pik.settings import Settings
from tests.conftest import call, make_event
from tests.functional.test_replay import DAY

FIELDS = "amount,cart.total"
# DynamoDB numbers stop at 1e-130: tiny floats are a separate story (an aggregate of 1e-205 fails to store).
numbers = st.one_of(st.integers(-10**6, 10**6),
                    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False).filter(lambda x: x == 0 or abs(x) > 1e-9))
payloads = st.fixed_dictionaries({}, optional={
    "amount": st.one_of(numbers, st.booleans(), st.text(max_size=3), st.none()),
    "cart": st.one_of(st.fixed_dictionaries({}, optional={"total": numbers}), numbers),
    "note": st.text(max_size=5)})
# A history: batches of (minute of the day, payload); a minute may repeat (a duplicate event when
# the payload is equal too); after each batch the processor recomputes the day.
histories = st.lists(st.lists(st.tuples(st.integers(0, 1439), payloads), min_size=1, max_size=6), min_size=1, max_size=4)
_entities = iter(range(10**6))


def _full_recompute(stack, entity: str) -> dict:
    """count/sum/min/max from every ACCEPTED event's raw object, in the index's order."""
    ddb, s3 = boto3.client("dynamodb"), boto3.client("s3")
    items = ddb.query(TableName=stack.outputs["events_table_name"], IndexName=keys.ENTITY_INDEX,
                      KeyConditionExpression="ent_pk = :p", ExpressionAttributeValues={":p": {"S": keys.entity_pk(entity)}})["Items"]
    raw = [json.loads(s3.get_object(Bucket=stack.outputs["raw_bucket_name"], Key=i["s3_key"]["S"])["Body"].read())
           for i in items if i["status"]["S"] == "ACCEPTED"]
    return compute([doc["event"]["payload"] for doc in raw], tuple(FIELDS.split(",")))


def _latest_values(entity: str, day: str) -> dict:
    latest = recomputer(Settings.from_env())._latest_of_day(entity, day)
    return {metric: item.get("value") for metric, item in latest.items()}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories)
def test_incremental_recompute_equals_a_full_recompute(stack, monkeypatch, history):
    monkeypatch.setenv("AGGREGATE_FIELDS", FIELDS)
    entity, day = f"prop-{next(_entities)}", DAY.date().isoformat()
    reads = []
    for batch in history:
        for minute, payload in batch:
            status, _ = call(ingest, "/ingest", make_event(entity_id=entity, payload=payload,
                                                            event_time=(DAY + timedelta(minutes=minute)).isoformat()))
            assert status == 200
        work = recomputer(Settings.from_env())
        work.store.get_many = _counting(work.store.get_many, reads)
        work.recompute(entity, day, replay_id="prop")
        assert _latest_values(entity, day) == _full_recompute(stack, entity)
    accepted = len({(m, json.dumps(p, sort_keys=True)) for batch in history for m, p in batch})
    assert sum(reads) == accepted  # every raw object was read once, by the recompute after it arrived


def _counting(get_many, reads: list[int]):
    def counted(keys_: list[str], *args, **kwargs):
        reads.append(len(keys_))
        return get_many(keys_, *args, **kwargs)
    return counted
