"""Send one record through each tap of a local stack started with the three tap parameters, and
wait until the three events are stored (docs/capture.md runs it).

    .venv/bin/python docs/examples/send_to_taps.py .pik/taps/local.json
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta

import boto3

info = json.load(open(sys.argv[1]))
out = info["outputs"]
session = boto3.session.Session(region_name=info["region"], **info["credentials"])


def client(service: str):
    return session.client(service, endpoint_url=info["endpoint_url"])


when = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
event = {"source": "shop", "event_type": "order_placed", "event_time": when, "payload": {"amount": 12}}
# SQS: a body holding a pik event (an SNS notification wrapping one works the same)
client("sqs").send_message(QueueUrl=out["sqs_tap_queue_url"], MessageBody=json.dumps({**event, "entity_id": "via-sqs"}))
# Kinesis: a record whose data is a pik event
client("kinesis").put_record(
    StreamName=out["kinesis_tap_stream_name"],
    PartitionKey="via-kinesis",
    Data=json.dumps({**event, "entity_id": "via-kinesis"}).encode(),
)
# EventBridge: any event on the bus; the default mapping reads detail.entity_id
client("events").put_events(
    Entries=[
        {
            "EventBusName": out["event_bridge_tap_bus_name"],
            "Source": "shop.orders",
            "DetailType": "OrderPlaced",
            "Detail": json.dumps({"entity_id": "via-eventbridge"}),
        }
    ]
)

s3, deadline = client("s3"), time.monotonic() + 60
while time.monotonic() < deadline:
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=out["raw_bucket_name"], Prefix="raw/").get("Contents", [])]
    if len(keys) >= 3:
        print("\n".join(sorted(keys)))
        break
    time.sleep(0.2)
else:
    sys.exit(f"only {len(keys)} of 3 events were captured within 60 s")
