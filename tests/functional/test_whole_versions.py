"""A version is whole or absent: all metrics of one (entity, day) version are one DynamoDB
transaction. Failures are injected with botocore event hooks, races forced with a barrier."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pik.aws import clients
from pik.core import keys, metrics
from pik.core.metrics import as_decimal
from pik.handlers import ingest, processor
from pik.handlers.processor import recomputer
from pik.settings import Settings
from tests.support.events import make_event, sqs_event
from tests.support.lambdas import LambdaContext, call
from tests.support.replays import DAY

METRICS = ("count", "sum.amount", "min.amount", "max.amount")
_entities = iter(range(10**6))


@pytest.fixture
def fields(monkeypatch):
    monkeypatch.setenv("AGGREGATE_FIELDS", "amount")


def ingest_amounts(entity: str, amount_texts: list[str]) -> list[int]:
    """POST /ingest one event per JSON number text (written into the body verbatim); the statuses."""
    statuses = []
    for i, text in enumerate(amount_texts):
        head = json.dumps(make_event(entity_id=entity, event_time=(DAY + timedelta(minutes=i)).isoformat(), payload={}))
        statuses.append(call(ingest, "/ingest", head[: -len("{}}")] + '{"amount": ' + text + "}}")[0])
    return statuses


def process(entity: str) -> dict:
    """One replay message for the entity-day through the real processor handler."""
    message = {"entity_id": entity, "event_date": DAY.date().isoformat(), "replay_id": "test"}
    return processor.handler(sqs_event([json.dumps(message)]), LambdaContext())


def stored(stack, entity: str) -> list[dict]:
    table = boto3.resource("dynamodb").Table(stack.outputs["aggregates_table_name"])
    return table.query(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": keys.aggregate_pk(entity)})[
        "Items"
    ]


def by_metric(items: list[dict]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for item in items:
        found.setdefault(item["metric"], []).append(int(item["version"]))
    return {metric: sorted(versions) for metric, versions in found.items()}


@pytest.mark.parametrize("fault", ["cancelled_by_dynamodb", "connection_lost"])
def test_a_failed_transaction_leaves_no_partial_version_and_a_retry_writes_it_whole(stack, fields, fault):
    assert ingest_amounts("whole", ["1", "2.5", "40"]) == [200, 200, 200]
    ddb = clients.client("dynamodb")

    def cancel_last_put(params, **_):
        # DynamoDB itself refuses the transaction: its last put's condition cannot hold
        params["TransactItems"][-1]["Put"]["ConditionExpression"] = "attribute_exists(pk)"

    def lose_connection(**_):
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"}}, "TransactWriteItems")

    if fault == "cancelled_by_dynamodb":
        ddb.meta.events.register(
            "provide-client-params.dynamodb.TransactWriteItems", cancel_last_put, unique_id="fault"
        )
    else:
        ddb.meta.events.register_first("before-call.dynamodb.TransactWriteItems", lose_connection, unique_id="fault")
    try:
        assert process("whole")["batchItemFailures"] == [{"itemIdentifier": "msg-0"}]
        assert stored(stack, "whole") == []  # not one metric of the version is visible
    finally:
        event = "provide-client-params" if fault == "cancelled_by_dynamodb" else "before-call"
        ddb.meta.events.unregister(f"{event}.dynamodb.TransactWriteItems", unique_id="fault")
    assert process("whole")["batchItemFailures"] == []  # SQS redelivers: the retry writes it whole
    items = stored(stack, "whole")
    assert by_metric(items) == {metric: [1] for metric in METRICS}
    assert {item["metric"]: item["value"] for item in items} == {
        "count": 3,
        "sum.amount": Decimal("43.5"),
        "min.amount": 1,
        "max.amount": 40,
    }
    assert len({(item["computed_at"], item["inputs_hash"], item["manifest_key"]) for item in items}) == 1


def test_concurrent_recomputes_of_one_entity_day_write_exactly_one_version(stack, fields):
    """Both processors read "no version yet", then both reach their transaction (a barrier holds
    the first until the second arrives): one transaction wins, the other writes nothing."""
    assert ingest_amounts("race", ["3", "4"]) == [200, 200]
    barrier = threading.Barrier(2, timeout=30)

    def both_arrive(**_):
        barrier.wait()  # returns None: botocore then sends the call

    clients.client("dynamodb").meta.events.register(
        "before-call.dynamodb.TransactWriteItems", both_arrive, unique_id="barrier"
    )
    workers = [recomputer(Settings.from_env()) for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda w: w.recompute("race", DAY.date().isoformat(), replay_id="race"), workers))
    assert sorted(len(r["written"]) for r in results) == [0, 4]
    assert by_metric(stored(stack, "race")) == {metric: [1] for metric in METRICS}

    again = recomputer(Settings.from_env()).recompute("race", DAY.date().isoformat(), replay_id="again")
    assert again["written"] == [] and by_metric(stored(stack, "race")) == {metric: [1] for metric in METRICS}


def test_more_fields_than_one_transaction_holds_are_refused_up_front(stack):
    assert len(metrics.parse_fields(",".join(f"f{i}" for i in range(metrics.MAX_FIELDS)))) == 33
    with pytest.raises(ValueError, match="at most 33 .*one DynamoDB transaction of at most 100 items"):
        metrics.parse_fields(",".join(f"f{i}" for i in range(metrics.MAX_FIELDS + 1)))


def test_an_aggregator_naming_more_than_100_metrics_fails_clearly_and_writes_nothing(stack, monkeypatch):
    monkeypatch.setenv("AGGREGATOR", "tests.functional.test_whole_versions:too_many")
    assert ingest_amounts("wide", ["1"]) == [200]
    work = recomputer(Settings.from_env())
    with pytest.raises(ValueError, match="names 101 metrics.*at most 100"):
        work.recompute("wide", DAY.date().isoformat(), replay_id=None)
    assert stored(stack, "wide") == []


def too_many(payloads, fields):
    return {f"m{i}": len(payloads) for i in range(101)}


too_many.code_version = "too-many-v1"

# JSON number texts as a producer might write them: integers of any length (45+ digits), every
# finite double by its shortest text (subnormals, ±1.7976931348623157e+308, -0.0), and odd
# spellings. Each is read exactly (an int, or the double whose shortest text it is).
number_texts = st.one_of(
    st.integers(-(10**50), 10**50).map(str),
    st.integers(10**44, 10**45).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=True, min_value=-1e-300, max_value=1e-300).map(
        repr
    ),
    st.sampled_from(
        [
            "-0",
            "-0.0",
            "0e0",
            "0E-400",
            "1E+308",
            "1e308",
            "-1e308",
            "5e-324",
            "-5e-324",
            "1e-200",
            "1.5e-205",
            "1e130",
            "123456789012345678901234567890123456789012345",
            "0.1",
            "0.2",
            "-0.3",
        ]
    ),
)


def _exact(text: str) -> Fraction:
    """What the contract reads a JSON number text as, as an exact rational."""
    value = json.loads(text)
    return Fraction(as_decimal(value))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(number_texts, min_size=1, max_size=6))
def test_random_extreme_json_numbers_give_whole_versions_with_exact_sums(stack, fields, texts):
    entity = f"extreme-{next(_entities)}"
    assert ingest_amounts(entity, texts) == [200] * len(texts)
    assert process(entity)["batchItemFailures"] == []
    items = stored(stack, entity)
    assert by_metric(items) == {metric: [1] for metric in METRICS}  # every metric of the version, once
    assert len({(item["inputs_hash"], item["computed_at"]) for item in items}) == 1
    values = {item["metric"]: Fraction(Decimal(str(item["value"]))) for item in items}
    exact = [_exact(text) for text in texts]
    assert values == {"count": len(texts), "sum.amount": sum(exact), "min.amount": min(exact), "max.amount": max(exact)}
