"""Aggregate diff: what changed between two versions of one (entity, day, metric), and why."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from pik.core.records import ACCEPTED
from pik.core.timefmt import day_bounds

from .._errors import KitError
from .._format import table
from ..analyses import derived
from ..analyses.plotting import axes
from ..read import objects as raw
from ..read import tables as load

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..read.stack import Stack

LATE, REPLAY, CODE, FIRST, RECOMPUTED, DROPPED = (
    "late arrival",
    "replay",
    "code version change",
    "first version",
    "recomputed",
    "input removed",
)


@dataclass(frozen=True)
class Diff:
    """``old`` -> ``new`` for one aggregate: value delta, events added/removed with a cause each."""

    entity_id: str
    day: str
    metric: str
    old: dict | None  # the older version's row (``AGGREGATE_COLUMNS``), None before the first
    new: dict
    value_delta: float | None
    added: pd.DataFrame  # event_id, event_time, first_arrival, cause
    removed: pd.DataFrame  # event_id, event_time, cause
    causes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-able: versions, delta, causes and the added/removed event ids."""
        return json.loads(
            json.dumps(
                {
                    "entity_id": self.entity_id,
                    "day": self.day,
                    "metric": self.metric,
                    "old": self.old,
                    "new": self.new,
                    "value_delta": self.value_delta,
                    "causes": self.causes,
                    "added": json.loads(self.added.to_json(orient="records", date_format="iso")),
                    "removed": json.loads(self.removed.to_json(orient="records", date_format="iso")),
                },
                default=str,
            )
        )

    def _repr_html_(self, rows: int = 20) -> str:
        old = f"v{self.old['version']} = {self.old['value']:g}" if self.old else "nothing"
        delta = "first version" if self.value_delta is None else f"Δ {self.value_delta:+g}"
        return (
            f"<h4>{html.escape(self.entity_id)} {self.day} {self.metric}: {old} → v{self.new['version']} = "
            f"{self.new['value']:g} ({delta})</h4><p>causes: {', '.join(self.causes) or 'none'}</p>"
            + _table("added", self.added, rows)
            + _table("removed", self.removed, rows)
        )


@derived("diff")
def compare(
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    old_inputs: list[str],
    new_inputs: list[str],
    arrivals: pd.DataFrame,
) -> Diff:
    """Pure diff of two versions given their manifests' event ids and the entity-day's attempts.

    ``added`` and ``removed`` carry the provenance of ``arrivals`` (``analysis``: ``diff.added``,
    ``diff.removed``: ``pik_nb.schemas``' kinds of the same name).

    Each added event's cause: ``late arrival`` (first arrived after ``old`` was computed),
    else ``replay`` (``new`` came from a replay), else ``code version change``, else ``recomputed``.

    >>> d = compare(v1, v2, ["e1"], ["e1", "e2"], events)
    >>> list(d.added["event_id"]), d.causes
    (['e2'], ['late arrival', 'replay'])
    """
    code_changed = old is not None and old["code_version"] != new["code_version"]
    first = arrivals[arrivals["status"] == ACCEPTED].drop_duplicates("event_id").set_index("event_id")
    added = _rows(sorted(set(new_inputs) - set(old_inputs)), first)
    removed = _rows(sorted(set(old_inputs) - set(new_inputs)), first).drop(columns="first_arrival")
    added["cause"] = _added_cause(added, old, new, code_changed)
    removed["cause"] = CODE if code_changed else DROPPED
    causes = list(dict.fromkeys([*added["cause"], *removed["cause"]]))
    if new.get("replay_id") and REPLAY not in causes:
        causes.append(REPLAY)
    if code_changed and CODE not in causes:
        causes.append(CODE)
    delta = (
        None if old is None or pd.isna(old["value"]) or pd.isna(new["value"]) else float(new["value"] - old["value"])
    )
    return Diff(
        new["entity_id"],
        new["day"],
        new["metric"],
        dict(old) if old else None,
        dict(new),
        delta,
        added,
        removed,
        causes,
    )


