"""Replaying a journal into fresh resources (moto in-process): order per item, every write once."""

from __future__ import annotations

import boto3
from moto import mock_aws

from pik_local import journal


def test_replay_applies_each_write_once_keeping_the_order_of_writes_to_one_item(tmp_path):
    path = journal.path_of(tmp_path, 2)
    path.parent.mkdir(parents=True)
    records = []
    for i in range(600):  # runs of distinct items, then the same item rewritten: order must hold
        item = {"pk": {"S": f"K#{i % 300}"}, "sk": {"S": "META"}, "n": {"N": str(i)}}
        records.append({"service": "dynamodb", "operation": "PutItem", "params": {"TableName": "t", "Item": item}})
        records.append(
            {
                "service": "s3",
                "operation": "PutObject",
                "params": {
                    "Bucket": "journal-bucket",
                    "Key": f"raw/{i}.json",
                    "Body": bytes([i % 256]) * 3,
                    "IfNoneMatch": "*",
                },
            }
        )
    records.append(
        {
            "service": "sqs",
            "operation": "SendMessage",
            "params": {"QueueUrl": "http://127.0.0.1:1/123456789012/q", "MessageBody": "again"},
        }
    )
    path.write_bytes(b"".join(journal.encode(r) for r in records))
    journal.path_of(tmp_path, 1).write_bytes(journal.encode(records[0]))  # covered by the snapshot: skipped
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        ddb, s3, sqs = session.client("dynamodb"), session.client("s3"), session.client("sqs")
        ddb.create_table(
            TableName="t",
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
        )
        s3.create_bucket(Bucket="journal-bucket")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        assert journal.replay(session, tmp_path, after=1, queue_urls=[url]) == {"writes": 1201, "refused": 0}
        items = ddb.scan(TableName="t")["Items"]
        assert sorted(int(item["n"]["N"]) for item in items) == list(range(300, 600))  # the later write won
        assert s3.get_object(Bucket="journal-bucket", Key="raw/257.json")["Body"].read() == b"\x01\x01\x01"
        assert s3.list_objects_v2(Bucket="journal-bucket")["KeyCount"] == 600
        assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["again"]
        assert journal.replay(session, tmp_path, after=1, queue_urls=[url])["refused"] == 600  # the puts: If-None-Match
