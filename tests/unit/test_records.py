"""Item shapes are declared once: the field lists the notebook side types its frames from match
exactly what the item builders write."""

from __future__ import annotations

from datetime import datetime

from pik.core import contract, records
from pik.core.timefmt import UTC

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


def event(**extra):
    body = {
        "source": "app",
        "event_type": "click",
        "entity_id": "u1",
        "event_time": "2026-11-24T10:00:00Z",
        "payload": {"a": 1},
        **extra,
    }
    return contract.validate(body, now=NOW)


def test_attempt_fields_and_keys_are_exactly_what_attempt_item_writes():
    item = records.attempt_item(
        event(idempotency_key="k"),
        records.Attempt(NOW, "req-1"),
        status=records.ACCEPTED,
        s3_key="raw/x.json",
        expires_at=1,
    )
    assert set(item) == set(records.ATTEMPT_FIELDS) | set(records.ATTEMPT_KEYS)
    assert not set(records.ATTEMPT_FIELDS) & set(records.ATTEMPT_KEYS)


def test_aggregate_fields_are_exactly_what_aggregate_item_writes_besides_its_keys():
    item = records.aggregate_item(
        entity_id="u1",
        day="2026-11-24",
        metric="count",
        version=1,
        value=3,
        input_count=3,
        inputs_hash="h",
        code_version="c1",
        computed_at=NOW,
        replay_id=None,
        manifest_key="manifests/h.json",
    )
    assert set(item) - {"pk", "sk"} == set(records.AGGREGATE_FIELDS)


def test_notebook_columns_come_from_the_declared_fields():
    from pik_nb.read.frames import AGGREGATE_COLUMNS, ATTEMPT_COLUMNS

    assert list(ATTEMPT_COLUMNS) == list(records.ATTEMPT_FIELDS)
    assert list(AGGREGATE_COLUMNS) == list(records.AGGREGATE_FIELDS)
    assert ATTEMPT_COLUMNS["status"] == "category" and ATTEMPT_COLUMNS["ingest_lag_ms"] == "int"


def test_attempt_statuses_are_one_enum_whose_values_are_the_strings_stored_and_answered():
    import json

    from pik.core.records import ACCEPTED, CONFLICT, DUPLICATE, REJECTED, AttemptStatus

    assert [ACCEPTED, DUPLICATE, CONFLICT, REJECTED] == list(AttemptStatus)
    assert [status.value for status in AttemptStatus] == ["ACCEPTED", "DUPLICATE", "CONFLICT", "REJECTED"]
    assert json.dumps({"status": AttemptStatus.CONFLICT}) == '{"status": "CONFLICT"}'
    assert {"ACCEPTED": 1}[AttemptStatus.ACCEPTED] == 1  # the answers' plain strings find the members' keys
