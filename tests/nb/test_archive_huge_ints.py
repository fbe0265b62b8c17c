"""An integer outside int64 in a payload, ingested after the last compaction, reads back exactly through
``kit.sql`` and ``kit.search`` on the fresh path (``pik_nb.sql.archive.fresh_events``, whose rows join the
compacted parts by ``UNION ALL BY NAME``) and after the next compaction, and no row is ever lost
(issue 18, finding 2). The local stack: pyarrow's S3 filesystem reads the moto server over HTTP."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from pik.core.timefmt import UTC
from pik_api import ingest_events
from tests.support.events import make_event
from tests.support.kit import local_kit

DAY = (datetime.now(UTC) - timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
SCOPE = {"source": "ledger", "event_type": "posted", "start": DAY, "end": DAY + timedelta(days=1)}
HUGE = [2**63, -(2**63) - 1, 10**40]
#: The payloads ingested after the compaction: each huge integer as a field the stream already holds as
#: an int64 column (``n``), nested in an object and in a list (only in ``payload``).
LATE = [{"n": value, "deep": {"n": value}, "list": [value, 1]} for value in HUGE]


def send(kit, payloads: list[dict], first: int) -> list[str]:
    bodies = [
        make_event(
            source=SCOPE["source"],
            event_type=SCOPE["event_type"],
            entity_id=f"acct-{i}",
            event_time=(DAY + timedelta(hours=i + 1)).isoformat(),
            payload=payload,
        )
        for i, payload in enumerate(payloads, start=first)
    ]
    answers = [a.body for a in ingest_events(kit.resources.api_url, bodies, workers=1, progress=False)]
    assert [a["status"] for a in answers] == ["ACCEPTED"] * len(payloads), answers
    return [a["event_id"] for a in answers]


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    with local_kit(tmp_path_factory.mktemp("huge")) as kit:
        yield kit


def read_back(kit, **options) -> dict[str, tuple]:
    """event_id -> (payload as parsed JSON, the typed column ``n``) for every event of the stream."""
    frame = kit.sql(
        "SELECT event_id, payload, CAST(n AS VARCHAR) AS n FROM events"
        " WHERE source = 'ledger' AND event_type = 'posted' ORDER BY event_time",
        **options,
    )
    return {row.event_id: (json.loads(row.payload), row.n) for row in frame.itertuples()}


def test_integers_outside_int64_read_back_exactly_fresh_and_after_compaction(local):
    kit = local
    early = send(kit, [{"n": 1, "deep": {"n": 1}, "list": [1]}], 0)  # the stream's n is an int64 column
    compacted = kit.compact(settle="0s")
    assert (compacted["written"], compacted["events"]) == (1, 1)

    late = send(kit, LATE, 1)  # after the last compaction: read through the fresh path
    expected = {
        early[0]: ({"n": 1, "deep": {"n": 1}, "list": [1]}, "1"),
        **{event_id: (payload, str(payload["n"])) for event_id, payload in zip(late, LATE, strict=True)},
    }
    assert read_back(kit) == expected  # every row, each payload exact (json.loads keeps big ints)
    assert read_back(kit, fresh=False) == {early[0]: expected[early[0]]}  # the parts hold the early one only
    hits = kit.search(**SCOPE, where="payload IS NOT NULL")
    assert {h: json.loads(p) for h, p in zip(hits["event_id"], hits["payload"], strict=True)} == {
        k: v[0] for k, v in expected.items()
    }
    attempts = kit.sql("SELECT count(*) AS n FROM attempts WHERE source = 'ledger'")["n"].tolist()
    assert attempts == [4] and len(kit.events(source="ledger", event_type="posted", start=DAY, end=SCOPE["end"])) == 4

    again = kit.compact(settle="0s")  # n widens to text for the stream: the day is written again
    assert (again["written"], again["events"]) == (1, 4)
    assert read_back(kit) == read_back(kit, fresh=False) == expected
    assert kit.compact(settle="0s")["written"] == 0
