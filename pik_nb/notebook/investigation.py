"""What every notebook starts with: connect, resolve the scope, load once, state findings.

>>> inv = investigate(entity_id="customer-42", start="2026-11-20T00:00:00Z", end="2026-11-22T00:00:00Z")
>>> inv.events.shape, inv.days
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import pandas as pd

from .._format import counted, number, percent, table  # noqa: F401  (what notebooks import from here)
from .._times import utc
from ..connect import connect
from ..kit import Kit
from ..read.frames import AGGREGATE_COLUMNS, from_records


@dataclass
class Investigation:
    """A kit plus one scope (an entity, a source and event type, or an entity within one stream)
    and a half-open time window. Replays and aggregates work per entity."""

    kit: Kit
    start: pd.Timestamp
    end: pd.Timestamp
    entity_id: str | None = None
    source: str | None = None
    event_type: str | None = None
    max_entities: int = 50

    @property
    def scope(self) -> dict:
        """Keyword arguments naming the scope, for ``kit.events`` or ``kit.replay``."""
        if self.entity_id:
            return {"entity_id": self.entity_id}
        return {"source": self.source, "event_type": self.event_type}

    @property
    def what(self) -> str:
        """The scope in words: ``user_002``, ``mobile_app/workout_completed`` or both."""
        stream = f"{self.source}/{self.event_type}" if self.source and self.event_type else ""
        return f"{self.entity_id} ({stream})" if self.entity_id and stream else self.entity_id or stream

    @property
    def label(self) -> str:
        return f"{self.what} from {self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC"

    @property
    def empty(self) -> bool:
        """True when no ingest attempt falls in the scope and window."""
        return self.events.empty

    @property
    def nothing_found(self) -> str:
        """The finding of an empty scope, naming it, for every section that has nothing to show.

        >>> inv.nothing_found
        'no events in scope for user_002 between 2026-11-21 00:00 and 2026-11-24 00:00 UTC'
        """
        return (
            f"no events in scope for {self.what} between {self.start:%Y-%m-%d %H:%M} and {self.end:%Y-%m-%d %H:%M} UTC"
        )

    @cached_property
    def events(self) -> pd.DataFrame:
        """Every ingest attempt in scope (an entity's, narrowed to one stream when that is given too)."""
        events = self.kit.events(**self.scope, start=self.start, end=self.end)
        return events[self._in_stream(events)].reset_index(drop=True)

    def _in_stream(self, frame: pd.DataFrame) -> pd.Series:
        if not (self.source and self.event_type):
            return pd.Series(True, index=frame.index)
        return ((frame["source"] == self.source) & (frame["event_type"] == self.event_type)).fillna(False).astype(bool)

    @cached_property
    def days(self) -> list[str]:
        last = self.end - pd.Timedelta(microseconds=1)
        return [d.date().isoformat() for d in pd.date_range(self.start.floor("D"), last.floor("D"), freq="D")]

    @cached_property
    def entities(self) -> list[str]:
        """Entities in scope, the busiest first (capped at ``max_entities``)."""
        counts = self.events["entity_id"].astype(str).value_counts()
        return list(counts.index[: self.max_entities])

    def aggregates(self, metric: str | None = "count") -> pd.DataFrame:
        """Every aggregate version of the scope's entities in the window."""
        frames = [
            self.kit.aggregates(entity_id=e, start=self.start, end=self.end, metric=metric) for e in self.entities
        ]
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else from_records([], AGGREGATE_COLUMNS)

    @cached_property
    def rejected(self) -> pd.DataFrame:
        """Quarantined requests of this scope (when their body was readable enough to tell) that
        arrived during the window or up to a week after it."""
        arrival_days = pd.date_range(self.start.floor("D"), (self.end + pd.Timedelta(days=7)).floor("D"), freq="D")
        today = pd.Timestamp.now(tz="UTC").floor("D")
        found = self.kit.rejected(days=[d.date().isoformat() for d in arrival_days if d <= today], progress=False)
        mine = self._in_stream(found)
        if self.entity_id:
            mine &= (found["entity_id"] == self.entity_id).fillna(False).astype(bool)
        return found[mine].reset_index(drop=True)

    def covering(self, runs: pd.DataFrame) -> pd.DataFrame:
        """The executed replays (``kit.replays()``, not dry runs) whose scope covered this one's events
        over a time range overlapping the window: this entity (any stream, or one it has), or a whole
        stream this scope has. A replay of another entity or stream in the same hours does not count.

        >>> inv.covering(kit.replays())[["replay_id", "entity_id", "start", "end"]]
        """
        overlaps = ~runs["dry_run"].fillna(True).astype(bool) & (runs["start"] < self.end) & (runs["end"] > self.start)
        entity, source, kind = (runs[c].fillna("").astype(str) for c in ("entity_id", "source", "event_type"))
        stream = source + "/" + kind
        entity_ok = (entity == "") | (entity == self.entity_id) if self.entity_id else entity == ""
        mine = [f"{self.source}/{self.event_type}"] if self.source and self.event_type else self._streams()
        stream_ok = (source == "") | stream.isin(mine)
        covers = entity_ok & stream_ok & ((entity != "") | (source != ""))
        return runs[overlaps & covers.astype(bool)].reset_index(drop=True)

    def _streams(self) -> list[str]:
        return sorted(set(self.events["source"].astype(str) + "/" + self.events["event_type"].astype(str)))


def investigate(
    *,
    local_file: str = "",
    stack: str = "",
    profile: str = "",
    region: str = "",
    entity_id: str = "",
    source: str = "",
    event_type: str = "",
    start: str = "",
    end: str = "",
    default_days: int = 7,
) -> Investigation:
    """An ``Investigation`` from notebook parameters; an empty window means the last ``default_days``.

    >>> inv = investigate(entity_id="user_001", start="2026-11-20", end="2026-11-24")   # the local stack
    """
    kit = (
        connect(stack=stack, profile=profile or None, region=region or None)
        if stack
        else connect(path=local_file or None)
    )
    now = pd.Timestamp.now(tz="UTC")
    end_ts = pd.Timestamp(utc(end)) if end else now.ceil("D")
    start_ts = pd.Timestamp(utc(start)) if start else end_ts - pd.Timedelta(days=default_days)
    return Investigation(kit, start_ts, end_ts, entity_id or None, source or None, event_type or None)


def finding(text: str) -> None:
    """Show one line of conclusion under a section, in bold, as Markdown."""
    from IPython.display import Markdown, display

    display(Markdown(f"**Finding:** {text}"))
