"""moto's SQS, patched: queue attributes computed once per call.

moto's SQS builds every queue attribute (counting the messages, O(queue)) three times per
attribute asked for, and once per message it receives (to read the retention period). The
patch computes them once per call, and reads the retention period directly.
"""

from __future__ import annotations

import time
from typing import Any

_installed = False


def install() -> None:
    """Patch moto's SQS backend in this process (idempotent)."""
    global _installed
    if not _installed:
        _cheap_queue_attributes()
        _installed = True


def _cheap_queue_attributes() -> None:
    from moto.sqs.models import SQSBackend

    original = SQSBackend.get_queue_attributes

    def get_queue_attributes(self: Any, queue_name: str, attribute_names: list[str]) -> dict[str, Any]:
        queue = self.get_queue(queue_name)
        valid = ["All", *queue.BASE_ATTRIBUTES, *queue.FIFO_ATTRIBUTES, *queue.KMS_ATTRIBUTES]
        if not attribute_names or "All" in attribute_names or any(name not in valid for name in attribute_names):
            return original(self, queue_name, attribute_names)  # moto's answer or moto's error
        attributes = queue.attributes  # computed once, not three times per name
        return {name: attributes[name] for name in attribute_names if attributes.get(name) is not None}

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return retention + message.sent_timestamp / 1000 > time.time()

    SQSBackend.get_queue_attributes = get_queue_attributes
    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period
