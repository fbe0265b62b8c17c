"""CloudEvents replays on the local stack (`pik local up` in a subprocess, moto over HTTP), judged by
the CloudEvents Python SDK as each receiver: an SQS queue, a Kinesis stream, an EventBridge bus
(through rules to SQS queues) and an HTTP receiver on 127.0.0.1 (binary and structured mode, each
request's Standard Webhooks signature verified with the local stack's secret).

On the bus, the rule patterns docs/api.md gives tell replays from live traffic: a live event put on
the bus reaches only the "live" rule's queue, every replayed one only the "replays" rule's. moto's
TestEventPattern is not implemented (it answers nothing), so the patterns are tested as rules
matching real PutEvents traffic."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from standardwebhooks import Webhook

import pik_nb
from pik.core.timefmt import UTC, parse_aware
from pik_api import count_statuses, ingest_events
from pik_local.targets import HTTP_SECRET_PARAMETER
from tests.support.queues import drain_queue

COUNT = 4
FORMAT = JSONFormat()
REPLAYS = {"detail": {"pikreplayid": [{"exists": True}]}}  # the patterns docs/api.md documents
LIVE = {"source": ["shop"], "detail": {"pikreplayid": [{"exists": False}]}}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    from tests.support.processes import StackProcess

    stack = StackProcess(tmp_path_factory.mktemp("cloudevents"))
    try:
        day = (datetime.now(UTC) - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        bodies = [
            {
                "source": "shop",
                "event_type": "paid",
                "entity_id": f"cust-{i}",
                "event_time": (day + timedelta(minutes=i)).isoformat(),
                "payload": {"n": i},
            }
            for i in range(COUNT)
        ]
        results = ingest_events(stack.info.api_url, bodies, progress=False)
        assert count_statuses(results) == {"ACCEPTED": COUNT}
        yield stack, pik_nb.connect(path=stack.info_file), bodies, [r.body["event_id"] for r in results], day
    finally:
        stack.stop()


def replay(kit, day: datetime, target: dict) -> dict:
    run = kit.replay(
        source="shop",
        event_type="paid",
        start=day,
        end=day + timedelta(days=1),
        target=target,
        envelope="cloudevents",
        dry_run=False,
    )
    assert (run["status"], run["sent"], run["failed"]) == ("COMPLETED", COUNT, 0), run
    return run


def check(events: list[CloudEvent], bodies: list[dict], ids: list[str], replay_id: str) -> None:
    """Each seeded event once, as its CloudEvent: the original id, source, type, time, data, extensions."""
    events = sorted(events, key=lambda e: e.get_data()["n"])
    assert [e.get_id() for e in events] == ids
    assert {(e.get_specversion(), e.get_source(), e.get_type()) for e in events} == {("1.0", "shop", "paid")}
    assert [e.get_subject() for e in events] == [b["entity_id"] for b in bodies]
    assert [e.get_time() for e in events] == [parse_aware(b["event_time"]) for b in bodies]
    assert [e.get_data() for e in events] == [b["payload"] for b in bodies]
    assert {e.get_extension("pikreplayid") for e in events} == {replay_id}
    assert {str(e.get_extension("pikattempt")) for e in events} == {"1"}
    assert all(parse_aware(e.get_extension("pikingesttime")) > e.get_time() for e in events)


def test_sqs_and_kinesis_get_structured_cloudevents(seeded):
    stack, kit, bodies, ids, day = seeded
    sqs, kinesis = stack.client("sqs"), stack.client("kinesis")
    url = sqs.create_queue(QueueName="ce-consumer")["QueueUrl"]
    run = replay(kit, day, {"sqs": url})
    check([FORMAT.read(CloudEvent, m["Body"]) for m in drain_queue(sqs, url)], bodies, ids, run["replay_id"])
    kinesis.create_stream(StreamName="ce-stream", ShardCount=1)
    arn = kinesis.describe_stream(StreamName="ce-stream")["StreamDescription"]["StreamARN"]
    run = replay(kit, day, {"kinesis": arn})
    shard = kinesis.list_shards(StreamName="ce-stream")["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName="ce-stream", ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = kinesis.get_records(ShardIterator=iterator["ShardIterator"], Limit=100)["Records"]
    check([FORMAT.read(CloudEvent, r["Data"]) for r in records], bodies, ids, run["replay_id"])


def test_eventbridge_detail_is_a_cloudevent_and_a_rule_tells_replays_from_live_traffic(seeded):
    stack, kit, bodies, ids, day = seeded
    events, sqs = stack.client("events"), stack.client("sqs")
    bus = events.create_event_bus(Name="ce-bus")["EventBusArn"]
    queues = {}
    for name, pattern in (("replays", REPLAYS), ("live", LIVE)):
        url = sqs.create_queue(QueueName=f"ce-bus-{name}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=name, EventBusName="ce-bus", EventPattern=json.dumps(pattern))
        events.put_targets(Rule=name, EventBusName="ce-bus", Targets=[{"Id": name, "Arn": arn}])
        queues[name] = url
    live = events.put_events(
        Entries=[{"Source": "shop", "DetailType": "paid", "EventBusName": bus, "Detail": json.dumps(bodies[0])}]
    )  # the producer's own traffic
    assert live["FailedEntryCount"] == 0
    run = replay(kit, day, {"eventbridge": bus})
    replayed = [json.loads(m["Body"]) for m in drain_queue(sqs, queues["replays"])]
    assert [json.loads(m["Body"])["detail"] for m in drain_queue(sqs, queues["live"])] == [bodies[0]]
    assert {(d["source"], d["detail-type"]) for d in replayed} == {("shop", "paid")}
    check([FORMAT.read(CloudEvent, json.dumps(d["detail"])) for d in replayed], bodies, ids, run["replay_id"])


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        data = self.rfile.read(int(self.headers["Content-Length"]))
        Webhook(self.server.secret).verify(data.decode("utf-8"), dict(self.headers))  # raises: the call fails
        with self.server.lock:
            self.server.got.append((dict(self.headers), data))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_) -> None:
        pass


@pytest.mark.parametrize(
    "content_mode, content_type", [("binary", "application/json"), ("structured", "application/cloudevents+json")]
)
def test_an_http_receiver_parses_each_post_and_verifies_its_signature(seeded, content_mode, content_type):
    stack, kit, bodies, ids, day = seeded
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.got, server.lock = [], threading.Lock()
    secret = stack.client("ssm").get_parameter(Name=HTTP_SECRET_PARAMETER, WithDecryption=True)["Parameter"]
    server.secret = secret["Value"]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/ce"
        run = replay(kit, day, {"http": url, "content_mode": content_mode})
    finally:
        server.shutdown()
        server.server_close()
    assert len(server.got) == COUNT  # every POST verified (a bad signature would have failed the event)
    assert {headers["Content-Type"] for headers, _ in server.got} == {content_type}
    assert all(any(n.lower().startswith("ce-") for n in h) == (content_mode == "binary") for h, _ in server.got)
    check(
        [from_http(HTTPMessage(h, data), FORMAT, CloudEvent) for h, data in server.got], bodies, ids, run["replay_id"]
    )
