"""Replay to external targets through the real handler and adapters against moto: SQS (standard and
FIFO), EventBridge (delivered through a rule to an SQS queue), Kinesis, and HTTP (a receiver on
127.0.0.1 checking the signature); the allow-list; failed entries re-sent (faults injected with
botocore hooks); a target that refuses everything stops the run, which resumes once it is fixed."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime

import boto3
import pytest

from pik.aws import clients, delivery
from pik.handlers import replay
from tests.support.lambdas import call
from tests.support.replays import seed, window
from tests.support.targets import read_queue, tapped_bus
from tests.support.waits import wait_for


def test_an_sqs_target_gets_each_event_exactly_as_its_producer_sent_it(allowed):
    ids = seed(count=12)
    url = boto3.client("sqs").create_queue(QueueName="consumer")["QueueUrl"]
    status, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"sqs": url}))
    assert status == 200, run
    assert (run["status"], run["stopped"], run["matched"], run["sent"], run["failed"]) == (
        "COMPLETED",
        "completed",
        12,
        12,
        0,
    )
    assert run["target_counts"] == {f"sqs:{url}": {"sent": 12, "failed": 0, "retried": 0, "skipped": 0}}
    bodies = [json.loads(m["Body"]) for m in read_queue(url)]
    assert sorted(b["payload"]["amount"] for b in bodies) == list(range(12))
    assert all(set(b) == {"source", "event_type", "entity_id", "event_time", "payload"} for b in bodies)
    assert read_queue(allowed.outputs["replay_queue_url"]) == []  # nothing went to the processor
    assert len(ids) == 12


def test_raw_false_wraps_the_event_in_a_replay_envelope(allowed):
    ids = seed(count=2)
    url = boto3.client("sqs").create_queue(QueueName="consumer")["QueueUrl"]
    _, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"sqs": url, "raw": False}))
    bodies = sorted((json.loads(m["Body"]) for m in read_queue(url)), key=lambda b: b["replay"]["event_id"])
    assert [b["replay"]["event_id"] for b in bodies] == sorted(ids)
    assert {b["replay"]["replay_id"] for b in bodies} == {run["replay_id"]}
    assert {b["replay"]["attempt"] for b in bodies} == {1}
    assert all(datetime.fromisoformat(b["replay"]["ingested_at"].replace("Z", "+00:00")) for b in bodies)
    assert sorted(b["event"]["payload"]["amount"] for b in bodies) == [0, 1]


def test_a_fifo_queue_gets_the_event_id_as_deduplication_id_and_the_chosen_group(allowed):
    ids = seed(count=3)
    url = boto3.client("sqs").create_queue(QueueName="consumer.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    _, run = call(
        replay,
        "/replay",
        window(entity_id="customer-42", dry_run=False, target={"sqs": url, "fifo_group_id": "incident-7"}),
    )
    messages = read_queue(url)
    assert run["sent"] == 3
    assert sorted(m["Attributes"]["MessageDeduplicationId"] for m in messages) == sorted(ids)
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {"incident-7"}


def test_a_fifo_group_id_on_a_standard_queue_is_refused_naming_the_field(allowed):
    url = boto3.client("sqs").create_queue(QueueName="consumer")["QueueUrl"]
    status, body = call(replay, "/replay", window(entity_id="customer-42", target={"sqs": url, "fifo_group_id": "g"}))
    assert status == 400
    assert [(d["field"], d["rule"]) for d in body["details"]] == [("target.fifo_group_id", "fifo_only")]


def test_a_target_outside_the_allow_list_is_a_403_naming_it_and_records_nothing(allowed):
    seed(count=1)
    other = "https://sqs.us-east-1.amazonaws.com/999999999999/theirs"
    status, body = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"sqs": other}))
    assert status == 403
    assert body["error"] == (
        f"replay target sqs:{other} (arn:aws:sqs:us-east-1:999999999999:theirs) is not allowed: "
        "add it to the template parameter ReplayTargetQueueArns"
    )
    runs = boto3.client("dynamodb").scan(TableName=allowed.outputs["replays_table_name"])["Items"]
    assert runs == []


def test_eventbridge_gets_source_detail_type_and_the_event_as_detail(allowed):
    seed(count=13)
    bus, url = tapped_bus()
    _, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"eventbridge": bus}))
    delivered = [json.loads(m["Body"]) for m in read_queue(url)]
    assert (run["status"], run["sent"]) == ("COMPLETED", 13)
    assert len(delivered) == 13
    assert {(d["source"], d["detail-type"]) for d in delivered} == {("checkout", "order_placed")}
    assert sorted(d["detail"]["payload"]["amount"] for d in delivered) == list(range(13))


def test_eventbridge_entries_that_fail_are_re_sent(allowed):
    seed(count=4)
    bus, url = tapped_bus()
    calls = []

    def throttle_first_entry_once(parsed, **_):
        calls.append(len(parsed["Entries"]))
        if len(calls) == 1:  # PutEvents answered 200 with one failed entry (it was not put)
            parsed["Entries"][0] = {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}
            parsed["FailedEntryCount"] = 1

    clients.target_client("events").meta.events.register("after-call.events.PutEvents", throttle_first_entry_once)
    _, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"eventbridge": "orders"}))
    assert calls == [4, 1]
    assert (run["sent"], run["failed"], run["retried"]) == (4, 0, 1)
    assert len(read_queue(url)) == 5  # moto delivered the "failed" entry too: the fault was injected after the call


def test_kinesis_gets_records_keyed_by_entity(allowed):
    seed(count=5, entity="customer-42")
    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName="orders", ShardCount=1)
    arn = kinesis.describe_stream(StreamName="orders")["StreamDescription"]["StreamARN"]
    _, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"kinesis": arn}))
    shard = kinesis.list_shards(StreamName="orders")["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName="orders", ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert (run["status"], run["sent"]) == ("COMPLETED", 5)
    assert [r["PartitionKey"] for r in records] == ["customer-42"] * 5
    assert sorted(json.loads(r["Data"])["payload"]["amount"] for r in records) == list(range(5))


def test_http_posts_each_event_signed_and_retries_a_503(allowed, receiver, monkeypatch):
    monkeypatch.setattr("pik.aws.webhook.BACKOFF_S", 0.001)
    ids = seed(count=1)
    hook = receiver([503])
    _, run = call(
        replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"http": hook.url, "raw": False})
    )
    assert (run["status"], run["sent"], run["failed"], run["retried"]) == ("COMPLETED", 1, 0, 1)
    assert [(status, valid, event_id) for status, valid, event_id, _ in hook.got] == [
        (503, True, ids[0]),
        (200, True, ids[0]),
    ]
    assert [body["replay"]["attempt"] for *_, body in hook.got] == [1, 2]


def test_an_endpoint_that_refuses_everything_stops_the_run_which_resumes_once_fixed(allowed, receiver):
    ids = seed(count=3)
    hook = receiver([400, 400, 400])
    request = window(entity_id="customer-42", dry_run=False, target={"http": hook.url}, client_token="hook-1")
    _, first = call(replay, "/replay", request)
    assert (first["status"], first["stopped"], first["sent"], first["failed"]) == ("PARTIAL", "target_errors", 0, 3)
    assert first["last_error"] == f"HTTP 400 from {hook.url}"
    assert first["matched"] == 0  # counts move only with a delivered batch
    _, second = call(replay, "/replay", {**request, "continuation": first["continuation"]})
    assert (second["status"], second["stopped"], second["sent"], second["matched"]) == ("COMPLETED", "completed", 3, 3)
    assert sorted(event_id for status, _, event_id, _ in hook.got if status == 200) == sorted(ids)


def test_a_missing_queue_is_a_target_error_not_a_5xx(allowed):
    seed(count=2)
    url = boto3.client("sqs").get_queue_url(QueueName=allowed.names["ReplayQueue"].rsplit("/", 1)[1])["QueueUrl"]
    gone = url.rsplit("/", 1)[0] + "/deleted-queue"
    status, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"sqs": gone}))
    assert (status, run["status"], run["stopped"], run["sent"], run["failed"]) == (
        200,
        "PARTIAL",
        "target_errors",
        0,
        2,
    )
    assert "NonExistentQueue" in run["last_error"] or "does not exist" in run["last_error"]


def test_a_missing_signing_secret_stops_the_run_naming_it(allowed, receiver, monkeypatch):
    seed(count=2)
    monkeypatch.setenv("REPLAY_HTTP_SECRET_PARAMETER", "/pik/test/nobody-created-this")
    hook = receiver([])
    _, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"http": hook.url}))
    assert (run["status"], run["stopped"], run["sent"], run["failed"]) == ("PARTIAL", "target_errors", 0, 2)
    assert run["last_error"].startswith("signing secret: ssm get_parameter /pik/test/nobody-created-this")
    assert hook.got == []


def test_kinesis_records_and_sqs_entries_that_fail_are_re_sent(allowed):
    seed(count=3)
    kinesis, sqs = boto3.client("kinesis"), boto3.client("sqs")
    kinesis.create_stream(StreamName="orders", ShardCount=1)
    arn = kinesis.describe_stream(StreamName="orders")["StreamDescription"]["StreamARN"]
    url = sqs.create_queue(QueueName="consumer")["QueueUrl"]
    seen: dict[str, list[int]] = {"PutRecords": [], "SendMessageBatch": []}

    def fail_last_once(parsed, model, **_):
        seen[model.name].append(len(parsed.get("Records") or parsed.get("Successful") or []))
        if len(seen[model.name]) > 1:
            return
        if model.name == "PutRecords":  # answered 200, the last record throttled
            parsed["Records"][-1] = {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow"}
            parsed["FailedRecordCount"] = 1
        else:
            last = parsed["Successful"].pop()
            parsed["Failed"] = [{"Id": last["Id"], "SenderFault": False, "Code": "InternalError", "Message": "x"}]

    clients.target_client("kinesis").meta.events.register("after-call.kinesis.PutRecords", fail_last_once)
    clients.target_client("sqs").meta.events.register("after-call.sqs.SendMessageBatch", fail_last_once)
    _, to_stream = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"kinesis": arn}))
    _, to_queue = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"sqs": url}))
    assert seen == {"PutRecords": [3, 1], "SendMessageBatch": [3, 1]}  # the failed one alone, re-sent
    assert [(r["sent"], r["failed"], r["retried"]) for r in (to_stream, to_queue)] == [(3, 0, 1), (3, 0, 1)]


def test_an_http_target_is_matched_and_sent_as_its_normal_form(allowed, receiver, monkeypatch):
    """``/ok/../admin`` passed ``/ok/*`` as a string and urllib3 delivered it to ``/admin``."""
    monkeypatch.setenv("REPLAY_TARGET_URLS", "http://127.0.0.1:*/ok/*")
    seed(count=1)
    hook = receiver([])
    base = hook.url.rsplit("/", 1)[0]
    status, refused = call(
        replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"http": f"{base}/ok/../admin"})
    )
    assert (status, refused["error"]) == (
        403,
        f"replay target http:{base}/admin ({base}/admin) is not allowed: "
        "add it to the template parameter ReplayTargetUrls",
    )
    status, run = call(
        replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"http": f"{base}/ok/./x/../hook"})
    )
    assert (status, run["sent"], run["target"]) == (200, 1, f"http:{base}/ok/hook")
    assert hook.paths == ["/ok/hook"]


def test_a_port_pattern_never_admits_another_port_named_in_the_path(allowed, receiver, monkeypatch):
    """Live, as issue 19 finding 1 found it: with ``ReplayTargetUrls=http://*:P1/*`` a URL to port P2 whose
    path holds ``:P1/`` passed the string match and was delivered to P2. It is refused, P2 gets nothing,
    and a URL to P1 itself is delivered."""
    seed(count=1)
    allowed_hook, other_hook = receiver([]), receiver([])
    p1, p2 = (hook.url.split(":")[2].split("/")[0] for hook in (allowed_hook, other_hook))
    monkeypatch.setenv("REPLAY_TARGET_URLS", f"http://*:{p1}/*")
    smuggled = f"http://127.0.0.1:{p2}/x:{p1}/"
    status, refused = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"http": smuggled}))
    assert (status, refused["error"]) == (
        403,
        f"replay target http:{smuggled} ({smuggled}) is not allowed: add it to the template parameter ReplayTargetUrls",
    )
    status, run = call(
        replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"http": allowed_hook.url})
    )
    assert (status, run["sent"], len(allowed_hook.got)) == (200, 1, 1)
    assert other_hook.got == []


# --- Standard Webhooks, Retry-After, and a deadline for endpoints that hang or drip (issue 19, 6-8) --
def test_webhook_id_is_the_same_for_every_retry_and_replay_of_an_event_to_a_target(allowed, receiver, monkeypatch):
    monkeypatch.setattr("pik.aws.webhook.BACKOFF_S", 0.001)
    ids = seed(count=1)
    hook = receiver([503])
    for again in ({}, {"resend": True}):  # two runs of the same scope: a retry in the first, a resend in the second
        _, run = call(
            replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"http": hook.url}, **again)
        )
        assert (run["sent"], run["failed"]) == (1, 0)
    assert [valid for _, valid, _, _ in hook.got] == [True, True, True]
    assert len({h["webhook-id"] for h in hook.headers}) == 1
    assert {h["X-Pik-Event-Id"] for h in hook.headers} == {ids[0]}


def test_retry_after_is_honoured_and_a_long_one_ends_the_tries(allowed, receiver):
    seed(count=1)
    hook = receiver([503])
    hook.retry_after = "1"
    _, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"http": hook.url}))
    assert (run["sent"], run["retried"]) == (1, 1)
    assert hook.times[1] - hook.times[0] >= 1.0  # waited as asked (the back-off alone is 0.2 s)
    later = receiver([429])
    later.retry_after = "120"
    _, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"http": later.url}))
    assert (run["status"], run["stopped"], run["sent"]) == ("PARTIAL", "target_errors", 0)
    assert run["last_error"] == f"HTTP 429 from {later.url} (Retry-After 120 s: continue the run later)"
    assert len(later.got) == 1


class _Slow(threading.Thread):
    """An endpoint on 127.0.0.1 that reads the request, then never answers (``drip=False``) or sends
    one byte of its status line every 0.1 s, forever."""

    def __init__(self, drip: bool) -> None:
        super().__init__(daemon=True)
        self.drip, self.listener = drip, socket.create_server(("127.0.0.1", 0))
        self.stop, self.connections = threading.Event(), 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"

    def run(self) -> None:
        self.listener.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65_536)
            while not self.stop.wait(0.1):
                if self.drip:
                    try:
                        conn.sendall(b"H")
                    except OSError:
                        return


@pytest.mark.parametrize("drip", [False, True], ids=["hangs", "drips"])
def test_an_endpoint_that_hangs_or_drips_cannot_hold_the_call(allowed, monkeypatch, drip):
    monkeypatch.setattr("pik.aws.webhook.REQUEST_DEADLINE_S", 0.5)
    monkeypatch.setattr("pik.aws.webhook.BACKOFF_S", 0.001)
    seed(count=2)
    server = _Slow(drip)
    server.start()
    try:
        started = time.monotonic()
        _, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target={"http": server.url}))
        took = time.monotonic() - started
        # the call has made every connection it will; the server's accept loop (a 0.1 s poll) may not
        # have counted the last one yet on a loaded machine: let it, then stop it
        wait_for(lambda: server.connections >= 6, timeout_s=10, what="the server to accept every try")
    finally:
        server.stop.set()
    assert (run["status"], run["stopped"], run["sent"], run["failed"]) == ("PARTIAL", "target_errors", 0, 2)
    assert run["last_error"] == f"{server.url}: no whole answer within 0.5 s"
    assert server.connections == 6  # 3 tries of each event, each on a connection the deadline closed
    # every try to its deadline and every wait at its longest is 3.5 s; the slack is for a loaded machine
    # (moto's own calls are inside the measure): without the deadline, the call would never end
    assert took < 3 * 0.5 + 2 * 1.0 + 8


class _LateWatchdog:
    """A ``threading.Timer`` whose thread is never scheduled in time: the socket's timeout comes first."""

    def __init__(self, *args) -> None:
        pass

    def start(self) -> None:
        pass

    def cancel(self) -> None:
        pass


def test_the_sockets_own_timeout_is_the_same_deadline_as_the_watchdogs(monkeypatch):
    """On a loaded machine the socket's read timeout can beat the watchdog's thread: same deadline, same words."""
    from pik.aws.webhook import Connections, DeadlineExceeded

    monkeypatch.setattr("pik.aws.webhook.threading.Timer", _LateWatchdog)
    server = _Slow(drip=False)
    server.start()
    try:
        with pytest.raises(DeadlineExceeded, match=r"^no whole answer within 0.3 s$"):
            Connections(server.url, deadline_s=0.3).post(b"{}", {"Content-Type": "application/json"})
    finally:
        server.stop.set()


def test_a_call_keeps_the_worst_batch_of_an_http_target_in_reserve(allowed, receiver):
    """5 s for the last save plus 11 s for a batch of tries that all run to their deadline."""
    seed(count=1)
    hook = receiver([])
    _, run = call(
        replay,
        "/replay",
        window(entity_id="customer-42", dry_run=False, target={"http": hook.url}),
        remaining_ms=15_000,
    )
    assert (run["status"], run["stopped"], run["sent"], hook.got) == ("PARTIAL", "time", 0, [])
    _, run = call(
        replay,
        "/replay",
        window(entity_id="customer-42", dry_run=False, target={"http": hook.url}),
        remaining_ms=16_500,
    )
    assert (run["status"], run["sent"]) == ("COMPLETED", 1)


# --- AWS targets behind a hanging endpoint: bounded clients, a reserve for their worst batch (issue 19, 6) --
def _aws_target(kind: str) -> tuple[dict, str, Callable[[], list[dict]]]:
    """A target of ``kind``, its client's service, and what it got (the events' bodies)."""
    if kind == "sqs":
        url = boto3.client("sqs").create_queue(QueueName="consumer")["QueueUrl"]
        return {"sqs": url}, "sqs", lambda: [json.loads(m["Body"]) for m in read_queue(url)]
    if kind == "eventbridge":
        bus, url = tapped_bus()
        return {"eventbridge": bus}, "events", lambda: [json.loads(m["Body"])["detail"] for m in read_queue(url)]
    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName="orders", ShardCount=1)
    arn = kinesis.describe_stream(StreamName="orders")["StreamDescription"]["StreamARN"]

    def records() -> list[dict]:
        shard = kinesis.list_shards(StreamName="orders")["Shards"][0]["ShardId"]
        it = kinesis.get_shard_iterator(StreamName="orders", ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        return [json.loads(r["Data"]) for r in kinesis.get_records(ShardIterator=it["ShardIterator"])["Records"]]

    return {"kinesis": arn}, "kinesis", records


@pytest.mark.parametrize("kind", ["sqs", "kinesis", "eventbridge"])
def test_an_aws_endpoint_that_hangs_cannot_hold_the_call_and_the_continuation_sends_each_event_once(
    allowed, monkeypatch, kind
):
    """The target client's endpoint accepts the connection and never answers: 2 tries, each to its read
    timeout, then the run stops PARTIAL with a continuation; once the endpoint answers, the continuation
    sends every event, each once."""
    monkeypatch.setattr(clients, "TARGET_CONNECT_TIMEOUT_S", 0.2)
    monkeypatch.setattr(clients, "TARGET_READ_TIMEOUT_S", 0.5)
    seed(count=3)
    target, service, got = _aws_target(kind)
    server = _Slow(drip=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server.listener.getsockname()[1]}"
    hanging = clients.make_client(clients.session(), service, endpoint_url=endpoint, config=clients.target_config())
    monkeypatch.setitem(clients._clients, f"target:{service}", hanging)
    request = window(entity_id="customer-42", dry_run=False, target=target, client_token=f"hang-{kind}")
    try:
        started = time.monotonic()
        _, first = call(replay, "/replay", request)
        took = time.monotonic() - started
        wait_for(lambda: server.connections >= 2, timeout_s=10, what="the server to accept both tries")
    finally:
        server.stop.set()
    assert (first["status"], first["stopped"], first["matched"], first["sent"], first["failed"]) == (
        "PARTIAL",
        "target_errors",
        0,
        0,
        3,
    )
    assert first["last_error"] == f'Read timeout on endpoint URL: "{endpoint}/"'
    assert first["continuation"]
    assert server.connections == 2  # total_max_attempts: the try and one retry, each closed at its read timeout
    assert took < 2 * (0.2 + 0.5) + 1.0 + 8  # both tries to their timeouts, the longest wait; slack for load
    assert got() == []
    clients._clients.pop(f"target:{service}")  # the endpoint answers again (moto)
    _, second = call(replay, "/replay", {**request, "continuation": first["continuation"]})
    assert (second["status"], second["stopped"], second["matched"], second["sent"], second["failed"]) == (
        "COMPLETED",
        "completed",
        3,
        3,
        0,
    )
    assert sorted(event["payload"]["amount"] for event in got()) == [0, 1, 2]  # nothing sent twice


@pytest.mark.parametrize("kind", ["sqs", "kinesis", "eventbridge"])
def test_a_call_keeps_the_worst_batch_of_an_aws_target_in_reserve(allowed, kind):
    """5 s for the last save plus 13 s for a batch: 2 tries x (1 s connect + 2 s read) + a 6 s wait, and
    a further request started up to 1 s in."""
    assert (clients.target_call_worst_s(), delivery.worst_batch_s()) == (12.0, 13.0)
    seed(count=1)
    target, _, got = _aws_target(kind)
    request = window(entity_id="customer-42", dry_run=False, target=target)
    _, run = call(replay, "/replay", request, remaining_ms=17_999)
    assert (run["status"], run["stopped"], run["sent"], got()) == ("PARTIAL", "time", 0, [])
    _, run = call(replay, "/replay", request, remaining_ms=18_000)
    assert (run["status"], run["sent"], [event["payload"]["amount"] for event in got()]) == ("COMPLETED", 1, [0])


def test_a_re_send_that_would_outrun_the_batchs_bound_is_not_started(allowed, monkeypatch):
    """With no time left for a further request (``FURTHER_REQUESTS_S`` 0), the record Kinesis failed is not
    re-sent: it is counted failed with the reason, and the others are delivered. (An SQS target's first
    request is the read of its queue's limit: test_replay_limits.py.)"""
    monkeypatch.setattr(delivery, "FURTHER_REQUESTS_S", 0.0)
    ids = seed(count=3)
    target, _, got = _aws_target("kinesis")
    seen: list[int] = []

    def fail_last(parsed, **_):
        seen.append(len(parsed["Records"]))
        parsed["Records"][-1] = {"ErrorCode": "InternalFailure", "ErrorMessage": "x"}
        parsed["FailedRecordCount"] = 1

    clients.target_client("kinesis").meta.events.register("after-call.kinesis.PutRecords", fail_last)
    _, run = call(replay, "/replay", window(entity_id="customer-42", dry_run=False, target=target))
    assert seen == [3]  # one request: the re-send was not started
    assert (run["status"], run["sent"], run["failed"], run["retried"]) == ("COMPLETED", 2, 1, 0)
    assert run["last_error"] == "no time for another request in this batch: one starts only within 0 s of the first"
    assert len(run["failed_event_ids"]) == 1 and run["failed_event_ids"][0] in ids
