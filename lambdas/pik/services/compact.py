"""Compaction: raw JSON + attempt metadata -> Parquet parts under ``curated/`` (``pik.core.curated``).

For each (source, event_type, event_date) partition touched by an attempt that arrived since the
watermark (or each partition it is given), read every attempt of that partition from the stream
index and the raw object of each ACCEPTED event its current parts do not hold yet (their payloads
are read back from the parts: a late event costs one raw GET, not the day's), build the attempts
and events rows, encode them (pure ``encode``/``decode`` functions it is handed), and switch the
partition's manifest:

1. parts are written under content-addressed keys (same rows -> same bytes -> same key);
2. the manifest (files + ids per layout) is replaced: the switch, atomic for manifest readers;
3. parts of the old manifest that the new one no longer lists are deleted.

A partition whose parts would be exactly the ones its manifest lists is left untouched: a re-run
writes nothing. Each stream's typed payload columns come from its schema document
(``curated.schema_key``): widened by what a partition holds and written before the partition's parts;
the stream's partitions last written under narrower columns are then rewritten (``rewritten``), so
every part of a stream has the same columns (docs/adr/0305-one-schema-per-stream.md). The
watermark then moves to ``now - settle`` (``settle`` exceeds the ingest function's timeout, so every
attempt that arrived before the watermark was already written when the feed read it). Rows arriving later reach the same partitions on the next run. raw/ is read only.

    >>> Compactor(index, documents, archive, feed, encode, now=now).run()
    {'partitions': 3, 'written': 3, 'unchanged': 0, 'attempts': 120, 'events': 100, 'watermark': '...'}
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from typing import Callable, Iterable, Iterator

from ..core import curated
from ..core.curated import ATTEMPTS, EVENTS, Partition
from ..core.ports import Archive, ArrivalFeed, Catalog, DocumentStore, EventIndex
from ..core.timefmt import key_time

Encode = Callable[[list[dict], dict[str, str]], bytes]
Decode = Callable[[bytes, list[str]], list[dict]]
DEFAULT_SETTLE = timedelta(seconds=60)
ROWS_PER_PART = 1_000_000


@dataclass
class Compactor:
    index: EventIndex
    documents: DocumentStore
    archive: Archive
    feed: ArrivalFeed
    encode: Encode
    decode: Decode
    now: Callable[[], datetime]
    settle: timedelta = DEFAULT_SETTLE
    rows_per_part: int = ROWS_PER_PART
    catalog: Catalog | None = None  # Glue, when the stack has Athena: compacted partitions are registered

    def watermark(self) -> str | None:
        """Attempts that arrived before this key-time are compacted (None before the first run)."""
        body = self.archive.read(curated.WATERMARK_KEY)
        return json.loads(body)["ingest_time"] if body else None

    def run(self, partitions: Iterable[tuple[str, str, str]] | None = None) -> dict:
        """Compact ``partitions``, or every partition touched since the watermark (then advance it)."""
        started = self.now()
        cutoff = key_time(started - self.settle)
        previous = self.watermark()
        chosen = sorted({Partition(*p) for p in (partitions if partitions is not None
                                                 else self.feed.partitions_since(previous or ""))})
        totals = {"partitions": len(chosen), "written": 0, "unchanged": 0, "rewritten": 0, "attempts": 0,
                  "events": 0}
        compacted = []
        for result in self._compact_streams(chosen, compacted_at=key_time(started)):
            compacted += [result["partition"]] if result["attempts"] else []
            if result["rewrite"]:  # an earlier day of a widened stream: counted once, as rewritten
                totals["rewritten"] += 1
                continue
            totals["written" if result["written"] else "unchanged"] += 1
            totals["attempts"] += result["attempts"]
            totals["events"] += result["events"]
        if self.catalog is not None and compacted:  # before the watermark moves: a failure is retried
            self.catalog.register(sorted(set(compacted)))
        watermark = previous
        if partitions is None and (previous is None or cutoff > previous):
            watermark = cutoff
            self.archive.write(curated.WATERMARK_KEY, _json(curated.watermark_document(cutoff, len(chosen),
                                                                                       key_time(started))))
        return {**totals, "watermark": watermark}

    def _compact_streams(self, chosen: list[Partition], *, compacted_at: str) -> Iterator[dict]:
        """Compact ``chosen`` stream by stream; then rewrite the stream's partitions whose parts
        have narrower columns than its (widened) schema, and record which columns each day has."""
        for (source, event_type), group in groupby(chosen, key=lambda p: (p.source, p.event_type)):
            schema = self.stream_schema(source, event_type)
            recorded, todo, rewrite = json.dumps(schema, sort_keys=True), list(group), False
            while todo:
                for partition in todo:
                    yield {**self.compact(partition, compacted_at=compacted_at, schema=schema), "rewrite": rewrite,
                           "partition": partition}
                todo = [Partition(source, event_type, day) for day, version in sorted(schema["days"].items())
                        if version < schema["version"]]
                rewrite = True
            if json.dumps(schema, sort_keys=True) != recorded:  # a re-run writes nothing
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
        columns = {ATTEMPTS: curated.ATTEMPT_COLUMNS,
                   EVENTS: curated.event_columns(self._payload_columns(events, schema, compacted_at))}
        parts = {ATTEMPTS: self._parts(ATTEMPTS, partition, attempts, columns[ATTEMPTS], "attempt_id"),
                 EVENTS: self._parts(EVENTS, partition, events, columns[EVENTS], "event_id")}
        files = {layout: sorted(parts[layout]) for layout in curated.LAYOUTS}
        counts = {"attempts": len(attempts), "events": len(events)}
        if schema is not None:
            schema["days"].pop(partition.event_date, None)
            if old is not None or attempts:
                schema["days"][partition.event_date] = schema["version"]
        if old_files == files or (old is None and not attempts):  # unchanged, or nothing to start
            return {"written": False, **counts}
        for layout in curated.LAYOUTS:
            for part_key, (body, _) in parts[layout].items():
                self.archive.write(part_key, body)
        ids = {part_key: part_ids for layout in curated.LAYOUTS for part_key, (_, part_ids) in parts[layout].items()}
        self.archive.write(key, _json(curated.manifest_document(partition, files, ids, columns, compacted_at)))
        stale = sorted({k for layout in curated.LAYOUTS for k in old_files.get(layout, [])} - {
            k for layout in curated.LAYOUTS for k in files[layout]})
        if stale:
            self.archive.delete(stale)
        return {"written": True, **counts}

    def _event_rows(self, firsts: list[dict], old_parts: list[str]) -> list[dict]:
        """Events rows for the ACCEPTED attempts ``firsts``: payloads already in the partition's
        current parts are taken from there (one GET per part), only new events' raw objects are
        read. The payload text is canonical JSON, so a reused row is the row raw would give."""
        known: dict[str, tuple[str, str]] = {}
        for part in old_parts:
            body = self.archive.read(part)
            for row in self.decode(body, ["event_id", "payload_sha256", curated.PAYLOAD]) if body else []:
                known[row["event_id"]] = (row["payload_sha256"], row[curated.PAYLOAD])
        reused = {item["event_id"]: known[item["event_id"]][1] for item in firsts
                  if known.get(item["event_id"], ("", ""))[0] == item["payload_sha256"]}
        missing = [item for item in firsts if item["event_id"] not in reused]
        raws = dict(zip((item["event_id"] for item in missing),
                        self.documents.get_many([item["s3_key"] for item in missing])))
        return [curated.event_row(item, raws[item["event_id"]]) if item["event_id"] in raws
                else curated.event_row(item, {"event": {"payload": json.loads(reused[item["event_id"]])}})
                for item in firsts]

    def _parts(self, layout: str, partition: Partition, rows: list[dict], columns: dict[str, str],
               id_column: str) -> dict[str, tuple[bytes, list[str]]]:
        """Part key -> (Parquet bytes, the ids of its rows), ``rows_per_part`` rows per part."""
        parts = {}
        for start in range(0, len(rows), self.rows_per_part):
            chunk = rows[start:start + self.rows_per_part]
            body = self.encode(chunk, columns)
            digest = hashlib.sha256(body).hexdigest()[:32]
            parts[curated.part_key(layout, *partition, digest)] = (body, [row[id_column] for row in chunk])
        return parts


def _json(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")
