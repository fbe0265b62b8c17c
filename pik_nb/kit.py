"""``Kit``: the investigator's facade: one ``Stack`` and the verbs used on it.

Each verb is a thin method over a module (``load``, ``raw``, ``diff``, ``explain``,
``reconcile``) that takes the ``Stack``, never the ``Kit``: nothing below this module imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable

import boto3
import pandas as pd

from pik.core.timefmt import key_time

from .investigate import diff as diff_module, explain as explain_module, reconcile as reconcile_module
from .read import objects as raw_module, tables as load
from .read._dynamodb import FastReader
from .read.stack import Resources, Stack
from ._errors import KitError
from ._times import Time, utc

if TYPE_CHECKING:
    from .investigate.diff import Diff
    from .investigate.explain import Explanation


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
    def events(self, *, entity_id: str | None = None, source: str | None = None, event_type: str | None = None,
               start: Time | None = None, end: Time | None = None, allow_scan: bool = False,
               page_size: int | None = None, progress: bool | None = None) -> pd.DataFrame:
        """One row per ingest attempt (columns: ``pik_nb.read.frames.ATTEMPT_COLUMNS``), through the indexes.

        >>> kit.events(entity_id="customer-42", start="2026-11-20", end="2026-11-21")
        >>> kit.events(source="checkout", event_type="order_placed", start="2026-11-20", end="2026-11-22")
        """
        return load.events(self.stack, entity_id=entity_id, source=source, event_type=event_type, start=start, end=end,
                           allow_scan=allow_scan, page_size=page_size, progress=self._progress(progress))

    def raw(self, events: pd.DataFrame, *, progress: bool | None = None) -> pd.DataFrame:
        """The raw objects behind ``events`` rows, one row per object, payload flattened, hash checked.

        >>> raw = kit.raw(kit.events(entity_id="customer-42", start="2026-11-20", end="2026-11-21"))
        >>> raw[["event_id", "hash_ok", "payload.amount"]]
        """
        return raw_module.fetch(self.stack, events, progress=self._progress(progress))

    def raw_dataset(self, *, source: str, event_type: str, days: int | Iterable[str] = 1,
                    progress: bool | None = None) -> pd.DataFrame:
        """Every raw object of ``source``/``event_type`` on ``days`` (a count back from today, or dates).

        >>> kit.raw_dataset(source="checkout", event_type="order_placed", days=["2026-11-20"])
        """
        return raw_module.dataset(self.stack, source=source, event_type=event_type, days=days,
                                  progress=self._progress(progress))

    def rejected(self, *, days: int | Iterable[str] = 1, progress: bool | None = None) -> pd.DataFrame:
        """Quarantined (REJECTED) requests of ``days``: arrival, reasons, entity when it could be read.

        >>> kit.rejected(days=["2026-11-20"])[["ingest_time", "rules", "entity_id"]]
        """
        return raw_module.rejected(self.stack, days=days, progress=self._progress(progress))

    def aggregates(self, *, entity_id: str, start: Time, end: Time, metric: str | None = None) -> pd.DataFrame:
        """Every aggregate version of ``entity_id`` for days in ``[start, end)`` (``AGGREGATE_COLUMNS``).

        >>> kit.aggregates(entity_id="customer-42", start="2026-11-20", end="2026-11-21", metric="count")
        """
        return load.aggregates(self.stack, entity_id=entity_id, start=start, end=end, metric=metric)

    def replays(self, *, start: Time | None = None, end: Time | None = None) -> pd.DataFrame:
        """Replay runs, newest first (``RUN_COLUMNS``), created in ``[start, end)`` when given.

        >>> kit.replays()[["replay_id", "dry_run", "matched", "sent", "status"]]
        """
        return load.replays(self.stack, start=start, end=end)

    def manifest(self, key: str) -> dict:
        """An aggregate version's manifest document (``pik.core.records.manifest_document``)."""
        return raw_module.document(self.stack, key)

    # --- investigation ------------------------------------------------------------------------
    def diff(self, entity_id: str, day: str, *, metric: str = "count", old: int | None = None,
             new: int | None = None) -> "Diff":
        """What changed between two aggregate versions, and why (default: the last two).

        >>> d = kit.diff("customer-42", "2026-11-20", metric="count")
        >>> d.value_delta, list(d.added["event_id"]), d.causes
        """
        return diff_module.load_diff(self.stack, entity_id, day, metric=metric, old=old, new=new)

    def explain(self, event_id: str) -> "Explanation":
        """Everything known about one event: attempts, raw bytes, dedup, replays, aggregate versions.

        >>> kit.explain("5f0c...").to_dict()["attempts"][0]["status"]
        'ACCEPTED'
        """
        return explain_module.load_explanation(self.stack, event_id)

    def replay(self, *, start: Time | None = None, end: Time | None = None, entity_id: str | None = None, source: str | None = None,
               event_type: str | None = None, limit: int | None = None, include_duplicates: bool = False,
               dry_run: bool = True, client_token: str | None = None, target: dict | None = None,
               rate_per_second: float | None = None, event_ids: Iterable[str] | None = None,
               statuses: Iterable[str] | None = None, dead_letters: bool = False,
               on_step: Callable[[dict], None] | None = None) -> dict:
        """Call ``POST /replay``; a dry run unless ``dry_run=False``. Returns the run as the API answers,
        continued until complete unless ``limit`` bounds it (then ``continuation`` resumes it); ``on_step``
        sees each answer that is continued.
        ``target`` is ``{"sqs": url}``, ``{"eventbridge": bus}``, ``{"kinesis": arn}`` or ``{"http": url}``
        (default: the stack's replay queue); ``event_ids`` any iterable of ids (a list, a Series), with or
        without a window; ``statuses`` selects attempts by status (``["CONFLICT"]``; ``["REJECTED"]`` alone
        re-submits the window's quarantined requests to ingest: the repair path); ``dead_letters=True``
        redrives the replay queue's DLQ instead of a scope.

        >>> run = kit.replay(entity_id="customer-42", start="2026-11-20", end="2026-11-21")
        >>> run["matched"], run["by_day"]
        >>> kit.replay(event_ids=found["event_id"], target={"sqs": url}, rate_per_second=50, dry_run=False)
        """
        body = {"entity_id": entity_id, "source": source, "event_type": event_type,
                "start_time": key_time(utc(start)) if start is not None else None,
                "end_time": key_time(utc(end)) if end is not None else None, "limit": limit,
                "include_duplicates": include_duplicates, "dry_run": dry_run, "client_token": client_token,
                "target": target, "rate_per_second": rate_per_second,
                "event_ids": [str(event_id) for event_id in event_ids] if event_ids is not None else None,
                "statuses": list(statuses) if statuses is not None else None, "dead_letters": dead_letters or None}
        with self.stack.api as api:
            return api.replay({k: v for k, v in body.items() if v is not None}, follow=limit is None, on_step=on_step)

    def steer(self, replay_id: str, action: str, *, on_step: Callable[[dict], None] | None = None) -> dict:
        """Pause, resume or cancel a replay run (``POST /replay/{id}``); the run as it then stands (a resumed
        run followed to its end, like ``replay``; ``on_step`` sees each answer that is continued).

        >>> kit.steer("rp-3f2a...", "pause")["status"]
        'PAUSED'
        """
        with self.stack.api as api:
            return api.steer(replay_id, action, on_step=on_step)

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
        from .sql import queries

        info = reconcile_module.status(self.stack)
        try:
            held = self.sql(queries.streams())
        except KitError as exc:
            return {**info, "streams": [], "streams_error": str(exc)}
        return {**info, "streams": held.to_dict("records")}

    # --- the archive: compaction and SQL (pik_nb.sql.archive, pik_nb.sql) -----------------------
    def compact(self, *, source: str | None = None, event_type: str | None = None, start: Time | None = None,
                end: Time | None = None, everything: bool = False, settle: str = "60s") -> dict:
        """Run the compaction step now (the scheduled Lambda's code, on this stack): partitions
        touched since the watermark, or ``source``/``event_type`` over ``[start, end)``, or all.

        >>> kit.compact()
        {'partitions': 3, 'written': 3, 'unchanged': 0, 'attempts': 120, 'events': 100, 'watermark': '...'}
        """
        from .sql import archive

        return archive.compact(self.stack, source=source, event_type=event_type, start=start, end=end,
                               everything=everything, settle=settle)

    def sql(self, query: str, *, fresh: bool = True, engine: str | None = None) -> pd.DataFrame:
        """SQL over the views ``attempts``, ``events`` (typed payload columns + ``payload`` JSON),
        ``aggregates`` and ``replays``: DuckDB locally, Athena on a deployed stack with EnableAthena
        (``engine=`` forces one). ``fresh`` adds rows past the compaction watermark (DuckDB).

        >>> kit.sql("SELECT source, count(*) AS late FROM attempts WHERE ingest_lag_ms > 3600000 GROUP BY 1")
        """
        from .sql import engine as sql

        return sql.sql(self.stack, query, fresh=fresh, engine=engine)

    def search(self, *, source: str | None = None, event_type: str | None = None, start: Time | None = None,
               end: Time | None = None, where: str | None = None, limit: int | None = None,
               fresh: bool = True, engine: str | None = None) -> pd.DataFrame:
        """Events whose payload matches ``where`` (SQL over the payload columns), with ``event_id``
        and the raw key ``s3_key``; hand ``result.event_id`` to a replay.

        >>> hits = kit.search(source="checkout", event_type="order_placed", start="2026-11-20",
        ...                   end="2026-11-27", where="amount > 10000 AND country = 'DE'")
        >>> hits[["event_id", "entity_id", "amount", "s3_key"]]
        """
        from .sql import engine as sql

        return sql.search(self.stack, source=source, event_type=event_type, start=start, end=end, where=where,
                          limit=limit, fresh=fresh, engine=engine)

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

    def _progress(self, progress: bool | None) -> bool:
        return self.progress if progress is None else progress
