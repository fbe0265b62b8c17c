"""Local stack durability: acknowledged vs recovered over N SIGKILLs, and what the journal costs.

    .venv/bin/python benchmarks/durability.py                 # 5 kills, 1 000 ingests each
    .venv/bin/python benchmarks/durability.py --kills 10 --throughput 4000

Each round starts `pik local up --state-dir DIR` (one DIR for all rounds, so the journal and the
snapshot carry over), ingests 1 000 new events from 4 client threads, and SIGKILLs the stack and
its children after a seeded random count of acknowledged (200 ACCEPTED) answers. The next start
replays the journal; the round counts the acknowledged events found whole (gate present, raw
object's event equal to what was sent) and the start time. A last round kills a clean stop while
it writes its snapshot. Then the ingest rate with and without `--state-dir` (16 client threads).

Not a test: figures depend on the machine (2 shared cores here; the load average is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pik.core import keys  # noqa: E402
from pik.core.timefmt import UTC  # noqa: E402
from pik_api import ApiClient  # noqa: E402
from pik_local.info import LocalStackInfo  # noqa: E402

PIK = [sys.executable, "-c", "from pik_cli import main; main()"]


class Stack:
    """`pik local up` in a subprocess, ready when its info file names it."""

    def __init__(self, work: Path, name: str, *extra: str) -> None:
        self.info_file = work / name / "local.json"
        self.log = (work / f"{name}.out").open("w")
        started = time.monotonic()
        self.process = subprocess.Popen(
            [*PIK, "local", "up", "--info-file", str(self.info_file), *extra], stdout=self.log, stderr=subprocess.STDOUT
        )
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"pik local up exited: {Path(self.log.name).read_text()}")
            try:
                self.info = LocalStackInfo.read(self.info_file)
                if self.info.pid == self.process.pid:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.05)  # polling a child's readiness
        self.start_s = time.monotonic() - started

    def client(self, service: str):
        session = boto3.session.Session(region_name=self.info.region, **self.info.credentials)
        return session.client(service, endpoint_url=self.info.endpoint_url)

    def kill(self) -> None:
        pid = self.process.pid
        children = [
            int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()
        ]
        for target in (*children, pid):
            os.kill(target, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=300)


def events(prefix: str, count: int) -> list[dict]:
    now = datetime.now(UTC)
    return [
        {
            "source": "bench",
            "event_type": "durable",
            "entity_id": f"{prefix}-{i % 50:03d}",
            "event_time": (now - timedelta(minutes=i % 600)).isoformat(),
            "payload": {"n": i, "round": prefix},
        }
        for i in range(count)
    ]


def ingest_until_killed(stack: Stack, batch: list[dict], kill_after: int, senders: int = 4) -> dict[str, dict]:
    acknowledged: dict[str, dict] = {}
    lock, reached = threading.Lock(), threading.Event()
    pending = iter(batch)

    def sender() -> None:
        with ApiClient(stack.info.api_url, workers=1) as api:
            while True:
                with lock:
                    event = next(pending, None)
                if event is None:
                    return
                try:
                    status, answer = api.send("/ingest", event)
                except Exception:
                    return
                if status == 200 and answer["status"] == "ACCEPTED":
                    with lock:
                        acknowledged[answer["event_id"]] = event
                        if len(acknowledged) >= kill_after:
                            reached.set()

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for thread in threads:
        thread.start()
    reached.wait(timeout=300)
    stack.kill()
    for thread in threads:
        thread.join()
    return acknowledged


def recovered(stack: Stack, acknowledged: dict[str, dict]) -> int:
    ddb, s3, out = stack.client("dynamodb"), stack.client("s3"), stack.info.outputs

    def whole(item: tuple[str, dict]) -> bool:
        event_id, sent = item
        gate = ddb.get_item(
            TableName=out["events_table_name"],
            ConsistentRead=True,
            Key={"pk": {"S": keys.event_pk(event_id)}, "sk": {"S": keys.META_SK}},
        ).get("Item")
        if gate is None:
            return False
        document = json.loads(s3.get_object(Bucket=out["raw_bucket_name"], Key=gate["s3_key"]["S"])["Body"].read())
        return document["event"] == sent

    with ThreadPoolExecutor(8) as pool:
        return sum(pool.map(whole, acknowledged.items()))


def rate(work: Path, name: str, count: int, *extra: str) -> float:
    stack = Stack(work, name, *extra)
    try:
        with ApiClient(stack.info.api_url, workers=16) as api:
            started = time.monotonic()
            answers = api.ingest(events(name, count), progress=False)
            elapsed = time.monotonic() - started
        assert all(a.status == "ACCEPTED" for a in answers)
        return count / elapsed
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--throughput", type=int, default=2000, help="events per ingest-rate run (0: skip)")
    parser.add_argument("--seed", type=int, default=9)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(f"load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="pik-durability-") as tmp:
        work, state = Path(tmp), Path(tmp) / "state"
        all_acknowledged: dict[str, dict] = {}
        print("| round | killed after | acknowledged | recovered (all rounds so far) | restart s |")
        print("|---|---:|---:|---:|---:|")
        stack = Stack(work, "round-0", "--state-dir", str(state))
        for round_ in range(1, args.kills + 1):
            kill_after = rng.randint(1, args.events - 1)
            acknowledged = ingest_until_killed(stack, events(f"r{round_}", args.events), kill_after)
            all_acknowledged.update(acknowledged)
            stack = Stack(work, f"round-{round_}", "--state-dir", str(state))
            found = recovered(stack, all_acknowledged)
            print(
                f"| {round_} (mid-stream) | {kill_after} | {len(acknowledged)} | {found}/{len(all_acknowledged)} | "
                f"{stack.start_s:.1f} |"
            )
        stack.process.send_signal(signal.SIGTERM)
        while not (state / "snapshot.tmp" / "s3" / "RawBucket.jsonl").exists():
            time.sleep(0.005)  # polling for the snapshot to begin
        stack.kill()
        stack = Stack(work, "after-snapshot-kill", "--state-dir", str(state))
        found = recovered(stack, all_acknowledged)
        print(f"| {args.kills + 1} (mid-snapshot) | — | 0 | {found}/{len(all_acknowledged)} | {stack.start_s:.1f} |")
        stack.stop()
        if args.throughput:
            plain = rate(work, "memory", args.throughput)
            durable = rate(work, "journaled", args.throughput, "--state-dir", str(work / "rate-state"))
            print(
                f"ingest, {args.throughput} events, 16 threads: memory only {plain:.1f}/s, "
                f"--state-dir (journal) {durable:.1f}/s ({durable / plain:.2f}x)"
            )
        print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
