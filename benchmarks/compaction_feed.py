"""Items a scheduled compaction reads: proportional to the new attempts, not to the table.

    .venv/bin/python benchmarks/compaction_feed.py                      # 10k and 100k existing, 1k new
    .venv/bin/python benchmarks/compaction_feed.py --existing 2000 --new 200

Method (docs/scale.md has the figures and the cost arithmetic): in-process moto with the events
table created from ``template.yaml``; ``existing`` attempts (and their dedup gates) written with the
exact item shapes of ``pik.core.records``, recorded two days ago, spread over 30 days x 4 streams;
a watermark an hour ago; then ``new`` attempts recorded now, on one new day, with their raw
objects. One run of the real ``Compactor`` follows. Every DynamoDB Query and Scan response is
counted through a botocore hook: ``ScannedCount`` is what DynamoDB reads (and bills) whatever a
filter keeps. The full filtered scan the feed was before (``arrivals_since``) is counted too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]
for name, value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ.setdefault(name, value)

from moto import mock_aws  # noqa: E402

from pik.aws import clients  # noqa: E402
from pik.aws.archive import RecordedFeed  # noqa: E402
from pik.aws.dynamodb import serialize  # noqa: E402
from pik.bootstrap import compactor  # noqa: E402
from pik.core import contract, curated, queries, records  # noqa: E402
from pik.core.timefmt import UTC, key_time  # noqa: E402
from pik.settings import Settings  # noqa: E402
from pik_local import moto_patches, template  # noqa: E402

STREAMS = [("web", "order_placed"), ("web", "order_paid"), ("ios", "order_placed"), ("pos", "order_placed")]
DAYS = 30


class Reads:
    """Sums ``ScannedCount`` of every Query and Scan a client answers."""

    def __init__(self, client) -> None:
        self.items = 0
        for operation in ("Query", "Scan"):
            client.meta.events.register(f"after-call.dynamodb.{operation}", self._count)

    def _count(self, parsed, **_) -> None:
        self.items += parsed.get("ScannedCount", 0)


def items_for(i: int, day: datetime, recorded: datetime) -> tuple[dict, dict, records.ValidEvent]:
    source, event_type = STREAMS[i % len(STREAMS)]
    body = {
        "source": source,
        "event_type": event_type,
        "entity_id": f"e-{i % 997}",
        "event_time": (day + timedelta(seconds=i % 86_000)).isoformat(),
        "payload": {"amount": i},
    }
    arrival = day + timedelta(days=1)
    event = contract.validate(json.dumps(body).encode(), now=arrival)
    attempt = records.Attempt(arrival, f"req-{i}", uuid.uuid4().hex)
    item = records.attempt_item(event, attempt, status=records.ACCEPTED, s3_key=event.raw_key, recorded_at=recorded)
    return records.meta_item(event, attempt, s3_key=event.raw_key), item, event


def write(table: str, items: list[dict]) -> None:
    """Seed items straight into moto's table (its own put_item, indexes included): the reads are
    what is measured, and 200,000 writes through HTTP-shaped calls would take most of an hour on 2
    shared cores. moto re-sums an item's size at every attribute it sets (its 400 KB check, O(n²)
    per item, ~3 ms for an attempt); these items are under 2 KB, so seeding skips that check."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamo_type, dynamodb_backends

    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    with mock.patch.object(dynamo_type.LimitedSizeDict, "__setitem__", dict.__setitem__):
        for item in items:
            backend.put_item(table, serialize(item))


