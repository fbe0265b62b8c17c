"""What ``pik replay`` prints of a dry run's impact preview (``POST /replay``'s ``impact``)."""

from __future__ import annotations

from typing import Any

SHOWN = 20  # changed (entity, day, metric) lines printed; --json has them all


def impact_lines(run: dict) -> list[str]:
    """The preview as lines: a header with the counts, then each change ``entity day metric: now -> after``.

    >>> import pandas as pd
    >>> frame = pd.DataFrame({"entity_id": ["u1"], "day": ["2026-11-20"], "metric": ["count"], "now": [3.0],
    ...     "after": [4.0], "delta": [1.0], "changed": [True], "version_now": [1], "version_after": [2],
    ...     "inputs_now": [3], "inputs_after": [4], "entering": [1]})
    >>> frame.attrs.update(complete=True, entity_days=1, changed=1, events_total=1, not_previewed=0, pending=[])
    >>> impact_lines({"impact": frame})[1]
    '  u1  2026-11-20  count: 3 -> 4 (+1)  v1 -> v2, 1 event enters'
    """
    frame: Any = run.get("impact")
    if frame is None:
        return []
    info = frame.attrs
    changed = frame[frame["changed"]]
    days = changed[["entity_id", "day"]].drop_duplicates().shape[0]
    header = (
        f"impact on aggregates (the processor's recompute): metric values changed {info.get('changed', 0)} "
        f"(in {days} of {info.get('entity_days', 0)} entity-days), events entering or leaving "
        f"{info.get('events_total', 0)}"
    )
    lines = [header]
    for row in changed.head(SHOWN).itertuples():
        version = (
            f"first version v{row.version_after}"
            if _missing(row.version_now)
            else f"v{row.version_now} -> v{row.version_after}"
        )
        enters = {0: "", 1: ", 1 event enters"}.get(row.entering, f", {row.entering} events enter")
        lines.append(
            f"  {row.entity_id}  {row.day}  {row.metric}: {_number(row.now)} -> {_number(row.after)}"
            f"{_delta(row.delta)}  {version}{enters}"
        )
    if len(changed) > SHOWN:
        lines.append(f"  ... {len(changed) - SHOWN} more changes (--json lists them all)")
    if not len(changed):
        lines.append("  no aggregate would change: the inputs and the code are those of the latest versions")
    if not info.get("complete", True):
        lines.append(
            f"  incomplete preview: {info.get('not_previewed', 0)} entity-days beyond the preview's bound, "
            f"{len(info.get('pending') or [])} not reached in time; narrow the scope for an exact preview"
        )
    return lines


def _missing(value: Any) -> bool:
    import pandas as pd  # loaded already: the impact is a frame

    return bool(pd.isna(value))


def _number(value: Any) -> str:
    return "none" if _missing(value) else f"{value:g}"


def _delta(value: Any) -> str:
    return "" if _missing(value) else f" ({value:+g})"
