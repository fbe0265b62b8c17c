"""One call's execution of a replay run: walk the scope from the run's cursor, deliver in (paced)
batches, save progress after each, and look for a requested pause or cancel.

    Execution(progress, wiring, sink, remaining_ms).run()

Its steps have names: ``preview`` (a dry run: count what the walk reads and matches), ``send`` (the
walk that delivers), ``flush`` (one batch to the sink), ``save`` (one conditional write of the
counts and the cursor) and ``steered`` (stop for a requested pause or cancel).

Counts move only with a delivered batch: a batch not sent (time ran low before its turn, or the
target refused all of it) leaves the cursor before its first event, so it goes next time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..core.errors import PikError
from ..core.pacing import Pacer
from ..core.ports import SEND_BATCH, RunStore
from ..core.replay import ACTIONS, ReplayRequest, RunStatus, StopReason, Tally, check_cursor, encode_continuation
from ..core.targets import Delivered
from ..core.timefmt import key_time
from . import replay_impact
from .replay_deliveries import Ledger, Split
from .replay_selection import candidates, selected
from .replay_sinks import Sink
from .replay_wiring import Wiring

if TYPE_CHECKING:
    from .process import Recomputer

RESERVE_MS = 5_000  # stop with a continuation when less than this is left
RELEASED = ""  # ``lease_until`` of a run no call holds: sorts before every time
COUNTS = ("scanned", "matched", "sent", "by_day", "sample_event_ids")
STEER_CHECK_MS = 1_000  # how often an executing call reads its run for a requested pause or cancel
FAILED_SAMPLE = 100  # event ids a target refused, kept on the run (replay them with ``event_ids``)


class Progress:
    """The run record as this call holds it: each ``save`` is one conditional write on ``step``."""

    def __init__(self, run: dict, runs: RunStore | None) -> None:
        self.run, self.runs, self.held = run, runs, True

    def save(self, fields: dict, *, unrequested: bool = False) -> dict | None:
        """Write ``fields`` and step on; None (and no longer held) when another call moved the run
        (or, with ``unrequested``, when a pause or cancel was requested)."""
        if self.runs is not None and not self.runs.advance(
            self.run["pk"], self.run["sk"], self.run["step"], fields, unrequested=unrequested
        ):
            self.held = False
            return None
        self.run = {
            **{k: v for k, v in self.run.items() if k not in fields},
            "step": self.run["step"] + 1,
            **{k: v for k, v in fields.items() if v is not None},
        }
        return self.run

    def release(self) -> None:
        """Best effort after a failure: let the next caller resume at once instead of at lease expiry."""
        if self.held and self.runs is not None:
            try:
                self.save({"lease_until": RELEASED})
            except PikError:
                pass


class Execution:
    """One call's walk of ``progress.run``; ``sink`` None is a dry run (nothing delivered)."""

    def __init__(
        self,
        progress: Progress,
        wiring: Wiring,
        sink: Sink | None,
        remaining_ms: Callable[[], int],
        *,
        event_ids: tuple[str, ...] | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        run = progress.run
        self.progress, self.wiring, self.sink, self.remaining_ms, self.event_ids = (
            progress,
            wiring,
            sink,
            remaining_ms,
            event_ids,
        )
        self.ledger = ledger  # an external target's deliveries: what it already got is skipped (or resent)
        self.skipped = run.get("skipped", 0)  # matched, not sent: the target already had them
        self.request = ReplayRequest.from_scope(run["request"])
        check_cursor(run["cursor"], self.request)
        self.tally = Tally(*(run[name] for name in COUNTS))
        # failed: not delivered when the run stopped. A batch refused whole is re-sent by the next call, so
        # its events (``pending``) count as failed only until then.
        self.pending: list[str] = list(run.get("pending_event_ids", []))
        self.failed, self.retried = run.get("failed", 0) - len(self.pending), run.get("retried", 0)
        self.failed_ids = [i for i in run.get("failed_event_ids", []) if i not in set(self.pending)]
        self.failed_reasons: dict[str, str] = dict(run.get("failed_reasons", {}))
        self.pending, self.last_error = [], run.get("last_error")
        self.pacer = Pacer(self.request.rate_per_second, run.get("pace_at_ms", self.now_ms()))
        self.size = self.pacer.batch_size(sink.batch_size if sink else SEND_BATCH)
        self.worst_batch_ms = int(getattr(sink, "worst_batch_s", 0.0) * 1000)  # a target that may hang: its bound
        self.batch: list[dict] = []
        self.position = self.before = run["cursor"]
        self.stopped: StopReason | None = None
        self.scanned_here = 0  # read since the last delivered batch: counted when it goes
        self.steer_check_ms = 0  # the first batch looks at once
        self.held: set[str] = set()  # DLQ messages this call received (hidden) and has not redriven yet

    def run(self) -> None:
        """Execute: ``preview`` for a dry run, ``send`` otherwise."""
        if self.sink is None:
            self.preview()
        else:
            self.send(self.sink)

    def preview(self) -> None:
        """A dry run counts as it reads (a redrive's counts the DLQ without touching it), sends nothing,
        and previews the impact on the aggregates of a replay to the processor (``replay_impact``)."""
        groups: dict[tuple[str, str], None] = {}
        # the impact on the aggregates, when there is one (a repair's items are quarantined bodies: no entity)
        recomputer = self.wiring.recomputer if replay_impact.applies(self.request) else None
        if self.request.dead_letters:
            self.tally.scanned = self.tally.matched = self.wiring.dead_letter_queue().depth()
        else:
            for item, chosen in self._walk():
                self.tally.scanned += 1
                if chosen:
                    self.tally.match(item["event_id"], item["event_date"])
                    if recomputer is not None:
                        groups[(item["entity_id"], item["event_date"])] = None
                    if self.ledger is not None:
                        self.ledger.note(item["event_id"])
            if self.ledger is not None:
                self.ledger.flush()
        if recomputer is None:
            return self._finish()
        impact = self._impact(groups, recomputer)
        self._finish(**replay_impact.stored(impact, self.progress.run["replay_id"], self.wiring.documents))
        self.progress.run["impact"] = impact  # answered whole, whatever the item keeps

    def _impact(self, groups: dict[tuple[str, str], None], recomputer: Recomputer) -> dict:
        """The run's impact with this call's entity-days added; entity-days left ``pending`` when time
        ran low make the dry run stop with a continuation (the next call previews them)."""
        impact = replay_impact.build(
            groups,
            recomputer,
            self.remaining_ms,
            previous=replay_impact.load(self.progress.run, self.wiring.documents),
            computed_at=key_time(self.wiring.clock()),
        )
        if impact["pending"] and not self.stopped:
            self.stopped = StopReason.TIME
        return impact

    def send(self, sink: Sink) -> None:
        """Deliver the scope batch by batch, saving after each; stop for time, the limit, the target or a steer."""
        for item, chosen in self._walk():
            self.scanned_here += 1
            if chosen:
                self.batch.append(item)
            if len(self.batch) == self.size:
                self.stopped = self.flush(sink)
                if self.stopped:
                    return self._finish()
                if not self.save() or self.steered():
                    return self._release_held()
        if self.batch:  # the last, short batch (or the one in hand when time or the limit stopped the walk)
            self.stopped = self.flush(sink) or self.stopped
        self.tally.scanned += self.scanned_here
        self.scanned_here = 0
        self._finish()

    def flush(self, sink: Sink) -> StopReason | None:
        """Deliver the batch to ``sink``; a stop reason when it did not go (the cursor then goes back before it)."""
        delay = self.pacer.delay_ms(self.now_ms())
        if self.remaining_ms() - delay < RESERVE_MS + self.worst_batch_ms:  # this batch, then the last save
            return self._unsent(StopReason.TIME)
        split = self.ledger.split(self.batch) if self.ledger else Split(self.batch, [], 0, [])
        result = self._deliver(sink, split.fresh, delay)
        self.retried += result.retried
        self.last_error = result.error or self.last_error
        if result.refused_whole and getattr(sink, "stops_on_refusal", True):
            self.pending = list(result.failed_ids)
            return self._unsent(StopReason.TARGET_ERRORS)
        self.failed += result.failed
        self.failed_ids = (self.failed_ids + list(result.failed_ids))[:FAILED_SAMPLE]
        for event_id, reason in result.undeliverable:  # never deliverable here: the run goes on without them
            if len(self.failed_reasons) < FAILED_SAMPLE:
                self.failed_reasons[event_id] = reason
        if (
            self.request.dead_letters
        ):  # redriven: out of the DLQ (a crash before this re-sends the batch, never loses it)
            done = [item["receipt"] for item in self.batch if item["event_id"] not in result.failed_ids]
            self.wiring.dead_letter_queue().delete(done)
            self.held.difference_update(done)
        if self.ledger is not None:
            refused = set(result.failed_ids)
            self.ledger.record([item["event_id"] for item in split.fresh if item["event_id"] not in refused])
            self.ledger.counted(split)
        self.tally.sent += result.sent + split.sent_before
        self.skipped += len(split.skipped)
        self.tally.scanned += self.scanned_here
        for item in self.batch:
            self.tally.match(item["event_id"], item["event_date"])
        self.batch, self.scanned_here, self.before = [], 0, self.position
        return None

    def _deliver(self, sink: Sink, items: list[dict], delay: int) -> Delivered:
        """Send ``items`` to ``sink`` (nothing when every event was skipped) at the rate's schedule."""
        if not items:
            return Delivered(0)
        if delay:
            self.wiring.wait(delay / 1000)  # the rate's schedule, not synchronisation
        started = self.now_ms()  # the schedule counts from when a batch starts, so sending time is not added to it
        result = sink.deliver(items)
        self.pacer.sent(len(items), started)
        self.wiring.on_sent(result.sent)
        return result

    def save(self, *, unrequested: bool = False, **fields: object) -> bool:
        """Write the counts and the cursor (and ``fields``); False when another call moved the run."""
        return (
            self.progress.save(
                {
                    **self.tally.to_dict(),
                    "cursor": self.position,
                    "updated_at": key_time(self.wiring.clock()),
                    "failed": self.failed + len(self.pending),
                    "retried": self.retried,
                    "failed_event_ids": (self.failed_ids + self.pending)[:FAILED_SAMPLE],
                    "pending_event_ids": self.pending or None,
                    "failed_reasons": self.failed_reasons or None,
                    "skipped": self.skipped,
                    "already_delivered": self.ledger.already.to_dict() if self.ledger is not None else None,
                    "last_error": self.last_error,
                    "pace_at_ms": self.pacer.next_ms if self.pacer.rate else None,
                    **fields,
                },
                unrequested=unrequested,
            )
            is not None
        )

    def steered(self) -> bool:
        """True when a pause or cancel was asked for (looked for at most once a second): the run is then
        stopped and saved so."""
        if self.now_ms() < self.steer_check_ms:
            return False
        self.steer_check_ms = self.now_ms() + STEER_CHECK_MS
        action = self._requested()
        if action is None:
            return False
        self._stop_for(action)
        return True

    def now_ms(self) -> int:
        return int(self.wiring.clock().timestamp() * 1000)

    def _walk(self) -> Iterator[tuple[dict, bool]]:
        """The scope's candidates from the cursor, each with whether it is selected; ``stopped`` is set
        when time runs low or the limit is reached (``position`` is then just after the last one yielded)."""
        matched = 0
        walked = candidates(self.request, self.position, self.wiring, self.event_ids, self.progress.run, self.held)
        for item, after in walked:
            chosen = selected(item, self.request)
            if self.remaining_ms() < RESERVE_MS:
                self.stopped = StopReason.TIME
            elif chosen and matched >= self.request.limit:
                self.stopped = StopReason.LIMIT
            if self.stopped:
                return
            self.position, matched = after, matched + chosen
            yield item, chosen

    def _unsent(self, reason: StopReason) -> StopReason:
        """The batch did not go: the cursor goes back before it, and what was read since is not counted."""
        self.position, self.scanned_here = self.before, 0
        return reason

    def _release_held(self) -> None:
        """DLQ messages received but not redriven (stopped early, or refused): visible again for the next call."""
        if self.held:
            self.wiring.dead_letter_queue().release(sorted(self.held))
            self.held.clear()

    def _requested(self) -> str | None:
        """The pause or cancel asked for since this call's last save, if any."""
        progress = self.progress
        current = (
            progress.runs.get(progress.run["pk"], progress.run["sk"]) if progress.runs is not None else None
        ) or {}
        action = current.get("requested")
        return action if action in ("pause", "cancel") and current.get("step") == progress.run["step"] else None

    def _stop_for(self, action: str) -> None:
        status, stopped = ACTIONS[action]
        self.save(status=status, stopped=stopped, continuation=None, requested=None, lease_until=RELEASED)

    def _finish(self, **fields: Any) -> None:
        """The last save of this call: PARTIAL with a continuation when it stopped early, else COMPLETED.
        A pause or cancel requested meanwhile (even during this very write) wins over a stop: the
        write is conditional on no ``requested``, and a refused one is saved as the steer asked."""
        self._release_held()
        continuation = None
        if self.stopped:
            continuation = encode_continuation(self.progress.run["replay_id"], self.progress.run["step"] + 1)
        final: dict[str, Any] = {
            "status": RunStatus.PARTIAL if self.stopped else RunStatus.COMPLETED,
            "stopped": self.stopped or StopReason.COMPLETED,
            "continuation": continuation,
            "lease_until": RELEASED,
            **fields,
        }
        if self.save(unrequested=self.sink is not None, **final):
            return
        self.progress.held = True  # refused: find out whether for a steer (else another call moved the run)
        action = self._requested()
        if action is None:
            self.progress.held = False
        elif self.stopped:
            self._stop_for(action)
        else:  # everything was sent: nothing is left to pause or cancel
            self.save(**final, requested=None)
