"""pik_nb client benchmarks: figures and ratios against the naive way (``make benchmark``).

Not tests: timings depend on the machine. Each section prints µs per item or objects per second.
DynamoDB and S3 are a local stub (``stub.py``, its own process) serving recorded-shape answers,
because moto's server (~300 µs per item, ~200 GETs/s) would hide the client being measured.
"""

from __future__ import annotations

import gc
import json
import tracemalloc
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import boto3
import pandas as pd
import urllib3
from botocore import parsers

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pik_nb  # noqa: E402
from benchmarks.stub import Stub  # noqa: E402
from pik.aws.dynamodb import serialize  # noqa: E402
from pik.core import contract, identity, records  # noqa: E402
from pik.core.timefmt import UTC  # noqa: E402
from pik_nb.stack import Resources, Stack  # noqa: E402
from tests.nb.generate import synthetic  # noqa: E402

PAGES, PAGE_ITEMS, OBJECTS = 20, 1000, 5000
START = datetime(2026, 11, 20, tzinfo=UTC)
CREDENTIALS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
PAYLOAD = {"amount": 12.5, "items": 2}
PAYLOAD_SHA = identity.payload_sha256(PAYLOAD)


def attempt_items(count: int) -> list[dict]:
    """Attempt items exactly as ingest writes them (pik.core.records), in DynamoDB JSON."""
    items = []
    for i in range(count):
        event = contract.validate({"source": "checkout", "event_type": "order_placed", "entity_id": "customer-42",
                                   "event_time": (START + timedelta(seconds=i)).isoformat(),
                                   "payload": {"amount": i, "items": 2}}, now=START + timedelta(days=1))
        attempt = records.Attempt(START + timedelta(seconds=i, milliseconds=1500), f"req-{i}")
        items.append(serialize(records.attempt_item(event, attempt, status="ACCEPTED", s3_key=event.raw_key)))
    return items


def pages() -> list[bytes]:
    items = attempt_items(PAGE_ITEMS)
    encoded = []
    for n in range(PAGES):
        page = {"Items": items, "Count": len(items), "ScannedCount": len(items)}
        if n + 1 < PAGES:
            page["LastEvaluatedKey"] = {"pk": {"S": f"page#{n + 1}"}}
        encoded.append(json.dumps(page).encode())
    return encoded


def best(function, repeat: int = 3) -> float:
    """Best wall time of ``repeat`` runs (seconds), garbage collected between runs."""
    times = []
    for _ in range(repeat):
        gc.collect()
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return min(times)


def kit_for(url: str, workers: int = 32) -> pik_nb.Kit:
    names = Resources(raw_bucket_name="bench", events_table_name="bench", aggregates_table_name="bench",
                      replays_table_name="bench")
    stack = Stack(boto3.session.Session(region_name="us-east-1", **CREDENTIALS), names, endpoint_url=url,
                  sign_api=False, workers=workers, fan_out=workers)  # the stub stands in for AWS
    return pik_nb.Kit(stack, progress=False)


