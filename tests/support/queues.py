"""Reading what landed in a queue."""

from __future__ import annotations


def drain_queue(sqs, url: str) -> list[dict]:
    """Receive and delete every message in the queue at ``url`` (all attributes), in receive order."""
    messages = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
        if not got:
            return messages
        for message in got:
            messages.append(message)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
