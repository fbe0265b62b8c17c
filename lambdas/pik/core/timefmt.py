"""Time parsing and the one fixed-width UTC format used in keys (string order == time order)."""

from __future__ import annotations

from datetime import UTC as UTC  # the package's one UTC (``pik.core.timefmt.UTC``), re-exported
from datetime import date, datetime, time, timedelta

_KEY_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def parse_aware(text: str) -> datetime:
    """Parse ISO-8601 that carries an offset; naive times are refused, never guessed.

    >>> parse_aware("2024-03-01T10:00:00+02:00").isoformat()
    '2024-03-01T08:00:00+00:00'
    """
    value = datetime.fromisoformat(text)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive time")
    return value.astimezone(UTC)


def parse_bound(text: str) -> datetime:
    """A window bound as a person types it: an ISO-8601 date (UTC midnight) or a time with an offset.
    The ``ValueError`` is the sentence every front end shows (CLI options, the replay widget).

    >>> parse_bound("2026-11-20").isoformat(), parse_bound("2026-11-20T10:00:00+01:00").isoformat()
    ('2026-11-20T00:00:00+00:00', '2026-11-20T10:00:00+01:00')
    """
    text = str(text).strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO-8601 date (2026-11-20) or time with offset (2026-11-20T10:00:00Z)"
        ) from None
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset: add Z or +01:00 (pik never guesses a time zone)")
    return parsed


def now() -> datetime:
    """The clock, in UTC (services take it as an argument, so tests can pass their own)."""
    return datetime.now(UTC)


def key_time(value: datetime) -> str:
    """Fixed-width UTC timestamp with microseconds: ``2024-03-01T08:00:00.000000Z``."""
    return value.astimezone(UTC).strftime(_KEY_FORMAT)


def day_of(value: datetime) -> str:
    return value.astimezone(UTC).date().isoformat()


def day_bounds(day: str) -> tuple[datetime, datetime]:
    start = datetime.combine(date.fromisoformat(day), datetime.min.time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def days_between(start: datetime, end: datetime) -> list[str]:
    """UTC days touched by the half-open window ``[start, end)``."""
    first = start.astimezone(UTC).date()
    last = (end.astimezone(UTC) - timedelta(microseconds=1)).date()
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def lag_ms(event_time: datetime, ingest_time: datetime) -> int:
    """Milliseconds from event time to arrival; negative when the producer's clock runs ahead."""
    delta = ingest_time - event_time
    return (delta.days * 86_400_000) + (delta.seconds * 1000) + (delta.microseconds // 1000)