def metadata(url: str) -> None:
    total = PAGES * PAGE_ITEMS
    query = {"TableName": "bench", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "x"}}}
    http = urllib3.PoolManager()

    def floor() -> None:
        body = json.dumps(query).encode()
        for n in range(PAGES):
            start = dict(query, ExclusiveStartKey={"pk": {"S": f"page#{n}"}}) if n else query
            json.loads(http.request("POST", url + "/", body=json.dumps(start).encode(),
                                                  headers={"X-Amz-Target": "DynamoDB_20120810.Query"}).data)

    client = kit_for(url).client("dynamodb")
    recorded = pages()
    parser, shape = parsers.create_parser("json"), client.meta.service_model.operation_model("Query").output_shape

    def parser_only() -> None:
        for body in recorded:
            parser.parse({"body": body, "headers": {}, "status_code": 200}, shape)

    def botocore_client() -> None:
        for _ in client.get_paginator("query").paginate(**query):
            pass

    table = boto3.session.Session(region_name="us-east-1", **CREDENTIALS).resource("dynamodb", endpoint_url=url).Table("bench")

    def naive() -> None:
        rows, request = [], {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": "x"}}
        while True:
            page = table.query(**request)
            rows.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        pd.DataFrame(rows)

    kit = kit_for(url)

    def fast() -> None:
        frame = kit.events(entity_id="customer-42", start=START, end=START + timedelta(days=1))
        assert len(frame) == total and str(frame["event_time"].dtype) == "datetime64[us, UTC]"

    print(f"\n## metadata: {total} attempt items in {PAGES} pages of {PAGE_ITEMS}, stub DynamoDB on {url}")
    figures = {name: best(f) / total * 1e6 for name, f in (
        ("raw HTTP + json.loads (the 'floor')", floor), ("botocore parser alone (no I/O)", parser_only),
        ("boto3 client.query pages (HTTP + parse)", botocore_client),
        ("naive Table.query loop + pd.DataFrame", naive), ("pik_nb kit.events -> typed DataFrame", fast))}
    ours = figures["pik_nb kit.events -> typed DataFrame"]
    for name, micros in figures.items():
        print(f"{name:<44}{micros:7.1f} µs/item   {micros / ours:5.2f}x pik_nb")


def raw_objects(url: str) -> None:
    kit = kit_for(url, workers=32)
    events = pd.DataFrame({"s3_key": [f"raw/bench/{i}.json" for i in range(OBJECTS)],
                           "event_id": [f"e{i}" for i in range(OBJECTS)],
                           "payload_sha256": [PAYLOAD_SHA] * OBJECTS})
    began = time.perf_counter()
    frame = kit.raw(events)
    elapsed = time.perf_counter() - began
    assert frame["hash_ok"].all() and len(frame) == OBJECTS
    del frame
    gc.collect()
    tracemalloc.start()
    kit.raw(events)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    sample = events.head(100)
    s3 = kit.client("s3")
    began = time.perf_counter()
    for key in sample["s3_key"]:
        s3.get_object(Bucket="bench", Key=key)["Body"].read()
    sequential = len(sample) / (time.perf_counter() - began)
    print(f"\n## raw: {OBJECTS} objects, stub S3 answering after 20 ms (keep-alive), {kit.workers} threads")
    print(f"pik_nb kit.raw (GET + parse + hash check)   {OBJECTS / elapsed:7.0f} objects/s   "
          f"{OBJECTS / elapsed / sequential:5.1f}x sequential")
    print(f"sequential get_object (100 objects)         {sequential:7.0f} objects/s")
    print(f"peak Python memory during kit.raw           {peak:7.1f} MiB ({peak * 1024 / OBJECTS:.2f} KiB per object, "
          f"the parsed documents and the result)")


def analyses() -> None:
    events, _ = synthetic(1_000_000)
    print(f"\n## analyses on {len(events):,} attempt rows (1,000,000 events + duplicates and conflicts)")
    runs = {
        "lateness(by='source')": lambda: pik_nb.lateness(events, by="source"),
        "lateness(by='entity_id')": lambda: pik_nb.lateness(events, by="entity_id"),
        "lateness_policy('1h')": lambda: pik_nb.lateness_policy(events, "1h"),
        "duplicates()": lambda: pik_nb.duplicates(events),
        "gaps(freq='1D')": lambda: pik_nb.gaps(events, freq="1D"),
        "gaps(freq='1h')": lambda: pik_nb.gaps(events, freq="1h"),
    }
    for name, run in runs.items():
        seconds = best(run)
        print(f"{name:<44}{seconds:7.2f} s   {'OK' if seconds < 2 else 'OVER'} (< 2 s)")




def document() -> bytes:
    return json.dumps({"envelope": {"event_id": "__KEY__", "ingest_time": "2026-11-20T00:00:01.000000Z",
                                                  "request_id": "r", "attempt_id": "a", "payload_sha256": PAYLOAD_SHA},
                                     "event": {"entity_id": "customer-42", "event_time": "2026-11-20T00:00:00Z",
                                               "payload": PAYLOAD}}).encode()


def main() -> None:
    print(f"pik_nb benchmarks, python {sys.version.split()[0]}, pandas {pd.__version__}")
    with Stub(pages(), document()) as url:
        metadata(url)
        raw_objects(url)
    analyses()


if __name__ == "__main__":
    main()