def _table(title: str, frame: pd.DataFrame, rows: int) -> str:
    """A titled HTML table of at most ``rows`` rows, saying how many more there are."""
    more = f" (first {rows} shown)" if len(frame) > rows else ""
    body = table(frame.head(rows), index=False)._repr_html_() if len(frame) else ""
    return f"<p>{title} {len(frame):,}{more}</p>{body}"


def _rows(event_ids: list[str], first: pd.DataFrame) -> pd.DataFrame:
    known = first.reindex(event_ids)
    return pd.DataFrame(
        {
            "event_id": pd.array(event_ids, dtype="str"),
            "event_time": known["event_time"].astype("datetime64[us, UTC]").reset_index(drop=True),
            "first_arrival": known["ingest_time"].astype("datetime64[us, UTC]").reset_index(drop=True),
        }
    )


def _added_cause(added: pd.DataFrame, old: Mapping | None, new: Mapping, code_changed: bool) -> pd.Series:
    if old is None:
        return pd.Series(FIRST, index=added.index, dtype="str")
    fallback = REPLAY if new.get("replay_id") else (CODE if code_changed else RECOMPUTED)
    late = added["first_arrival"] > old["computed_at"]
    return pd.Series(late.map({True: LATE, False: fallback}), index=added.index, dtype="str")


def load_diff(stack: Stack, entity_id: str, day: str, *, metric: str, old: int | None, new: int | None) -> Diff:
    """Versions, manifests and arrivals from the stack, then ``compare``; see ``Kit.diff``."""
    start, end = day_bounds(day)
    versions = load.aggregates(stack, entity_id=entity_id, start=start, end=end, metric=metric).set_index("version")
    if versions.empty:
        raise KitError(f"no aggregate versions of {metric!r} for {entity_id!r} on {day}")
    new = int(versions.index.max()) if new is None else new
    old = (new - 1 if new - 1 in versions.index else None) if old is None else old
    for wanted in (old, new):
        if wanted is not None and wanted not in versions.index:
            raise KitError(f"{entity_id!r} {day} {metric!r} has versions {sorted(versions.index)}, not {wanted}")
    rows = {v: {**versions.loc[v].to_dict(), "version": v} for v in (old, new) if v is not None}
    inputs = {v: _inputs(stack, rows[v]["manifest_key"]) for v in rows}
    arrivals = load.events(stack, entity_id=entity_id, start=start, end=end)
    return compare(rows.get(old), rows[new], inputs.get(old, []), inputs[new], arrivals)


def _inputs(stack: Stack, manifest_key: str) -> list[str]:
    manifest = raw.document(stack, manifest_key)
    if manifest is None:
        raise KitError(f"manifest {manifest_key} is missing from the raw bucket")
    return [row["event_id"] for row in manifest["inputs"]]


def plot_diff(diff: Diff, ax: Axes | None = None) -> Figure:
    """Old and new value side by side, annotated with events added/removed and the causes.

    >>> plot_diff(kit.diff("customer-42", "2026-11-20")).savefig("diff.png")
    """
    figure, ax = axes(ax, width=6)
    labels = [f"v{diff.old['version']}" if diff.old else "none", f"v{diff.new['version']}"]
    values = [diff.old["value"] if diff.old else 0, diff.new["value"]]
    bars = ax.bar(labels, values, color=["tab:grey", "tab:blue"])
    ax.bar_label(bars, labels=[f"{v:g}" for v in values])
    ax.set(ylabel=diff.metric, title=f"{diff.entity_id} {diff.day}: +{len(diff.added)} / -{len(diff.removed)} events")
    ax.text(0.5, -0.18, ", ".join(diff.causes) or "no change", transform=ax.transAxes, ha="center", va="top")
    return figure
