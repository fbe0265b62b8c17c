"""Any payload ingest accepts reads back exactly through ``kit.sql``'s ``events`` view, on the fresh path
and after compaction (issue 18, finding 2, through ingest -> compact -> SQL as a user asks it): a
hypothesis test over payload values (integers past int64, +-1.797e308, nested values, mixed types per
field) sent over HTTP to the local stack, read by DuckDB over the parts the manifests list unioned with
the rows recorded past the watermark. ``payload`` gives back each payload exactly; a typed column holds a
value for exactly the events whose field is a scalar, never losing one. (tests/functional/
test_curated_types.py checks the parts themselves in pyarrow, polars, pandas and DuckDB.)"""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pik.core.timefmt import UTC
from pik_api import ingest_events
from tests.support.events import make_event
from tests.support.kit import local_kit
from tests.support.payloads import PAYLOADS

DAY = (datetime.now(UTC) - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)
FIELDS = ("v", "amount", "vip", "n")
STREAMS = itertools.count()


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    with local_kit(tmp_path_factory.mktemp("payloads")) as kit:
        yield kit


def send(kit, event_type: str, payloads: list[dict], first: int) -> list[str]:
    bodies = [
        make_event(
            source="typed",
            event_type=event_type,
            entity_id=f"e-{i}",
            event_time=(DAY + timedelta(days=i % 2, minutes=i)).isoformat(),
            payload=payload,
        )
        for i, payload in enumerate(payloads, start=first)
    ]
    answers = [a.body for a in ingest_events(kit.resources.api_url, bodies, workers=1, progress=False)]
    assert [a["status"] for a in answers] == ["ACCEPTED"] * len(bodies), answers
    return [a["event_id"] for a in answers]


def rows(kit, event_type: str, **options) -> dict[str, dict]:
    query = f"SELECT * FROM events WHERE source = 'typed' AND event_type = '{event_type}'"
    return {row["event_id"]: row for row in kit.sql(query, arrow=True, **options).to_pylist()}


def is_scalar(value) -> bool:
    return value is not None and not isinstance(value, (list, dict))


def assert_reads_back(found: dict[str, dict], payloads: dict[str, dict]) -> None:
    assert sorted(found) == sorted(payloads)  # every event once
    assert {i: json.loads(row["payload"]) for i, row in found.items()} == payloads  # exact, huge ints too
    for name in FIELDS:
        with_value = {i for i, row in found.items() if row.get(name) is not None}
        assert with_value == {i for i, p in payloads.items() if is_scalar(p.get(name))}, name


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(early=st.lists(PAYLOADS, min_size=1, max_size=3), late=st.lists(PAYLOADS, min_size=1, max_size=3))
def test_every_accepted_payload_reads_back_exactly_through_kit_sql_fresh_and_compacted(kit, early, late):
    event_type = f"t{next(STREAMS)}"
    ids = send(kit, event_type, early, 0)
    kit.compact(settle="0s")  # the early days' parts, under the kinds the early payloads need
    ids += send(kit, event_type, late, len(early))  # recorded after the watermark: the fresh path
    payloads = dict(zip(ids, early + late, strict=True))
    assert_reads_back(rows(kit, event_type), payloads)  # parts + fresh rows (UNION ALL BY NAME)
    kit.compact(settle="0s")  # the late payloads may widen the stream: its days are rewritten
    assert_reads_back(rows(kit, event_type, fresh=False), payloads)  # the parts alone
    assert_reads_back(rows(kit, event_type), payloads)
