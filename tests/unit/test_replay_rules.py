"""Replay request rules without I/O: continuations are validated field by field, cursors must lie
inside the request's scope, and a recorded run can be named by ``replay_id``."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from pik.core import keys
from pik.core.errors import ValidationError
from pik.core.replay import (
    ReplayRequest,
    check_cursor,
    decode_continuation,
    encode_continuation,
    execution_id_for,
    parse_call,
    replay_id_for,
)

RUN = "rp-" + "a" * 32
START = datetime(2026, 1, 1, tzinfo=UTC)
BY_ENTITY = ReplayRequest(START, START + timedelta(days=2), entity_id="customer-42")
BY_STREAM = ReplayRequest(START, START + timedelta(days=2), source="web", event_type="order")


def token(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def rules(excinfo) -> set[tuple[str, str]]:
    return {(e.field, e.rule) for e in excinfo.value.errors}


def test_a_continuation_round_trips_with_or_without_a_cursor():
    assert decode_continuation(encode_continuation(RUN, 3)).step == 3
    cursor = {"day": "2026-01-02"}
    assert decode_continuation(encode_continuation(RUN, 0, cursor)).cursor == cursor


@pytest.mark.parametrize(
    "forged,rule",
    [
        ("garbage!", "format"),
        (token(["rp-x"]), "format"),
        (token({"replay_id": RUN, "step": 1, "day": "2026-01-01"}), "format"),
        (token({"replay_id": "rp-none", "step": 1}), "replay_id"),
        (token({"replay_id": RUN, "step": "1"}), "step"),
        (token({"replay_id": RUN, "step": True}), "step"),
        (token({"replay_id": RUN, "step": -1}), "step"),
        (token({"replay_id": RUN, "step": 1, "cursor": "after"}), "cursor"),
        ("A" * 10_000, "format"),
    ],
)
def test_forged_continuations_name_field_and_rule(forged, rule):
    with pytest.raises(ValidationError) as excinfo:
        decode_continuation(forged)
    assert rules(excinfo) == {("continuation", rule)}


def entity_after(entity="customer-42"):
    return {"pk": "EVT#e", "sk": "ATT#t", "ent_pk": keys.entity_pk(entity), "ent_sk": "x"}


def stream_after(day):
    return {"pk": "EVT#e", "sk": "ATT#t", "std_pk": keys.source_type_day_pk("web", "order", day), "arrival_sk": "x"}


@pytest.mark.parametrize(
    "request_,cursor,rule",
    [
        (BY_ENTITY, {"after": "EVT#x"}, "after"),
        (BY_ENTITY, {"after": {"pk": "EVT#x"}}, "after"),
        (BY_ENTITY, {"after": entity_after("someone-else")}, "after"),
        (BY_ENTITY, {"day": "2026-01-01"}, "cursor"),
        (BY_STREAM, {"day": "2025-12-31"}, "day"),
        (BY_STREAM, {"day": ["2026-01-01"]}, "day"),
        (BY_STREAM, {"after": stream_after("2026-01-01")}, "day"),
        (BY_STREAM, {"day": "2026-01-02", "after": stream_after("2026-01-01")}, "after"),
    ],
)
def test_cursors_outside_the_scope_are_refused(request_, cursor, rule):
    with pytest.raises(ValidationError) as excinfo:
        check_cursor(cursor, request_)
    assert rules(excinfo) == {("continuation", rule)}


def test_cursors_inside_the_scope_pass():
    check_cursor({}, BY_ENTITY)
    check_cursor({"after": entity_after()}, BY_ENTITY)
    check_cursor({"day": "2026-01-02", "after": stream_after("2026-01-02")}, BY_STREAM)


def test_a_recorded_scope_reads_back_as_the_same_request():
    assert ReplayRequest.from_scope(BY_STREAM.scope()) == BY_STREAM


def test_a_run_named_by_id_takes_no_scope_fields():
    call = parse_call({"replay_id": RUN, "dry_run": False})
    assert (call.request, call.replay_id, call.dry_run) == (None, RUN, False)
    with pytest.raises(ValidationError) as excinfo:
        parse_call({"replay_id": "nope", "entity_id": "x", "dry_run": "no"})
    assert rules(excinfo) == {("replay_id", "pattern"), ("entity_id", "with_replay_id"), ("dry_run", "type")}


def test_an_execution_run_id_is_derived_from_the_dry_run_and_unlike_a_token_run():
    assert execution_id_for(RUN) == execution_id_for(RUN) != execution_id_for("rp-" + "b" * 32)
    assert execution_id_for(RUN) != replay_id_for("alice", RUN, "x")


def test_an_execution_of_a_reviewed_dry_run_leaves_out_what_was_recorded_after_the_review():
    # the bound is the time an attempt was recorded, not its arrival: a tap record that waited in its
    # queue arrives (SentTimestamp) before the review but is recorded after it, and was never reviewed
    from pik.core import contract, records
    from pik.core.timefmt import key_time
    from pik.services.replay_selection import selected

    review = datetime(2026, 11, 24, 12, tzinfo=UTC)
    body = {"source": "app", "event_type": "click", "entity_id": "u1", "event_time": "2026-11-24T10:00:00Z"}
    event = contract.validate(json.dumps({**body, "payload": {}}), now=review)

    def attempt(arrival: datetime, recorded: datetime) -> dict:
        return records.attempt_item(
            event, records.Attempt(arrival, "r"), status=records.ACCEPTED, s3_key=event.raw_key, recorded_at=recorded
        )

    day = datetime(2026, 11, 24, tzinfo=UTC)
    execution = ReplayRequest(day, day + timedelta(days=1), entity_id="u1", recorded_by=key_time(review))
    hour = timedelta(hours=1)
    assert selected(attempt(review - hour, review - hour), execution)  # reviewed
    assert not selected(attempt(review - hour, review + hour), execution)  # waited in a queue: recorded later
    assert not selected(attempt(review + hour, review + hour), execution)
    assert selected(attempt(review - hour, review + hour), ReplayRequest(day, day + timedelta(days=1), entity_id="u1"))
