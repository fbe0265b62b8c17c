"""What an external target already got, for one replay run: looked up before each batch (and by a
dry run, to say so), recorded after it. See ``pik.core.deliveries`` and ADR 0311.

    ledger = Ledger(log, target_key, "sqs:https://...", replay_id, resend=False, clock=clock)
    split = ledger.split(batch)   # split.skipped: delivered by an earlier run (unless resend)
    ledger.record(delivered_ids); ledger.counted(split)

An event this very run delivered before a crash (recorded, but the run's counts not yet saved) is
neither re-sent nor counted skipped: it is counted sent, which it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..core.deliveries import AlreadyDelivered, delivery_item
from ..core.ports import DeliveryLog
from ..core.timefmt import key_time

LOOKUP_BATCH = 100  # ids looked up together by a dry run (BatchGetItem's 100 keys)


@dataclass
class Split:
    """A batch by what the target already has: ``fresh`` to send (with ``resend``, what other runs
    delivered too), ``skipped`` (delivered by other runs), ``sent_before`` (by this run, before a
    crash: counted sent, not sent again) and ``seen``, the other runs' delivery records."""

    fresh: list[dict]
    skipped: list[dict]
    sent_before: int
    seen: list[dict]


class Ledger:
    """One run's view of a target's deliveries; ``already`` sums what it found delivered by other runs."""

    def __init__(
        self,
        log: DeliveryLog,
        target_key: str,
        target_label: str,
        replay_id: str,
        *,
        resend: bool,
        clock: Callable[[], datetime],
        already: dict[str, Any] | None = None,
    ) -> None:
        self.log, self.target_key, self.label, self.replay_id = log, target_key, target_label, replay_id
        self.resend, self.clock = resend, clock
        self.already = AlreadyDelivered.from_dict(already)
        self.noted: list[str] = []

    def split(self, items: list[dict]) -> Split:
        """The batch by what the target already has; nothing is counted until ``counted`` (a batch the
        target refuses is split again by the call that sends it)."""
        found = self.log.delivered(self.target_key, [item["event_id"] for item in items])
        split = Split([], [], 0, [])
        for item in items:
            record = found.get(item["event_id"])
            if record is None:
                split.fresh.append(item)
            elif record["replay_id"] == self.replay_id:
                split.sent_before += 1
            else:
                split.seen.append(record)
                (split.fresh if self.resend else split.skipped).append(item)
        return split

    def counted(self, split: Split) -> None:
        """The batch went: what other runs had delivered of it joins ``already``."""
        for record in split.seen:
            self.already.add(record)

    def record(self, event_ids: list[str]) -> None:
        """Remember that this run delivered ``event_ids`` to the target, now."""
        at = key_time(self.clock())
        self.log.record([delivery_item(self.target_key, self.label, e, self.replay_id, at) for e in event_ids])

    def note(self, event_id: str) -> None:
        """A dry run's selected event: looked up with the next ``LOOKUP_BATCH`` (or at ``flush``)."""
        self.noted.append(event_id)
        if len(self.noted) >= LOOKUP_BATCH:
            self.flush()

    def flush(self) -> None:
        for record in self.log.delivered(self.target_key, self.noted).values():
            self.already.add(record)
        self.noted = []
