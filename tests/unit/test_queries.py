"""The request builders of ``pik.core.queries``: exact low-level DynamoDB requests."""

from __future__ import annotations

from pik.core import queries


def test_entity_window_is_a_between_on_the_entity_index():
    assert queries.entity_window("events", "user/1", "2026-11-20T00:00:00.000000Z", "2026-11-21T00:00:00.000000Z") == {
        "TableName": "events",
        "IndexName": "by_entity_time",
        "KeyConditionExpression": "ent_pk = :p AND ent_sk BETWEEN :a AND :b",
        "ExpressionAttributeValues": {
            ":p": {"S": "ENT#user%2F1"},
            ":a": {"S": "2026-11-20T00:00:00.000000Z"},
            ":b": {"S": "2026-11-21T00:00:00.000000Z"},
        },
    }
    assert queries.entity_window("events", "u", "a", "b", limit=50)["Limit"] == 50


def test_stream_day_reads_the_arrival_or_the_lateness_index():
    expected = {
        "TableName": "events",
        "IndexName": "by_source_type_arrival",
        "KeyConditionExpression": "std_pk = :p",
        "ExpressionAttributeValues": {":p": {"S": "STD#shop#order.created#2026-11-20"}},
    }
    assert queries.stream_day("events", "shop", "order.created", "2026-11-20") == expected
    assert queries.stream_day("events", "shop", "order.created", "2026-11-20", lateness=True, limit=7) == {
        **expected,
        "IndexName": "by_source_type_lateness",
        "Limit": 7,
    }


def test_attempts_scan_is_one_segment_filtered_to_attempt_items():
    assert queries.attempts_scan("events", 3, 8) == {
        "TableName": "events",
        "Segment": 3,
        "TotalSegments": 8,
        "FilterExpression": "item_type = :t",
        "ExpressionAttributeValues": {":t": {"S": "attempt"}},
    }
    assert queries.attempts_scan("events", 0, 1, limit=100)["Limit"] == 100


def test_aggregate_days():
    assert queries.aggregate_days("aggs", "user 1", "2026-11-20", "2026-11-22") == {
        "TableName": "aggs",
        "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
        "ExpressionAttributeValues": {
            ":p": {"S": "AGG#user%201"},
            ":a": {"S": "2026-11-20"},
            ":b": {"S": "2026-11-22~"},
        },
    }


def test_replay_runs_newest_first_in_an_optional_window():
    base = {"TableName": "runs", "IndexName": "by_created", "ScanIndexForward": False}
    assert queries.replay_runs("runs") == {
        **base,
        "KeyConditionExpression": "runs_pk = :p",
        "ExpressionAttributeValues": {":p": {"S": "RUNS"}},
    }
    assert queries.replay_runs("runs", "A", "B", limit=5) == {
        **base,
        "KeyConditionExpression": "runs_pk = :p AND created_at BETWEEN :a AND :b",
        "ExpressionAttributeValues": {":p": {"S": "RUNS"}, ":a": {"S": "A"}, ":b": {"S": "B"}},
        "Limit": 5,
    }
    assert queries.replay_runs("runs", "A") == {
        **base,
        "KeyConditionExpression": "runs_pk = :p AND created_at >= :a",
        "ExpressionAttributeValues": {":p": {"S": "RUNS"}, ":a": {"S": "A"}},
    }
    assert queries.replay_runs("runs", high="B") == {
        **base,
        "KeyConditionExpression": "runs_pk = :p AND created_at <= :b",
        "ExpressionAttributeValues": {":p": {"S": "RUNS"}, ":b": {"S": "B"}},
    }


def test_cursors_hold_the_table_and_index_keys_of_an_item():
    item = {
        "pk": "EVT#e",
        "sk": "ATT#t#a",
        "ent_pk": "ENT#u",
        "ent_sk": "x",
        "std_pk": "STD#s",
        "arrival_sk": "r",
        "lateness_sk": "l",
        "status": "ACCEPTED",
    }
    assert queries.entity_cursor(item) == {"pk": "EVT#e", "sk": "ATT#t#a", "ent_pk": "ENT#u", "ent_sk": "x"}
    assert queries.stream_cursor(item) == {"pk": "EVT#e", "sk": "ATT#t#a", "std_pk": "STD#s", "arrival_sk": "r"}
    assert queries.stream_cursor(item, lateness=True)["lateness_sk"] == "l"
