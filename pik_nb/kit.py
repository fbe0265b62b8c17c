"""``Kit``: the investigator's facade: one ``Stack`` and the verbs used on it.

Each verb is a thin method over a module (``load``, ``raw``, ``diff``, ``explain``,
``reconcile``) that takes the ``Stack``, never the ``Kit``: nothing below this module imports it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
import pandas as pd

from pik.core.timefmt import key_time

from ._errors import KitError
from ._times import Time, utc, utc_day
from .investigate import diff as diff_module
from .investigate import explain as explain_module
from .investigate import reconcile as reconcile_module
from .read import objects as raw_module
from .read import tables as load
from .read._dynamodb import FastReader
from .read.impact import with_impact
from .read.schemas import provenance
from .read.stack import Resources, Stack

if TYPE_CHECKING:
    from pathlib import Path

    import pyarrow as pa
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import RunEvent

    from .investigate.dashboard import DashboardExplanation
    from .investigate.diff import Diff
    from .investigate.doctor import Report
    from .investigate.explain import Explanation


F = TypeVar("F", bound=Callable[..., Any])
_NOT_SCOPE = {"self", "progress", "on_step"}
#: The kind of each frame of ``kit.explain(event_id)`` (scoped by the event's id).
_EXPLAINED = {"attempts": "events", "raw": "raw", "replays": "replays", "aggregates": "aggregates"}


def replay_body(
    *,
    start: Time | None = None,
    end: Time | None = None,
    entity_id: str | None = None,
    source: str | None = None,
    event_type: str | None = None,
    limit: int | None = None,
    include_duplicates: bool = False,
    dry_run: bool = True,
    client_token: str | None = None,
    target: dict | None = None,
    rate_per_second: float | None = None,
    event_ids: Iterable[str] | None = None,
    statuses: Iterable[str] | None = None,
    dead_letters: bool = False,
    envelope: str | None = None,
    resend: bool = False,
) -> dict:
    """The ``POST /replay`` body ``Kit.replay`` sends for a scope (fields left unset are left out).

    >>> replay_body(entity_id="customer-42", start="2026-11-20", end="2026-11-21")["start_time"]
    '2026-11-20T00:00:00.000000Z'
    """
    body = {
        "entity_id": entity_id,
        "source": source,
        "event_type": event_type,
        "start_time": key_time(utc(start)) if start is not None else None,
        "end_time": key_time(utc(end)) if end is not None else None,
        "limit": limit,
        "include_duplicates": include_duplicates,
        "dry_run": dry_run,
        "client_token": client_token,
        "target": target,
        "rate_per_second": rate_per_second,
        "event_ids": [str(event_id) for event_id in event_ids] if event_ids is not None else None,
        "statuses": list(statuses) if statuses is not None else None,
        "dead_letters": dead_letters or None,
        "envelope": envelope,
        "resend": resend or None,
    }
    return {k: v for k, v in body.items() if v is not None}


def _loaded(kind: str) -> Callable[[F], F]:
    """The verb's frame carries where it came from in ``attrs["pik"]`` (``pik_nb.schemas.provenance``):
    its ``kind``, the stack, the arguments that scoped it (or the query), and when it was loaded."""

    def decorate(verb: F) -> F:
        signature = inspect.signature(verb)

        @functools.wraps(verb)
        def tagged(self: Kit, *args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(self, *args, **kwargs)
            scope = {k: v for k, v in bound.arguments.items() if k not in _NOT_SCOPE and v is not None}
            return provenance(verb(self, *args, **kwargs), kind, repr(self.stack), **scope)

        return tagged  # type: ignore[return-value]

    return decorate


class Kit:
    """A connected stack: ``kit = pik_nb.connect()``, then ``kit.events(entity_id="c-42", start=..., end=...)``.

    ``kit.stack`` holds the session, resource names and clients; ``kit.progress`` is the default
    for progress bars on long loads.
    """

    def __init__(self, stack: Stack, *, progress: bool = True) -> None:
        self.stack = stack
        self.progress = progress

    def __repr__(self) -> str:
        return "Kit" + repr(self.stack).removeprefix("Stack")

    @property
    def session(self) -> boto3.session.Session:
        return self.stack.session

    @property
    def resources(self) -> Resources:
        return self.stack.resources

    @property
    def endpoint_url(self) -> str | None:
        return self.stack.endpoint_url

    @property
    def workers(self) -> int:
        return self.stack.workers

    @property
    def sign_api(self) -> bool:
        return self.stack.sign_api

    @sign_api.setter
    def sign_api(self, value: bool) -> None:
        self.stack.sign_api = value

    def client(self, service: str) -> Any:
        """The stack's boto3 client for ``service``, pooled for ``workers`` concurrent calls."""
        return self.stack.client(service)

    @property
    def reader(self) -> FastReader:
        """The fast DynamoDB reader used by ``events``."""
        return self.stack.reader

    # --- loaders ------------------------------------------------------------------------------
    @_loaded("events")
    def events(
        self,
        *,
        entity_id: str | None = None,
        source: str | None = None,
        event_type: str | None = None,
        start: Time | None = None,
        end: Time | None = None,
        allow_scan: bool = False,
        page_size: int | None = None,
        progress: bool | None = None,
    ) -> pd.DataFrame:
        """One row per ingest attempt (columns: ``pik_nb.read.frames.ATTEMPT_COLUMNS``), through the indexes.

        >>> kit.events(entity_id="customer-42", start="2026-11-20", end="2026-11-21")
        >>> kit.events(source="checkout", event_type="order_placed", start="2026-11-20", end="2026-11-22")
        """
        return load.events(
            self.stack,
            entity_id=entity_id,
            source=source,
            event_type=event_type,
            start=start,
            end=end,
            allow_scan=allow_scan,
            page_size=page_size,
            progress=self._progress(progress),
        )

    @_loaded("raw")
    def raw(self, events: pd.DataFrame, *, progress: bool | None = None) -> pd.DataFrame:
        """The raw objects behind ``events`` rows, one row per object, payload flattened, hash checked.

        >>> raw = kit.raw(kit.events(entity_id="customer-42", start="2026-11-20", end="2026-11-21"))
        >>> raw[["event_id", "hash_ok", "payload.amount"]]
        """
        return raw_module.fetch(self.stack, events, progress=self._progress(progress))

    @_loaded("raw_dataset")
    def raw_dataset(
        self, *, source: str, event_type: str, days: int | Iterable[str] = 1, progress: bool | None = None
    ) -> pd.DataFrame:
        """Every raw object of ``source``/``event_type`` on ``days`` (a count back from today, or dates).

        >>> kit.raw_dataset(source="checkout", event_type="order_placed", days=["2026-11-20"])
        """
        return raw_module.dataset(
            self.stack, source=source, event_type=event_type, days=days, progress=self._progress(progress)
        )

    @_loaded("rejected")
    def rejected(self, *, days: int | Iterable[str] = 1, progress: bool | None = None) -> pd.DataFrame:
        """Quarantined (REJECTED) requests of ``days``: arrival, reasons, entity when it could be read.

        >>> kit.rejected(days=["2026-11-20"])[["ingest_time", "rules", "entity_id"]]
        """
        return raw_module.rejected(self.stack, days=days, progress=self._progress(progress))

    @_loaded("aggregates")
    def aggregates(self, *, entity_id: str, start: Time, end: Time, metric: str | None = None) -> pd.DataFrame:
        """Every aggregate version of ``entity_id`` for days in ``[start, end)`` (``AGGREGATE_COLUMNS``).

        >>> kit.aggregates(entity_id="customer-42", start="2026-11-20", end="2026-11-21", metric="count")
        """
        return load.aggregates(self.stack, entity_id=entity_id, start=start, end=end, metric=metric)

    @_loaded("replays")
    def replays(self, *, start: Time | None = None, end: Time | None = None) -> pd.DataFrame:
        """Replay runs, newest first (``RUN_COLUMNS``), created in ``[start, end)`` when given.

        >>> kit.replays()[["replay_id", "dry_run", "matched", "sent", "status"]]
        """
        return load.replays(self.stack, start=start, end=end)

    def lineage(
        self,
        *,
        replay_id: str | None = None,
        entity_id: str | None = None,
        start: Time | None = None,
        end: Time | None = None,
        client: OpenLineageClient | None = None,
    ) -> list[RunEvent]:
        """Executed replays and aggregate versions as OpenLineage RunEvents (``openlineage-python``'s
        classes), each sent through ``client`` when given (docs/lineage.md).

        >>> kit.lineage(replay_id="rp-4c1d...")                    # the run, and the versions it caused
        >>> kit.lineage(entity_id="customer-42", start="2026-11-20", end="2026-11-21", client=OpenLineageClient())
        """
        from .investigate import lineage as lineage_module  # openlineage-python loads only when asked

        return lineage_module.events(
            self.stack, replay_id=replay_id, entity_id=entity_id, start=start, end=end, client=client
        )

    def manifest(self, key: str) -> dict:
        """An aggregate version's manifest document (``pik.core.records.manifest_document``)."""
        return raw_module.document(self.stack, key)

    # --- investigation ------------------------------------------------------------------------
    def diff(
        self, entity_id: str, day: str, *, metric: str = "count", old: int | None = None, new: int | None = None
    ) -> Diff:
        """What changed between two aggregate versions, and why (default: the last two).

        >>> d = kit.diff("customer-42", "2026-11-20", metric="count")
        >>> d.value_delta, list(d.added["event_id"]), d.causes
        """
        day = utc_day(day)
        found = diff_module.load_diff(self.stack, entity_id, day, metric=metric, old=old, new=new)
        versions = {"old": int(found.old["version"]) if found.old else None, "new": int(found.new["version"])}
        scope = {"entity_id": entity_id, "day": day, "metric": metric, **versions}
        for part in ("added", "removed"):
            provenance(getattr(found, part), f"diff.{part}", repr(self.stack), **scope)
        return found

    def explain(self, event_id: str) -> Explanation:
        """Everything known about one event: attempts, raw bytes, dedup, replays, aggregate versions.

        >>> kit.explain("5f0c...").to_dict()["attempts"][0]["status"]
        'ACCEPTED'
        """
        found = explain_module.load_explanation(self.stack, event_id)
        for kind in ("attempts", "raw", "replays", "aggregates"):  # the timeline() says the attempts' provenance
            provenance(getattr(found, kind), _EXPLAINED[kind], repr(self.stack), event_id=event_id)
        return found

    def explain_dashboard(
        self,
        values: pd.DataFrame | str | Path,
        *,
        source: str | None = None,
        event_type: str | None = None,
        entity_id: str | None = None,
        metric: str = "count",
        field: str | None = None,
        freq: str = "1D",
        engine: str | None = None,
    ) -> DashboardExplanation:
        """Why a dashboard's numbers (``values``: a frame or CSV/Parquet path with ``window``, ``value``
        and optionally ``entity_id``) differ from the truth: the dashboard's inferred ``semantics``, a
        ``table`` of signed causes per window adding up to ``dashboard - truth``, ``events(window, cause)``,
        ``summary()`` and ``plot()``. ``metric="sum"`` sums payload ``field``; SQL runs on ``engine``.

        >>> ex = kit.explain_dashboard("dash.csv", source="checkout", event_type="order_placed")
        >>> ex.semantics.cutoff, ex.table[["window", "gap", "late", "duplicates", "unexplained"]]
        >>> kit.replay(event_ids=ex.events("2026-11-30", "late")["event_id"])
        """
        from .investigate import dashboard_load
        from .sql import dashboard as dashboard_sql
        from .sql import dialect
        from .sql import engine as sql_engine

        dashboard_load.check(source, event_type, entity_id, metric, field)
        archive = dashboard_sql.DashboardArchive(
            lambda query: sql_engine.sql(self.stack, query, engine=engine),
            source,
            event_type,
            entity_id,
            field if metric == "sum" else None,
            freq,
            dialect.of(sql_engine.engine_of(self.stack, engine)),  # Athena's events table has no payload columns
        )
        explained = dashboard_load.explain_dashboard(self.stack, values, archive, metric=metric)
        scope = {"values": values if isinstance(values, pd.DataFrame) else str(values), "metric": metric, "freq": freq}
        asked = {"source": source, "event_type": event_type, "entity_id": entity_id, "field": field, "engine": engine}
        scope |= {k: v for k, v in asked.items() if v is not None}
        provenance(explained.table, "dashboard.table", repr(self.stack), **scope)  # events() says it too
        return explained

    def replay(
        self,
        *,
        start: Time | None = None,
        end: Time | None = None,
        entity_id: str | None = None,
        source: str | None = None,
        event_type: str | None = None,
        limit: int | None = None,
        include_duplicates: bool = False,
        dry_run: bool = True,
        client_token: str | None = None,
        target: dict | None = None,
        rate_per_second: float | None = None,
        event_ids: Iterable[str] | None = None,
        statuses: Iterable[str] | None = None,
        dead_letters: bool = False,
        envelope: str | None = None,
        run: str | None = None,
        resend: bool = False,
        on_step: Callable[[dict], None] | None = None,
    ) -> dict:
        """Call ``POST /replay``; a dry run unless ``dry_run=False``. Returns the run as the API answers,
        continued until complete unless ``limit`` bounds it (then ``continuation`` resumes it); ``on_step``
        sees each answer that is continued.
        ``target`` is ``{"sqs": url}``, ``{"eventbridge": bus}``, ``{"kinesis": arn}`` or ``{"http": url}``
        (default: the stack's replay queue); ``event_ids`` any iterable of ids (a list, a Series), with or
        without a window; ``statuses`` selects attempts by status (``["CONFLICT"]``; ``["REJECTED"]`` alone
        re-submits the window's quarantined requests to ingest: the repair path); ``dead_letters=True``
        redrives the replay queue's DLQ instead of a scope. ``envelope`` is what a ``target`` gets: ``"raw"``
        (each event as sent, the default), ``"pik"`` (event + replay envelope) or ``"cloudevents"``.
        ``run="rp-..."`` executes a reviewed dry run by its id, exactly its recorded scope, once (a repeat
        answers the same execution run). To an external target, the answer's ``already_delivered`` says
        how many of the events it already got, by which runs when; executing skips them (``skipped``)
        unless ``resend=True``.
        A dry run to the stack's processor answers ``impact``, a DataFrame per (entity, day, metric): the
        value ``now`` and ``after`` the replay (the processor's own recompute), and ``impact_events``, the
        events that would enter (``pik_nb.read.impact``); both None for other replays.

        >>> run = kit.replay(entity_id="customer-42", start="2026-11-20", end="2026-11-21")
        >>> run["matched"], run["by_day"]
        >>> run["impact"].query("changed")[["day", "metric", "now", "after", "delta"]]
        >>> kit.replay(event_ids=found["event_id"], target={"sqs": url}, rate_per_second=50, dry_run=False)
        >>> kit.replay(event_ids=ids, target={"eventbridge": "orders"}, envelope="cloudevents", dry_run=False)
        """
        if run is not None:
            with self.stack.api as api:
                return self._impact(with_impact(api.replay({"run": run}, follow=True, on_step=on_step)), {"run": run})
        body = replay_body(
            start=start,
            end=end,
            entity_id=entity_id,
            source=source,
            event_type=event_type,
            limit=limit,
            include_duplicates=include_duplicates,
            dry_run=dry_run,
            client_token=client_token,
            target=target,
            rate_per_second=rate_per_second,
            event_ids=event_ids,
            statuses=statuses,
            dead_letters=dead_letters,
            envelope=envelope,
            resend=resend,
        )
        with self.stack.api as api:
            return self._impact(with_impact(api.replay(body, follow=limit is None, on_step=on_step)), body)

    def _impact(self, answer: dict, body: dict) -> dict:
        """The answer's impact frames say where they came from: this stack, the request and the run's id."""
        scope = {**body, "replay_id": answer.get("replay_id")}
        for kind in ("impact", "impact_events"):
            provenance(answer.get(kind), kind, repr(self.stack), **scope)
        return answer

    def steer(self, replay_id: str, action: str, *, on_step: Callable[[dict], None] | None = None) -> dict:
        """Pause, resume or cancel a replay run (``POST /replay/{id}``); the run as it then stands (a resumed
        run followed to its end, like ``replay``; ``on_step`` sees each answer that is continued).

        >>> kit.steer("rp-3f2a...", "pause")["status"]
        'PAUSED'
        """
        with self.stack.api as api:
            return api.steer(replay_id, action, on_step=on_step)

    @_loaded("reconcile")
    def reconcile(self, *, progress: bool | None = None) -> pd.DataFrame:
        """Raw objects without metadata and metadata without raw (columns ``problem``, ``event_id``, ``s3_key``).

        >>> kit.reconcile().groupby("problem").size()
        """
        return reconcile_module.reconcile(self.stack, progress=self._progress(progress))

    def status(self) -> dict:
        """Resource names, replay queue depths, the latest replay run and what the stack holds per
        stream (``streams``: attempts, events, duplicates, conflicts, entities, event times, newest
        arrival; ``streams_error`` says why when the archive cannot be read).

        >>> kit.status()["streams"][0]["newest_arrival"]
        """
        from .sql import streams

        info = reconcile_module.status(self.stack)
        try:
            held = self.sql(streams.query())
        except KitError as exc:
            return {**info, "streams": [], "streams_error": str(exc)}
        return {**info, "streams": held.to_dict("records")}

    # --- the archive: compaction and SQL (pik_nb.sql.archive, pik_nb.sql) -----------------------
    def compact(
        self,
        *,
        source: str | None = None,
        event_type: str | None = None,
        start: Time | None = None,
        end: Time | None = None,
        everything: bool = False,
        settle: str = "60s",
    ) -> dict:
        """Run the compaction step now (the scheduled Lambda's code, on this stack): partitions
        recorded in since the watermark, or ``source``/``event_type`` over ``[start, end)``, or all;
        under the compaction lease (``LeaseError`` while another run holds it); ``settle`` >= 0.

        >>> kit.compact()
        {'partitions': 3, 'written': 3, 'unchanged': 0, 'attempts': 120, 'events': 100, 'orphans': 0,
         'watermark': '...'}
        """
        from .sql import archive

        return archive.compact(
            self.stack, source=source, event_type=event_type, start=start, end=end, everything=everything, settle=settle
        )

    @property
    def sql_engine(self) -> str:
        """The engine ``kit.sql`` runs on by default: ``athena`` for a stack deployed with it, else
        ``duckdb`` (``pik_nb.sql.dialect.of(kit.sql)`` writes SQL for it).

        >>> kit.sql_engine
        'duckdb'
        """
        from .sql import engine

        return engine.engine_of(self.stack, None)

    @_loaded("sql")
    def sql(
        self, query: str, *, fresh: bool = True, engine: str | None = None, arrow: bool = False, confined: bool = True
    ) -> pd.DataFrame | pa.Table:
        """SQL over the views ``attempts``, ``events`` (typed payload columns + ``payload`` JSON),
        ``aggregates`` and ``replays``: DuckDB locally, Athena on a deployed stack with EnableAthena
        (``engine=`` forces one). ``fresh`` adds rows past the compaction watermark (DuckDB).
        ``arrow=True`` returns a ``pyarrow.Table`` straight from DuckDB, without a pandas copy.
        One read-only statement, no file or network access (``confined=False`` opts out).

        >>> kit.sql("SELECT source, count(*) AS late FROM attempts WHERE ingest_lag_ms > 3600000 GROUP BY 1")
        >>> kit.sql("SELECT * FROM events", arrow=True).num_rows
        """
        from .sql import engine as sql

        return sql.sql(self.stack, query, fresh=fresh, engine=engine, arrow=arrow, confined=confined)

    @_loaded("search")
    def search(
        self,
        *,
        source: str | None = None,
        event_type: str | None = None,
        start: Time | None = None,
        end: Time | None = None,
        where: str | None = None,
        limit: int | None = None,
        fresh: bool = True,
        engine: str | None = None,
    ) -> pd.DataFrame:
        """Events whose payload matches ``where`` (SQL over the payload columns), with ``event_id``
        and the raw key ``s3_key``; hand ``result.event_id`` to a replay. On Athena, whose ``events``
        has no payload columns until you add them, a field it lacks is a ``SqlError`` before any query.

        >>> hits = kit.search(source="checkout", event_type="order_placed", start="2026-11-20",
        ...                   end="2026-11-27", where="amount > 10000 AND country = 'DE'")
        >>> hits[["event_id", "entity_id", "amount", "s3_key"]]
        """
        from .sql import engine as sql

        return sql.search(
            self.stack,
            source=source,
            event_type=event_type,
            start=start,
            end=end,
            where=where,
            limit=limit,
            fresh=fresh,
            engine=engine,
        )

    @_loaded("metrics")
    def metrics(self, start: Time, end: Time, period: str | int = "1min") -> pd.DataFrame:
        """Pipeline health over ``[start, end)``, one row per ``period`` (``pik_nb.analyses.health`` lists the
        columns): CloudWatch ``GetMetricData`` for a deployed stack, the local stack's EMF lines locally.

        >>> kit.metrics("2026-11-20", "2026-11-21", "1h")["IngestCount"].sum()     # doctest: +SKIP
        """
        from .analyses import health

        log_file = self.resources.extra.get("lambda_log_file")
        if log_file:
            return health.from_emf_file(log_file, start, end, period)
        return health.from_cloudwatch(self.client("cloudwatch"), start, end, period)

    def doctor(self, *, write: bool = False) -> Report:
        """Every path pik relies on, one line each: ok, or the exact fix (``pik_nb.investigate.doctor``);
        ``write`` also ingests one probe event under the reserved source ``pik.doctor``.

        >>> report = kit.doctor(write=True)
        >>> print(report); report.ok
        """
        from .investigate import doctor

        return doctor.doctor(self.stack, write=write, sql=lambda query: self.sql(query, fresh=False))

    def _progress(self, progress: bool | None) -> bool:
        return self.progress if progress is None else progress
