"""pik_nb client benchmarks, each figure next to what a user would otherwise write (``make benchmark``).

Not tests: timings depend on the machine (the header prints the load average). Two backends:

- a stub AWS endpoint (``stub.py``, its own process) serving recorded-shape answers, which
  isolates the client: moto's server (~300 µs per item, ~4 ms per call) would hide it;
- the local stack (``pik local up`` in a subprocess, moto's server behind it), which is what an
  investigator on a laptop gets.

Baselines: sequential boto3, a 32-thread boto3 ``get_object`` pool, a naive ``Table.query``
loop, boto3 ``client.query`` pages, awswrangler's ``dynamodb.read_items``.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import awswrangler as wr
import boto3
import pandas as pd
import urllib3
from botocore import parsers
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pik_nb  # noqa: E402
from benchmarks.local_stack import tree_cpu_s  # noqa: E402
from benchmarks.stub import Stub  # noqa: E402
from pik.aws.dynamodb import serialize  # noqa: E402
from pik.core import contract, identity, queries, records  # noqa: E402
from pik.core.timefmt import UTC, key_time  # noqa: E402
from pik_nb.read import objects as raw_module  # noqa: E402
from pik_nb.read.frames import ATTEMPT_COLUMNS  # noqa: E402
from pik_nb.read.stack import Resources, Stack  # noqa: E402
from tests.nb.generate import synthetic  # noqa: E402

PAGES, PAGE_ITEMS, OBJECTS = 10, 1000, 2000
LOCAL_EVENTS, LOCAL_DAYS, LOCAL_OTHERS = 1000, 10, 2000
START = datetime(2026, 11, 20, tzinfo=UTC)
CREDENTIALS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
PAYLOAD = {"amount": 12.5, "items": 2}
PAYLOAD_SHA = identity.payload_sha256(PAYLOAD)


def attempt_items(count: int) -> list[dict]:
    """Attempt items exactly as ingest writes them (pik.core.records), in DynamoDB JSON."""
    items = []
    for i in range(count):
        event = contract.validate(
            {
                "source": "checkout",
                "event_type": "order_placed",
                "entity_id": "customer-42",
                "event_time": (START + timedelta(seconds=i)).isoformat(),
                "payload": {"amount": i, "items": 2},
            },
            now=START + timedelta(days=1),
        )
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
    return timed(function, repeat)[0]


def timed(function, repeat: int = 3, server: int | None = None) -> tuple[float, float, float]:
    """(wall, CPU, server CPU) seconds of the best of ``repeat`` runs: CPU is this process's (every
    thread), server CPU that of process ``server`` (the local stack), which load on the machine
    inflates much less than wall time."""
    runs = []
    for _ in range(repeat):
        gc.collect()
        began, cpu, server_cpu = time.perf_counter(), time.process_time(), cpu_seconds(server)
        function()
        runs.append((time.perf_counter() - began, time.process_time() - cpu, cpu_seconds(server) - server_cpu))
    return min(runs)


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of process ``pid`` and its children so far (0 without one): the
    local stack runs moto and its API workers in child processes."""
    return tree_cpu_s(pid) if pid is not None else 0.0


def session() -> boto3.session.Session:
    return boto3.session.Session(region_name="us-east-1", **CREDENTIALS)


def kit_for(url: str, workers: int = 32) -> pik_nb.Kit:
    names = Resources(
        raw_bucket_name="bench", events_table_name="bench", aggregates_table_name="bench", replays_table_name="bench"
    )
    stack = Stack(
        session(), names, endpoint_url=url, sign_api=False, workers=workers, fan_out=workers
    )  # the stub stands in for AWS
    return pik_nb.Kit(stack, progress=False)


def typed_by_hand(frame: pd.DataFrame) -> pd.DataFrame:
    """The casts a user adds to awswrangler's frame (Decimal/object columns) to get pik_nb's types."""
    cast = {
        "time": lambda c: pd.to_datetime(c, utc=True, format="ISO8601"),
        "int": lambda c: c.astype("int64"),
        "float": lambda c: c.astype("float64"),
        "category": lambda c: c.astype("category"),
        "str": lambda c: c.astype("str"),
    }
    return frame.assign(**{name: cast[kind](frame[name]) for name, kind in ATTEMPT_COLUMNS.items() if name in frame})


