"""``.pik/local.json``: how a running local stack tells ``pik_nb.connect()`` and ``pik`` where it is.

{"region": "us-east-1", "endpoint_url": "http://127.0.0.1:4566", "api_url": "http://127.0.0.1:8080",
 "pid": 1234, "credentials": {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
 "outputs": {"raw_bucket_name": ..., "events_table_name": ..., "aggregates_table_name": ...,
             "replays_table_name": ..., "replay_queue_url": ..., "replay_dead_letter_queue_url": ...}}
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_PATH = Path(".pik") / "local.json"


@dataclass(frozen=True)
class LocalStackInfo:
    region: str
    endpoint_url: str
    api_url: str
    pid: int
    outputs: dict = field(default_factory=dict)
    credentials: dict = field(
        default_factory=lambda: {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    )

    def write(self, path: Path | str = DEFAULT_PATH) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.replace(tmp, path)  # readers never see half a file
        return path

    @classmethod
    def read(cls, path: Path | str = DEFAULT_PATH) -> LocalStackInfo:
        return cls(**json.loads(Path(path).read_text()))


def default_path() -> Path:
    """``$PIK_LOCAL_FILE`` or ``.pik/local.json`` in the current directory."""
    return Path(os.environ.get("PIK_LOCAL_FILE", DEFAULT_PATH))
