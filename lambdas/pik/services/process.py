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
        plan = self.plan(entity_id, day)
        answer = {
            "entity_id": entity_id,
            "day": day,
            "input_count": len(plan.inputs),
            "inputs_hash": plan.inputs_hash,
            "code_version": self.code_version,
            "replay_id": replay_id or "",
            "written": [],
            "dry_run": self.dry_run,
        }
        if not plan.changed:
            return answer
        manifest_key = keys.manifest_key(entity_id, day, plan.inputs_hash)
        if not self.dry_run:
            manifest = [
                {k: item[k] for k in ("event_id", "payload_sha256", "s3_key", "event_time")} for item in plan.inputs
            ]
            if plan.kept is not None:
                for row, contribution in zip(manifest, plan.kept, strict=True):
                    row["contribution"] = contribution
            self.store.put_new(manifest_key, records.manifest_document(entity_id, day, plan.inputs_hash, manifest))
        answer["written"] = self._append(
            entity_id, day, plan.changed, plan.latest, len(plan.inputs), plan.inputs_hash, manifest_key, replay_id
        )
        return answer

    def plan(self, entity_id: str, day: str) -> Plan:
        """What a recompute of one entity-day reads and would write, writing nothing: ``recompute``
        writes exactly ``plan.changed``; ``preview`` shows it (one source of truth for both)."""
        start, end = day_bounds(day)
        inputs = [
            item
            for item in self.index.by_entity(entity_id, key_time(start), key_time(end), page_size=self.page_size)
            if item["status"] == ACCEPTED
        ]
        inputs_hash = identity.inputs_hash([item["event_id"] for item in inputs])
        latest = self._latest_of_day(entity_id, day)
        expected = set(self.aggregator([], self.fields))  # the metrics this aggregator names
        if (
            expected
            and expected <= set(latest)
            and all(_unchanged(latest[metric], inputs_hash, self.code_version) for metric in expected)
        ):
            values = {metric: latest[metric].get("value") for metric in expected}  # same inputs and code: none read
            return Plan(entity_id, day, inputs, inputs_hash, latest, values, {}, None, None)
        previous = self._previous_rows(latest) if self.aggregator is compute else None
        payloads, kept = self._payloads(inputs, previous)
        values = self.aggregator(payloads, self.fields)
        if len(values) > MAX_METRICS:
            raise ValueError(
                f"the aggregator names {len(values)} metrics; one version is one DynamoDB transaction "
                f"of at most {MAX_METRICS} items: name at most {MAX_METRICS} metrics"
            )
        changed = {
            metric: value
            for metric, value in values.items()
            if not _unchanged(latest.get(metric), inputs_hash, self.code_version)
        }
        return Plan(entity_id, day, inputs, inputs_hash, latest, values, changed, kept, previous)

    def preview(self, entity_id: str, day: str) -> dict:
        """What replaying one entity-day to the processor would change, from ``plan`` (nothing written):
        per metric the value now and after, and the events that would enter (or leave) its inputs.

        >>> recomputer.preview("customer-42", "2026-11-20")["metrics"][0]
        {'metric': 'count', 'now': 3, 'after': 4, 'version_now': 1, 'version_after': 2, 'changed': True}
        """
        plan = self.plan(entity_id, day)
        metrics = []
        for metric, value in plan.values.items():
            version = plan.latest.get(metric, {}).get("version")
            new = metric in plan.changed
            metrics.append(
                {
                    "metric": metric,
                    "now": plan.latest.get(metric, {}).get("value"),
                    "after": records.answered_number(value) if new else plan.latest[metric].get("value"),
                    "version_now": version,
                    "version_after": (version or 0) + 1 if new else version,
                    "changed": new,
                }
            )
        entering: list[str] = []
        leaving: list[str] = []
        if plan.changed:
            before = set(plan.previous if plan.previous is not None else self._previous_rows(plan.latest))
            after = [item["event_id"] for item in plan.inputs]
            entering, leaving = [i for i in after if i not in before], sorted(before - set(after))
        counted = plan.latest.get("count") or next(iter(plan.latest.values()), {})
        return {
            "entity_id": entity_id,
            "day": day,
            "inputs_now": counted.get("input_count", 0),
            "inputs_after": len(plan.inputs),
            "metrics": metrics,
            "entering": entering,
            "leaving": leaving,
        }

    def _latest_of_day(self, entity_id: str, day: str) -> dict[str, dict]:
        """The latest version of each metric of one entity-day (one query)."""
        latest: dict[str, dict] = {}
        for item in self.aggregates.versions(entity_id, day, day):
            if item.get("day") == day and item["version"] > latest.get(item["metric"], {}).get("version", 0):
                latest[item["metric"]] = item
        return latest

    def _payloads(self, inputs: list[dict], rows: dict[str, dict] | None) -> tuple[list[Any], list[dict] | None]:
        """Each input's payload (or, for the default aggregator, its contribution as a payload, reused
        from the previous manifest's ``rows`` when it stands), and the contributions to keep in the new
        manifest (None for a custom aggregator)."""
        if rows is None:
            documents = self.store.get_many([item["s3_key"] for item in inputs])
            return [_verified_payload(doc, item) for doc, item in zip(documents, inputs, strict=True)], None
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
        return {
            row["event_id"]: row for row in manifest.get("inputs", []) if isinstance(row, dict) and "event_id" in row
        }

    def _append(
        self,
        entity_id: str,
        day: str,
        values: dict[str, Any],
        latest: dict[str, dict],
        count: int,
        inputs_hash: str,
        manifest_key: str,
        replay_id: str | None,
    ) -> list[dict]:
        """Write the next version of every metric in ``values`` in one transaction; after a lost
        race, again over the metrics the winner did not already record with these inputs."""
        computed_at = self.now()
        for _ in range(MAX_VERSION_RACES):
            items = [
                records.aggregate_item(
                    entity_id=entity_id,
                    day=day,
                    metric=metric,
                    version=latest.get(metric, {}).get("version", 0) + 1,
                    value=value,
                    input_count=count,
                    inputs_hash=inputs_hash,
                    code_version=self.code_version,
                    computed_at=computed_at,
                    replay_id=replay_id,
                    manifest_key=manifest_key,
                )
                for metric, value in values.items()
            ]
            if self.dry_run or self.aggregates.append(items):
                return [
                    {
                        "metric": item["metric"],
                        "version": item["version"],
                        "value": values[item["metric"]],
                        "computed_at": item["computed_at"],
                    }
                    for item in items
                ]
            latest = self._latest_of_day(entity_id, day)  # another processor won these version numbers
            values = {
                metric: value
                for metric, value in values.items()
                if not _unchanged(latest.get(metric), inputs_hash, self.code_version)
            }
            if not values:
                return []
        raise StorageError(f"lost {MAX_VERSION_RACES} version races for {entity_id} {day}")


@dataclass(frozen=True)
class Plan:
    """One entity-day's recompute before it writes: its inputs (every ACCEPTED event of the day, from the
    index), the latest version of each metric, the aggregator's ``values`` over the inputs, the metrics
    a new version would be written for (``changed``; empty: same inputs, same code), the contributions
    to keep in the new manifest, and the previous manifest's rows by event id when they were read."""

    entity_id: str
    day: str
    inputs: list[dict]
    inputs_hash: str
    latest: dict[str, dict]
    values: dict[str, Any]
    changed: dict[str, Any]
    kept: list[dict] | None
    previous: dict[str, dict] | None


def _unchanged(latest: dict | None, inputs_hash: str, code_version: str) -> bool:
    return latest is not None and latest["inputs_hash"] == inputs_hash and latest["code_version"] == code_version


def _verified_payload(document: dict, item: dict) -> Any:
    payload = document["event"]["payload"]
    if identity.payload_sha256(payload) != item["payload_sha256"]:
        raise IntegrityError(f"raw object {item['s3_key']} does not match its recorded payload hash")
    return payload
