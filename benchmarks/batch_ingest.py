"""Batch vs single-event ingest on the local stack: events/s through ``POST /ingest``.

    .venv/bin/python benchmarks/batch_ingest.py                  # 3 000 events per mode
    .venv/bin/python benchmarks/batch_ingest.py --events 1000

Starts a local stack (its own moto and API workers), sends the same number of fresh events one
per request (``ApiClient.ingest``, 16 client threads) and in batches (``ApiClient.ingest_batches``,
100 and 500 events per request, 4 client threads), and prints events/s per mode. Every answer
must be ACCEPTED, or the run fails. Not a test: figures depend on the machine (2 shared cores).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from local_stack import roles_cpu_s  # noqa: E402

from pik.core.timefmt import UTC  # noqa: E402
from pik_api import ApiClient, count_statuses  # noqa: E402
from pik_local.stack import LocalStack  # noqa: E402


def events(tag: str, count: int) -> list[dict]:
    at = datetime.now(UTC) - timedelta(hours=1)
    return [
        {
            "source": "bench",
            "event_type": "batch",
            "entity_id": f"{tag}-{i % 50}",
            "event_time": (at + timedelta(milliseconds=i)).isoformat(),
            "payload": {"amount": i, "mode": tag},
        }
        for i in range(count)
    ]


def measure(api_url: str, tag: str, count: int, *, batch_size: int) -> tuple[float, dict[str, float]]:
    """(events/s, CPU ms per event of moto's process and of the API workers)."""
    workers = 16 if batch_size == 1 else 4
    sent = events(tag, count)
    with ApiClient(api_url, workers=workers) as api:
        cpu_before = roles_cpu_s(os.getpid())
        started = time.perf_counter()
        results = (
            api.ingest(sent, progress=False)
            if batch_size == 1
            else api.ingest_batches(sent, batch_size=batch_size, progress=False)
        )
        elapsed = time.perf_counter() - started
        cpu_after = roles_cpu_s(os.getpid())
    counts = count_statuses(results)
    if counts != {"ACCEPTED": count}:
        raise SystemExit(f"{tag}: expected {count} ACCEPTED, got {counts}")
    return count / elapsed, {role: (cpu_after[role] - cpu_before[role]) * 1000 / count for role in ("moto", "api")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalStack(info_file=Path(tmp) / "local.json", log_level="WARNING") as stack,
    ):
        measure(stack.info.api_url, "warmup", 200, batch_size=100)
        print(f"{'mode':<24}{'events':>8}{'events/s':>10}{'moto ms/ev':>12}{'api ms/ev':>11}{'load':>7}")
        for tag, size in [("single", 1), ("batch100", 100), ("batch500", 500)]:
            rate, cpu = measure(stack.info.api_url, tag, args.events, batch_size=size)
            label = "one event per request" if size == 1 else f"batches of {size}"
            print(
                f"{label:<24}{args.events:>8}{rate:>10.0f}{cpu['moto']:>12.1f}{cpu['api']:>11.1f}"
                f"{os.getloadavg()[0]:>7.1f}"
            )


if __name__ == "__main__":
    main()
