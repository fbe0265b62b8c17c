"""Replay to every kind of target on the local stack (`pik local up` in a subprocess, moto over HTTP):
an SQS queue, a FIFO queue, an EventBridge bus (read through a rule to an SQS queue), a Kinesis
stream and an HTTP receiver on 127.0.0.1 that verifies each signature with the secret the local
stack put in moto's SSM; then a run paused and resumed over ``POST /replay/{id}``; a target
outside the allow-list is a 403."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

import pik_nb
from pik.core.timefmt import UTC
from pik_api import ApiError, count_statuses, ingest_events
from pik_local.targets import HTTP_SECRET_PARAMETER
from tests.support.queues import drain_queue

COUNT = 12


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    from tests.support.processes import StackProcess

    stack = StackProcess(tmp_path_factory.mktemp("targets"))
    try:
        day = (datetime.now(UTC) - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        bodies = [
            {
                "source": "shop",
                "event_type": "paid",
                "entity_id": f"cust-{i % 3}",
                "event_time": (day + timedelta(minutes=i)).isoformat(),
                "payload": {"n": i},
            }
            for i in range(COUNT)
        ]
        results = ingest_events(stack.info.api_url, bodies, progress=False)
        assert count_statuses(results) == {"ACCEPTED": COUNT}
        kit = pik_nb.connect(path=stack.info_file)
        yield stack, kit, bodies, [r.body["event_id"] for r in results], day
    finally:
        stack.stop()


def window(day: datetime) -> dict:
    return {"source": "shop", "event_type": "paid", "start": day, "end": day + timedelta(days=1)}


def test_sqs_and_fifo_targets_get_the_events_as_sent(seeded):
    stack, kit, bodies, ids, day = seeded
    sqs = stack.client("sqs")
    url = sqs.create_queue(QueueName="e2e-consumer")["QueueUrl"]
    run = kit.replay(**window(day), target={"sqs": url}, dry_run=False)
    assert (run["status"], run["stopped"], run["sent"], run["target"]) == (
        "COMPLETED",
        "completed",
        COUNT,
        f"sqs:{url}",
    )
    got = [json.loads(m["Body"]) for m in drain_queue(sqs, url)]
    assert sorted(got, key=lambda b: b["payload"]["n"]) == bodies
    fifo = sqs.create_queue(QueueName="e2e-consumer.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    run = kit.replay(event_ids=pd.Series(ids[:5]), target={"sqs": fifo}, dry_run=False)
    messages = drain_queue(sqs, fifo)
    assert (run["matched"], run["sent"]) == (5, 5)
    assert sorted(m["Attributes"]["MessageDeduplicationId"] for m in messages) == sorted(ids[:5])
    assert sorted(m["Attributes"]["MessageGroupId"] for m in messages) == sorted(
        bodies[i]["entity_id"] for i in range(5)
    )


def test_eventbridge_delivers_through_a_rule(seeded):
    stack, kit, bodies, _, day = seeded
    events, sqs = stack.client("events"), stack.client("sqs")
    bus = events.create_event_bus(Name="e2e-bus")["EventBusArn"]
    url = sqs.create_queue(QueueName="e2e-bus-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="shop", EventBusName="e2e-bus", EventPattern=json.dumps({"source": ["shop"]}))
    events.put_targets(Rule="shop", EventBusName="e2e-bus", Targets=[{"Id": "tap", "Arn": arn}])
    run = kit.replay(**window(day), target={"eventbridge": bus, "raw": False}, dry_run=False)
    delivered = [json.loads(m["Body"]) for m in drain_queue(sqs, url)]
    assert run["sent"] == COUNT and len(delivered) == COUNT
    assert {(d["source"], d["detail-type"]) for d in delivered} == {("shop", "paid")}
    assert sorted(d["detail"]["event"]["payload"]["n"] for d in delivered) == list(range(COUNT))
    assert {d["detail"]["replay"]["replay_id"] for d in delivered} == {run["replay_id"]}


def test_kinesis_gets_records_keyed_by_entity(seeded):
    stack, kit, bodies, _, day = seeded
    kinesis = stack.client("kinesis")
    kinesis.create_stream(StreamName="e2e-stream", ShardCount=1)
    arn = kinesis.describe_stream(StreamName="e2e-stream")["StreamDescription"]["StreamARN"]
    run = kit.replay(**window(day), target={"kinesis": arn}, dry_run=False)
    shard = kinesis.list_shards(StreamName="e2e-stream")["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName="e2e-stream", ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = kinesis.get_records(ShardIterator=iterator["ShardIterator"], Limit=100)["Records"]
    assert run["sent"] == COUNT
    assert sorted((r["PartitionKey"], json.loads(r["Data"])["payload"]["n"]) for r in records) == sorted(
        (b["entity_id"], b["payload"]["n"]) for b in bodies
    )


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        text = self.rfile.read(int(self.headers["Content-Length"])).decode("utf-8")
        try:
            Webhook(self.server.secret).verify(text, dict(self.headers), json_parse=False)
            ok = True
        except WebhookVerificationError:
            ok = False
        with self.server.lock:
            self.server.got.append((ok, json.loads(text)))
        self.send_response(getattr(self.server, "refuse", None) or (200 if ok else 401))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_) -> None:
        pass


def test_http_receiver_verifies_every_signature(seeded):
    stack, kit, bodies, _, day = seeded
    secret = stack.client("ssm").get_parameter(Name=HTTP_SECRET_PARAMETER, WithDecryption=True)["Parameter"]["Value"]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.secret, server.got, server.lock = secret, [], threading.Lock()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/pik"
        run = kit.replay(**window(day), target={"http": url}, dry_run=False)
    finally:
        server.shutdown()
        server.server_close()
    assert (run["sent"], run["failed"]) == (COUNT, 0)
    assert [ok for ok, _ in server.got] == [True] * COUNT
    assert sorted((body for _, body in server.got), key=lambda b: b["payload"]["n"]) == bodies


def test_a_run_paused_and_resumed_over_http(seeded):
    stack, kit, _, _, day = seeded
    sqs = stack.client("sqs")
    url = sqs.create_queue(QueueName="e2e-steered")["QueueUrl"]
    first = kit.replay(**window(day), target={"sqs": url}, dry_run=False, limit=5, client_token="e2e-steer")
    assert (first["status"], first["stopped"], first["sent"]) == ("PARTIAL", "limit", 5)
    paused = kit.steer(first["replay_id"], "pause")
    assert (paused["status"], paused["stopped"]) == ("PAUSED", "paused")
    resumed = kit.steer(first["replay_id"], "resume")
    assert (resumed["status"], resumed["sent"]) == ("PARTIAL", 10)  # the limit holds per call
    runs = kit.replays()
    row = runs.set_index("replay_id").loc[first["replay_id"]]
    assert (row["stopped"], row["target"], int(row["sent"]), int(row["failed"])) == ("limit", f"sqs:{url}", 10, 0)
    assert len(drain_queue(sqs, url)) == 10


def test_a_target_outside_the_allow_list_is_refused(seeded):
    _, kit, _, _, day = seeded
    with pytest.raises(ApiError) as refused:
        kit.replay(**window(day), target={"http": "https://example.com/hook"}, dry_run=False)
    assert refused.value.status == 403
    assert "replay target http:https://example.com/hook" in str(refused.value)


def test_what_kit_search_found_is_replayed_by_id(seeded):
    stack, kit, bodies, ids, day = seeded
    found = kit.search(source="shop", event_type="paid", start=day, end=day + timedelta(days=1), where="n >= 9")
    assert sorted(found["event_id"]) == sorted(ids[9:])
    sqs = stack.client("sqs")
    url = sqs.create_queue(QueueName="e2e-searched")["QueueUrl"]
    run = kit.replay(event_ids=found["event_id"], target={"sqs": url}, dry_run=False)
    assert (run["matched"], run["sent"]) == (3, 3)
    assert sorted(json.loads(m["Body"])["payload"]["n"] for m in drain_queue(sqs, url)) == [9, 10, 11]


def test_a_refusing_endpoint_stops_the_run_and_the_same_command_resumes_it_once_fixed(seeded):
    stack, kit, bodies, _, day = seeded
    secret = stack.client("ssm").get_parameter(Name=HTTP_SECRET_PARAMETER, WithDecryption=True)["Parameter"]["Value"]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.secret, server.got, server.lock, server.refuse = secret, [], threading.Lock(), 422
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        request = {
            **window(day),
            "target": {"http": f"http://127.0.0.1:{server.server_address[1]}/pik"},
            "dry_run": False,
            "client_token": "e2e-refused",
        }
        first = kit.replay(**request)
        assert (first["status"], first["stopped"], first["sent"]) == ("PARTIAL", "target_errors", 0)
        assert first["failed"] == 10  # the first batch, not delivered when the run stopped (refused by two calls)
        server.refuse = None  # the endpoint is fixed
        second = kit.replay(**request)  # the same command again
    finally:
        server.shutdown()
        server.server_close()
    assert (second["status"], second["sent"], second["failed"]) == ("COMPLETED", COUNT, 0)  # every event delivered
    delivered = [body for ok, body in server.got[20:]]
    assert sorted(b["payload"]["n"] for b in delivered) == list(range(COUNT))
