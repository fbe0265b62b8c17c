"""Which events an external replay target already got: one record per (target, event), and the
summary a run answers (``already_delivered``), without I/O.

A target is named by what it is, not how a request spelled it: its kind and the ARN the allow-list
matches (``Target.arn``; a bus by name or by ARN is one bus, an HTTP URL in its normal form).
Delivery options (``raw``, ``fifo_group_id``) do not change which target got the event.

    >>> from pik.core.targets import parse_target
    >>> q = parse_target({"sqs": "https://sqs.eu-west-1.amazonaws.com/111122223333/orders", "raw": False})
    >>> target_key(q, "us-east-1", "1") == target_key(parse_target({"sqs": q.address}), "us-east-1", "1")
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import identity, keys
from .targets import Target

__all__ = ["MAX_RUNS", "target_key", "delivery_item", "AlreadyDelivered"]

MAX_RUNS = 20  # runs named in a summary (the first met); events of any other run are counted in other_runs


def target_key(target: Target, region: str, account: str) -> str:
    """The key naming one target in delivery records (32 hex digits of the hash of kind and ARN)."""
    named = identity.canonical_json(["delivery", target.kind, target.arn(region, account)])
    return identity.sha256_hex(named)[:32]


def delivery_item(target_key_: str, target_label: str, event_id: str, replay_id: str, at: str) -> dict[str, Any]:
    """The record that ``replay_id`` delivered ``event_id`` to the target at ``at`` (a few hundred bytes,
    far below DynamoDB's 400 KB item limit)."""
    return {
        "pk": keys.delivery_pk(target_key_, event_id),
        "sk": keys.DELIVERY_SK,
        "event_id": event_id,
        "target": target_label,
        "replay_id": replay_id,
        "delivered_at": at,
    }


@dataclass
class AlreadyDelivered:
    """Of a run's selected events, those the target already got: how many, and by which runs when
    (each event counted once, under the run that delivered it last).

    >>> seen = AlreadyDelivered()
    >>> seen.add({"replay_id": "rp-a", "delivered_at": "2026-11-24T08:00:00Z"})
    >>> seen.to_dict()["count"], [(r["replay_id"], r["count"], r["last_at"]) for r in seen.to_dict()["runs"]]
    (1, [('rp-a', 1, '2026-11-24T08:00:00Z')])
    """

    count: int = 0
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    other_runs: int = 0  # events delivered by runs past ``MAX_RUNS``

    def add(self, record: dict[str, Any]) -> None:
        self.count += 1
        run, at = record["replay_id"], record["delivered_at"]
        if run not in self.runs and len(self.runs) >= MAX_RUNS:
            self.other_runs += 1
            return
        seen = self.runs.setdefault(run, {"replay_id": run, "count": 0, "first_at": at, "last_at": at})
        seen["count"] += 1
        seen["first_at"], seen["last_at"] = min(seen["first_at"], at), max(seen["last_at"], at)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, runs by time of their last delivery; ``other_runs`` only when some were left out."""
        runs = sorted(self.runs.values(), key=lambda r: (r["last_at"], r["replay_id"]))
        data: dict[str, Any] = {"count": self.count, "runs": runs}
        if self.other_runs:
            data["other_runs"] = self.other_runs
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> AlreadyDelivered:
        data = data or {}
        return cls(
            data.get("count", 0), {r["replay_id"]: dict(r) for r in data.get("runs", [])}, data.get("other_runs", 0)
        )
