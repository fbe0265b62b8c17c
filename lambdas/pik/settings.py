"""Configuration in one place: a frozen object read from the environment once per call.

Local mode differs only by the standard ``AWS_ENDPOINT_URL*`` variables, read by boto3 itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from .core.metrics import parse_fields


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    raw_bucket: str
    events_table: str
    aggregates_table: str
    replays_table: str
    replay_queue_url: str
    dry_run: bool = False
    aggregate_fields: tuple[str, ...] = ()
    aggregator: str = ""
    raw_retention_days: int = 0
    rejected_copy_bytes: int = 65_536
    replay_targets: dict = field(default_factory=dict)  # kind -> comma-separated ARN/URL patterns
    replay_http_secret_parameter: str = ""
    replay_dlq_url: str = ""
    region: str = ""
    curated_database: str = ""  # the Glue database of the curated tables (EnableAthena), else empty
    lineage_url: str = ""  # where OpenLineage RunEvents are POSTed (OpenLineageUrl), else none are

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``RAW_BUCKET``, ``EVENTS_TABLE``, ... (missing names stay empty until used)."""
        env = os.environ if env is None else env
        return cls(
            raw_bucket=env.get("RAW_BUCKET", ""),
            events_table=env.get("EVENTS_TABLE", ""),
            aggregates_table=env.get("AGGREGATES_TABLE", ""),
            replays_table=env.get("REPLAYS_TABLE", ""),
            replay_queue_url=env.get("REPLAY_QUEUE_URL", ""),
            dry_run=_flag(env.get("DRY_RUN")),
            aggregate_fields=parse_fields(env.get("AGGREGATE_FIELDS", "")),
            aggregator=env.get("AGGREGATOR", ""),
            raw_retention_days=int(env.get("RAW_RETENTION_DAYS", "0") or 0),
            replay_targets={
                kind: env.get(f"REPLAY_TARGET_{name}", "")
                for kind, name in (
                    ("sqs", "QUEUES"),
                    ("eventbridge", "BUSES"),
                    ("kinesis", "STREAMS"),
                    ("http", "URLS"),
                )
            },
            replay_http_secret_parameter=env.get("REPLAY_HTTP_SECRET_PARAMETER", ""),
            replay_dlq_url=env.get("REPLAY_DLQ_URL", ""),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION", ""),
            curated_database=env.get("CURATED_DATABASE", ""),
            lineage_url=env.get("LINEAGE_URL", ""),
        )
