"""Local stack benchmark: ingest throughput as the stack fills, and the processor's drain time.

    .venv/bin/python benchmarks/local_stack.py                 # 50 000 events, 16 client threads
    .venv/bin/python benchmarks/local_stack.py --events 10000  # quicker

The stack runs in its own process (``LocalStack`` in a child), so the CPU seconds printed are
the stack's (moto, API, handlers, and any processes it starts), not the client's. Prints:

- ingest events/s and stack CPU ms per ingest for the first and the last 5 000 events;
- the drain time of a replay of 150 events of one entity (replay call to an empty queue with
  every aggregate version written), on the filled stack;
- the stack's CPU seconds for each phase.

Not a test: figures depend on the machine (2 shared cores here); run it twice.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import boto3
import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pik.core.timefmt import UTC  # noqa: E402
from pik_api import replay  # noqa: E402
from pik_local.demo import queue_depth  # noqa: E402
from pik_local.info import LocalStackInfo  # noqa: E402

WINDOW = 5_000
FOCUS = "bench_focus"
TICKS = os.sysconf("SC_CLK_TCK")


def _run_stack(info_file: str, ready: multiprocessing.Event, stop: multiprocessing.Event) -> None:
    from pik_local.stack import LocalStack

    with LocalStack(info_file=info_file, parameters={"AggregateFields": "amount"}, log_level="WARNING"):
        ready.set()
        stop.wait()


def roles_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds of the stack's processes by role: main (pollers, processor), moto, api workers."""
    out = {"main": 0.0, "moto": 0.0, "api": 0.0}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        cpu = sum(int(v) for v in fields[11:13]) / TICKS
        if int(entry) == pid:
            out["main"] += cpu
        elif int(fields[1]) == pid and b"pik_local.processes" in cmdline:
            out["moto" if b"moto" in cmdline else "api"] += cpu
    return out


def _split(before: dict[str, float], after: dict[str, float]) -> str:
    return ", ".join(f"{role} {after[role] - before[role]:.1f}" for role in before)


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its live descendants (and children it reaped)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15]) / TICKS  # utime, stime, cutime, cstime
        todo += children.get(current, [])
    return total


def events(count: int, now: datetime) -> list[dict]:
    """Distinct events over 500 entities, 3 streams and the last 5 days."""
    streams = [("mobile_app", "workout_completed"), ("web", "order_placed"), ("pos", "payment_captured")]
    out = []
    for i in range(count):
        source, event_type = streams[i % 3]
        when = now - timedelta(seconds=(i * 7919) % (5 * 86_400) + 60)
        out.append(
            {
                "source": source,
                "event_type": event_type,
                "entity_id": f"user_{i % 500:03d}",
                "event_time": when.isoformat(),
                "payload": {"amount": i % 97, "seq": i},
                "idempotency_key": f"bench-{i}",
            }
        )
    return out


def ingest(api_url: str, bodies: list[dict], workers: int, marks: set[int], pid: int) -> dict[int, tuple[float, float]]:
    """POST every body with ``workers`` threads; (wall time, stack CPU) when each mark of completions is reached."""
    url = api_url.rstrip("/") + "/ingest"
    # A connection reset before an answer is retried (ingest is idempotent: a retry of an
    # event that got in answers DUPLICATE); the in-process stack of ADR 0201 had a listen
    # backlog of 5 and reset some of 16 clients' first connections.
    retries = urllib3.Retry(total=5, connect=5, read=2, status=0, allowed_methods=None, backoff_factor=0.05)
    http = urllib3.PoolManager(
        maxsize=workers, block=True, retries=retries, timeout=urllib3.Timeout(connect=5, read=120)
    )
    lock, done, seen = threading.Lock(), [0], {0: (time.monotonic(), tree_cpu_s(pid))}
    bad: list[int] = []

    def send(body: dict) -> None:
        response = http.request(
            "POST", url, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        if response.status != 200:
            bad.append(response.status)
        with lock:
            done[0] += 1
            if done[0] in marks:
                seen[done[0]] = (time.monotonic(), tree_cpu_s(pid))

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(send, bodies))
    if bad:
        raise SystemExit(f"{len(bad)} ingests failed: HTTP {sorted(set(bad))}")
    return seen


