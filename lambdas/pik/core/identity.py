"""Event identity: deterministic ids from canonical JSON.

- ``payload_sha256`` = sha256 of the canonical payload (sorted keys, no spaces, UTF-8).
- ``event_id`` = sha256 of the canonical JSON list
  ``["pik.v1", "content", source, event_type, entity_id, event_time_utc, payload_sha256]``,
  or, when the producer gives an idempotency key,
  ``["pik.v1", "key", source, event_type, entity_id, idempotency_key]``.
  A JSON list is an unambiguous encoding, so different field tuples never share an id input.
- ``content_sha256`` = sha256 of ``[event_time_utc, payload_sha256]``: two attempts with the same
  event_id but different content are a CONFLICT.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

SCHEME = "pik.v1"


def canonical_json(value: Any) -> str:
    """Stable JSON text: ``canonical_json({"b": 1, "a": [1.5]}) == '{"a":[1.5],"b":1}'``."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def payload_sha256(payload: Any) -> str:
    return sha256_hex(canonical_json(payload))


def event_id(
    source: str,
    event_type: str,
    entity_id: str,
    event_time_utc: str,
    payload_sha: str,
    idempotency_key: str | None = None,
) -> str:
    """The event's identity; see the module docstring for the exact input."""
    if idempotency_key is not None:
        parts = [SCHEME, "key", source, event_type, entity_id, idempotency_key]
    else:
        parts = [SCHEME, "content", source, event_type, entity_id, event_time_utc, payload_sha]
    return sha256_hex(canonical_json(parts))


def content_sha256(event_time_utc: str, payload_sha: str) -> str:
    return sha256_hex(canonical_json([event_time_utc, payload_sha]))


def inputs_hash(event_ids: list[str]) -> str:
    """Identity of an aggregate's input set: order-free, duplicate-free."""
    return sha256_hex(canonical_json(sorted(set(event_ids))))
