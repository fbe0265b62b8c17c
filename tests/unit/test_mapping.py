"""Tap mappings: paths, defaults, constants, presets, and mistakes named at parse time."""

from __future__ import annotations

import pytest

from pik.core.mapping import Mapping, MappingError, parse_path

EVENTBRIDGE = {"version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": "OrderPlaced",
               "source": "shop.orders", "account": "123456789012", "time": "2026-11-20T10:00:00Z",
               "region": "us-east-1", "resources": [], "detail": {"entity_id": "c-1", "items": [{"unit price": 3}]}}


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
        "source": "shop.orders", "event_type": "OrderPlaced", "entity_id": "c-1", "event_time": "2026-11-20T10:00:00Z",
        "payload": EVENTBRIDGE["detail"], "idempotency_key": "6a7e8feb-b491-4cf7-a9f1-bf3703467718"}


def test_overrides_defaults_and_constants():
    mapping = Mapping.parse('{"entity_id": {"path": "$.detail.customer", "default": "unknown"},'
                            ' "event_type": {"value": "order_placed"}, "payload": "$.detail.items[0]"}',
                            preset="eventbridge")
    event = mapping.apply(EVENTBRIDGE)
    assert (event["entity_id"], event["event_type"], event["payload"]) == ("unknown", "order_placed", {"unit price": 3})


def test_a_missing_path_without_default_leaves_the_field_out_for_the_contract_to_reject():
    event = Mapping.parse(preset="sqs").apply({"source": "a", "payload": {}})
    assert event == {"source": "a", "payload": {}}


@pytest.mark.parametrize("spec,preset,message", [
    ({"entity": "$.a"}, "sqs", "unknown field(s) entity"),
    ({"source": "$.s"}, None, "no rule for event_type, entity_id, event_time, payload"),
    ({"source": 3}, "sqs", "source: expected a path"),
    ({"source": {"path": "$.s", "extra": 1}}, "sqs", "source: expected a path"),
    ("{not json", "sqs", "the mapping is not valid JSON"),
    ("[1]", "sqs", "the mapping must be a JSON object"),
    ({}, "kafka", "unknown preset 'kafka'"),
])
def test_mistakes_are_named(spec, preset, message):
    with pytest.raises(MappingError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Mapping.parse(spec, preset=preset)
