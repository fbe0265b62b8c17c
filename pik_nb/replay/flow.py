"""The click-to-replay workflow without any UI: preview → confirm → replay → watch → diff.

Kept apart from the widget so every rule (a replay needs a preview of the same scope, large
replays need confirmation, double clicks reuse one client token) is testable in plain Python.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pik.core.timefmt import day_bounds

from .._errors import KitError

if TYPE_CHECKING:
    from ..kit import Kit


class FlowError(KitError):
    """A step was asked for out of order; the message says what to do instead."""


@dataclass(frozen=True)
class Scope:
    """What to replay, where, how fast: ``Scope(start="2026-11-20", end="2026-11-21", entity_id="customer-42")``;
    ``target`` is the API's (``{"sqs": url}``...; None: the stack's processor), ``rate_per_second`` None is unpaced,
    ``resend`` sends an external target again what it already got (by default it is sent only what it lacks)."""

    start: str
    end: str
    entity_id: str | None = None
    source: str | None = None
    event_type: str | None = None
    include_duplicates: bool = False
    limit: int | None = None
    target: dict | None = None
    rate_per_second: float | None = None
    resend: bool = False

    def request(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, "") and v is not False}  # resend only when set

    @property
    def external(self) -> bool:
        """True when the events leave the stack (a target other than the processor's queue)."""
        return self.target is not None


def to_send(run: dict) -> int:
    """What executing a dry run sends: its matched events less those its external target already got
    (``already_delivered``; skipped unless the run asked ``resend``).

    >>> to_send({"matched": 12, "already_delivered": {"count": 4, "runs": []}, "request": {}})
    8
    >>> to_send({"matched": 12, "already_delivered": None})  # the stack's processor: not tracked
    12
    """
    already = (run.get("already_delivered") or {}).get("count", 0)
    return run["matched"] - (0 if (run.get("request") or {}).get("resend") else already)


@dataclass(frozen=True)
class Progress:
    """Where a replay's messages are: processed ones have left both queues."""

    sent: int
    waiting: int
    in_flight: int
    dead_lettered: int

    @property
    def processed(self) -> int:
        return max(0, self.sent - self.waiting - self.in_flight - self.dead_lettered)

    @property
    def drained(self) -> bool:
        return self.waiting == 0 and self.in_flight == 0


class ReplayFlow:
    """One investigator's replay session on a kit.

    >>> flow = ReplayFlow(kit, confirm_above=1000)
    >>> preview = flow.preview(Scope(start="2026-11-20", end="2026-11-21", entity_id="customer-42"))
    >>> run = flow.replay(flow.previewed, confirmed=True)
    """

    def __init__(self, kit: Kit, *, confirm_above: int = 1000) -> None:
        self.kit = kit
        self.confirm_above = confirm_above
        self.previewed: Scope | None = None
        self.preview_run: dict | None = None
        self.run: dict | None = None
        self._token: str | None = None
        self._dlq_baseline = 0

    def preview(self, scope: Scope) -> dict:
        """A dry run of ``scope``; arms the replay button for exactly this scope."""
        run = self.kit.replay(**scope.request(), dry_run=True)
        self.previewed, self.preview_run, self.run = scope, run, None
        self._token = f"nb-{uuid.uuid4().hex[:24]}"  # one token per preview: double clicks enqueue once
        return run

    def can_replay(self, scope: Scope) -> bool:
        """Only the scope just previewed, and only when its preview has something to send (it matched
        events, and an external target lacks some of them)."""
        return self.previewed == scope and self.preview_run is not None and to_send(self.preview_run) > 0

    def needs_confirmation(self) -> bool:
        """Above ``confirm_above`` events, and always when the events leave the stack (an external target)."""
        if not self.preview_run or self.previewed is None:
            return False
        return self.previewed.external or to_send(self.preview_run) > self.confirm_above

    def destination(self) -> str:
        """Where the previewed replay goes, as the run names it (``"replay_queue"``, ``"sqs:https://..."``)."""
        if self.preview_run is None:
            raise FlowError("Preview first.")
        return self.preview_run.get("target") or "replay_queue"

    def replay(self, scope: Scope, *, confirmed: bool = False) -> dict:
        """Send the previewed scope for real; the same preview always yields the same run."""
        if self.previewed == scope and self.preview_run is not None and not self.preview_run["matched"]:
            raise FlowError("The preview matched nothing: there is nothing to replay in this scope.")
        if self.previewed == scope and self.preview_run is not None and not to_send(self.preview_run):
            raise FlowError(
                f"{self.destination()} already has all {self.preview_run['matched']} events of this "
                "scope: nothing to send (resend sends them again)."
            )
        if not self.can_replay(scope):
            raise FlowError("Preview this scope first: the replay must match what you previewed.")
        if self.needs_confirmation() and not confirmed:
            if scope.external:
                raise FlowError(
                    f"{to_send(self.preview_run)} events would go to {self.destination()}: tick 'I confirm' first."
                )
            raise FlowError(f"{to_send(self.preview_run)} events exceed {self.confirm_above}: tick 'I confirm' first.")
        if self.run is None:
            self._dlq_baseline = self._depth(self.kit.resources.replay_dead_letter_queue_url)[0]
        self.run = self.kit.replay(**scope.request(), dry_run=False, client_token=self._token)
        return self.run

    def delivered(self) -> dict:
        """Per target: ``{"sqs:https://...": {"sent": 12, "failed": 0, "retried": 1, "skipped": 0}}`` (the run as
        last answered; ``skipped``: events the target already had)."""
        if self.run is None:
            raise FlowError("Nothing replayed yet.")
        return self.run.get("target_counts") or {}

    def progress(self) -> Progress:
        """Queue depths now, relative to this run (approximate when other runs share the queue)."""
        if self.run is None:
            raise FlowError("Nothing replayed yet.")
        waiting, in_flight = self._depth(self.kit.resources.replay_queue_url)
        dead = self._depth(self.kit.resources.replay_dead_letter_queue_url)[0] - self._dlq_baseline
        return Progress(self.run["sent"], waiting, in_flight, max(0, dead))

    def diffs(self, metric: str = "count", max_entities: int = 20) -> list[Any]:
        """Aggregate diffs of the versions this run caused (``replay_id``), for every (entity, day) it
        touched (entities capped); empty when it wrote none (its inputs were unchanged)."""
        if self.run is None or self.previewed is None:
            raise FlowError("Nothing replayed yet.")
        days = sorted(self.run["by_day"])
        if not days:
            return []
        if self.previewed.entity_id:
            entities = [self.previewed.entity_id]
        else:
            events = self.kit.events(
                source=self.previewed.source,
                event_type=self.previewed.event_type,
                start=self.previewed.start,
                end=self.previewed.end,
                progress=False,
            )
            entities = sorted(events["entity_id"].astype(str).unique())[:max_entities]
        start, end = day_bounds(days[0])[0], day_bounds(days[-1])[1]
        diffs = []
        for entity in entities:  # one query per entity says which of the run's days have versions
            versions = self.kit.aggregates(entity_id=entity, start=start, end=end, metric=metric)
            caused = versions[versions["replay_id"] == self.run["replay_id"]]  # not an older version's change
            newest = caused.groupby("day", observed=True)["version"].max()
            diffs += [self.kit.diff(entity, day, metric=metric, new=int(newest[day])) for day in days if day in newest]
        return diffs

    def _depth(self, url: str) -> tuple[int, int]:
        if not url:
            return 0, 0
        attributes = self.kit.client("sqs").get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])
