"""The pure core: contract, identity and key layout."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pik.core import contract, identity, keys
from pik.core.errors import ValidationError
from pik.core.timefmt import UTC, days_between, key_time, lag_ms

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


def body(**overrides):
    base = {
        "source": "app",
        "event_type": "click",
        "entity_id": "u1",
        "event_time": "2026-11-24T10:00:00Z",
        "payload": {"a": 1},
    }
    return {**base, **overrides}


def test_identity_is_deterministic_and_ignores_key_order_and_offset():
    a = contract.validate(body(payload={"x": 1, "y": [1, 2]}), now=NOW)
    b = contract.validate(body(payload={"y": [1, 2], "x": 1}, event_time="2026-11-24T11:00:00+01:00"), now=NOW)
    assert a.event_id == b.event_id
    assert a.event_id == identity.event_id(
        "app", "click", "u1", "2026-11-24T10:00:00.000000Z", identity.payload_sha256({"x": 1, "y": [1, 2]})
    )


def test_idempotency_key_identity_ignores_content_but_content_sha_does_not():
    a = contract.validate(body(idempotency_key="k", payload={"v": 1}), now=NOW)
    b = contract.validate(body(idempotency_key="k", payload={"v": 2}), now=NOW)
    assert a.event_id == b.event_id and a.content_sha256 != b.content_sha256


def test_every_rule_broken_is_reported_at_once():
    with pytest.raises(ValidationError) as err:
        contract.validate({"source": "a/b", "event_time": "soon", "payload": 3}, now=NOW)
    rules = {(e.field, e.rule) for e in err.value.errors}
    assert rules == {
        ("source", "pattern"),
        ("event_type", "required"),
        ("entity_id", "required"),
        ("event_time", "iso8601"),
        ("payload", "type"),
    }


def test_clock_skew_and_age_bounds():
    contract.validate(body(event_time=(NOW + timedelta(hours=23)).isoformat()), now=NOW)
    with pytest.raises(ValidationError):
        contract.validate(body(event_time=(NOW + timedelta(hours=25)).isoformat()), now=NOW)


def test_lag_is_signed_milliseconds():
    assert lag_ms(NOW, NOW + timedelta(seconds=1, microseconds=500)) == 1000
    assert lag_ms(NOW + timedelta(minutes=1), NOW) == -60_000


def test_lateness_sort_key_orders_numerically_including_negatives():
    lags = [-86_400_000, -5, 0, 7, 1000, 86_400_000 * 400]
    assert sorted(keys.lateness_sk(lag, "e", "a") for lag in lags) == [keys.lateness_sk(lag, "e", "a") for lag in lags]


def test_key_time_sorts_as_time():
    times = [NOW - timedelta(days=400), NOW - timedelta(microseconds=1), NOW, NOW + timedelta(seconds=1)]
    assert sorted(map(key_time, times)) == list(map(key_time, times))


def test_days_between_is_half_open():
    assert days_between(NOW.replace(hour=0), NOW.replace(hour=0) + timedelta(days=2)) == ["2026-11-24", "2026-11-25"]


names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,10}", fullmatch=True).filter(lambda s: ".." not in s)
entities = st.text(st.characters(blacklist_categories=("Cc", "Cf", "Cs")), min_size=1, max_size=12).filter(str.strip)


@settings(max_examples=300, deadline=None)
@given(a=st.tuples(names, names, entities), b=st.tuples(names, names, entities))
def test_different_events_never_share_keys(a, b):
    """Injectivity: distinct (source, type, entity) never map to the same key or identity."""

    def all_keys(source, event_type, entity):
        ev = contract.validate(body(source=source, event_type=event_type, entity_id=entity), now=NOW)
        return (
            ev.event_id,
            ev.raw_key,
            keys.entity_pk(entity),
            keys.source_type_day_pk(source, event_type, ev.event_date),
            keys.manifest_key(entity, "2026-11-24", "h"),
            keys.aggregate_pk(entity),
        )

    ka, kb = all_keys(*a), all_keys(*b)
    if a != b:
        assert ka[0] != kb[0] and ka[1] != kb[1]
    if a[2] != b[2]:
        assert ka[2] != kb[2] and ka[4] != kb[4] and ka[5] != kb[5]
    if a[:2] != b[:2]:
        assert ka[3] != kb[3]


@pytest.mark.parametrize("entity", ["a/b", "../x", "a#b", "k=v", "x%2Fy", "..", "ü/ß"])
def test_hostile_entities_are_encoded_not_interpreted(entity):
    for key in (keys.entity_pk(entity), keys.aggregate_pk(entity), keys.manifest_key(entity, "2026-01-01", "h")):
        segment = key.split("/")[1] if key.startswith("manifests/") else key.split("#", 1)[1]
        assert "/" not in segment and "#" not in segment and keys.dec(segment.removeprefix("entity=")) == entity
