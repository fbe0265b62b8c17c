"""``Kit``: one connected stack and the verbs an investigator uses on it.

Each verb is a thin method over a module (``load``, ``raw``, ``diff``, ``explain``, ``api``,
``reconcile``) so the logic stays testable on its own.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable

import boto3
import pandas as pd
from botocore.config import Config

from . import api, diff as diff_module, explain as explain_module, load, raw as raw_module, reconcile as reconcile_module
from .dynamo import FastReader

if TYPE_CHECKING:
    from .connect import Resources
    from .diff import Diff
    from .explain import Explanation

Time = datetime | str | pd.Timestamp


class Kit:
    """A connected stack: ``kit = pik_nb.connect()``, then ``kit.events(entity_id="c-42", start=..., end=...)``."""

    def __init__(self, session: boto3.session.Session, resources: "Resources", *, endpoint_url: str | None = None,
                 sign_api: bool = True, workers: int = 32, progress: bool = True) -> None:
        self.session = session
        self.resources = resources
        self.endpoint_url = endpoint_url
        self.sign_api = sign_api  # SigV4 for a deployed API; the local stack's API is plain HTTP
        self.workers = workers
        self.progress = progress
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._reader: FastReader | None = None

    def __repr__(self) -> str:
        where = self.endpoint_url or self.session.region_name
        return f"Kit({where}, events={self.resources.events_table_name!r}, bucket={self.resources.raw_bucket_name!r})"

    def client(self, service: str) -> Any:
        """The kit's boto3 client for ``service``, pooled for ``workers`` concurrent calls."""
        with self._lock:
            if service not in self._clients:
                config = Config(max_pool_connections=self.workers, retries={"mode": "standard", "max_attempts": 5})
                self._clients[service] = self.session.client(service, endpoint_url=self.endpoint_url, config=config)
            return self._clients[service]

    @property
    def reader(self) -> FastReader:
        """The fast DynamoDB reader used by ``events``."""
        if self._reader is None:
            self._reader = FastReader(self.session, self.client("dynamodb"), max_connections=self.workers)
        return self._reader

    # --- loaders ------------------------------------------------------------------------------
    def events(self, *, entity_id: str | None = None, source: str | None = None, event_type: str | None = None,
               start: Time | None = None, end: Time | None = None, allow_scan: bool = False,
               page_size: int | None = None, progress: bool | None = None) -> pd.DataFrame:
        """One row per ingest attempt (columns: ``pik_nb.frames.ATTEMPT_COLUMNS``), through the indexes.

        >>> kit.events(entity_id="customer-42", start="2026-11-20", end="2026-11-21")
        >>> kit.events(source="checkout", event_type="order_placed", start="2026-11-20", end="2026-11-22")
        """
        return load.events(self, entity_id=entity_id, source=source, event_type=event_type, start=start, end=end,
                           allow_scan=allow_scan, page_size=page_size, progress=self._progress(progress))

    def raw(self, events: pd.DataFrame, *, progress: bool | None = None) -> pd.DataFrame:
        """The raw objects behind ``events`` rows, one row per object, payload flattened, hash checked.

        >>> raw = kit.raw(kit.events(entity_id="customer-42", start="2026-11-20", end="2026-11-21"))
        >>> raw[["event_id", "hash_ok", "payload.amount"]]
        """
        return raw_module.fetch(self, events, progress=self._progress(progress))

    def raw_dataset(self, *, source: str, event_type: str, days: int | Iterable[str] = 1,
                    progress: bool | None = None) -> pd.DataFrame:
        """Every raw object of ``source``/``event_type`` on ``days`` (a count back from today, or dates).

        >>> kit.raw_dataset(source="checkout", event_type="order_placed", days=["2026-11-20"])
        """
        return raw_module.dataset(self, source=source, event_type=event_type, days=days,
                                  progress=self._progress(progress))

    def rejected(self, *, days: int | Iterable[str] = 1, progress: bool | None = None) -> pd.DataFrame:
        """Quarantined (REJECTED) requests of ``days``: arrival, reasons, entity when it could be read.

        >>> kit.rejected(days=["2026-11-20"])[["ingest_time", "rules", "entity_id"]]
        """
        return raw_module.rejected(self, days=days, progress=self._progress(progress))

    def aggregates(self, *, entity_id: str, start: Time, end: Time, metric: str | None = None) -> pd.DataFrame:
        """Every aggregate version of ``entity_id`` for days in ``[start, end)`` (``AGGREGATE_COLUMNS``).

        >>> kit.aggregates(entity_id="customer-42", start="2026-11-20", end="2026-11-21", metric="count")
        """
        return load.aggregates(self, entity_id=entity_id, start=start, end=end, metric=metric)

    def replays(self, *, start: Time | None = None, end: Time | None = None) -> pd.DataFrame:
        """Replay runs, newest first (``RUN_COLUMNS``), created in ``[start, end)`` when given.

        >>> kit.replays()[["replay_id", "dry_run", "matched", "sent", "status"]]
        """
        return load.replays(self, start=start, end=end)

    def manifest(self, key: str) -> dict:
        """An aggregate version's manifest document (``pik.core.records.manifest_document``)."""
        return raw_module.document(self, key)

    # --- investigation ------------------------------------------------------------------------
    def diff(self, entity_id: str, day: str, *, metric: str = "count", old: int | None = None,
             new: int | None = None) -> "Diff":
        """What changed between two aggregate versions, and why (default: the last two).

        >>> d = kit.diff("customer-42", "2026-11-20", metric="count")
        >>> d.value_delta, list(d.added["event_id"]), d.causes
        """
        return diff_module.load_diff(self, entity_id, day, metric=metric, old=old, new=new)

    def explain(self, event_id: str) -> "Explanation":
        """Everything known about one event: attempts, raw bytes, dedup, replays, aggregate versions.

        >>> kit.explain("5f0c...").to_dict()["attempts"][0]["status"]
        'ACCEPTED'
        """
        return explain_module.load_explanation(self, event_id)

    def replay(self, *, start: Time, end: Time, entity_id: str | None = None, source: str | None = None,
               event_type: str | None = None, limit: int | None = None, include_duplicates: bool = False,
               dry_run: bool = True, client_token: str | None = None) -> dict:
        """Call ``POST /replay``; a dry run unless ``dry_run=False``. Returns the run as the API answers,
        continued until complete unless ``limit`` bounds it (then ``continuation`` resumes it).

        >>> run = kit.replay(entity_id="customer-42", start="2026-11-20", end="2026-11-21")
        >>> run["matched"], run["by_day"]
        """
        return api.replay(self, start=start, end=end, entity_id=entity_id, source=source, event_type=event_type,
                          limit=limit, include_duplicates=include_duplicates, dry_run=dry_run,
                          client_token=client_token)

    def reconcile(self, *, progress: bool | None = None) -> pd.DataFrame:
        """Raw objects without metadata and metadata without raw (columns ``problem``, ``event_id``, ``s3_key``).

        >>> kit.reconcile().groupby("problem").size()
        """
        return reconcile_module.reconcile(self, progress=self._progress(progress))

    def status(self) -> dict:
        """Resource names, replay queue depths and the latest replay run.

        >>> kit.status()["queues"]["replay_queue"]
        """
        return reconcile_module.status(self)

    def _progress(self, progress: bool | None) -> bool:
        return self.progress if progress is None else progress
