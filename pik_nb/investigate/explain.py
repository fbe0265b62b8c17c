"""``explain(event_id)``: every trace of one event, as a timeline an on-call engineer can read."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from pik.aws.dynamodb import deserialize
from pik.core import keys, queries
from pik.core.errors import NotFoundError
from pik.core.records import ACCEPTED, CONFLICT, DUPLICATE
from pik.core.timefmt import day_bounds

from .._format import counted
from ..analyses.durations import humanize
from ..read import objects as raw_module
from ..read import tables as load
from ..read.frames import ATTEMPT_COLUMNS, from_dynamo
from ..read.tables import gather
from ..read.tables import items as flat_items

if TYPE_CHECKING:
    from ..read.stack import Stack


@dataclass(frozen=True)
class Explanation:
    """What is known about one event; ``str()`` is the CLI's text, ``_repr_html_`` the notebook's."""

    event_id: str
    event: dict  # the dedup gate (META item): first arrival, counters, raw key
    attempts: pd.DataFrame  # ATTEMPT_COLUMNS, one row per ingest attempt
    raw: pd.DataFrame  # per raw object (first payload, conflicting payloads): found, hash_ok
    replays: pd.DataFrame  # runs whose scope covered the event (dry runs included, see ``dry_run``)
    aggregates: pd.DataFrame  # versions of its entity-day, ``includes_event`` from their manifests

    def timeline(self) -> pd.DataFrame:
        """``time``, ``what``, ``detail`` rows in time order: event time, attempts, replays, versions (an
        ``explain.timeline`` frame, with the provenance of ``attempts``)."""
        rows = (
            [
                (
                    self.attempts["event_time"].iloc[0],
                    "event time",
                    f"{self.event.get('entity_id')} {self.event.get('source')}/{self.event.get('event_type')}",
                )
            ]
            if len(self.attempts)
            else []
        )
        rows += [
            (
                a.ingest_time,
                a.status,
                f"lag {humanize(a.ingest_lag_ms)}, "
                f"attempt {a.attempt_id}, request {a.request_id}"
                + (f", other payload {a.payload_sha256[:12]}… kept at {a.s3_key}" if a.status == CONFLICT else ""),
            )
            for a in self.attempts.itertuples()
        ]
        rows += [
            (
                r.created_at,
                "dry-run replay" if r.dry_run else "replay",
                f"{r.replay_id} by {r.requester}: matched {r.matched}, sent {r.sent}, {r.status}",
            )
            for r in self.replays.itertuples()
        ]
        rows += [
            (
                v.computed_at,
                "aggregate",
                f"{v.metric} v{v.version} = {v.value:g} "
                f"{'includes' if v.includes_event else 'lacks'} it"
                + (f" (replay {v.replay_id})" if isinstance(v.replay_id, str) else ""),
            )
            for v in self.aggregates.itertuples()
        ]
        frame = pd.DataFrame(rows, columns=["time", "what", "detail"])
        frame = frame.astype({"time": "datetime64[us, UTC]", "what": "str", "detail": "str"})
        frame = frame.sort_values("time", kind="stable").reset_index(drop=True)
        if isinstance(source := self.attempts.attrs.get("pik"), dict):  # where the attempts came from
            frame.attrs["pik"] = {**source, "kind": "explain.timeline"}
        return frame

    def to_dict(self) -> dict:
        """JSON-able: ``event``, ``attempts``, ``raw``, ``replays``, ``aggregates``, ``timeline``."""

        def records(frame: pd.DataFrame) -> list[dict]:
            return json.loads(frame.to_json(orient="records", date_format="iso", default_handler=str))

        return {
            "event_id": self.event_id,
            "event": json.loads(json.dumps(self.event, default=str)),
            "attempts": records(self.attempts),
            "raw": records(self.raw),
            "replays": records(self.replays),
            "aggregates": records(self.aggregates),
            "timeline": records(self.timeline()),
        }

    def summary(self) -> str:
        counts = self.attempts["status"].value_counts()
        hashes = "all raw hashes match" if self.raw["hash_ok"].all() else "RAW HASH MISMATCH OR MISSING"
        attempts = counted(len(self.attempts), "attempt")
        return (
            f"event {self.event_id}: {attempts} ({', '.join(f'{k} {v}' for k, v in counts.items() if v)}); "
            f"raw {self.event.get('s3_key')}: {hashes}; {counted((~self.replays['dry_run']).sum(), 'replay')}; "
            f"in {int(self.aggregates['includes_event'].sum())} of {len(self.aggregates)} aggregate versions"
        )

    def raw_lines(self) -> list[str]:
        """Where each raw object is and whether its bytes still match the recorded hash."""
        verdict = {(True, True): "hash ok", (True, False): "HASH MISMATCH", (False, False): "MISSING"}
        return [f"{row.s3_key}: {verdict[(row.found, row.hash_ok)]}" for row in self.raw.itertuples()]

    def __str__(self) -> str:
        lines = [self.summary(), "", *self.raw_lines(), ""]
        lines += [
            f"{row.time:%Y-%m-%d %H:%M:%S.%f}  {row.what:<15} {row.detail}" for row in self.timeline().itertuples()
        ]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        raw = "".join(f"<li><code>{html.escape(line)}</code></li>" for line in self.raw_lines())
        rows = "".join(
            f"<tr><td>{row.time:%Y-%m-%d %H:%M:%S.%f}</td><td><b>{html.escape(row.what)}</b></td>"
            f"<td style='text-align:left'>{html.escape(row.detail)}</td></tr>"
            for row in self.timeline().itertuples()
        )
        return (
            f"<p>{html.escape(self.summary())}</p><ul>{raw}</ul>"
            f"<table><tr><th>time (UTC)</th><th>what</th><th>detail</th></tr>{rows}</table>"
        )


def load_explanation(stack: Stack, event_id: str) -> Explanation:
    """Gather the event's items, raw objects, covering replays and aggregate versions; see ``Kit.explain``."""
    request = queries.event_items(stack.resources.events_table_name, event_id)
    items = flat_items(gather(stack, [("Query", request)], False, "event"))
    meta = next((item for item in items if item["sk"]["S"] == keys.META_SK), None)
    if meta is None:
        raise NotFoundError(f"no event {event_id} in {stack.resources.events_table_name}")
    attempts = from_dynamo([item for item in items if item["sk"]["S"] != keys.META_SK], ATTEMPT_COLUMNS)
    attempts = attempts.sort_values("ingest_time", kind="stable").reset_index(drop=True)
    event = deserialize(meta)
    start, end = day_bounds(event["event_date"])
    return Explanation(
        event_id,
        event,
        attempts,
        raw_module.fetch(stack, attempts, progress=False),
        covering_replays(load.replays(stack), attempts),
        _versions(stack, event, start, end),
    )


