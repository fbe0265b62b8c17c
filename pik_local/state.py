"""Save and restore the local stack's state (``--state-dir``) through boto3, so a stop is resumable.

Layout of ``DIR/snapshot/`` (JSON lines, one file per resource, named by logical id)::

    manifest.json                         schema, saved_at, counts per resource
    s3/RawBucket.jsonl                    {"key", "body_b64", "content_type"} (current versions)
    dynamodb/EventsTable.jsonl            items in DynamoDB JSON, exactly as stored
    sqs/ReplayQueue.jsonl                 {"body", "attributes"} for every queued message

A snapshot is written on a clean shutdown into ``snapshot.tmp`` (every file forced to disk) and
swapped in by renames, so a crash while saving keeps the previous snapshot. What changed since
the snapshot is in the write-ahead journal (``pik_local.journal``): the manifest's
``journal_through`` names the last journal generation the snapshot covers. Restored messages are
new messages: ids, receive counts and sent timestamps start afresh; only current object versions
are kept.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import template as tpl
from .journal import sync_directory

SCHEMA = "pik.local-state.v1"
WORKERS = 8


def save(
    session: Any, names: dict[str, str], directory: Path | str, template: dict | None = None, journal_through: int = 0
) -> dict[str, int]:
    """Write every object, item and queued message to ``directory``; returns counts per logical id.

    >>> save(session, resources.names, ".pik/state")   # doctest: +SKIP
    {'RawBucket': 120, 'EventsTable': 250, ..., 'ReplayQueue': 0}
    """
    template = template or tpl.load()
    root = Path(directory)
    tmp = root / "snapshot.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    counts: dict[str, int] = {}
    for logical, kind, rows in _exports(session, names, template):
        counts[logical] = _write_lines(tmp / kind / f"{logical}.jsonl", rows)
    manifest = {
        "schema": SCHEMA,
        "saved_at": datetime.now(UTC).isoformat(),
        "counts": counts,
        "journal_through": journal_through,
    }
    _durable_write(tmp / "manifest.json", json.dumps(manifest, indent=2))
    for folder in {path.parent for path in tmp.rglob("*")} | {tmp}:
        sync_directory(folder)
    _swap_in(root, tmp)
    sync_directory(root)
    return counts


def journal_through(directory: Path | str) -> int:
    """The last journal generation the current snapshot covers (0 without a snapshot)."""
    snapshot = _latest(Path(directory))
    if snapshot is None:
        return 0
    return int(json.loads((snapshot / "manifest.json").read_text()).get("journal_through", 0))


def restore(session: Any, names: dict[str, str], directory: Path | str) -> dict[str, int] | None:
    """Load a snapshot written by ``save`` into freshly created resources; None when there is none."""
    snapshot = _latest(Path(directory))
    if snapshot is None:
        return None
    counts: dict[str, int] = {}
    loaders = {"s3": _restore_objects, "dynamodb": _restore_items, "sqs": _restore_messages}
    for kind, loader in loaders.items():
        for path in sorted((snapshot / kind).glob("*.jsonl")):
            if path.stem in names:
                counts[path.stem] = loader(session, names[path.stem], _read_lines(path))
    return counts


def _exports(session: Any, names: dict[str, str], template: dict) -> Iterator[tuple[str, str, Iterable[dict]]]:
    for logical in tpl.of_type(template, "AWS::S3::Bucket"):
        yield logical, "s3", _objects(session.client("s3"), names[logical])
    for logical in tpl.of_type(template, "AWS::DynamoDB::Table"):
        yield logical, "dynamodb", _items(session.client("dynamodb"), names[logical])
    queues = tpl.of_type(template, "AWS::SQS::Queue")
    # Queues with a redrive policy first: draining them may move messages to their DLQ.
    for logical in sorted(queues, key=lambda n: "RedrivePolicy" not in queues[n].get("Properties", {})):
        yield logical, "sqs", _messages(session.client("sqs"), names[logical])


def _objects(s3: Any, bucket: str) -> Iterator[dict]:
    keys = [
        obj["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for obj in page.get("Contents", [])
    ]

    def fetch(key: str) -> dict:
        response = s3.get_object(Bucket=bucket, Key=key)
        return {
            "key": key,
            "body_b64": base64.b64encode(response["Body"].read()).decode("ascii"),
            "content_type": response.get("ContentType", "binary/octet-stream"),
        }

    with ThreadPoolExecutor(WORKERS) as pool:
        yield from pool.map(fetch, keys)


def _items(ddb: Any, table: str) -> Iterator[dict]:
    for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        yield from page.get("Items", [])


def _messages(sqs: Any, url: str) -> Iterator[dict]:
    """Drain the queue (the stack is stopping; restore puts the messages back)."""
    while True:
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            VisibilityTimeout=900,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            return
        for message in batch:
            yield {"body": message["Body"], "attributes": message.get("MessageAttributes", {})}


def _restore_objects(session: Any, bucket: str, rows: Iterable[dict]) -> int:
    s3 = session.client("s3")

    def put(row: dict) -> None:
        s3.put_object(
            Bucket=bucket, Key=row["key"], Body=base64.b64decode(row["body_b64"]), ContentType=row["content_type"]
        )

    with ThreadPoolExecutor(WORKERS) as pool:
        return sum(1 for _ in pool.map(put, rows))


def _restore_items(session: Any, table: str, rows: Iterable[dict]) -> int:
    ddb, count = session.client("dynamodb"), 0
    for chunk in _chunks(rows, 25):
        pending = {table: [{"PutRequest": {"Item": item}} for item in chunk]}
        while pending:
            pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        count += len(chunk)
    return count


def _restore_messages(session: Any, url: str, rows: Iterable[dict]) -> int:
    sqs, count = session.client("sqs"), 0
    for chunk in _chunks(rows, 10):
        entries = [
            {
                "Id": str(i),
                "MessageBody": row["body"],
                **({"MessageAttributes": row["attributes"]} if row["attributes"] else {}),
            }
            for i, row in enumerate(chunk)
        ]
        failed = sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed", [])
        if failed:
            raise RuntimeError(f"could not restore {len(failed)} messages to {url}: {failed[0]}")
        count += len(chunk)
    return count


def _chunks(rows: Iterable[dict], size: int) -> Iterator[list[dict]]:
    chunk: list[dict] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _write_lines(path: Path, rows: Iterable[dict]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, separators=(",", ":")) + "\n")
            count += 1
        out.flush()
        os.fsync(out.fileno())
    return count


def _durable_write(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())


def _read_lines(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            yield json.loads(line)


def _swap_in(root: Path, tmp: Path) -> None:
    """Replace ``snapshot`` by ``snapshot.tmp`` with renames; ``snapshot.old`` bridges a crash."""
    current, old = root / "snapshot", root / "snapshot.old"
    shutil.rmtree(old, ignore_errors=True)
    if current.exists():
        current.rename(old)
    tmp.rename(current)
    shutil.rmtree(old, ignore_errors=True)


def _latest(root: Path) -> Path | None:
    for candidate in (root / "snapshot", root / "snapshot.old"):
        if (candidate / "manifest.json").exists():
            return candidate
    return None
