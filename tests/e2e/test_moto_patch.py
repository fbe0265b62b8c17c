"""moto's transactions in the local stack: cancelled ones undo exactly their own writes, even under races."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from pik_local.stack import LocalStack


@pytest.fixture
def table(tmp_path):
    with LocalStack(info_file=tmp_path / "local.json") as stack:
        yield stack.session().client("dynamodb"), stack.info.outputs["events_table_name"]


def put(table, pk, sk, **extra):
    return {
        "Put": {
            "TableName": table,
            "Item": {"pk": {"S": pk}, "sk": {"S": sk}, **extra},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def items(ddb, table):
    return sorted((i["pk"]["S"], i["sk"]["S"], i.get("n", {}).get("N")) for i in ddb.scan(TableName=table)["Items"])


def test_a_cancelled_transaction_leaves_every_item_as_it_was(table):
    ddb, name = table
    ddb.transact_write_items(TransactItems=[put(name, "E1", "META", n={"N": "0"}), put(name, "E2", "META")])
    add = {
        "Update": {
            "TableName": name,
            "Key": {"pk": {"S": "E1"}, "sk": {"S": "META"}},
            "UpdateExpression": "ADD n :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }
    with pytest.raises(ClientError) as cancelled:
        ddb.transact_write_items(TransactItems=[put(name, "NEW", "A"), add, put(name, "E2", "META")])
    assert [r["Code"] for r in cancelled.value.response["CancellationReasons"]] == [
        "None",
        "None",
        "ConditionalCheckFailed",
    ]
    assert items(ddb, name) == [("E1", "META", "0"), ("E2", "META", None)]
    ddb.transact_write_items(TransactItems=[add])
    assert items(ddb, name) == [("E1", "META", "1"), ("E2", "META", None)]


def test_racing_transactions_on_one_gate_leave_exactly_the_winner(table):
    ddb, name = table

    def attempt(args):
        event, i = args
        try:
            ddb.transact_write_items(TransactItems=[put(name, event, "META"), put(name, event, f"ATT#{i:02d}")])
            return i
        except ClientError:
            return None

    for trial in range(5):
        event = f"EVT#{trial}"
        with ThreadPoolExecutor(16) as pool:
            winners = [i for i in pool.map(attempt, [(event, i) for i in range(16)]) if i is not None]
        kept = [sk for pk, sk, _ in items(ddb, name) if pk == event]
        assert len(winners) == 1 and kept == [f"ATT#{winners[0]:02d}", "META"]


def test_racing_single_item_increments_are_all_counted(table):
    """DynamoDB applies each UpdateItem atomically; moto's read-modify-write must not lose an ADD."""
    ddb, name = table
    ddb.put_item(TableName=name, Item={"pk": {"S": "HOT"}, "sk": {"S": "META"}, "n": {"N": "0"}})
    add = {
        "TableName": name,
        "Key": {"pk": {"S": "HOT"}, "sk": {"S": "META"}},
        "UpdateExpression": "ADD n :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}},
        "ConditionExpression": "attribute_exists(pk)",
    }
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda _: ddb.update_item(**add), range(1000)))
    assert items(ddb, name) == [("HOT", "META", "1000")]