def covering_replays(runs: pd.DataFrame, attempts: pd.DataFrame) -> pd.DataFrame:
    """Runs whose scope (entity or stream, window, duplicates flag) selected one of ``attempts``, and
    which were still running after its first arrival."""
    first = attempts.iloc[0]
    statuses = set(attempts["status"])
    in_scope = (
        (runs["entity_id"] == first["entity_id"])
        | ((runs["source"] == first["source"]) & (runs["event_type"] == first["event_type"]))
    ).fillna(False)
    in_window = (runs["start"] <= first["event_time"]) & (first["event_time"] < runs["end"])
    selected = runs["include_duplicates"] & (DUPLICATE in statuses) | (ACCEPTED in statuses)
    active_after = (
        runs["updated_at"] >= attempts["ingest_time"].min()
    )  # a run over before the event arrived carried nothing
    return runs[in_scope & in_window & selected & active_after].sort_values("created_at").reset_index(drop=True)


def _versions(stack: Stack, event: dict, start, end) -> pd.DataFrame:
    versions = load.aggregates(stack, entity_id=event["entity_id"], start=start, end=end)
    manifest_keys = versions["manifest_key"].dropna().unique().tolist()
    inputs = raw_module.get_many(
        stack, manifest_keys, False, "manifests", lambda body: {row["event_id"] for row in json.loads(body)["inputs"]}
    )
    holding = {
        key for key, ids in zip(manifest_keys, inputs, strict=True) if ids is not None and event["event_id"] in ids
    }
    return (
        versions.assign(includes_event=versions["manifest_key"].isin(holding))
        .sort_values("computed_at")
        .reset_index(drop=True)
    )