def window(seen: dict[int, tuple[float, float]], a: int, b: int) -> tuple[float, float]:
    (t0, c0), (t1, c1) = seen[a], seen[b]
    return (b - a) / (t1 - t0), (c1 - c0) * 1000 / (b - a)


def drain(info: LocalStackInfo, pid: int, now: datetime, count: int) -> tuple[float, float, int]:
    """Ingest ``count`` events of one entity, replay them for real; seconds and CPU until drained."""
    bodies = [
        {
            "source": "mobile_app",
            "event_type": "workout_completed",
            "entity_id": FOCUS,
            "event_time": (now - timedelta(hours=1 + i * 72 / count)).isoformat(),
            "payload": {"amount": i, "seq": i},
        }
        for i in range(count)
    ]
    ingest(info.api_url, bodies, 16, set(), pid)
    session = boto3.session.Session(region_name=info.region, **info.credentials)
    sqs = session.client("sqs", endpoint_url=info.endpoint_url)
    queue = info.outputs["replay_queue_url"]
    started, cpu = time.monotonic(), tree_cpu_s(pid)
    run = replay(
        info.api_url,
        {
            "entity_id": FOCUS,
            "start_time": (now - timedelta(days=4)).isoformat(),
            "end_time": now.isoformat(),
            "dry_run": False,
            "limit": 10_000,
        },
    )
    while queue_depth(sqs, queue):
        time.sleep(0.05)  # polling interval of a bounded measurement
        if time.monotonic() - started > 900:
            raise SystemExit("the processor did not drain in 15 minutes")
    return time.monotonic() - started, tree_cpu_s(pid) - cpu, run["sent"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--replay-events", type=int, default=150)
    args = parser.parse_args()
    n = args.events
    w = min(WINDOW, n // 2)
    context = multiprocessing.get_context("spawn")
    ready, stop = context.Event(), context.Event()
    with tempfile.TemporaryDirectory() as tmp:
        info_file = str(Path(tmp) / "local.json")
        child = context.Process(target=_run_stack, args=(info_file, ready, stop))
        child.start()
        try:
            if not ready.wait(120):
                raise SystemExit("the stack did not start in 120 s")
            info = LocalStackInfo.read(info_file)
            now = datetime.now(UTC)
            print(
                f"stack pid {child.pid}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
                f"{n} events, {args.workers} client threads"
            )
            cpu0, roles0 = tree_cpu_s(child.pid), roles_cpu_s(child.pid)
            started = time.monotonic()
            seen = ingest(info.api_url, events(n, now), args.workers, {w, n - w, n}, child.pid)
            elapsed = time.monotonic() - started
            first, last = window(seen, 0, w), window(seen, n - w, n)
            print(f"ingest first {w}: {first[0]:7.1f} events/s  {first[1]:5.1f} ms stack CPU per ingest")
            print(
                f"ingest last  {w}: {last[0]:7.1f} events/s  {last[1]:5.1f} ms stack CPU per ingest"
                f"  (last/first {last[0] / first[0]:.2f})"
            )
            roles1 = roles_cpu_s(child.pid)
            print(
                f"ingest all {n}: {n / elapsed:7.1f} events/s  {tree_cpu_s(child.pid) - cpu0:.1f} s stack CPU"
                f" ({_split(roles0, roles1)})  (load {os.getloadavg()[0]:.2f})"
            )
            seconds, cpu, sent = drain(info, child.pid, now, args.replay_events)
            print(
                f"processor drain of a replay of {sent} events of one entity: {seconds:.2f} s, {cpu:.2f} s stack CPU"
                f"  (ingest of those events included in the split: {_split(roles1, roles_cpu_s(child.pid))})"
            )
        finally:
            stop.set()
            child.join(120)
            if child.is_alive():
                child.terminate()


if __name__ == "__main__":
    main()
