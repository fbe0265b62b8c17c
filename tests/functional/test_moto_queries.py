"""The query patch (pik_local.moto_patches) answers exactly what a full scan says, after any
mix of puts, replacements, updates, deletes and transactions."""

from __future__ import annotations

import random

import boto3
from botocore.exceptions import ClientError

from pik.core import keys

PARTITIONS = ["E#a", "E#b", "E#c"]
ENTITIES = ["ENT#x", "ENT#y", "ENT#z"]


def _brute_force(items: list[dict], attr: str, value: str, sort_attr: str, low: str, high: str) -> list[tuple]:
    rows = [
        i for i in items if i.get(attr, {}).get("S") == value and sort_attr in i and low <= i[sort_attr]["S"] <= high
    ]
    rows.sort(key=lambda i: (i[sort_attr]["S"], i["pk"]["S"], i["sk"]["S"]))
    return [(i["pk"]["S"], i["sk"]["S"]) for i in rows]


def _pages(ddb, **request) -> list[tuple]:
    out = []
    while True:
        page = ddb.query(**request)
        out += [(i["pk"]["S"], i["sk"]["S"]) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return out
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_table_and_index_queries_match_a_full_scan_after_random_writes(stack):
    ddb = boto3.client("dynamodb")
    table = stack.outputs["events_table_name"]
    rng = random.Random(7)
    for step in range(400):
        random_write(ddb, table, rng, step)
        if step % 25 == 0:
            check_queries_against_a_scan(ddb, table, rng)


def random_write(ddb, table: str, rng: random.Random, step: int) -> None:
    """A put, an update (which may move the item to another index partition), a delete, or a cancelled
    transaction (undone by the transaction patch)."""
    pk, sk = rng.choice(PARTITIONS), f"S#{rng.randrange(40):02d}"
    key = {"pk": {"S": pk}, "sk": {"S": sk}}
    action = rng.random()
    if action < 0.55:
        ddb.put_item(
            TableName=table,
            Item={**key, "ent_pk": {"S": rng.choice(ENTITIES)}, "ent_sk": {"S": f"T{rng.randrange(100):03d}"}},
        )
    elif action < 0.7:
        ddb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET ent_pk = :e, ent_sk = :t",
            ExpressionAttributeValues={":e": {"S": rng.choice(ENTITIES)}, ":t": {"S": f"T{step % 100:03d}"}},
        )
    elif action < 0.85:
        ddb.delete_item(TableName=table, Key=key)
    else:
        try:
            ddb.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": table, "Item": {**key, "ent_pk": {"S": "ENT#x"}, "ent_sk": {"S": "T050"}}}},
                    {
                        "Put": {
                            "TableName": table,
                            "Item": {"pk": {"S": "E#a"}, "sk": {"S": "S#00"}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        except ClientError:
            pass


def check_queries_against_a_scan(ddb, table: str, rng: random.Random) -> None:
    """Every entity's index range and every partition, paged, equal what a full scan holds."""
    items = ddb.scan(TableName=table)["Items"]
    for entity in ENTITIES:
        low, high = sorted(f"T{rng.randrange(100):03d}" for _ in range(2))
        got = _pages(
            ddb,
            TableName=table,
            IndexName=keys.ENTITY_INDEX,
            Limit=3,
            KeyConditionExpression="ent_pk = :p AND ent_sk BETWEEN :a AND :b",
            ExpressionAttributeValues={":p": {"S": entity}, ":a": {"S": low}, ":b": {"S": high}},
        )
        assert got == _brute_force(items, "ent_pk", entity, "ent_sk", low, high)
    for pk in PARTITIONS:
        got = _pages(
            ddb,
            TableName=table,
            KeyConditionExpression="pk = :p",
            Limit=4,
            ScanIndexForward=False,
            ExpressionAttributeValues={":p": {"S": pk}},
        )
        assert got == sorted(((i["pk"]["S"], i["sk"]["S"]) for i in items if i["pk"]["S"] == pk), reverse=True)


def test_items_of_every_type_come_back_exactly_through_the_fast_serialiser(stack):
    ddb = boto3.client("dynamodb")
    table = stack.outputs["events_table_name"]
    item = {
        "pk": {"S": "E#types"},
        "sk": {"S": "META"},
        "ent_pk": {"S": "ENT#types"},
        "ent_sk": {"S": "T1"},
        "b": {"B": b"\x00\xffbytes"},
        "bs": {"BS": [b"a", b"\x01"]},
        "n": {"N": "-12.50"},
        "ns": {"NS": ["1", "2.5"]},
        "ss": {"SS": ["x", "y"]},
        "null": {"NULL": True},
        "yes": {"BOOL": False},
        "empty": {"S": ""},
        "nested": {"M": {"l": {"L": [{"S": "é"}, {"N": "1"}, {"M": {}}]}}},
    }
    ddb.put_item(TableName=table, Item=item)
    normal = {
        k: ({kind: sorted(v)} if kind in ("BS", "NS", "SS") else {kind: v})
        for k, value in item.items()
        for kind, v in value.items()
    }

    def same(got):
        return {
            k: ({kind: sorted(v)} if kind in ("BS", "NS", "SS") else {kind: v})
            for k, value in got.items()
            for kind, v in value.items()
        } == normal

    assert same(ddb.get_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})["Item"])
    [queried] = ddb.query(
        TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": item["pk"]}
    )["Items"]
    [indexed] = ddb.query(
        TableName=table,
        IndexName=keys.ENTITY_INDEX,
        KeyConditionExpression="ent_pk = :p",
        ExpressionAttributeValues={":p": item["ent_pk"]},
    )["Items"]
    [scanned] = ddb.scan(TableName=table)["Items"]
    assert same(queried) and same(indexed) and same(scanned)
