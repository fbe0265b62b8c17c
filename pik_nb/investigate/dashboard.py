"""``explain_dashboard``: why the number a dashboard shows differs from the truth, from the attempts.

The dashboard's pipeline (a nightly job, a dbt model, a streaming aggregate) saw the same requests pik
recorded. Each request it may have counted is an **arrival** (``ARRIVAL_COLUMNS``): the first ACCEPTED
attempt of an event, a DUPLICATE, a CONFLICT (another payload under the same idempotency key), a
REJECTED (quarantined) request, or a copy a replay re-sent to an external target. A **semantics** says
which arrivals a window counts:

- ``time_basis``: by ``event_time`` or by ``ingest_time`` (arrival);
- ``cutoff``: by event time, an arrival counts when it came before ``window end + cutoff`` (``None``: all);
- ``dedup``: repeats (DUPLICATE) counted once; ``conflicts``: ``"first"`` payload, ``"latest"``, ``"all"``;
- ``rejected``: quarantined requests counted; ``replayed``: re-sends to an external target counted.

**Truth** is the ACCEPTED events by event time, once each, with their first payload. The semantics
that best reproduces the dashboard (most windows exact, then the smallest absolute error) is searched
over a small grid (every cutoff the arrival lags distinguish, at one-minute resolution), and the
difference between its value and the truth is split by adding one behaviour at a time, in the order of
``CAUSES``: each cause is the change that behaviour makes, so they telescope and add up to the gap
exactly; whatever the dashboard shows beyond the best semantics is ``unexplained``.

The fitting works on **cells** (arrivals grouped by kind, entity, event-time window, arrival window and
whole minutes of delay past the window's end), built here from arrivals or in SQL over the archive
(``pik_nb.sql.dashboard``): both paths share every line below.

    >>> ex = explain(dashboard_values, arrivals_frame, freq="1D")           # doctest: +SKIP
    >>> ex.semantics.cutoff, ex.table[["window", "gap", "late", "unexplained"]]
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pik.core.records import AttemptStatus

from .._errors import ScopeError
from .._format import number, table
from ..analyses.durations import humanize

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Kinds of arrival, in the order their behaviours are added to the truth.
ACCEPTED, DUPLICATE, CONFLICT, CONFLICT_LATEST, REJECTED, REPLAYED = (
    "accepted",
    "duplicate",
    "conflict",
    "conflict_latest",
    "rejected",
    "replayed",
)
KINDS = (ACCEPTED, DUPLICATE, CONFLICT, CONFLICT_LATEST, REJECTED, REPLAYED)
#: One row per request the dashboard's pipeline may have counted. ``value`` is 1 for a count, the
#: payload field for a sum (for ``conflict_latest``: the change from the previous payload of the event).
ARRIVAL_COLUMNS = ("kind", "event_id", "entity_id", "event_time", "arrival", "value", "status", "s3_key")
CAUSES = ("late", "early", "duplicates", "conflicts", "rejected", "replayed")
TABLE_COLUMNS = ("window", "dashboard", "truth", "gap", *CAUSES, "unexplained")
CELL_KEYS = ("kind", "entity_id", "window", "arrival_window", "delay")
NEVER = np.iinfo(np.int64).max  # the cutoff index of "no cutoff"
#: Cutoffs pipelines are configured with, shortest first: the one reported when the arrivals allow it.
COMMON_CUTOFFS = [pd.Timedelta(minutes=m) for m in (15, 30)] + [
    pd.Timedelta(hours=h) for h in (1, 2, 3, 4, 6, 8, 12, 24, 36, 48, 72, 168)
]
_UNITS = [
    pd.Timedelta(days=7),
    pd.Timedelta(days=1),
    pd.Timedelta(hours=12),
    pd.Timedelta(hours=6),
    pd.Timedelta(hours=1),
    pd.Timedelta(minutes=30),
    pd.Timedelta(minutes=15),
    pd.Timedelta(minutes=5),
    pd.Timedelta(minutes=1),
]


@dataclass(frozen=True)
class Semantics:
    """How a dashboard counts; ``fit`` is the share of windows it reproduces exactly."""

    time_basis: str = "event_time"
    cutoff: pd.Timedelta | None = None
    dedup: bool = True
    conflicts: str = "first"
    rejected: bool = False
    replayed: bool = False
    fit: float = 1.0
    #: every cutoff that counts the same arrivals as ``cutoff``: ``(shortest, longest)``, the longest
    #: ``None`` when any longer one would do; set by the fit, not part of equality
    cutoff_range: tuple[pd.Timedelta, pd.Timedelta | None] | None = field(default=None, compare=False)

    def describe(self) -> str:
        """``'counts by event time, with a 6 h cutoff, without dedup'``."""
        basis = "by event time" if self.time_basis == "event_time" else "by arrival (ingest time)"
        parts = [f"counts {basis}"]
        if self.time_basis == "event_time":
            parts.append(
                "with no cutoff" if self.cutoff is None else f"with a {_span(self.cutoff)} cutoff" + self._range()
            )
        parts.append("with dedup" if self.dedup else "without dedup")
        if self.conflicts != "first":
            parts.append(
                {"latest": "the latest payload of a conflict", "all": "every conflicting payload"}[self.conflicts]
            )
        if self.rejected:
            parts.append("counting rejected requests")
        if self.replayed:
            parts.append("counting replays' re-sends")
        return ", ".join(parts)

    def _range(self) -> str:
        """`` (any from 3 h 52 min to 6 h 40 min counts the same)`` when the arrivals cannot tell."""
        if self.cutoff_range is None:
            return ""
        low, high = self.cutoff_range
        if high is None:
            return f" (any of {_span(low)} or more counts the same)"
        return (
            "" if high - low < pd.Timedelta(minutes=2) else f" (any from {_span(low)} to {_span(high)} counts the same)"
        )

    def to_dict(self) -> dict:
        """JSON-able: durations as ISO-8601 text (pandas' ``Timedelta.isoformat``), ``None`` kept.

        >>> Semantics(cutoff=pd.Timedelta(hours=6)).to_dict()["cutoff"]
        'P0DT6H0M0S'
        """

        def iso(value: pd.Timedelta | None) -> str | None:
            return None if value is None else value.isoformat()

        found = {
            name: getattr(self, name) for name in ("time_basis", "dedup", "conflicts", "rejected", "replayed", "fit")
        }
        span = None if self.cutoff_range is None else [iso(self.cutoff_range[0]), iso(self.cutoff_range[1])]
        return {**found, "cutoff": iso(self.cutoff), "cutoff_range": span}

    def flaws(self) -> int:
        """How many behaviours depart from counting the truth (ties go to the fewer)."""
        return sum(
            [
                self.time_basis != "event_time",
                self.cutoff is not None,
                not self.dedup,
                self.conflicts != "first",
                self.rejected,
                self.replayed,
            ]
        )


# --- arrivals -> cells --------------------------------------------------------------------------
def windows_of(times: pd.Series, freq: str) -> pd.Series:
    """Each time's window start (UTC), windows of ``freq`` from the epoch."""
    return pd.to_datetime(times, utc=True).dt.floor(freq)


def cells(arrivals: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Arrivals grouped by ``CELL_KEYS`` with ``n`` and ``total`` (sum of ``value``). ``delay`` is
    whole minutes from the event-time window's end to the arrival (``-1`` for any arrival before it).

    >>> a = pd.DataFrame({"kind": ["accepted"], "entity_id": ["c"], "value": [1.0],
    ...                   "event_time": [pd.Timestamp("2026-11-20T10:00Z")],
    ...                   "arrival": [pd.Timestamp("2026-11-21T06:30Z")]})
    >>> int(cells(a, "1D")["delay"].iloc[0])
    390
    """
    window = windows_of(arrivals["event_time"], freq)
    arrival = pd.to_datetime(arrivals["arrival"], utc=True)
    delay = ((arrival - (window + pd.Timedelta(freq))) // pd.Timedelta(minutes=1)).clip(lower=-1)
    frame = pd.DataFrame(
        {
            "kind": arrivals["kind"].astype(str),
            "entity_id": arrivals["entity_id"].astype(str),
            "window": window,
            "arrival_window": windows_of(arrival, freq),
            "delay": delay.astype("int64"),
            "value": arrivals["value"].astype("float64"),
        }
    )
    grouped = frame.groupby(list(CELL_KEYS), observed=True, sort=True)["value"]
    return grouped.agg(n="size", total="sum").reset_index()


# --- one semantics: per-window stage values -----------------------------------------------------
def _weight(sem: Semantics, kind: pd.Series) -> pd.Series:
    on = {
        ACCEPTED: True,
        DUPLICATE: not sem.dedup,
        CONFLICT: sem.conflicts == "all",
        CONFLICT_LATEST: sem.conflicts == "latest",
        REJECTED: sem.rejected,
        REPLAYED: sem.replayed,
    }
    return kind.map(on).astype(bool)


def _counted(sem: Semantics, cells_: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(window each cell is counted in, whether it is counted at all) under ``sem``."""
    if sem.time_basis == "ingest_time":
        return cells_["arrival_window"], pd.Series(True, index=cells_.index)
    limit = NEVER if sem.cutoff is None else int(sem.cutoff // pd.Timedelta(minutes=1))
    return cells_["window"], cells_["delay"] < limit


def stages(sem: Semantics, cells_: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per ``keys`` (window, and entity): ``truth``, each cause of ``CAUSES`` and ``value`` (what
    ``sem`` counts): ``truth + sum(causes) == value``."""

    def total(mask: pd.Series, window: pd.Series) -> pd.Series:
        part = cells_[mask]
        return part["total"].groupby([window[mask].rename("window")] + [part[k] for k in keys[1:]]).sum()

    accepted = cells_["kind"] == ACCEPTED
    window, counted = _counted(sem, cells_)
    in_time = counted if sem.time_basis == "event_time" else cells_["delay"] < 0  # by arrival: in its window
    weight = _weight(sem, cells_["kind"])
    parts = {
        "truth": total(accepted, cells_["window"]),
        "late": -total(accepted & ~in_time, cells_["window"]),
        "early": None,
    }
    if sem.time_basis == "ingest_time":
        stayed = total(accepted & in_time, cells_["window"])
        parts["early"] = total(accepted, window).sub(stayed, fill_value=0.0)
    for cause, kinds in (
        ("duplicates", [DUPLICATE]),
        ("conflicts", [CONFLICT, CONFLICT_LATEST]),
        ("rejected", [REJECTED]),
        ("replayed", [REPLAYED]),
    ):
        parts[cause] = total(cells_["kind"].isin(kinds) & weight & counted, window)
    frame = pd.concat({k: v for k, v in parts.items() if v is not None}, axis=1, sort=True).fillna(0.0)
    for cause in CAUSES:
        frame[cause] = frame.get(cause, 0.0)
    frame.index.names = keys
    frame["value"] = frame["truth"] + frame[list(CAUSES)].sum(axis=1)
    return frame


# --- the search ---------------------------------------------------------------------------------
def _flag_sets(cells_: pd.DataFrame) -> Iterator[Semantics]:
    """Every combination of dedup, conflicts, rejected and replayed the cells can tell apart: the
    conflict modes only with conflicts, rejected and replayed only when there were some."""
    kinds = set(cells_["kind"])
    conflicts = ["first", "latest", "all"] if kinds & {CONFLICT, CONFLICT_LATEST} else ["first"]
    flags = [
        [True, False] if DUPLICATE in kinds else [True],
        conflicts,
        [False, True] if REJECTED in kinds else [False],
        [False, True] if REPLAYED in kinds else [False],
    ]
    for dedup, conflict, rejected, replayed in itertools.product(*flags):
        yield Semantics(dedup=dedup, conflicts=conflict, rejected=rejected, replayed=replayed)


def cutoff_minutes(cells_: pd.DataFrame) -> np.ndarray:
    """The cutoffs the cells tell apart, ascending: 0, ``d + 1`` minutes for each delay ``d`` (the
    shortest that counts it), then ``NEVER`` (no cutoff)."""
    delays = np.unique(cells_["delay"].to_numpy())
    return np.unique(np.concatenate([[0], delays[delays >= 0] + 1, [NEVER]]))


def _scores(values: np.ndarray, shown: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Share of windows exact and absolute error, per column of ``values`` (windows x candidates)."""
    exact = np.isclose(values, shown[:, None], rtol=0, atol=1e-6)
    share = exact.mean(axis=0) if len(shown) else np.ones(values.shape[1])
    return share, np.abs(values - shown[:, None]).sum(axis=0)


def _by_cutoff(cells_: pd.DataFrame, mask: np.ndarray, rows: np.ndarray, size: int, cuts: np.ndarray) -> np.ndarray:
    """Values per window (``rows``: each cell's row in the dashboard, -1 if not shown) for every
    cutoff of ``cuts`` at once: a cell counts from the first cutoff above its delay on."""
    keep = mask & (rows >= 0)
    first = np.searchsorted(cuts, cells_["delay"].to_numpy()[keep], side="right")
    grid = np.zeros((size, len(cuts)))
    np.add.at(grid, (rows[keep], first), cells_["total"].to_numpy()[keep])
    return np.cumsum(grid, axis=1)


def fit(cells_: pd.DataFrame, shown: pd.Series, keys: list[str]) -> Semantics:
    """The candidate that reproduces ``shown`` (indexed by ``keys``) best: most windows exact, then
    the smallest absolute error, then the fewest departures from the truth; its cutoff rounded to the
    roundest duration that counts the same arrivals. Every cutoff of a flag set is scored at once."""
    cuts = cutoff_minutes(cells_)
    index = shown.index if len(keys) > 1 else pd.Index(shown.index, name="window")
    rows = index.get_indexer(pd.MultiIndex.from_frame(cells_[keys]) if len(keys) > 1 else cells_["window"])
    target, best = shown.to_numpy(), None
    for flags in _flag_sets(cells_):
        mask = _weight(flags, cells_["kind"]).to_numpy()
        by_cutoff = _by_cutoff(cells_, mask, rows, len(shown), cuts)
        by_arrival = replace(flags, time_basis="ingest_time")
        ingest = _values(by_arrival, cells_, keys).reindex(index, fill_value=0.0)
        values = np.column_stack([by_cutoff, ingest.to_numpy()])
        share, error = _scores(values, target)
        for j in range(values.shape[1]):
            cutoff = None if j == len(cuts) or cuts[j] == NEVER else pd.Timedelta(minutes=int(cuts[j]))
            sem = by_arrival if j == len(cuts) else replace(flags, cutoff=cutoff)
            rank = (-share[j], error[j], sem.flaws(), sem.time_basis != "event_time", _minutes(sem.cutoff))
            if best is None or rank < best[0]:
                best = (rank, replace(sem, fit=float(share[j])))
    assert best is not None
    counted = cells_[(rows >= 0) & _weight(best[1], cells_["kind"]).to_numpy()]  # what the dashboard shows
    return _round_cutoff(best[1], counted)


def _values(sem: Semantics, cells_: pd.DataFrame, keys: list[str]) -> pd.Series:
    window, counted = _counted(sem, cells_)
    mask = counted & _weight(sem, cells_["kind"])
    part = cells_[mask]
    return part["total"].groupby([window[mask].rename("window")] + [part[k] for k in keys[1:]]).sum()


def _minutes(cutoff: pd.Timedelta | None) -> int:
    return NEVER if cutoff is None else int(cutoff // pd.Timedelta(minutes=1))


def _round_cutoff(sem: Semantics, cells_: pd.DataFrame) -> Semantics:
    """A cutoff of ``d + 1`` minutes counts the same arrivals as any up to the next longer delay: the
    shortest common cutoff (``COMMON_CUTOFFS``) in that range, else the roundest duration in it."""
    if sem.cutoff is None or sem.time_basis != "event_time":
        return sem
    low = _minutes(sem.cutoff)
    longer = [d for d in set(cells_["delay"].tolist()) if d >= low]
    high = min(longer) if longer else low + 10 * 24 * 60
    span = (pd.Timedelta(minutes=low), pd.Timedelta(minutes=high) if longer else None)
    sem = replace(sem, cutoff_range=span)
    for common in COMMON_CUTOFFS:
        if low <= common // pd.Timedelta(minutes=1) <= high:
            return replace(sem, cutoff=common)
    for unit in _UNITS:
        minutes = int(unit // pd.Timedelta(minutes=1))
        rounded = -(-low // minutes) * minutes
        if rounded <= high:
            return replace(sem, cutoff=pd.Timedelta(minutes=rounded))
    return sem


# --- the explanation ----------------------------------------------------------------------------
@dataclass
class DashboardExplanation:
    """What ``kit.explain_dashboard`` returns: ``semantics``, ``table``, ``events()``, ``summary()``,
    ``plot()``."""

    semantics: Semantics
    table: pd.DataFrame
    metric: str = "count"
    freq: str = "1D"
    #: the arrivals dated or arriving in ``[start, end)``: what ``events`` picks from
    arrivals_of: Callable[[pd.Timestamp, pd.Timestamp], pd.DataFrame] | None = field(repr=False, default=None)

    def events(self, window: Any, cause: str, entity_id: str | None = None) -> pd.DataFrame:
        """The events behind one number: ``cause`` (one of ``CAUSES``, or ``"truth"``/``"dashboard"``)
        in ``window``; columns ``event_id, entity_id, event_time, arrival, kind, status, s3_key, value``
        and ``sign`` (``-1``: missing from the window, ``+1``: counted in it).

        >>> late = ex.events("2026-11-30", "late"); kit.replay(event_ids=late["event_id"])   # doctest: +SKIP
        """
        stamp = pd.Timestamp(window)
        start = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        end = start + pd.Timedelta(self.freq)
        if self.arrivals_of is None:
            raise ScopeError("this explanation holds no arrivals to list")
        rows = self.arrivals_of(start, end)
        if entity_id is not None:
            rows = rows[rows["entity_id"] == entity_id]
        picked = behind(rows, self.semantics, start, self.freq, cause).reset_index(drop=True)
        if isinstance(info := self.table.attrs.get("pik"), dict):  # the table's provenance, and what was asked
            scope = {**info["scope"], "window": start.isoformat(), "cause": cause, "entity_id": entity_id}
            picked.attrs["pik"] = {**info, "kind": "dashboard.events", "scope": scope}
        return picked

    def summary(self) -> str:
        """Sentences to paste into the incident channel (see ``summary``)."""
        return summary(self.table, self.semantics, self.metric)

    def plot(self, window: Any = None, *, ax: Any = None) -> Figure:
        """A waterfall dashboard -> causes -> truth for ``window`` (default: the worst), and one for
        the whole range beside it (when ``ax`` is not given)."""
        from . import dashboard_plot

        return dashboard_plot.waterfalls(self.table, window, ax=ax)

    def __str__(self) -> str:
        fits = f"(fits {self.semantics.fit:.0%} of windows)"
        daily = bool(len(self.table)) and (self.table["window"] == self.table["window"].dt.normalize()).all()
        form = "%Y-%m-%d" if daily else "%Y-%m-%d %H:%M"
        shown = self.table.assign(window=self.table["window"].dt.strftime(form))
        return "\n".join(
            [f"semantics: {self.semantics.describe()} {fits}", "", shown.to_string(index=False), "", self.summary()]
        )

    def _repr_html_(self) -> str:
        import html

        semantics = html.escape(self.semantics.describe())
        shown = table(self.table, index=False)._repr_html_()
        return f"<p>{html.escape(self.summary())}</p><p><b>semantics</b>: {semantics}</p>" + shown


def behind(rows: pd.DataFrame, sem: Semantics, start: pd.Timestamp, freq: str, cause: str) -> pd.DataFrame:
    """The arrivals of ``rows`` that make ``cause`` in the window starting at ``start`` under ``sem``,
    with ``sign`` -1 for an event missing from the window, +1 for one counted in it."""
    end = start + pd.Timedelta(freq)
    arrival = pd.to_datetime(rows["arrival"], utc=True)
    here, arrived_here = windows_of(rows["event_time"], freq) == start, windows_of(arrival, freq) == start
    accepted, nothing = rows["kind"] == ACCEPTED, pd.Series(False, index=rows.index)
    if sem.time_basis == "ingest_time":
        counted_here, late = arrived_here, accepted & here & (arrival >= end)
        early_in, early_out = accepted & arrived_here & ~here, accepted & here & (arrival < start)
    else:
        counted_here = here if sem.cutoff is None else here & (arrival < end + sem.cutoff)
        late, early_in, early_out = accepted & here & ~counted_here, nothing, nothing
    counted = _weight(sem, rows["kind"]) & counted_here
    masks = {"truth": accepted & here, "dashboard": counted, "late": late, "early": early_in | early_out}
    for cause_, kinds in (
        ("duplicates", [DUPLICATE]),
        ("conflicts", [CONFLICT, CONFLICT_LATEST]),
        ("rejected", [REJECTED]),
        ("replayed", [REPLAYED]),
    ):
        masks[cause_] = counted & rows["kind"].isin(kinds)
    if cause not in masks:
        raise ScopeError(f"cause must be one of {', '.join(masks)}, not {cause!r}")
    picked = rows[masks[cause]].assign(sign=np.where((late | early_out)[masks[cause]], -1, 1))
    columns = ["event_id", "entity_id", "event_time", "arrival", "kind", "status", "s3_key", "value", "sign"]
    return picked.sort_values(["event_time", "arrival"], kind="stable")[columns]


def explain(
    values: pd.DataFrame,
    arrivals: pd.DataFrame | None = None,
    *,
    freq: str = "1D",
    metric: str = "count",
    cells_: pd.DataFrame | None = None,
    arrivals_of: Callable[[pd.Timestamp, pd.Timestamp], pd.DataFrame] | None = None,
) -> DashboardExplanation:
    """The pure core of ``kit.explain_dashboard``: ``values`` (``dashboard_values``) against
    ``arrivals`` (``ARRIVAL_COLUMNS``), or against precomputed ``cells_`` plus ``arrivals_of(start, end)``
    (the arrivals dated or arriving in ``[start, end)``) for the SQL path."""
    if cells_ is None:
        if arrivals is None:
            raise ValueError("explain needs arrivals or cells")
        cells_ = cells(arrivals, freq)
        everything = arrivals

        def arrivals_of(start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:  # noqa: F811
            dated = (everything["event_time"] >= start) & (everything["event_time"] < end)
            came = (everything["arrival"] >= start) & (everything["arrival"] < end)
            return everything[dated | came]

    keys = ["window", "entity_id"] if "entity_id" in values.columns else ["window"]
    shown = values.set_index(keys)["value"].astype("float64")
    if "entity_id" in values.columns:
        cells_ = cells_[cells_["entity_id"].isin(set(values["entity_id"]))]
    sem = fit(cells_, shown, keys)
    table = _table(stages(sem, cells_, keys), shown)
    return DashboardExplanation(sem, table, metric, freq, arrivals_of)  # type: ignore[arg-type]


def _table(parts: pd.DataFrame, shown: pd.Series) -> pd.DataFrame:
    frame = parts.reindex(shown.index, fill_value=0.0)
    frame["dashboard"] = shown
    frame["gap"] = frame["dashboard"] - frame["truth"]
    frame["unexplained"] = frame["dashboard"] - frame["value"]
    columns = [c for c in TABLE_COLUMNS if c != "window"]
    frame = frame.reset_index()
    if (frame[columns] == frame[columns].round()).all().all():
        frame[columns] = frame[columns].round().astype("int64")
    ordered = ["window", *(["entity_id"] if "entity_id" in frame else []), *columns]
    return frame[ordered].sort_values(ordered[:2]).reset_index(drop=True)


# --- the dashboard's numbers --------------------------------------------------------------------
def dashboard_values(values: pd.DataFrame | str | Path) -> pd.DataFrame:
    """``window`` (UTC window start), ``value`` and optionally ``entity_id`` from a frame, or a CSV or
    Parquet file; a date means its midnight UTC.

    >>> dashboard_values(pd.DataFrame({"window": ["2026-11-30"], "value": [980]}))["window"].iloc[0]
    Timestamp('2026-11-30 00:00:00+0000', tz='UTC')
    """
    frame = _read_values(Path(values)) if isinstance(values, (str, Path)) else values.copy()
    missing = [c for c in ("window", "value") if c not in frame.columns]
    if missing:
        raise ScopeError(f"dashboard values need columns window and value; missing {', '.join(missing)}")
    frame["window"] = _parsed(frame["window"], lambda v: pd.to_datetime(v, utc=True, format="mixed"), "a date or time")
    frame["value"] = _parsed(frame["value"], lambda v: pd.to_numeric(v).astype("float64"), "a number")
    keys = ["window", "entity_id"] if "entity_id" in frame.columns else ["window"]
    if frame.duplicated(keys).any():
        raise ScopeError(f"dashboard values have more than one row per {' and '.join(keys)}")
    return frame[[*keys, "value"]].sort_values(keys).reset_index(drop=True)


def _read_values(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file's rows, or ``ScopeError`` saying the file cannot be read as one."""
    kind = "Parquet" if path.suffix == ".parquet" else "CSV"
    try:
        return pd.read_parquet(path) if kind == "Parquet" else pd.read_csv(path, dtype={"entity_id": str})
    except (OSError, ValueError, pd.errors.EmptyDataError, pd.errors.ParserError) as exc:  # ArrowInvalid: ValueError
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ScopeError(f"{path} is not a readable {kind} file of window,value rows: {first}") from exc


def _parsed(column: pd.Series, parse: Callable[[pd.Series], pd.Series], what: str) -> pd.Series:
    """``parse(column)``, or ``ScopeError`` naming the first value (and its row, from 1) that is not ``what``."""
    try:
        return parse(column)
    except (ValueError, TypeError) as exc:
        for row, value in enumerate(column, start=1):
            try:
                parse(pd.Series([value]))
            except (ValueError, TypeError):
                raise ScopeError(f"dashboard values: {column.name} {value!r} in row {row} is not {what}") from exc
        raise ScopeError(f"dashboard values: the {column.name} column is not {what}: {exc}") from exc


def compute(arrivals: pd.DataFrame, sem: Semantics, freq: str, *, by_entity: bool = False) -> pd.DataFrame:
    """What a pipeline with semantics ``sem`` would show (``window``, [``entity_id``,] ``value``):
    how the demo writes its dashboard file and how tests plant one."""
    keys = ["window", "entity_id"] if by_entity else ["window"]
    values = _values(sem, cells(arrivals, freq), keys)
    return values.rename("value").reset_index()


# --- words --------------------------------------------------------------------------------------
def summary(table: pd.DataFrame, sem: Semantics, metric: str = "count") -> str:
    """The worst window in words, the semantics and how well it fits; windows it cannot explain.

    "Nov 30 shows 980, the truth is 1,021: 45 events arrived after the dashboard's 6 h cutoff, ..."
    """
    if table.empty:
        return "No dashboard windows to explain."
    worst = table.loc[table["gap"].abs().idxmax()]
    unit = "events" if metric == "count" else ""
    sentences = [_window_sentence(worst, sem, unit)]
    exact = int((table["unexplained"] == 0).sum())
    sentences.append(f"The dashboard {sem.describe()} — this reproduces {exact} of {len(table)} windows exactly.")
    off = table[table["unexplained"] != 0]
    if len(off):
        listed = ", ".join(f"{_day(r.window)} ({_signed(r.unexplained)})" for r in off.head(5).itertuples())
        more = f" and {len(off) - 5} more" if len(off) > 5 else ""
        far = number(off["unexplained"].abs().sum())
        sentences.append(
            f"No candidate explains every window: the best is {far} off in total; unexplained: {listed}{more}."
        )
    return " ".join(sentences)


def _window_sentence(row: Any, sem: Semantics, unit: str) -> str:
    head = f"{_day(row['window'])}" + (
        f" for {row['entity_id']}" if "entity_id" in row and pd.notna(row.get("entity_id")) else ""
    )
    if row["gap"] == 0:
        return f"{head} shows {number(row['dashboard'])}, the same as the truth."
    reasons = []

    def one(v: float) -> bool:  # a count of 1 reads in the singular
        return bool(unit) and abs(v) == 1

    def noun(v: float) -> str:
        return ("event" if one(v) else "events") if unit else "of value"

    phrases = {
        "late": lambda v: (
            f"{number(-v)} {noun(v)} arrived after the dashboard's "
            + (f"{_span(sem.cutoff)} cutoff" if sem.time_basis == "event_time" else "window ended")
        ),
        "early": lambda v: (
            f"{number(abs(v))} {noun(v)} "
            + (
                f"counted here {'belongs' if one(v) else 'belong'} to another window by event time"
                if v > 0
                else f"of this window {'was' if one(v) else 'were'} counted in another"
            )
        ),
        "duplicates": lambda v: f"{number(v)} {'repeat was' if one(v) else 'repeats were'} counted twice",
        "conflicts": lambda v: f"{number(abs(v))} from conflicting payloads of one event",
        "rejected": lambda v: f"{number(v)} rejected {'request was' if one(v) else 'requests were'} counted",
        "replayed": lambda v: f"{number(v)} {'replay re-send was' if one(v) else 'replay re-sends were'} counted again",
        "unexplained": lambda v: f"{_signed(v)} no cause accounts for",
    }
    for cause in (*CAUSES, "unexplained"):
        if row[cause] != 0:
            reasons.append(phrases[cause](row[cause]))
    return f"{head} shows {number(row['dashboard'])}, the truth is {number(row['truth'])}: " + ", ".join(reasons) + "."


def _signed(value: float) -> str:
    return ("+" if value > 0 else "−") + number(abs(value))


def _day(window: Any) -> str:
    stamp = pd.Timestamp(window)
    return f"{stamp:%b} {stamp.day}" + ("" if stamp == stamp.normalize() else f" {stamp:%H:%M}")


def _span(cutoff: pd.Timedelta | None) -> str:
    if cutoff is None:
        return "no"
    hours = cutoff / pd.Timedelta(hours=1)
    if hours.is_integer() and hours > 0:
        return f"{int(hours)} h"
    return humanize(int(cutoff / pd.Timedelta(milliseconds=1)))


# --- arrivals from what pik recorded ------------------------------------------------------------
def arrivals(
    attempts: pd.DataFrame,
    *,
    rejected: pd.DataFrame | None = None,
    replayed: pd.DataFrame | None = None,
    values: pd.Series | None = None,
) -> pd.DataFrame:
    """``ARRIVAL_COLUMNS`` from attempts (``ATTEMPT_COLUMNS``), quarantined requests (``Kit.rejected``)
    and re-sends (``event_id``, ``arrival``: when a replay delivered the event to an external target).
    ``values`` maps an attempt's ``s3_key`` to its payload field (a sum); without it each counts 1.

    >>> arrivals(kit.events(source="checkout", event_type="order_placed", start=a, end=b))  # doctest: +SKIP
    """
    frame = attempts.sort_values("ingest_time", kind="stable")
    value = frame["s3_key"].map(values) if values is not None else pd.Series(1.0, index=frame.index)
    frame = frame.assign(
        value=value.astype("float64").fillna(0.0), arrival=frame["ingest_time"], status=frame["status"].astype(str)
    )
    first = frame[frame["status"] == AttemptStatus.ACCEPTED].drop_duplicates("event_id")
    first_value = first.set_index("event_id")["value"]
    parts = [first.assign(kind=ACCEPTED)]
    repeats = frame[frame["status"] == AttemptStatus.DUPLICATE]
    parts.append(repeats.assign(kind=DUPLICATE, value=repeats["event_id"].map(first_value).fillna(0.0)))
    conflicts = frame[frame["status"] == AttemptStatus.CONFLICT]
    parts.append(conflicts.assign(kind=CONFLICT))
    if values is not None and len(conflicts):
        chain = pd.concat([first, conflicts]).sort_values("arrival", kind="stable")
        change = chain["value"] - chain.groupby("event_id")["value"].shift().fillna(chain["value"])
        parts.append(chain.assign(kind=CONFLICT_LATEST, value=change)[chain["status"] == AttemptStatus.CONFLICT])
    if rejected is not None and len(rejected):
        parts.append(rejected_arrivals(rejected, value=1.0 if values is None else 0.0))
    if replayed is not None and len(replayed):
        sent = replayed.merge(first.drop(columns=["arrival", "kind"]), on="event_id", how="inner")
        parts.append(sent.assign(kind=REPLAYED, status="REPLAYED"))
    result = pd.concat([part[list(ARRIVAL_COLUMNS)] for part in parts], ignore_index=True)
    result["event_time"] = pd.to_datetime(result["event_time"], utc=True)
    result["arrival"] = pd.to_datetime(result["arrival"], utc=True)
    return result.astype({name: "str" for name in ("event_id", "entity_id", "s3_key", "kind", "status")})


def rejected_arrivals(rejected: pd.DataFrame, *, value: float = 1.0) -> pd.DataFrame:
    """Quarantined requests (``Kit.rejected``) as arrivals; one without a readable event time is
    dated at its arrival. A sum counts them as ``value`` (their payload was not accepted)."""
    times = pd.to_datetime(rejected["ingest_time"], utc=True)
    frame = pd.DataFrame(
        {
            "kind": REJECTED,
            "event_id": rejected["attempt_id"].astype("str"),
            "entity_id": rejected["entity_id"].astype("str"),
            "event_time": pd.to_datetime(rejected["event_time"], utc=True).fillna(times),
            "arrival": times,
            "value": value,
            "status": AttemptStatus.REJECTED.value,
            "s3_key": rejected["s3_key"].astype("str"),
        }
    )
    return frame[list(ARRIVAL_COLUMNS)]
