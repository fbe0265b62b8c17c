"""Where a replay run's batches go (one *sink* per kind of run), behind one ``deliver(items)``:

    QueueSink    the stack's replay queue: messages pointing at the raw object, for the processor
    TargetSink   an external target (``pik.core.ports.ReplayTarget``): each event read from its raw object
    RepairSink   the repair path: quarantined requests re-submitted to the ingest service, audited

Each returns a ``pik.core.targets.Delivered``; ``stops_on_refusal`` says whether a batch refused whole
stops the run (``target_errors``).
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor

from ..core import contract, keys
from ..core.errors import ValidationError
from ..core.ports import SEND_BATCH, DocumentStore, MessageQueue, ReplayTarget
from ..core.records import REJECTED
from ..core.replay import ReplayRequest
from ..core.targets import Delivered, Outgoing, parse_target
from ..core.timefmt import key_time, parse_aware
from ..settings import Settings
from . import ingest as ingest_service
from .replay_wiring import Wiring


class QueueSink:
    """The stack's replay queue: messages pointing at the raw object, for the processor."""

    batch_size = SEND_BATCH

    def __init__(self, queue: MessageQueue, replay_id: str) -> None:
        self.queue, self.replay_id = queue, replay_id

    def deliver(self, items: list[dict]) -> Delivered:
        return Delivered(self.queue.send([message(item, self.replay_id) for item in items]))


class TargetSink:
    """An external target: each event as its producer sent it, read from its raw object."""

    def __init__(self, target: ReplayTarget, documents: DocumentStore, replay_id: str) -> None:
        self.target, self.documents, self.replay_id = target, documents, replay_id
        self.batch_size = target.batch_size
        self.worst_batch_s: float = getattr(target, "worst_batch_s", 0.0)

    def deliver(self, items: list[dict]) -> Delivered:
        raws = list(_readers().map(self.documents.get, [item["s3_key"] for item in items]))
        outgoing = [
            Outgoing(
                item["event_id"],
                item["entity_id"],
                item["source"],
                item["event_type"],
                item["event_time"],
                raw["envelope"]["ingest_time"],
                raw["event"],
            )
            for item, raw in zip(items, raws, strict=True)
        ]
        return self.target.deliver(outgoing, self.replay_id)


@functools.cache
def _readers() -> ThreadPoolExecutor:
    """Threads reading raw events for external targets, kept for the process (not one pool per batch)."""
    return ThreadPoolExecutor(max_workers=16, thread_name_prefix="pik-replay-read")


class RepairSink:
    """The repair path: each quarantined request re-submitted to the ingest service with its original
    arrival time, and audited (``replays/repairs/<replay_id>/<attempt_id>.json``). A body the contract
    still refuses (or a copy cut at the quarantine's size bound) is counted failed and not re-ingested,
    so no new quarantine copy is made; failures never stop the run (they will not heal by retrying)."""

    batch_size = SEND_BATCH
    stops_on_refusal = False

    def __init__(self, wiring: Wiring, settings: Settings, run: dict) -> None:
        self.wiring, self.settings, self.run = wiring, settings, run

    def deliver(self, items: list[dict]) -> Delivered:
        sent, failed, error = 0, [], None
        for item in items:
            outcome, reason = self._resubmit(item["doc"], item["event_id"])
            self.wiring.documents.put_new(
                keys.repair_key(self.run["replay_id"], item["event_id"]),
                {
                    "replay_id": self.run["replay_id"],
                    "requester": self.run["requester"],
                    "rejected_key": item["s3_key"],
                    "attempt_id": item["event_id"],
                    "repaired_at": key_time(self.wiring.clock()),
                    "status": outcome.get("status", REJECTED),
                    "event_id": outcome.get("event_id"),
                    "reason": reason,
                },
            )
            if reason is None:
                sent += 1
            else:
                failed.append(item["event_id"])
                error = reason
        return Delivered(sent, tuple(failed), 0, error)

    def _resubmit(self, doc: dict, attempt_id: str) -> tuple[dict, str | None]:
        if doc.get("truncated"):
            return {}, "the quarantined copy was cut at its size bound: re-send the original"
        body, arrived = doc["body"].encode("utf-8"), parse_aware(doc["ingest_time"])
        try:
            contract.validate(body, now=arrived)
        except ValidationError as exc:
            return {}, "still invalid: " + "; ".join(f"{e.field}: {e.rule}" for e in exc.errors)
        outcome = ingest_service.ingest(
            body,
            request_id=f"repair-{self.run['replay_id']}-{attempt_id}",
            now=arrived,
            store=self.wiring.documents,
            index=self.wiring.index,
            settings=self.settings,
        )
        return outcome.body, None


def sink_for(run: dict, wiring: Wiring, settings: Settings) -> Sink | None:
    if run["dry_run"]:
        return None
    if ReplayRequest.from_scope(run["request"]).repair:
        return RepairSink(wiring, settings, run)
    target = run["request"].get("target")
    if target is None:
        return QueueSink(wiring.queue, run["replay_id"])
    return TargetSink(wiring.targets(parse_target(target)), wiring.documents, run["replay_id"])


Sink = QueueSink | TargetSink | RepairSink


def message(item: dict, replay_id: str) -> dict:
    fields = (
        "event_id",
        "attempt_id",
        "status",
        "source",
        "event_type",
        "entity_id",
        "event_time",
        "event_date",
        "s3_key",
    )
    return {"replay_id": replay_id, **{name: item[name] for name in fields}}