def seed(settings: Settings, existing: int, new: int, now: datetime) -> str:
    """``existing`` attempts recorded two days ago, a watermark an hour ago, then ``new`` attempts
    recorded now with their raw objects; the watermark."""
    first_day = (now - timedelta(days=DAYS + 3)).replace(hour=0, minute=0, second=0, microsecond=0)
    old = []
    for i in range(existing):
        meta, item, _ = items_for(i, first_day + timedelta(days=i % DAYS), now - timedelta(days=2))
        old += [meta, item]
    write(settings.events_table, old)
    s3 = clients.client("s3")
    watermark = key_time(now - timedelta(hours=1))
    s3.put_object(
        Bucket=settings.raw_bucket,
        Key=curated.WATERMARK_KEY,
        Body=json.dumps(curated.watermark_document(watermark, 0, watermark)).encode(),
    )
    fresh, new_day = [], now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    for i in range(existing, existing + new):
        meta, item, event = items_for(i, new_day, now)
        fresh += [meta, item]
        raw = records.raw_document(event, records.Attempt(new_day, f"r-{i}"))
        s3.put_object(Bucket=settings.raw_bucket, Key=event.raw_key, Body=json.dumps(raw).encode())
    write(settings.events_table, fresh)
    return watermark


def full_scan(dynamodb, table: str, watermark: str) -> None:
    """The feed before: a filtered parallel scan of the whole table (every page followed)."""
    for segment in range(4):
        request = queries.arrivals_since(table, watermark, segment, 4)
        while True:
            page = dynamodb.scan(**request)
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def measure(existing: int, new: int, scan_up_to: int) -> dict:
    """One benchmark row: reads of the feed, of the whole run and of the full scan it replaced."""
    with mock_aws():
        clients.reset()
        resources = template.create(clients.session(region_name="us-east-1"), prefix="bench")
        for name, value in resources.environment.items():
            os.environ[name] = value
        settings, dynamodb, now = Settings.from_env(), clients.client("dynamodb"), datetime.now(UTC)
        clock = time.perf_counter()
        watermark = seed(settings, existing, new, now)
        seconds = {"seed": time.perf_counter() - clock}
        reads = Reads(dynamodb)
        clock = time.perf_counter()
        RecordedFeed(settings.events_table, client=dynamodb).partitions_recorded(watermark, key_time(now))
        feed, reads.items = reads.items, 0
        result = compactor(settings).run()
        run, reads.items = reads.items, 0
        seconds["run"] = time.perf_counter() - clock
        stored = dynamodb.describe_table(TableName=settings.events_table)["Table"]["ItemCount"]
        scan, measured = stored, stored <= scan_up_to
        if measured:  # moto walks its whole table for every Scan page (quadratic): small tables only
            clock = time.perf_counter()
            full_scan(dynamodb, settings.events_table, watermark)
            scan, seconds["scan"] = reads.items, time.perf_counter() - clock
        clients.reset()
        spent = ", ".join(f"{phase} {value:.0f} s" for phase, value in seconds.items())
        print(f"  {existing} existing: {spent}", file=sys.stderr)
        return {
            "existing": existing,
            "new": new,
            "feed": feed,
            "run": run,
            "scan_before": scan,
            "scan_measured": measured,
            "stored": stored,
            "partitions": result["partitions"],
            "events": result["events"],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--existing", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--new", type=int, default=1_000)
    parser.add_argument(
        "--scan-up-to",
        type=int,
        default=30_000,
        help="run the full scan only on tables this small; above, a Scan reads every item (DescribeTable's ItemCount)",
    )
    args = parser.parse_args()
    moto_patches.install()
    rows = [measure(n, args.new, args.scan_up_to) for n in args.existing]
    print(f"{'existing':>9} {'new':>6} {'feed reads':>11} {'run reads':>10} {'full scan (before)':>19}")
    for row in rows:
        scan = f"{row['scan_before']}{'' if row['scan_measured'] else '*'}"
        print(
            f"{row['existing']:>9} {row['new']:>6} {row['feed']:>11} {row['run']:>10} {scan:>19}   "
            f"({row['stored']} items stored; {row['partitions']} partitions, "
            f"{row['events']} events compacted)"
        )
    if any(not row["scan_measured"] for row in rows):
        print("* not scanned: the table's item count, what a Scan reads (and bills), whatever a filter keeps")
    if len(rows) > 1:
        last, first = rows[-1], rows[0]
        scans = last["scan_before"] / first["scan_before"]
        print(
            f"run reads ratio {last['existing']}/{first['existing']} existing: "
            f"{last['run'] / first['run']:.2f}; full scan ratio: {scans:.2f}"
        )


if __name__ == "__main__":
    main()
