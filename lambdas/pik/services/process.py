"""Processor: recompute each (entity, day) a batch touches, over every ACCEPTED event of it.

A new aggregate version is written only when the input set or the code version changed.
Versions are 1, 2, 3... per (entity, day, metric). All metrics of one recompute are written in
ONE DynamoDB transaction, each put conditional on its version being free: a version is whole or
absent (a crash, an error or a lost race writes none of its metrics), and two processors can
never write the same version. The loser re-reads the latest versions and writes nothing when the
winner recorded the same inputs and code. A transaction holds at most ``MAX_METRICS`` items
(DynamoDB's limit), so an aggregator that names more metrics is refused with a clear error
(``pik.core.metrics.parse_fields`` refuses more than ``MAX_FIELDS`` fields up front). The
manifest is content-addressed by the inputs hash and written before any version that points at it.

Cost: the input set always comes from the index, in full. When the latest versions already
have its inputs hash and the code version, nothing else is read. Otherwise, with the default
aggregator, inputs the previous manifest lists with the same payload hash reuse their recorded
contribution (``pik.core.contributions``); only the others' raw objects are read, each checked
against its recorded payload hash. The result equals a recompute from every raw object.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from ..core import contributions, identity, keys, records
from ..core.errors import FieldError, StorageError, ValidationError
from ..core.metrics import MAX_METRICS, Aggregator, compute
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
        inputs_hash = identity.inputs_hash([item["event_id"] for item in inputs])
        manifest_key = keys.manifest_key(entity_id, day, inputs_hash)
        latest = self._latest_of_day(entity_id, day)
        answer = {"entity_id": entity_id, "day": day, "input_count": len(inputs), "inputs_hash": inputs_hash,
                  "code_version": self.code_version, "replay_id": replay_id or "", "written": [], "dry_run": self.dry_run}
        expected = set(self.aggregator([], self.fields))  # the metrics this aggregator names
        if expected and expected <= set(latest) and all(
                _unchanged(latest[metric], inputs_hash, self.code_version) for metric in expected):
            return answer  # same inputs, same code: no raw object needs reading
        payloads, kept = self._payloads(inputs, latest)
        values = self.aggregator(payloads, self.fields)
        if len(values) > MAX_METRICS:
            raise ValueError(f"the aggregator names {len(values)} metrics; one version is one DynamoDB transaction "
                             f"of at most {MAX_METRICS} items: name at most {MAX_METRICS} metrics")
        changed = {metric: value for metric, value in values.items()
                   if not _unchanged(latest.get(metric), inputs_hash, self.code_version)}
        if not changed:
            return answer
        if not self.dry_run:
            manifest = [{k: item[k] for k in ("event_id", "payload_sha256", "s3_key", "event_time")} for item in inputs]
            if kept is not None:
                for row, contribution in zip(manifest, kept, strict=True):
                    row["contribution"] = contribution
            self.store.put_new(manifest_key, records.manifest_document(entity_id, day, inputs_hash, manifest))
        answer["written"] = self._append(entity_id, day, changed, latest, len(inputs), inputs_hash, manifest_key, replay_id)
        return answer

    def _latest_of_day(self, entity_id: str, day: str) -> dict[str, dict]:
        """The latest version of each metric of one entity-day (one query)."""
        latest: dict[str, dict] = {}
        for item in self.aggregates.versions(entity_id, day, day):
            if item.get("day") == day and item["version"] > latest.get(item["metric"], {}).get("version", 0):
                latest[item["metric"]] = item
        return latest

    def _payloads(self, inputs: list[dict], latest: dict[str, dict]) -> tuple[list[Any], list[dict] | None]:
        """Each input's payload (or, for the default aggregator, its contribution as a payload),
        and the contributions to keep in the new manifest (None for a custom aggregator)."""
        if self.aggregator is not compute:
            documents = self.store.get_many([item["s3_key"] for item in inputs])
            return [_verified_payload(doc, item) for doc, item in zip(documents, inputs, strict=True)], None
        rows = self._previous_rows(latest)
        kept: list[dict | None] = []
        for item in inputs:
            row = rows.get(item["event_id"])
            reuse = row is not None and contributions.reusable(row, item["payload_sha256"], self.fields)
            kept.append(dict(row["contribution"]) if row is not None and reuse else None)
        missing = [i for i, value in enumerate(kept) if value is None]
        documents = self.store.get_many([inputs[i]["s3_key"] for i in missing])
        for i, document in zip(missing, documents, strict=True):
            kept[i] = contributions.contribution(_verified_payload(document, inputs[i]), self.fields)
        filled = cast(list[dict], kept)  # every None was filled just above
        return [contributions.as_payload(value) for value in filled], filled

    def _previous_rows(self, latest: dict[str, dict]) -> dict[str, dict]:
        """The previous manifest's rows by event id ({} when there is none or it cannot be read)."""
        previous = latest.get("count") or next(iter(latest.values()), None)
        if not previous or not previous.get("manifest_key"):
            return {}
        try:
            manifest = self.store.get(previous["manifest_key"])
        except StorageError:
            return {}  # read every raw object instead
        return {row["event_id"]: row for row in manifest.get("inputs", []) if isinstance(row, dict) and "event_id" in row}

    def _append(self, entity_id: str, day: str, values: dict[str, Any], latest: dict[str, dict], count: int,
                inputs_hash: str, manifest_key: str, replay_id: str | None) -> list[dict]:
        """Write the next version of every metric in ``values`` in one transaction; after a lost
        race, again over the metrics the winner did not already record with these inputs."""
        computed_at = self.now()
        for _ in range(MAX_VERSION_RACES):
            items = [records.aggregate_item(
                entity_id=entity_id, day=day, metric=metric, version=latest.get(metric, {}).get("version", 0) + 1,
                value=value, input_count=count, inputs_hash=inputs_hash, code_version=self.code_version,
                computed_at=computed_at, replay_id=replay_id, manifest_key=manifest_key) for metric, value in values.items()]
            if self.dry_run or self.aggregates.append(items):
                return [{"metric": item["metric"], "version": item["version"], "value": values[item["metric"]],
                         "computed_at": item["computed_at"]} for item in items]
            latest = self._latest_of_day(entity_id, day)  # another processor won these version numbers
            values = {metric: value for metric, value in values.items()
                      if not _unchanged(latest.get(metric), inputs_hash, self.code_version)}
            if not values:
                return []
        raise StorageError(f"lost {MAX_VERSION_RACES} version races for {entity_id} {day}")


def _unchanged(latest: dict | None, inputs_hash: str, code_version: str) -> bool:
    return latest is not None and latest["inputs_hash"] == inputs_hash and latest["code_version"] == code_version


def _verified_payload(document: dict, item: dict) -> Any:
    payload = document["event"]["payload"]
    if identity.payload_sha256(payload) != item["payload_sha256"]:
        raise IntegrityError(f"raw object {item['s3_key']} does not match its recorded payload hash")
    return payload
