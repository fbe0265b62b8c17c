"""Consistency checks across the bucket and the events table, and a one-look status of the stack."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

import pandas as pd
from botocore.exceptions import ClientError

from pik.core import keys, queries
from pik.core.errors import StorageError

from ..read import tables as load
from ..read.objects import list_keys
from ..read.tables import gather, items, scan_segments

if TYPE_CHECKING:
    from ..read.stack import Stack

RAW_ONLY, META_ONLY = "raw without metadata", "metadata without raw"


def reconcile(stack: Stack, *, progress: bool) -> pd.DataFrame:
    """Raw objects no dedup gate points at, and gates whose raw object is gone (a full scan, by design).

    A raw object without metadata is what a crash between the two ingest writes leaves until the
    producer retries; metadata without raw means bytes were lost (or expired before the metadata).
    """
    raw = set(list_keys(stack, keys.raw_key("_", "_", "_", "_").split("/", 1)[0] + "/"))
    segments = scan_segments(stack)
    requests = [
        ("Scan", queries.gates_scan(stack.resources.events_table_name, segment, segments))
        for segment in range(segments)
    ]
    gates = {
        item["s3_key"]["S"]: item["event_id"]["S"] for item in items(gather(stack, requests, progress, "dedup gates"))
    }
    rows = [(RAW_ONLY, PurePosixPath(key).stem, key) for key in sorted(raw - set(gates))]
    rows += [(META_ONLY, gates[key], key) for key in sorted(set(gates) - raw)]
    frame = pd.DataFrame(rows, columns=["problem", "event_id", "s3_key"])
    return frame.astype({"problem": pd.CategoricalDtype([RAW_ONLY, META_ONLY]), "event_id": "str", "s3_key": "str"})


def status(stack: Stack) -> dict:
    """Where the stack is, queue depths and the latest replay run."""
    queues = {
        name: _depth(stack, url)
        for name, url in (
            ("replay_queue", stack.resources.replay_queue_url),
            ("dead_letter_queue", stack.resources.replay_dead_letter_queue_url),
        )
        if url
    }
    runs = load.replays(stack)
    latest = (
        runs.iloc[0][["replay_id", "created_at", "requester", "dry_run", "status", "matched", "sent"]].to_dict()
        if len(runs)
        else None
    )
    return {
        "endpoint": stack.endpoint_url or f"AWS {stack.session.region_name}",
        "resources": asdict(stack.resources),
        "queues": queues,
        "replay_runs": len(runs),
        "latest_replay": latest,
    }


def _depth(stack: Stack, url: str) -> dict:
    try:
        attributes = stack.client("sqs").get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
    except ClientError as exc:
        raise StorageError(f"sqs attributes {url}: {exc}") from exc
    return {
        "visible": int(attributes["ApproximateNumberOfMessages"]),
        "in_flight": int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    }
