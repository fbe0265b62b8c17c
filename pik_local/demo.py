"""The demo's incident, staged on a running local stack: the generated history sent through the
API, a replay, the processor drained, the fix, a second replay. ``pik demo`` (``pik_cli.demo``)
then opens the incident notebook on it.

    with LocalStack(parameters=DEMO_PARAMETERS, simulated_arrival=True) as stack:
        outcome = stage_incident(stack, generate(2_000))
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pik.core.errors import PikError
from pik_api import count_statuses, ingest_events, replay

from .stack import LocalStack
from .story import Incident, Truth

DEMO_PARAMETERS = {"AggregateFields": "amount"}  # so aggregates carry sum/min/max of the payload amount


class DemoError(PikError):
    """The demo could not complete a step (the message says which)."""


@dataclass
class DemoOutcome:
    """What the demo did: statuses the API answered per phase and the two replay runs."""

    truth: Truth
    statuses: dict[str, dict[str, int]] = field(default_factory=dict)
    replays: list[dict] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # phase -> wall time: "ingest", "drain", ...

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Add the wall time of the ``with`` block to ``phase`` (phases keep their first order)."""
        began = time.monotonic()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.monotonic() - began


def queue_depth(sqs: Any, url: str) -> int:
    """Visible plus in-flight messages of a queue."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


def wait_for_drain(sqs: Any, url: str, *, timeout_s: float = 600, poll_s: float = 0.5) -> float:
    """Poll until the queue is empty (processed or dead-lettered); seconds waited, or ``DemoError``."""
    started = time.monotonic()
    while queue_depth(sqs, url):
        if time.monotonic() - started > timeout_s:
            raise DemoError(f"the processor did not drain {url} within {timeout_s:.0f} s")
        time.sleep(poll_s)  # polling interval of a bounded wait, not synchronisation by sleep
    return time.monotonic() - started


def replay_incident(api_url: str, truth: Truth, token: str) -> dict:
    """Replay the focus entity over the incident window, for real (``dry_run: false``)."""
    start, end = truth.incident_window
    return replay(
        api_url,
        {
            "entity_id": truth.focus_entity,
            "start_time": start,
            "end_time": end,
            "dry_run": False,
            "client_token": token,
        },
    )


def stage_incident(
    stack: LocalStack | Any,
    incident: Incident,
    *,
    workers: int = 8,
    progress: bool = True,
    say: Callable[[str], None] = print,
    drain_timeout_s: float = 600,
) -> DemoOutcome:
    """Send the incident, replay, wait for the processor, send the fix, replay again, wait again.

    ``stack`` is a ``LocalStack`` or anything with its ``info`` and ``session()`` (e.g. a stack
    started by ``pik local up`` in another process).
    """
    outcome = DemoOutcome(incident.truth)
    api, queue = stack.info.api_url, stack.info.outputs["replay_queue_url"]
    sqs = stack.session().client("sqs", endpoint_url=stack.info.endpoint_url)
    with outcome.timed("ingest"):
        for phase in ("stream", "conflicts"):
            outcome.statuses[phase] = _send(api, incident, phase, workers, progress)
    for step, phase in (("before-fix", None), ("after-fix", "fix")):
        if phase:
            with outcome.timed("ingest"):
                outcome.statuses[phase] = _send(api, incident, phase, workers, progress)
        with outcome.timed("replay"):
            run = replay_incident(api, incident.truth, f"demo-{incident.truth.seed}-{step}")
        say(f"replay {run['replay_id']}: matched {run['matched']}, sent {run['sent']} messages")
        with outcome.timed("drain"):
            waited = wait_for_drain(sqs, queue, timeout_s=drain_timeout_s)
        say(f"processor drained the queue in {waited:.1f} s")
        outcome.replays.append(run)
    return outcome


def _send(api: str, incident: Incident, phase: str, workers: int, progress: bool) -> dict[str, int]:
    events = incident.phase(phase)
    # The stream is history, replayed with its arrival times; conflicts and the fix happen live, now.
    arrivals = [e.sent_at for e in events] if phase == "stream" else None
    results = ingest_events(
        api, [e.body for e in events], workers=workers, progress=progress, description=phase, arrivals=arrivals
    )
    answered = count_statuses(results)
    expected = incident.truth.expected(phase)
    if answered != expected:
        raise DemoError(f"phase {phase}: the API answered {answered}, the generator expected {expected}")
    return answered
