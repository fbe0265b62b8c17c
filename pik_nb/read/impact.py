"""A dry run's impact preview (``POST /replay``'s ``impact``) as DataFrames, and back to the API's JSON.

``kit.replay(...)`` answers ``run["impact"]``: one row per (entity, day, metric) with the value now and
the value the replay would produce (from the processor's own recompute), and ``run["impact_events"]``:
the events that would enter (or leave) each entity-day's inputs. ``impact.attrs`` holds the summary
(``complete``, ``entity_days``, ``changed``, ``not_previewed``, ``computed_at``, ...). Both are None for
a replay that does not go to the stack's processor (an external target, a repair, a DLQ redrive).

>>> run = kit.replay(entity_id="customer-42", start="2026-11-20", end="2026-11-21")
>>> run["impact"].query("changed")[["day", "metric", "now", "after", "delta"]]
"""

from __future__ import annotations

import pandas as pd

from pik.services.replay_impact import summary  # the counts and flags, as the run item keeps them

#: The impact frame's columns and their kinds (``pik_nb.read.frames``; ``Int``: pandas' nullable Int64).
IMPACT_TYPES = {
    "entity_id": "str",
    "day": "str",
    "metric": "str",
    "now": "float",
    "after": "float",
    "delta": "float",
    "changed": "bool",
    "version_now": "Int",
    "version_after": "Int",
    "inputs_now": "int",
    "inputs_after": "int",
    "entering": "int",
}
IMPACT_COLUMNS = tuple(IMPACT_TYPES)
IMPACT_EVENT_TYPES = {"entity_id": "str", "day": "str", "event_id": "str", "change": "category"}
EVENT_COLUMNS = tuple(IMPACT_EVENT_TYPES)


def impact_frame(impact: dict | None) -> pd.DataFrame | None:
    """The API's ``impact`` as one typed row per (entity, day, metric); its summary in ``attrs``.

    >>> impact_frame({"rows": [{"entity_id": "u1", "day": "2026-11-20", "metric": "count", "now": 3,
    ...     "after": 4, "changed": True, "version_now": 1, "version_after": 2, "inputs_now": 3,
    ...     "inputs_after": 4}], "events": []})[["now", "after", "delta"]].iloc[0].tolist()
    [3.0, 4.0, 1.0]
    """
    if impact is None:
        return None
    rows = pd.DataFrame(impact.get("rows") or [], columns=[c for c in IMPACT_COLUMNS if c not in ("delta", "entering")])
    frame = pd.DataFrame(
        {
            "entity_id": rows["entity_id"].astype("str"),
            "day": rows["day"].astype("str"),
            "metric": rows["metric"].astype("str"),
            "now": pd.to_numeric(rows["now"], errors="coerce").astype("float64"),
            "after": pd.to_numeric(rows["after"], errors="coerce").astype("float64"),
        }
    )
    frame["delta"] = frame["after"] - frame["now"]
    frame["changed"] = rows["changed"].fillna(False).astype(bool)
    for name in ("version_now", "version_after"):
        frame[name] = pd.array(rows[name].tolist(), dtype="Int64")
    for name in ("inputs_now", "inputs_after"):
        frame[name] = rows[name].fillna(0).astype("int64")
    entering = pd.Series(
        [(e["entity_id"], e["day"]) for e in impact.get("events") or [] if e["change"] == "enters"], dtype="object"
    ).value_counts()
    frame["entering"] = [int(entering.get((e, d), 0)) for e, d in zip(frame["entity_id"], frame["day"], strict=True)]
    frame["entering"] = frame["entering"].astype("int64")
    frame.attrs.update(summary(impact))
    return frame


def events_frame(impact: dict | None) -> pd.DataFrame | None:
    """The events that would enter (``change == "enters"``) or leave an entity-day's inputs."""
    if impact is None:
        return None
    events = pd.DataFrame(impact.get("events") or [], columns=list(EVENT_COLUMNS))
    return events.astype({"entity_id": "str", "day": "str", "event_id": "str", "change": "category"})


def with_impact(run: dict) -> dict:
    """The API's run with ``impact`` as a frame (``impact_frame``) and ``impact_events`` beside it (a run
    answered without ``impact``, by a stack older than the preview, is left as it is)."""
    if "impact" not in run:
        return run
    return {**run, "impact": impact_frame(run.get("impact")), "impact_events": events_frame(run.get("impact"))}


def as_json(run: dict) -> dict:
    """``kit.replay``'s answer with the impact back in the API's JSON shape (what ``pik replay --json`` prints)."""
    frame, events = run.get("impact"), run.get("impact_events")
    plain = {k: v for k, v in run.items() if k != "impact_events"}
    if isinstance(frame, pd.DataFrame):
        plain["impact"] = {
            **{k: v for k, v in frame.attrs.items() if k != "pik"},  # provenance is the kit's, not the API's
            "rows": _records(frame.drop(columns=["delta", "entering"])),
            "events": _records(events) if events is not None else [],
        }
    return plain


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as plain dicts, missing values as None."""
    plain = frame.astype(object)
    return plain.where(plain.notna(), None).to_dict(orient="records")
