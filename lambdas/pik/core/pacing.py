"""Pacing a replay at ``rate_per_second``: a schedule that survives Lambda invocations.

The run records ``pace_at_ms`` (epoch ms before which its next batch may not go). Sending ``n``
events moves it on by ``n / rate`` seconds, so a run resumed by another invocation (continuation,
resume) keeps the rate: a token bucket holding at most one second's worth of events (``BURST_MS``).
A stall (a slow query page, a gap between invocations) is caught up by at most that second, so
over any stretch the run averages ``rate`` and never sends more than ``2 * rate`` in one second.
No clock is read here: callers pass ``now`` (tests use a fake clock).

    >>> pacer = Pacer(rate=100, next_ms=0)
    >>> pacer.delay_ms(now_ms=0), pacer.sent(10, now_ms=0), pacer.delay_ms(now_ms=40)
    (0, 100, 60)
    >>> Pacer(rate=100, next_ms=100).sent(10, now_ms=5_000)   # 5 s late: one second of catch-up at most
    4100
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_RATE = 1_000  # events per second
MIN_RATE = 0.1
BURST_MS = 1_000  # how far behind its schedule a run may be and still catch up


@dataclass
class Pacer:
    """``rate`` events per second (None: as fast as the target takes them); ``next_ms`` the schedule."""

    rate: float | None
    next_ms: int = 0

    def batch_size(self, most: int) -> int:
        """At most ``most``, and no more than one second's worth, so a slow rate is smooth, not bursty."""
        if self.rate is None:
            return most
        return max(1, min(most, int(self.rate)))

    def delay_ms(self, now_ms: int) -> int:
        """How long to wait before the next batch may go."""
        return max(0, self.next_ms - now_ms) if self.rate is not None else 0

    def sent(self, count: int, now_ms: int) -> int:
        """Record ``count`` events sent at ``now_ms``; returns the new ``next_ms``."""
        if self.rate is not None:
            self.next_ms = max(self.next_ms, now_ms - BURST_MS) + round(count * 1000 / self.rate)
        return self.next_ms
