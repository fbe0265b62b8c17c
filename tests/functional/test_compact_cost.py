"""A compaction run reads index items in proportion to what was recorded since its watermark, not to
the table (issue 18, finding 12): the same 1,000 new attempts cost the same DynamoDB reads over 2,000
existing attempts as over 20,000. The count is DynamoDB's own (``ScannedCount`` of each Query and Scan
page, the items of each GetItem), taken from the responses moto sends the shared client; a return to a
full Scan of the table (``RecordedFeed.partitions_all``) or to a filtered scan reads every item and fails
(with the feed swapped for ``partitions_all``: Scan 4,001 and 24,001 items, Query 3,000 and 22,000).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta

import boto3

from pik.aws import clients
from pik.bootstrap import compactor
from pik.core import contract, records
from pik.core.timefmt import UTC
from pik.handlers import ingest
from pik.settings import Settings
from tests.conftest import call, make_event

NOW = datetime.now(UTC)
NEW, DAYS = 1_000, 5  # new attempts per run, over this many fresh days of one stream
BATCH = 500  # POST /ingest takes up to 500 events


class ItemsRead:
    """Items DynamoDB read to answer the shared client's calls, per operation (from the responses)."""

    def __init__(self) -> None:
        self.items: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        clients.client("dynamodb").meta.events.register("after-call.dynamodb", self._after)

    def _after(self, parsed: dict, model, **_) -> None:
        name = model.name
        if name in ("Query", "Scan"):
            read = parsed.get("ScannedCount", 0)
        elif name == "GetItem":
            read = int("Item" in parsed)
        elif name == "BatchGetItem":
            read = sum(len(found) for found in parsed.get("Responses", {}).values())
        elif name == "TransactGetItems":
            read = sum(1 for answer in parsed.get("Responses", []) if answer.get("Item"))
        else:
            return  # writes: not reads
        with self._lock:
            self.items[name] += read
            self.calls[name] += 1

    def during(self, action) -> tuple[dict, dict]:
        """Run ``action``; (items read, calls made) per operation meanwhile."""
        with self._lock:
            self.items.clear()
            self.calls.clear()
        result = action()
        with self._lock:
            return dict(self.items), {**self.calls, "result": result}


def run_compaction() -> dict:
    """The scheduled step's code (bootstrap.compactor), without the settle: a run's watermark is its
    start, so the next run's feed holds only what was recorded after it."""
    return replace(compactor(Settings.from_env()), settle=timedelta(0)).run()


def seed_existing(stack, count: int, first: int) -> None:
    """``count`` attempts recorded three hours ago (before any watermark here), over 10 days of another
    stream, written as the ingest service writes them (``records.attempt_item``). They are repeats
    (DUPLICATE), which a compaction files without their raw objects: a run that visits their partitions
    fails on the count, not on 20,000 raw objects the seeding would otherwise have to write."""
    table = boto3.resource("dynamodb").Table(stack.outputs["events_table_name"])
    recorded = NOW - timedelta(hours=3)
    with table.batch_writer() as batch:
        for i in range(first, first + count):
            body = make_event(
                source="history",
                event_type="seeded",
                entity_id=f"h-{i % 97}",
                event_time=(NOW - timedelta(days=20 + i % 10, minutes=i % 600)).isoformat(),
                payload={"n": i},
            )
            event = contract.validate(json.dumps(body), now=recorded)
            attempt = records.Attempt(recorded, f"seed-{i}")
            item = records.attempt_item(
                event, attempt, status=records.DUPLICATE, s3_key=event.raw_key, recorded_at=recorded
            )
            batch.put_item(Item=item)


def ingest_new(first_day: int) -> None:
    """``NEW`` attempts through ``POST /ingest`` (batches), over ``DAYS`` days no earlier run touched."""
    bodies = [
        make_event(
            entity_id=f"c-{i % 50}",
            event_time=(NOW - timedelta(days=first_day + i % DAYS, minutes=i)).isoformat(),
            payload={"amount": i, "country": "DE"},
        )
        for i in range(NEW)
    ]
    for start in range(0, NEW, BATCH):
        status, answer = call(ingest, "/ingest", {"events": bodies[start : start + BATCH]})
        assert status == 200 and [r["status"] for r in answer["results"]] == ["ACCEPTED"] * BATCH, answer


def test_a_compaction_reads_the_same_index_items_over_2k_and_20k_existing_attempts(stack):
    counted = ItemsRead()
    assert run_compaction()["written"] == 0  # an empty table: the first watermark

    seed_existing(stack, 2_000, 0)
    ingest_new(first_day=1)
    small, small_calls = counted.during(run_compaction)

    seed_existing(stack, 18_000, 2_000)  # 20,000 existing attempts now, besides the first run's 1,000
    ingest_new(first_day=1 + DAYS)
    large, large_calls = counted.during(run_compaction)

    # the feed's Queries read each new attempt once (the recorded index), the partitions' rebuild reads them
    # again (by source/type/day): 2 x 1,000 items, whatever the table holds
    assert small == large == {"Query": 2 * NEW}, (small, large)
    assert "Scan" not in small_calls and "Scan" not in large_calls
    for calls in (small_calls, large_calls):
        result = calls["result"]
        assert (result["partitions"], result["written"], result["attempts"], result["events"]) == (DAYS, DAYS, NEW, NEW)
