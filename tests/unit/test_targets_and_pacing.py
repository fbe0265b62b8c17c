"""Pure rules of replay targets (parsing, allow-list, ARNs, signatures) and of pacing; the local
API's route templates."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from pik.core.errors import ForbiddenError, ValidationError
from pik.core.pacing import Pacer
from pik.core.targets import (
    AllowList,
    Outgoing,
    Target,
    body,
    parse_target,
    signing_keys,
    target_label,
    webhook_id,
    webhook_signature,
)
from pik_local.api import match

QUEUE = "https://sqs.eu-west-1.amazonaws.com/111122223333/orders"


@pytest.mark.parametrize(
    "target, field, rule",
    [
        ("sqs", "target", "object"),
        ({}, "target", "one_of"),
        ({"sqs": QUEUE, "http": "https://x"}, "target", "one_of"),
        ({"sqs": QUEUE, "colour": "red"}, "target.colour", "unknown_field"),
        ({"sqs": "http://sqs.eu-west-1.amazonaws.com/1/q"}, "target.sqs", "https"),
        ({"sqs": "https://sqs.eu-west-1.amazonaws.com/q"}, "target.sqs", "queue_url"),
        ({"eventbridge": "arn:aws:events:us-east-1:1:rule/x"}, "target.eventbridge", "pattern"),
        ({"kinesis": "orders"}, "target.kinesis", "pattern"),
        ({"http": "ftp://example.com/x"}, "target.http", "https"),
        ({"sqs": QUEUE, "raw": "yes"}, "target.raw", "type"),
        ({"sqs": QUEUE, "fifo_group_id": "g"}, "target.fifo_group_id", "fifo_only"),
        ({"sqs": QUEUE + ".fifo", "fifo_group_id": ""}, "target.fifo_group_id", "pattern"),
        ({"sqs": QUEUE, "envelope": "xml"}, "target.envelope", "one_of"),
        ({"sqs": QUEUE, "envelope": "cloudevents", "raw": True}, "target.raw", "conflict"),
        ({"sqs": QUEUE, "envelope": "pik", "raw": True}, "target.raw", "conflict"),
        (
            {"sqs": QUEUE, "envelope": "cloudevents", "content_mode": "binary"},
            "target.content_mode",
            "http_cloudevents_only",
        ),
        ({"http": "https://h.example/x", "content_mode": "structured"}, "target.content_mode", "http_cloudevents_only"),
        (
            {"http": "https://h.example/x", "envelope": "cloudevents", "content_mode": "batch"},
            "target.content_mode",
            "one_of",
        ),
    ],
)
def test_bad_targets_name_field_and_rule(target, field, rule):
    with pytest.raises(ValidationError) as refused:
        parse_target(target)
    assert [(e.field, e.rule) for e in refused.value.errors] == [(field, rule)]


def test_arns_and_labels():
    assert parse_target({"sqs": QUEUE}).arn("us-east-1", "999") == "arn:aws:sqs:eu-west-1:111122223333:orders"
    assert (
        parse_target({"sqs": "http://127.0.0.1:5000/123456789012/q"}).arn("us-east-1", "1")
        == "arn:aws:sqs:us-east-1:123456789012:q"
    )
    assert (
        parse_target({"eventbridge": "orders"}).arn("eu-west-1", "111122223333")
        == "arn:aws:events:eu-west-1:111122223333:event-bus/orders"
    )
    assert parse_target({"sqs": QUEUE + ".fifo"}).fifo and not parse_target({"sqs": QUEUE}).fifo
    assert target_label(None) == "replay_queue" and target_label({"http": "https://h/x"}) == "http:https://h/x"


def test_allow_list_patterns():
    allow = AllowList.from_text(
        sqs="arn:aws:sqs:eu-west-1:111122223333:ord*", http="https://hooks.example.com/*", eventbridge="", kinesis=""
    )
    allow.check(parse_target({"sqs": QUEUE}), "us-east-1", "1")
    allow.check(parse_target({"http": "https://hooks.example.com/pik/a"}), "us-east-1", "1")
    for target in (
        {"sqs": QUEUE.replace("orders", "payments")},
        {"http": "https://hooks.example.com.evil/x"},
        {"kinesis": "arn:aws:kinesis:us-east-1:111122223333:stream/s"},
    ):
        with pytest.raises(ForbiddenError, match="is not allowed: add it to the template parameter ReplayTarget"):
            allow.check(parse_target(target), "us-east-1", "1")


def test_body_and_signature():
    event = Outgoing("e1", "u1", "app", "click", "2026-11-20T00:00:00Z", "2026-11-20T00:00:01Z", {"a": 1})
    assert body(event, replay_id="rp-1") == body(event, replay_id="rp-1", envelope="raw") == {"a": 1}
    assert body(event, replay_id="rp-1", envelope="pik", attempt=3)["replay"]["attempt"] == 3


def test_signatures_are_standard_webhooks_ones_and_cover_the_id():
    """The reference verifier accepts pik's header; another id, timestamp, body or secret does not;
    during a rotation both secrets sign and a receiver with either one accepts."""
    new, old = "whsec_" + base64.b64encode(b"n" * 32).decode(), "whsec_" + base64.b64encode(b"o" * 32).decode()
    stamp = int(time.time())
    header = webhook_signature(signing_keys(f"{new} {old}"), "msg_1", stamp, '{"a":1}')
    assert len(header.split(" ")) == 2 and all(part.startswith("v1,") for part in header.split(" "))

    def accepted(secret: str, msg_id: str = "msg_1", timestamp: int = stamp, text: str = '{"a":1}') -> bool:
        headers = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": header}
        try:
            Webhook(secret).verify(text, headers, json_parse=False)
        except WebhookVerificationError:
            return False
        return True

    assert accepted(new) and accepted(old)
    assert not accepted(new, msg_id="msg_2")  # the id is signed: a captured request re-sent as another fails
    assert not accepted(new, timestamp=stamp + 1)
    assert not accepted(new, text='{"a":2}')
    assert not accepted("whsec_" + base64.b64encode(b"x" * 32).decode())


def test_a_webhook_id_is_one_per_event_and_target():
    a, b = Target("http", "https://a.example.com/in"), Target("http", "https://b.example.com/in")
    assert webhook_id("e1", a) == webhook_id("e1", a) != webhook_id("e1", b) != webhook_id("e2", a)


def test_pacer_spaces_batches_and_catches_up_at_most_a_second():
    pacer = Pacer(rate=100, next_ms=0)
    assert [pacer.batch_size(10), Pacer(2).batch_size(10), Pacer(None).batch_size(10)] == [10, 2, 10]
    assert pacer.delay_ms(0) == 0
    assert pacer.sent(10, 0) == 100
    assert pacer.delay_ms(30) == 70
    assert pacer.sent(10, 5_000) == 4_100  # five seconds late: one second of catch-up, no more
    assert Pacer(None).delay_ms(0) == 0


def test_local_routes_match_templates():
    table = {("POST", "/replay"): "replay", ("POST", "/replay/{replay_id}"): "steer"}
    assert match(table, "POST", "/replay") == ("replay", "/replay", {})
    assert match(table, "POST", "/replay/rp-1") == ("steer", "/replay/{replay_id}", {"replay_id": "rp-1"})
    assert match(table, "POST", "/replay/rp-1/x") is None
    assert match(table, "GET", "/replay/rp-1") is None


# --- allow-list URL patterns match parsed, normalised components (issue 19, findings 1-2) ------
@pytest.mark.parametrize(
    "pattern, url",
    [
        ("https://*.example.com/*", "https://evil.net/.example.com/"),
        ("https://*.example.com/*", "https://evil.net/?.example.com/"),
        ("https://*.example.com/*", "https://evil.net?.example.com/"),
        ("https://*.example.com/*", "https://evilexample.com/"),
        ("https://*.example.com/*", "https://example.com/"),  # the wildcard stands for at least one label
        ("https://*.example.com/*", "https://a.example.com.evil.net/"),
        ("http://*:8001/*", "http://127.0.0.1:8002/x:8001/"),
        ("http://127.0.0.1:8001", "http://127.0.0.1:8002/"),
        ("https://hooks.example.com/ok/*", "https://hooks.example.com/ok/../admin"),
        ("https://hooks.example.com/ok/*", "https://hooks.example.com/ok/x/../../admin"),
        ("https://hooks.example.com/ok/*", "https://hooks.example.com/ok/*?next=/admin"),
        ("https://127.0.0.1/*", "http://127.0.0.1/"),
        ("https://hooks.example.com/*", "https://hooks.example.com:8443/"),
    ],
)
def test_url_patterns_match_scheme_host_port_and_path_apart_not_the_whole_string(pattern, url):
    allow = AllowList({"http": (pattern,)})
    with pytest.raises(ForbiddenError):
        allow.check(parse_target({"http": url}), "us-east-1", "1")


@pytest.mark.parametrize(
    "pattern, url",
    [
        ("https://*.example.com/*", "https://a.example.com/x"),
        ("https://*.example.com/*", "https://a.b.example.com/x/y"),
        ("https://*.example.com/*", "HTTPS://A.Example.COM:443/x"),
        ("https://hooks.example.com/ok/*", "https://hooks.example.com/ok/x/../y"),
        ("http://127.0.0.1:*", "http://127.0.0.1:8002/any/path"),
        ("http://*:8001/*", "http://localhost:8001/x"),
        ("https://hooks.example.com/in?key=1", "https://hooks.example.com/in?key=1"),
    ],
)
def test_url_patterns_admit_what_they_name(pattern, url):
    AllowList({"http": (pattern,)}).check(parse_target({"http": url}), "us-east-1", "1")


def test_the_url_matched_is_the_url_recorded_and_sent():
    target = parse_target({"http": "HTTPS://Hooks.Example.com:443/ok/./a/../b"})
    assert target.address == "https://hooks.example.com/ok/b"
    assert target.to_dict()["http"] == target.address


@pytest.mark.parametrize(
    "url",
    [
        "https://user@hooks.example.com/x",
        "https://hooks.example.com@evil.net/x",
        "https://hooks.example.com/x#frag",
        "https://hooks.example.com\\@evil.net/",
        "https://hooks.example.com/ok/%2e%2e/admin",
        "https://hooks.example.com/ok%2fadmin",
        "https://hooks.example.com/a b",
        "https://hooks.example.com/x\n",
        "https://hooks.exämple.com/x",
        "https://hooks.example.com:99999/x",
    ],
)
def test_urls_that_could_be_read_two_ways_are_refused_naming_the_field(url):
    with pytest.raises(ValidationError) as caught:
        parse_target({"http": url})
    assert caught.value.errors[0].field == "target.http"
