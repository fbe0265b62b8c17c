"""EventBridge adapter: a bus as a replay target, PutEvents in batches of 10 with failed entries re-sent.

Each event becomes one entry: ``Source`` = the event's ``source``, ``DetailType`` = its
``event_type``, ``Time`` = its ``event_time``, ``Detail`` = what the target's envelope makes of it
(``pik.core.targets.body``: the event as sent, event plus replay envelope, or a structured CloudEvent).
PutEvents cannot set the ``replay-name`` field EventBridge's own replays carry (an entry holds only
Source, DetailType, Detail, Time, Resources, EventBusName and TraceHeader:
https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsRequestEntry.html; replay-name:
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-archive.html). A rule tells pik's replays
from live traffic by the envelope instead, with exists matching
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html):
``{"detail": {"pikreplayid": [{"exists": true}]}}`` with ``cloudevents``,
``{"detail": {"replay": {"replay_id": [{"exists": true}]}}}`` with ``pik``.
"""

from __future__ import annotations

from ..core.limits import EVENTBRIDGE_PUT_EVENTS
from ..core.targets import Delivered, Outgoing, body, encoded
from ..core.timefmt import parse_aware
from .delivery import ByteLimits, ServiceTarget, deliver_entries, failed_in_order

PUT_EVENTS_BATCH = 10  # PutEvents takes at most 10 entries


def entry_bytes(entry: dict) -> int:
    """An entry's size as EventBridge counts it (eb-putevent-size): 14 bytes for ``Time``, plus the UTF-8
    bytes of ``Source``, ``DetailType`` and ``Detail`` (pik sends no ``Resources``)."""
    return 14 + sum(len(entry[name].encode("utf-8")) for name in ("Source", "DetailType", "Detail"))


ENTRY_BYTES = ByteLimits(EVENTBRIDGE_PUT_EVENTS, EVENTBRIDGE_PUT_EVENTS, entry_bytes)


class BusTarget(ServiceTarget):
    """``pik.core.ports.ReplayTarget`` for an event bus (name or ARN)."""

    service = "events"
    batch_size = PUT_EVENTS_BATCH

    def deliver(self, outgoing: list[Outgoing], replay_id: str) -> Delivered:
        def entry(event: Outgoing, attempt: int) -> dict:
            detail = body(event, replay_id=replay_id, envelope=self.target.envelope, attempt=attempt)
            return {
                "Source": event.source,
                "DetailType": event.event_type,
                "Time": parse_aware(event.event_time),
                "Detail": encoded(detail),
                "EventBusName": self.target.address,
            }

        def put(entries: dict[int, dict]) -> tuple[set[int], str | None]:
            keys = list(entries)
            response = self.client.put_events(Entries=[entries[key] for key in keys])
            return failed_in_order(keys, response["Entries"])

        return deliver_entries(outgoing[:PUT_EVENTS_BATCH], entry, put, limits=ENTRY_BYTES, sleep=self.sleep)
