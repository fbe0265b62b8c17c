"""Tap mappings: paths, defaults, constants, presets, and mistakes named at parse time."""

from __future__ import annotations

import pytest

from pik.core.mapping import Mapping, MappingError, parse_path

EVENTBRIDGE = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "OrderPlaced",
    "source": "shop.orders",
    "account": "123456789012",
    "time": "2026-11-20T10:00:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {"entity_id": "c-1", "items": [{"unit price": 3}]},
}


def test_paths_read_names_indexes_and_quoted_names():
    assert parse_path("$") == ()
    assert parse_path('$.detail.items[0]["unit price"]') == ("detail", "items", 0, "unit price")
    assert parse_path("$.detail-type") == ("detail-type",)


@pytest.mark.parametrize("path", ["detail", "$.a..b", "$.a[x]", "$[0", '$["a]', "$.a b"])
def test_a_bad_path_is_refused_naming_field_and_path(path):
    with pytest.raises(MappingError) as err:
        Mapping.parse({"entity_id": path}, preset="sqs")
    assert str(err.value).startswith(f"entity_id: path {path!r} is not valid")


def test_the_eventbridge_preset_maps_an_eventbridge_event():
    assert Mapping.parse(preset="eventbridge").apply(EVENTBRIDGE) == {
        "source": "shop.orders",
        "event_type": "OrderPlaced",
        "entity_id": "c-1",
        "event_time": "2026-11-20T10:00:00Z",
        "payload": EVENTBRIDGE["detail"],
        "idempotency_key": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    }


def test_overrides_defaults_and_constants():
    mapping = Mapping.parse(
        '{"entity_id": {"path": "$.detail.customer", "default": "unknown"},'
        ' "event_type": {"value": "order_placed"}, "payload": "$.detail.items[0]"}',
        preset="eventbridge",
    )
    event = mapping.apply(EVENTBRIDGE)
    assert (event["entity_id"], event["event_type"], event["payload"]) == ("unknown", "order_placed", {"unit price": 3})


def test_a_missing_path_without_default_leaves_the_field_out_for_the_contract_to_reject():
    event = Mapping.parse(preset="sqs").apply({"source": "a", "payload": {}})
    assert event == {"source": "a", "payload": {}}


@pytest.mark.parametrize(
    "spec,preset,message",
    [
        ({"entity": "$.a"}, "sqs", "unknown field entity"),
        ({"entity": "$.a", "type": "$.t"}, "sqs", "unknown fields entity, type"),
        ({"source": "$.s"}, None, "no rule for event_type, entity_id, event_time, payload"),
        ({"source": 3}, "sqs", "source: expected a path"),
        ({"source": {"path": "$.s", "extra": 1}}, "sqs", "source: expected a path"),
        ("{not json", "sqs", "the mapping is not valid JSON"),
        ("[1]", "sqs", "the mapping must be a JSON object"),
        ({}, "kafka", "unknown preset 'kafka'"),
    ],
)
def test_mistakes_are_named(spec, preset, message):
    with pytest.raises(MappingError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Mapping.parse(spec, preset=preset)


def test_paths_tried_in_order_and_envelope_paths():
    mapping = Mapping.parse(
        {"event_time": {"path": ["$.ts", "$envelope.sns.timestamp", "$envelope.arrival_time"]}}, preset="sqs"
    )
    assert mapping.apply({}, {"arrival_time": "A"})["event_time"] == "A"
    assert mapping.apply({}, {"sns": {"timestamp": "S"}, "arrival_time": "A"})["event_time"] == "S"
    assert mapping.apply({"ts": "R"}, {"arrival_time": "A"})["event_time"] == "R"
    assert "event_time" not in mapping.apply({}, None)


def test_a_pik_event_records_unread_fields_go_to_the_contract_a_foreign_records_do_not():
    record = {
        "source": "a",
        "event_type": "b",
        "entity_id": "c",
        "event_time": "t",
        "payload": {},
        "idempotency_kye": 1,
    }
    assert Mapping.parse(preset="sqs").apply(record)["idempotency_kye"] == 1
    renamed = Mapping.parse({"entity_id": "$.customer"}, preset="kinesis").apply({**record, "customer": "c-9"})
    assert "customer" not in renamed and renamed["idempotency_kye"] == 1
    foreign = Mapping.parse({"payload": "$.detail"}, preset="sqs").apply({**record, "detail": {"x": 1}})
    assert "idempotency_kye" not in foreign
    assert "account" not in Mapping.parse(preset="eventbridge").apply({**EVENTBRIDGE, "account": "1"})


@pytest.mark.parametrize(
    "spec,message",
    [
        ({"event_type": {"value": "Order Placed"}}, 'event_type: the constant or default "Order Placed" breaks'),
        ({"source": {"path": "$.s", "default": ""}}, 'source: the constant or default "" breaks'),
        ({"event_time": {"value": "2026-01-01T00:00:00"}}, "event_time: the constant or default"),
    ],
)
def test_a_constant_the_contract_refuses_is_a_mapping_mistake(spec, message):
    with pytest.raises(MappingError, match=message):
        Mapping.parse(spec, preset="eventbridge")


def test_a_valid_constant_passes_and_an_old_constant_time_is_left_to_each_record():
    assert Mapping.parse({"event_time": {"value": "2001-01-01T00:00:00Z"}}, preset="sqs").rules["event_time"]


def test_the_local_stack_names_the_parameter_of_a_broken_mapping_at_start():
    from pik_local import conditions, taps, template

    doc = conditions.resolve(
        template.load(),
        {
            "SqsTapQueueArn": "arn:aws:sqs:us-east-1:123456789012:q",
            "SqsTapMapping": '{"event_type": {"value": "Order Placed"}}',
        },
    )
    with pytest.raises(taps.TapError, match="^SqsTapMapping: event_type: the constant or default"):
        taps.check_mappings(doc)
