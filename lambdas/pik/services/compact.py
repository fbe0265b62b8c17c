"""Compaction: raw JSON + attempt metadata -> Parquet parts under ``curated/`` (``pik.core.curated``).

A run holds the compaction lease (``Lease``: one conditional item in DynamoDB) from start to end,
so two runs never interleave. For each (source, event_type, event_date) partition touched by an
attempt *recorded* since the watermark (or each partition it is given), it reads every attempt of
that partition from the stream index and the raw object of each ACCEPTED event its current parts
do not hold yet (their payloads are read back from the parts: a late event costs one raw GET, not
the day's), builds the attempts and events rows, encodes them (pure ``encode``/``decode``
functions it is handed), and switches the partition's manifest:

1. the lease is renewed (naming the partition), then parts are written under content-addressed
   keys (same rows -> same bytes -> same key);
2. the lease is renewed again, then the manifest (files + ids per layout) is replaced: the switch,
   atomic for manifest readers; a run that lost its lease stops before it (``LeaseError``), deletes
   nothing (the new holder may be writing the very same keys) and leaves a note
   (``curated.orphans_key``) so the next run collects what it wrote;
3. parts of the old manifest that the new one no longer lists are deleted, and so is any other
   part under the partition that no manifest lists and that was written before this run took the
   lease (an orphan of a crashed run or delete: its writer's lease had ended, so it can never
   switch a manifest to it any more); so are those of the partitions the previous holder left in
   the lease and those named by notes written before this run took the lease.

A partition whose parts would be exactly the ones its manifest lists is left untouched: a re-run
writes nothing. Each stream's typed payload columns come from its schema document
(``curated.schema_key``): widened by what a partition holds and written before the partition's parts;
the stream's partitions last written under narrower columns are then rewritten (``rewritten``), so
every part of a stream has the same columns (docs/adr/0305-one-schema-per-stream.md). With a catalog
(Athena), the compacted partitions are registered before the watermark moves. The watermark then
moves to ``now - settle``: attempts are *recorded* (their item written, stamped just before the
write) at most one writer timeout before they are visible in the recorded index, and ``settle``
(60 s) exceeds the longest (30 s), so every attempt recorded before the watermark was in the feed.
Arrival time plays no part: a queued tap record, a Kinesis backfill, a repair or a retry completing
a crashed request is recorded now, however old its arrival. Rows recorded later reach the same
partitions on the next run. raw/ is read only.

    >>> Compactor(index, documents, archive, feed, lease, encode, decode, now=now).run()
    {'partitions': 3, 'written': 3, 'unchanged': 0, 'rewritten': 0, 'attempts': 120, 'events': 100,
     'orphans': 0, 'watermark': '...'}
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby

from ..core import curated
from ..core.curated import ATTEMPTS, EVENTS, Partition
from ..core.errors import LeaseError, StorageError
from ..core.ports import Archive, Catalog, DocumentStore, EventIndex, Lease, RecordedFeed
from ..core.timefmt import key_time

__all__ = [
    "Encode",
    "Decode",
    "DEFAULT_SETTLE",
    "ROWS_PER_PART",
    "LEASE_TTL",
    "SWITCH_MARGIN",
    "LEASE_SKEW_MS",
    "Compactor",
]

Encode = Callable[[list[dict], dict[str, str]], bytes]
Decode = Callable[[bytes, list[str]], list[dict]]
DEFAULT_SETTLE = timedelta(seconds=60)
ROWS_PER_PART = 1_000_000
#: A lease lasts this long from its last renewal (the compaction function's timeout: a partition
#: needing longer cannot be compacted in Lambda either); in Lambda it never outlives the deadline.
LEASE_TTL = timedelta(minutes=15)
#: A holder switches a manifest only with this much lease left: the PUT lands before the lease ends.
SWITCH_MARGIN = timedelta(seconds=60)
#: A lease is free this long after it ended (clock skew between writers and S3's LastModified).
LEASE_SKEW_MS = 5_000


@dataclass
class _Holding:
    """This run's hold on the lease."""

    holder: str
    acquired_at: datetime
    previous_partition: str
    partition: str = ""