def dtype_differences(ours: pd.DataFrame, theirs: pd.DataFrame) -> str:
    changed = {}
    for name in ATTEMPT_COLUMNS:
        if name in theirs and str(ours[name].dtype) != str(theirs[name].dtype):
            changed.setdefault((str(ours[name].dtype), str(theirs[name].dtype)), []).append(name)
    return (
        "; ".join(
            f"{len(names)} columns {mine} vs {other} ({', '.join(names[:2])}...)"
            for (mine, other), names in changed.items()
        )
        or "same dtypes"
    )


def metadata(url: str) -> None:
    total = PAGES * PAGE_ITEMS
    query = {"TableName": "bench", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "x"}}}
    http = urllib3.PoolManager()

    def floor() -> None:
        for n in range(PAGES):
            start = dict(query, ExclusiveStartKey={"pk": {"S": f"page#{n}"}}) if n else query
            json.loads(
                http.request(
                    "POST",
                    url + "/",
                    body=json.dumps(start).encode(),
                    headers={"X-Amz-Target": "DynamoDB_20120810.Query"},
                ).data
            )

    client = kit_for(url).client("dynamodb")
    recorded = pages()
    parser, shape = parsers.create_parser("json"), client.meta.service_model.operation_model("Query").output_shape

    def parser_only() -> None:
        for body in recorded:
            parser.parse({"body": body, "headers": {}, "status_code": 200}, shape)

    def botocore_client() -> None:
        for _ in client.get_paginator("query").paginate(**query):
            pass

    table = session().resource("dynamodb", endpoint_url=url).Table("bench")

    def naive() -> None:
        rows, request = [], {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": "x"}}
        while True:
            page = table.query(**request)
            rows.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        pd.DataFrame(rows)

    wr.config.dynamodb_endpoint_url = url
    got = {}

    def wrangler() -> None:
        got["wr"] = wr.dynamodb.read_items(
            table_name="bench",
            key_condition_expression="pk = :p",
            expression_attribute_values={":p": "x"},
            boto3_session=session(),
            key_schema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        assert len(got["wr"]) == total

    kit = kit_for(url)

    def fast() -> None:
        got["pik"] = kit.events(entity_id="customer-42", start=START, end=START + timedelta(days=1))
        assert len(got["pik"]) == total and str(got["pik"]["event_time"].dtype) == "datetime64[us, UTC]"

    print(f"\n## metadata: {total} attempt items in {PAGES} pages of {PAGE_ITEMS}, stub DynamoDB on {url}")
    ours = "pik_nb kit.events -> typed DataFrame"
    runs = {
        "raw HTTP + json.loads (the 'floor')": floor,
        "botocore parser alone (no I/O)": parser_only,
        "boto3 client.query pages (HTTP + parse)": botocore_client,
        "naive Table.query loop + pd.DataFrame": naive,
        "awswrangler read_items (object columns)": wrangler,
        ours: fast,
    }
    figures = {name: best(run, 3 if name == ours else 2) / total * 1e6 for name, run in runs.items()}
    casts = best(lambda: typed_by_hand(got["wr"]), 2) / total * 1e6
    figures = {
        **{k: v for k, v in figures.items() if k != ours},
        "awswrangler read_items + casts to our types": figures["awswrangler read_items (object columns)"] + casts,
        ours: figures[ours],
    }
    print("  ratio = the row's µs/item / pik_nb's (> 1: pik_nb is faster; baseline: pik_nb); best of 2, pik_nb of 3")
    for name, micros in figures.items():
        print(
            f"  {name:<48}{micros:7.1f} µs/item {micros / figures[ours]:6.2f}x{'   (baseline)' if name == ours else ''}"
        )
    print(f"  dtypes, pik_nb vs awswrangler: {dtype_differences(got['pik'], got['wr'])}")
    print(f"  dtypes, pik_nb vs awswrangler + casts: {dtype_differences(got['pik'], typed_by_hand(got['wr']))}")


def raw_figures(
    kit: pik_nb.Kit,
    keys: list[str],
    events: pd.DataFrame,
    bucket: str,
    *,
    repeat: int,
    sequential_sample: int = 100,
    server: int | None = None,
) -> dict[str, tuple[float, float, float]]:
    """objects/s and CPU ms per object for kit.raw and the ways a user would fetch the same objects."""
    count = len(keys)
    plain = kit.session.client("s3", endpoint_url=kit.endpoint_url, config=Config(max_pool_connections=32))

    def get(key: str) -> dict:
        return json.loads(plain.get_object(Bucket=bucket, Key=key)["Body"].read())

    def pool() -> None:
        with ThreadPoolExecutor(32) as threads:
            list(threads.map(get, keys))

    def getter() -> None:
        raw_module.get_many(kit.stack, keys, False, "raw", json.loads)

    def fetch() -> None:
        frame = kit.raw(events)
        assert frame["hash_ok"].all() and len(frame) == count

    def sequential() -> None:
        for key in keys[:sequential_sample]:
            get(key)

    figures = {}
    for name, run, n in (
        ("sequential boto3 get_object + json.loads", sequential, min(count, sequential_sample)),
        ("boto3 get_object + json.loads, 32-thread pool", pool, count),
        ("pik_nb S3 getter + json.loads, 32-thread pool", getter, count),
        ("pik_nb kit.raw (GET + parse + hash check + frame)", fetch, count),
    ):
        wall, cpu, server_cpu = timed(run, repeat, server)
        figures[name] = (n / wall, cpu / n * 1e3, server_cpu / n * 1e3)
    return figures


def print_raw(figures: dict[str, tuple[float, float, float]]) -> None:
    baseline = "boto3 get_object + json.loads, 32-thread pool"
    server = any(server_ms for _, _, server_ms in figures.values())
    print(
        "  ratio: objects/s over the 32-thread boto3 pool's (baseline); client CPU: this process, all threads"
        + ("; server CPU: the local stack's processes (moto, API workers)" if server else "")
    )
    for name, (rate, cpu_ms, server_ms) in figures.items():
        ratio = rate / figures[baseline][0]
        print(
            f"  {name:<52}{rate:7.0f} objects/s {ratio:5.2f}x   client {cpu_ms:5.2f} ms CPU/object"
            + (f"   server {server_ms:5.2f} ms" if server else "")
            + ("   (baseline)" if name == baseline else "")
        )


def raw_objects(url: str) -> None:
    kit = kit_for(url, workers=32)
    events = pd.DataFrame(
        {
            "s3_key": [f"raw/bench/{i}.json" for i in range(OBJECTS)],
            "event_id": [f"e{i}" for i in range(OBJECTS)],
            "payload_sha256": [PAYLOAD_SHA] * OBJECTS,
        }
    )
    print(f"\n## raw: {OBJECTS} objects, stub S3 answering after 20 ms (keep-alive), {kit.workers} threads")
    print_raw(raw_figures(kit, events["s3_key"].tolist(), events, "bench", repeat=2))
    gc.collect()
    tracemalloc.start()
    kit.raw(events)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(
        f"  peak Python memory during kit.raw {peak:7.1f} MiB ({peak * 1024 / OBJECTS:.2f} KiB per object, "
        f"the parsed documents and the result)"
    )


def stored_event(entity_id: str, at: datetime, i: int, now: datetime) -> tuple[dict, str, dict, list[dict]]:
    """What ingest stores for one accepted event: (raw document, its key, its dedup gate, its attempt item)."""
    event = contract.validate(
        {
            "source": "checkout",
            "event_type": "order_placed",
            "entity_id": entity_id,
            "event_time": at.isoformat(),
            "payload": {"amount": i, "items": 2},
        },
        now=now,
    )
    attempt = records.Attempt(at + timedelta(seconds=2), f"bench-{entity_id}-{i}")
    return (
        records.raw_document(event, attempt),
        event.raw_key,
        serialize(records.meta_item(event, attempt, s3_key=event.raw_key)),
        serialize(records.attempt_item(event, attempt, status="ACCEPTED", s3_key=event.raw_key)),
    )


def fill(kit: pik_nb.Kit, entity_ids: list[str], count: int, days: int, now: datetime, *, raw: bool) -> None:
    """``count`` accepted events over the last ``days`` days, round-robin over ``entity_ids``, written
    as ingest writes them (gate + attempt items; raw objects when ``raw``), straight into moto."""
    first, step = now - timedelta(days=days), timedelta(days=days) / count
    stored = [stored_event(entity_ids[i % len(entity_ids)], first + step * i, i, now) for i in range(count)]
    client, s3, table = kit.client("dynamodb"), kit.client("s3"), kit.resources.events_table_name
    items = [item for _, _, gate, attempt in stored for item in (gate, attempt)]
    writes = [
        lambda chunk=items[i : i + 25]: client.batch_write_item(
            RequestItems={table: [{"PutRequest": {"Item": item}} for item in chunk]}
        )
        for i in range(0, len(items), 25)
    ]
    if raw:
        writes += [
            lambda doc=doc, key=key: s3.put_object(
                Bucket=kit.resources.raw_bucket_name, Key=key, Body=json.dumps(doc).encode()
            )
            for doc, key, _, _ in stored
        ]
    with ThreadPoolExecutor(8) as threads:
        list(threads.map(lambda write: write(), writes))


def local_stack() -> None:
    """kit.events and kit.raw against ``pik local up`` (moto's server in its own process)."""
    with tempfile.TemporaryDirectory() as tmp:
        info_file = Path(tmp) / "local.json"
        server = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("pik")),
                "local",
                "up",
                "--info-file",
                str(info_file),
                "--log-level",
                "ERROR",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            began = time.perf_counter()
            while not info_file.exists():
                if server.poll() is not None or time.perf_counter() - began > 60:
                    raise RuntimeError("pik local up did not start")
                time.sleep(0.2)
            kit = pik_nb.connect(path=info_file)
            kit.progress = False
            _local_stack_figures(kit, server.pid, time.perf_counter() - began)
        finally:
            server.terminate()
            server.wait(30)


def _local_stack_figures(kit: pik_nb.Kit, server: int, startup_s: float) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    began = time.perf_counter()
    fill(kit, ["bench-entity"], LOCAL_EVENTS, LOCAL_DAYS, now, raw=True)
    print(
        f"\n## local stack: `pik local up` (moto server in its own process, up in {startup_s:.1f} s); "
        f"{LOCAL_EVENTS} events of one entity over {LOCAL_DAYS} days written as ingest writes them in "
        f"{time.perf_counter() - began:.1f} s"
    )
    start, end = now - timedelta(days=LOCAL_DAYS), now + timedelta(seconds=1)
    scope = {"entity_id": "bench-entity", "start": start, "end": end}
    sliced = pik_nb.Kit(
        Stack(kit.session, kit.resources, endpoint_url=kit.endpoint_url, sign_api=False, fan_out=kit.workers),
        progress=False,
    )
    request = queries.entity_window(kit.resources.events_table_name, "bench-entity", key_time(start), key_time(end))
    client = kit.client("dynamodb")

    def naive() -> None:
        rows = [item for page in client.get_paginator("query").paginate(**request) for item in page["Items"]]
        assert len(rows) == LOCAL_EVENTS

    wr.config.dynamodb_endpoint_url = kit.endpoint_url

    def wrangler() -> None:
        frame = wr.dynamodb.read_items(
            table_name=request["TableName"],
            index_name=request["IndexName"],
            key_condition_expression=request["KeyConditionExpression"],
            boto3_session=kit.session,
            expression_attribute_values={k: v["S"] for k, v in request["ExpressionAttributeValues"].items()},
            key_schema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        )
        assert len(frame) == LOCAL_EVENTS

    ours = "pik_nb kit.events, one query (fan_out=1, the default)"
    runs = {
        ours: lambda: kit.events(**scope),
        f"pik_nb kit.events, {LOCAL_DAYS} day slices in parallel": lambda: sliced.events(**scope),
        "boto3 client.query pages (items, no DataFrame)": naive,
        "awswrangler read_items (object columns)": wrangler,
    }

    def report(names: list[str], rows: str) -> None:
        print(
            f"  kit.events(entity_id=..., {LOCAL_DAYS} days) -> {LOCAL_EVENTS} rows, events table of {rows}; best of 2;"
            f" ratio = baseline's wall time / the row's (baseline: pik_nb one query)"
        )
        figures = {name: timed(runs[name], 2, server) for name in names}
        for name, (wall, cpu, server_cpu) in figures.items():
            print(
                f"  {name:<56}{wall * 1e3:7.0f} ms {figures[ours][0] / wall:5.2f}x   client CPU {cpu * 1e3:5.0f} ms"
                f"   server CPU {server_cpu * 1e3:6.0f} ms{'   (baseline)' if name == ours else ''}"
            )

    report(list(runs)[:2], f"{LOCAL_EVENTS} events (their attempts and dedup gates)")
    fill(kit, [f"other-{n}" for n in range(50)], LOCAL_OTHERS, LOCAL_DAYS, now, raw=False)
    report(list(runs), f"those + {LOCAL_OTHERS} events of 50 other entities")
    events = kit.events(**scope)
    print(f"  kit.raw of those {len(events)} rows (moto S3 through the local stack), one run each:")
    print_raw(
        raw_figures(
            kit,
            events["s3_key"].tolist(),
            events,
            kit.resources.raw_bucket_name,
            repeat=1,
            sequential_sample=50,
            server=server,
        )
    )


def analyses() -> None:
    events, _ = synthetic(1_000_000)
    print(f"\n## analyses on {len(events):,} attempt rows (1,000,000 events + duplicates and conflicts), best of 2")
    print("  against the 2 s target; no other baseline: what a user would write is the same vectorised pandas")
    runs = {
        "lateness(by='source')": lambda: pik_nb.lateness(events, by="source"),
        "lateness(by='entity_id')": lambda: pik_nb.lateness(events, by="entity_id"),
        "lateness_policy('1h')": lambda: pik_nb.lateness_policy(events, "1h"),
        "duplicates()": lambda: pik_nb.duplicates(events),
        "gaps(freq='1D')": lambda: pik_nb.gaps(events, freq="1D"),
        "gaps(freq='1h')": lambda: pik_nb.gaps(events, freq="1h"),
    }
    for name, run in runs.items():
        seconds = best(run, 2)
        print(f"  {name:<44}{seconds:7.2f} s   {'OK' if seconds < 2 else 'OVER'} (< 2 s)")


def document() -> bytes:
    return json.dumps(
        {
            "envelope": {
                "event_id": "__KEY__",
                "ingest_time": "2026-11-20T00:00:01.000000Z",
                "request_id": "r",
                "attempt_id": "a",
                "payload_sha256": PAYLOAD_SHA,
            },
            "event": {"entity_id": "customer-42", "event_time": "2026-11-20T00:00:00Z", "payload": PAYLOAD},
        }
    ).encode()


def main() -> None:
    import pyarrow

    print(
        f"pik_nb benchmarks, python {sys.version.split()[0]}, pandas {pd.__version__}, pyarrow {pyarrow.__version__}, "
        f"boto3 {boto3.__version__}, awswrangler {wr.__version__}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f} at start"
    )
    began = time.perf_counter()
    sections = sys.argv[1:] or ["stub", "local", "analyses"]
    for section in sections:
        section_began = time.perf_counter()
        if section == "stub":
            with Stub(pages(), document()) as url:
                metadata(url)
                raw_objects(url)
        else:
            {"local": local_stack, "analyses": analyses}[section]()
        print(f"  ({section}: {time.perf_counter() - section_began:.0f} s, load average {os.getloadavg()[0]:.2f})")
    print(f"\ndone in {time.perf_counter() - began:.0f} s, load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
