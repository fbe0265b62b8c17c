"""SQS adapter: batched sends that re-send the entries SQS reports as failed."""

from __future__ import annotations

import json
import time
from typing import Any

from botocore.exceptions import ClientError

from ..core.errors import StorageError
from ..core.ports import SEND_BATCH
from . import clients

BATCH = SEND_BATCH


class ReplayQueue:
    """The replay queue (``pik.core.ports.MessageQueue``)."""

    def __init__(self, url: str, client: Any = None, attempts: int = 4) -> None:
        self.url = url
        self._client = client
        self.attempts = attempts

    @property
    def client(self) -> Any:
        return self._client or clients.client("sqs")

    def send(self, messages: list[dict]) -> int:
        """Send up to 10 JSON bodies; retry failed entries; returns how many were sent."""
        pending = {str(i): message for i, message in enumerate(messages[:BATCH])}
        for attempt in range(self.attempts):
            entries = [{"Id": key, "MessageBody": json.dumps(body, separators=(",", ":"))} for key, body in pending.items()]
            try:
                response = self.client.send_message_batch(QueueUrl=self.url, Entries=entries)
            except ClientError as exc:
                raise StorageError(f"sqs send: {exc}") from exc
            failed = {entry["Id"] for entry in response.get("Failed", [])}
            pending = {key: body for key, body in pending.items() if key in failed}
            if not pending:
                return len(messages[:BATCH])
            time.sleep(0.05 * 2**attempt)  # back-off between re-sends, not synchronisation
        raise StorageError(f"sqs send: {len(pending)} entries still failing after {self.attempts} attempts")