@dataclass
class Compactor:
    index: EventIndex
    documents: DocumentStore
    archive: Archive
    feed: RecordedFeed
    lease: Lease
    encode: Encode
    decode: Decode
    now: Callable[[], datetime]
    settle: timedelta = DEFAULT_SETTLE
    rows_per_part: int = ROWS_PER_PART
    catalog: Catalog | None = None  # Glue, when the stack has Athena: compacted partitions are registered
    deadline: datetime | None = None  # the Lambda's end: the lease never outlives the process
    holder: str = field(default_factory=lambda: f"compaction-{uuid.uuid4().hex}")
    _holding: _Holding | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.settle < timedelta(0):
            raise ValueError(
                f"settle={self.settle}: must be zero or more (rule: the watermark is now - "
                "settle, never in the future, or attempts recorded after the run are skipped)"
            )

    def watermark(self) -> str | None:
        """Attempts recorded before this key-time are compacted (None before the first run)."""
        body = self.archive.read(curated.WATERMARK_KEY)
        return curated.watermark_of(json.loads(body) if body else None)

    def run(self, partitions: Iterable[tuple[str, str, str]] | None = None) -> dict:
        """Compact ``partitions``, or every partition recorded in since the watermark (then advance
        it), under the lease; ``LeaseError`` when another run holds it (nothing done)."""
        started = self.now()
        previous = self.lease.acquire(self.holder, self._until(started), started, LEASE_SKEW_MS)
        self._holding = _Holding(self.holder, started, previous.get("partition", ""))
        try:
            result = self._run(started, partitions)
        except BaseException:
            try:  # leave the partition in progress for the next holder to collect
                self.lease.release(self.holder, self._holding.partition)
            except LeaseError:
                pass  # not ours any more: the lease item is its new holder's
            raise
        self.lease.release(self.holder, "")
        return result

    def _run(self, started: datetime, partitions: Iterable[tuple[str, str, str]] | None) -> dict:
        cutoff = key_time(started - self.settle)
        previous = self.watermark()
        from_feed = partitions is None
        if partitions is None:
            partitions = (
                self.feed.partitions_all()
                if previous is None
                else self.feed.partitions_recorded(previous, key_time(started))
            )
        chosen = sorted({Partition(*p) for p in partitions})
        totals = {
            "partitions": len(chosen),
            "written": 0,
            "unchanged": 0,
            "rewritten": 0,
            "attempts": 0,
            "events": 0,
            "orphans": 0,
        }
        compacted = []
        for result in self._compact_streams(chosen, compacted_at=key_time(started)):
            compacted += [result["partition"]] if result["attempts"] else []
            totals["orphans"] += self.collect(result["partition"], result["files"])
            if result["rewrite"]:  # an earlier day of a widened stream: counted once, as rewritten
                totals["rewritten"] += 1
                continue
            totals["written" if result["written"] else "unchanged"] += 1
            totals["attempts"] += result["attempts"]
            totals["events"] += result["events"]
        totals["orphans"] += self._collect_left(chosen)
        if self.catalog is not None and compacted:  # before the watermark moves: a failure is retried
            self.catalog.register(sorted(set(compacted)))
        watermark = previous
        if from_feed and (previous is None or cutoff > previous):
            watermark = cutoff
            self._fence(None)
            self.archive.write(
                curated.WATERMARK_KEY, _json(curated.watermark_document(cutoff, len(chosen), key_time(started)))
            )
        return {**totals, "watermark": watermark}

    def collect(self, partition: Partition, files: dict[str, list[str]] | None) -> int:
        """Delete every part under ``partition`` that its manifest (``files``, read when None) does not
        list and that was written before this run took the lease; how many."""
        if files is None:
            body = self.archive.read(curated.manifest_key(partition))
            files = json.loads(body)["files"] if body else {}
        listed = {key for layout in curated.LAYOUTS for key in files.get(layout, [])}
        taken = self._holding.acquired_at if self._holding else self.now()
        found: dict[str, datetime] = {}
        for layout in curated.LAYOUTS:
            found.update(self.archive.listed(curated.partition_prefix(layout, partition)))
        orphans = sorted(key for key, modified in found.items() if key not in listed and modified < taken)
        if orphans:
            self.archive.delete(orphans)
        return len(orphans)

    def _collect_left(self, visited: list[Partition]) -> int:
        """Collect the partition the previous holder left in the lease and those named by notes of
        runs that lost their lease before this one took it (``visited`` ones were collected), then
        remove those notes; how many parts."""
        taken = self._holding.acquired_at if self._holding else self.now()
        notes = {
            key: _partition(key[len(curated.ORPHANS_PREFIX) : -len(".json")])
            for key, modified in self.archive.listed(curated.ORPHANS_PREFIX).items()
            if modified < taken
        }
        left = (
            {_partition(self._holding.previous_partition)}
            if self._holding and self._holding.previous_partition
            else set()
        )
        collected = 0
        for partition in sorted((left | set(notes.values())) - set(visited)):
            self._fence(partition)
            collected += self.collect(partition, None)
        if notes:
            self.archive.delete(sorted(notes))
        return collected

    def _until(self, now: datetime) -> datetime:
        until = now + LEASE_TTL
        return min(until, self.deadline) if self.deadline else until

    def _fence(self, partition: Partition | None) -> None:
        """Renew the lease (recording ``partition``) or stop: ``LeaseError`` when it was lost, or when
        less than ``SWITCH_MARGIN`` of it would be left (the Lambda's end is near)."""
        if self._holding is None:
            return
        now = self.now()
        until = self._until(now)
        if until - now < SWITCH_MARGIN:
            raise LeaseError(f"only {until - now} of lease left (less than {SWITCH_MARGIN}): stopping before a switch")
        name = partition.path() if partition else ""
        self.lease.renew(self.holder, until, now, name)
        self._holding.partition = name

    def _compact_streams(self, chosen: list[Partition], *, compacted_at: str) -> Iterator[dict]:
        """Compact ``chosen`` stream by stream, each partition under a renewed lease; then rewrite the
        stream's partitions whose parts have narrower columns than its (widened) schema, and record
        which columns each day has."""
        for (source, event_type), group in groupby(chosen, key=lambda p: (p.source, p.event_type)):
            schema = self.stream_schema(source, event_type)
            recorded, todo, rewrite = json.dumps(schema, sort_keys=True), list(group), False
            while todo:
                for partition in todo:
                    self._fence(partition)
                    yield {
                        **self.compact(partition, compacted_at=compacted_at, schema=schema),
                        "rewrite": rewrite,
                        "partition": partition,
                    }
                todo = [
                    Partition(source, event_type, day)
                    for day, version in sorted(schema["days"].items())
                    if version < schema["version"]
                ]
                rewrite = True
            if json.dumps(schema, sort_keys=True) != recorded:  # a re-run writes nothing
                self._fence(None)
                self._write_schema(schema, compacted_at)

    def stream_schema(self, source: str, event_type: str) -> dict:
        """The stream's schema document (an empty one before its first compaction)."""
        body = self.archive.read(curated.schema_key(source, event_type))
        return json.loads(body) if body else curated.stream_schema_document(source, event_type, {}, "")

    def _write_schema(self, schema: dict, updated_at: str) -> None:
        schema["updated_at"] = updated_at
        self.archive.write(curated.schema_key(schema["source"], schema["event_type"]), _json(schema))

    def _payload_columns(self, events: list[dict], schema: dict | None, compacted_at: str) -> dict[str, str]:
        """The partition's payload columns: the stream's, widened by ``events`` (recorded first)."""
        if schema is None:
            return curated.payload_kinds(events)
        columns = curated.payload_kinds(events, schema["columns"])
        if columns != schema["columns"]:
            schema.update(columns=columns, version=schema["version"] + 1)
            self._write_schema(schema, compacted_at)
        return columns

    def compact(self, partition: Partition, *, compacted_at: str, schema: dict | None = None) -> dict:
        """Rebuild one partition's parts; ``written`` is False when they were already current.
        ``schema`` (the stream's, ``stream_schema``) is widened and records the day's columns."""
        items = list(self.index.by_stream_day(*partition))
        attempts = sorted((curated.attempt_row(item) for item in items), key=curated.sort_key)
        key = curated.manifest_key(partition)
        old = self.archive.read(key)
        old_files = json.loads(old)["files"] if old else {}
        events = sorted(self._event_rows(curated.accepted(items), old_files.get(EVENTS, [])), key=curated.sort_key)
        columns = {
            ATTEMPTS: curated.ATTEMPT_COLUMNS,
            EVENTS: curated.event_columns(self._payload_columns(events, schema, compacted_at)),
        }
        parts = {
            ATTEMPTS: self._parts(ATTEMPTS, partition, attempts, columns[ATTEMPTS], "attempt_id"),
            EVENTS: self._parts(EVENTS, partition, events, columns[EVENTS], "event_id"),
        }
        files = {layout: sorted(parts[layout]) for layout in curated.LAYOUTS}
        counts = {"attempts": len(attempts), "events": len(events)}
        if schema is not None:
            schema["days"].pop(partition.event_date, None)
            if old is not None or attempts:
                schema["days"][partition.event_date] = schema["version"]
        if old_files == files or (old is None and not attempts):  # unchanged, or nothing to start
            return {"written": False, "files": old_files, **counts}
        for layout in curated.LAYOUTS:
            for part_key, (body, _) in parts[layout].items():
                self.archive.write(part_key, body)
        ids = {part_key: part_ids for layout in curated.LAYOUTS for part_key, (_, part_ids) in parts[layout].items()}
        try:
            self._fence(partition)  # the switch happens only under a live lease
        except LeaseError:
            self._leave_note(partition)
            raise
        self.archive.write(key, _json(curated.manifest_document(partition, files, ids, columns, compacted_at)))
        stale = sorted(
            {k for layout in curated.LAYOUTS for k in old_files.get(layout, [])}
            - {k for layout in curated.LAYOUTS for k in files[layout]}
        )
        if stale:
            self.archive.delete(stale)
        return {"written": True, "files": files, **counts}

    def _leave_note(self, partition: Partition) -> None:
        """After losing the lease: say that this run wrote parts under ``partition``, for the next
        run to collect. Deleting them here could remove a part the new holder has just written under
        the same key (same rows, same bytes) and is about to list."""
        note = {"partition": partition.path(), "holder": self.holder, "at": key_time(self.now())}
        with contextlib.suppress(StorageError):  # best effort: the LeaseError is what the caller needs
            self.archive.write(curated.orphans_key(partition), _json(note))

    def _event_rows(self, firsts: list[dict], old_parts: list[str]) -> list[dict]:
        """Events rows for the ACCEPTED attempts ``firsts``: payloads already in the partition's
        current parts are taken from there (one GET per part), only new events' raw objects are
        read. The payload text is canonical JSON, so a reused row is the row raw would give."""
        known: dict[str, tuple[str, str]] = {}
        for part in old_parts:
            body = self.archive.read(part)
            for row in self.decode(body, ["event_id", "payload_sha256", curated.PAYLOAD]) if body else []:
                known[row["event_id"]] = (row["payload_sha256"], row[curated.PAYLOAD])
        reused = {
            item["event_id"]: known[item["event_id"]][1]
            for item in firsts
            if known.get(item["event_id"], ("", ""))[0] == item["payload_sha256"]
        }
        missing = [item for item in firsts if item["event_id"] not in reused]
        raws = dict(
            zip(
                (item["event_id"] for item in missing),
                self.documents.get_many([item["s3_key"] for item in missing]),
                strict=True,
            )
        )
        return [
            curated.event_row(item, raws[item["event_id"]])
            if item["event_id"] in raws
            else curated.event_row(item, {"event": {"payload": json.loads(reused[item["event_id"]])}})
            for item in firsts
        ]

    def _parts(
        self, layout: str, partition: Partition, rows: list[dict], columns: dict[str, str], id_column: str
    ) -> dict[str, tuple[bytes, list[str]]]:
        """Part key -> (Parquet bytes, the ids of its rows), ``rows_per_part`` rows per part."""
        parts = {}
        for start in range(0, len(rows), self.rows_per_part):
            chunk = rows[start : start + self.rows_per_part]
            body = self.encode(chunk, columns)
            digest = hashlib.sha256(body).hexdigest()[:32]
            parts[curated.part_key(layout, *partition, digest)] = (body, [row[id_column] for row in chunk])
        return parts


def _partition(path: str) -> Partition:
    """``Partition.path()`` read back: ``source=S/event_type=T/event_date=D``."""
    fields = dict(piece.split("=", 1) for piece in path.split("/"))
    return Partition(fields["source"], fields["event_type"], fields["event_date"])


def _json(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")
