"""Processor: recompute each (entity, day) a batch touches, from every ACCEPTED event's raw bytes.

A new aggregate version is written only when the input set or the code version changed.
Versions are 1, 2, 3... per (entity, day, metric), claimed with a conditional put so two
processors can never write the same version. The manifest is content-addressed by the inputs
hash and written before any version that points at it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from ..core import identity, keys, records
from ..core.errors import FieldError, StorageError, ValidationError
from ..core.metrics import Aggregator
from ..core.ports import AggregateStore, DocumentStore, EventIndex
from ..core.records import ACCEPTED
from ..core.timefmt import day_bounds, key_time

MAX_VERSION_RACES = 5


class IntegrityError(StorageError):
    """A raw object's payload no longer matches the hash recorded at ingest."""


def parse_message(body: str) -> dict:
    """A replay message, or ``ValidationError`` (a poison message that no retry can fix)."""
    try:
        message = json.loads(body)
        day_bounds(message["event_date"])
        if not isinstance(message["entity_id"], str) or not message["entity_id"]:
            raise ValueError("entity_id")
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationError([FieldError("body", "replay_message", f"not a replay message: {exc}")]) from exc
    return message


@dataclass
class Recomputer:
    """One per invocation: each (entity, day) is recomputed once however many messages name it."""

    index: EventIndex
    store: DocumentStore
    aggregates: AggregateStore
    aggregator: Aggregator
    code_version: str
    fields: tuple[str, ...]
    now: Callable[[], datetime]
    dry_run: bool = False
    page_size: int | None = None
    _done: dict = field(default_factory=dict)

    def handle(self, body: str) -> dict:
        message = parse_message(body)
        group = (message["entity_id"], message["event_date"])
        if group not in self._done:
            try:
                self._done[group] = self.recompute(*group, replay_id=message.get("replay_id"))
            except Exception as exc:  # remembered so every message of the group fails alike
                self._done[group] = exc
        result = self._done[group]
        if isinstance(result, Exception):
            raise result
        return result

    def recompute(self, entity_id: str, day: str, *, replay_id: str | None) -> dict:
        """Recompute one entity-day; returns what was (or, in dry run, would be) written."""
        start, end = day_bounds(day)
        inputs = [item for item in self.index.by_entity(entity_id, key_time(start), key_time(end), page_size=self.page_size)
                  if item["status"] == ACCEPTED]
        payloads = [_verified_payload(doc, item) for doc, item in
                    zip(self.store.get_many([item["s3_key"] for item in inputs]), inputs)]
        values = self.aggregator(payloads, self.fields)
        inputs_hash = identity.inputs_hash([item["event_id"] for item in inputs])
        manifest_key = keys.manifest_key(entity_id, day, inputs_hash)
        written = []
        for metric, value in values.items():
            latest = self.aggregates.latest(entity_id, day, metric)
            if _unchanged(latest, inputs_hash, self.code_version):
                continue
            if not written and not self.dry_run:
                manifest = [{k: item[k] for k in ("event_id", "payload_sha256", "s3_key", "event_time")} for item in inputs]
                self.store.put_new(manifest_key, records.manifest_document(entity_id, day, inputs_hash, manifest))
            version = self._append(entity_id, day, metric, value, latest, len(inputs), inputs_hash, manifest_key, replay_id)
            if version:
                written.append({"metric": metric, "version": version, "value": value})
        return {"entity_id": entity_id, "day": day, "input_count": len(inputs), "inputs_hash": inputs_hash,
                "written": written, "dry_run": self.dry_run}

    def _append(self, entity_id: str, day: str, metric: str, value: Any, latest: dict | None, count: int,
                inputs_hash: str, manifest_key: str, replay_id: str | None) -> int | None:
        for _ in range(MAX_VERSION_RACES):
            version = (latest["version"] if latest else 0) + 1
            item = records.aggregate_item(
                entity_id=entity_id, day=day, metric=metric, version=version, value=value, input_count=count,
                inputs_hash=inputs_hash, code_version=self.code_version, computed_at=self.now(),
                replay_id=replay_id, manifest_key=manifest_key)
            if self.dry_run or self.aggregates.put_new(item):
                return version
            latest = self.aggregates.latest(entity_id, day, metric)  # another processor won this version
            if _unchanged(latest, inputs_hash, self.code_version):
                return None
        raise StorageError(f"lost {MAX_VERSION_RACES} version races for {entity_id} {day} {metric}")


def _unchanged(latest: dict | None, inputs_hash: str, code_version: str) -> bool:
    return latest is not None and latest["inputs_hash"] == inputs_hash and latest["code_version"] == code_version


def _verified_payload(document: dict, item: dict) -> Any:
    payload = document["event"]["payload"]
    if identity.payload_sha256(payload) != item["payload_sha256"]:
        raise IntegrityError(f"raw object {item['s3_key']} does not match its recorded payload hash")
    return payload
