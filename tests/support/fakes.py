"""In-memory fakes of pik's ports (``pik.core.ports``), for millisecond, deterministic tests of the services.

moto keeps proving the adapters (``pik.aws``); these prove the services' logic and races. Each fake keeps
the port's semantics that the services rely on: conditional writes refuse (False) instead of
overwriting, ``advance`` is a compare-and-set on ``step``, queries return items in index order from
after a cursor, ``send`` takes at most ``SEND_BATCH`` messages.

Races are forced, not slept for: ``fake.before("advance", hook)`` runs ``hook(*args)`` before the
next ``advance`` (once), so a test can let another writer move a run between a read and a write::

    runs = FakeRunStore()
    runs.put_new({"pk": "RUN#1", "sk": "RUN", "step": 0, "status": "RUNNING"})
    runs.before("advance", lambda *_: runs.advance("RUN#1", "RUN", 0, {"status": "PAUSED"}))
    runs.advance("RUN#1", "RUN", 0, {"status": "DONE"})     # False: the other writer won
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

from pik.core import keys as key_layout
from pik.core.errors import StorageError
from pik.core.ports import SEND_BATCH


class _Hooks:
    """One-shot callbacks run before a named operation (``before("advance", hook)``)."""

    def __init__(self) -> None:
        self._hooks: dict[str, list[Callable[..., Any]]] = {}

    def before(self, operation: str, hook: Callable[..., Any]) -> None:
        self._hooks.setdefault(operation, []).append(hook)

    def _run(self, operation: str, *args: Any) -> None:
        for hook in self._hooks.pop(operation, []):
            hook(*args)


def _stored(document: Any) -> Any:
    """What a real store gives back: a copy through JSON, never the caller's object."""
    return json.loads(json.dumps(document, default=str))


class FakeDocumentStore(_Hooks):
    """``DocumentStore``: JSON documents by key."""

    def __init__(self) -> None:
        super().__init__()
        self.documents: dict[str, dict] = {}

    def put_new(self, key: str, document: dict) -> bool:
        self._run("put_new", key, document)
        if key in self.documents:
            return False
        self.documents[key] = _stored(document)
        return True

    def put(self, key: str, document: dict) -> None:
        self._run("put", key, document)
        self.documents[key] = _stored(document)

    def get(self, key: str) -> dict:
        self._run("get", key)
        if key not in self.documents:
            raise StorageError(f"s3 get {key}: no such key")
        return copy.deepcopy(self.documents[key])

    def get_many(self, keys: list[str]) -> list[dict]:  # noqa: A002 (the port's name)
        return [self.get(key) for key in keys]

    def list_keys(self, prefix: str, *, after: str | None = None) -> list[str]:
        return sorted(key for key in self.documents if key.startswith(prefix) and (after is None or key > after))


class _Items(_Hooks):
    """Items by ``(pk, sk)``, as one DynamoDB table holds them."""

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], dict] = {}

    def _get(self, pk: str, sk: str) -> dict | None:
        item = self.items.get((pk, sk))
        return copy.deepcopy(item) if item is not None else None

    def _put_new(self, item: dict) -> bool:
        if (item["pk"], item["sk"]) in self.items:
            return False
        self.items[(item["pk"], item["sk"])] = copy.deepcopy(item)
        return True

    def _query(
        self, key: str, value: str, sort: str, low: str = "", high: str = "\U0010ffff", after: dict | None = None
    ) -> Iterator[dict]:
        """Items whose ``key`` is ``value`` and ``low <= sort <= high``, in ``sort`` order (then the table
        key, as an index's ties), after the cursor ``after``."""
        found = sorted(
            (
                item
                for item in self.items.values()
                if item.get(key) == value and sort in item and low <= item[sort] <= high
            ),
            key=lambda item: (item[sort], item["pk"], item["sk"]),
        )
        if after is not None:
            mark = (after[sort], after["pk"], after["sk"])
            found = [item for item in found if (item[sort], item["pk"], item["sk"]) > mark]
        return iter([copy.deepcopy(item) for item in found])


class FakeEventIndex(_Items):
    """``EventIndex``: dedup gates, attempts, the entity and stream indexes."""

    def get_event(self, event_id: str) -> dict | None:
        self._run("get_event", event_id)
        return self._get(key_layout.event_pk(event_id), key_layout.META_SK)

    def create_event(self, meta: dict, attempt: dict) -> bool:
        """Both or neither, as the one transaction."""
        self._run("create_event", meta, attempt)
        if {(meta["pk"], meta["sk"]), (attempt["pk"], attempt["sk"])} & set(self.items):
            return False
        return self._put_new(meta) and self._put_new(attempt)

    def record_repeat(self, attempt: dict, counter: str) -> bool:
        self._run("record_repeat", attempt, counter)
        if not self._put_new(attempt):
            raise StorageError("attempt item collided (attempt ids are random); retry")
        gate = self.items[(attempt["pk"], key_layout.META_SK)]
        gate[counter] = gate.get(counter, 0) + 1
        gate["last_seen_time"] = attempt["ingest_time"]
        return True

    def by_entity(
        self, entity_id: str, start_key: str, end_key: str, *, after: dict | None = None, page_size: int | None = None
    ) -> Iterator[dict]:
        return self._query("ent_pk", key_layout.entity_pk(entity_id), "ent_sk", start_key, end_key, after)

    def by_stream_day(
        self,
        source: str,
        event_type: str,
        day: str,
        *,
        after: dict | None = None,
        page_size: int | None = None,
        lateness: bool = False,
    ) -> Iterator[dict]:
        return self._query(
            "std_pk",
            key_layout.source_type_day_pk(source, event_type, day),
            "lateness_sk" if lateness else "arrival_sk",
            after=after,
        )


class FakeRunStore(_Items):
    """``RunStore``: replay run records with the compare-and-set on ``step``."""

    def get(self, pk: str, sk: str) -> dict | None:
        self._run("get", pk, sk)
        return self._get(pk, sk)

    def put_new(self, item: dict) -> bool:
        self._run("put_new", item)
        return self._put_new(item)

    def advance(self, pk: str, sk: str, step: int, fields: dict, *, unrequested: bool = False) -> bool:
        self._run("advance", pk, sk, step, fields)
        item = self.items.get((pk, sk))
        if item is None or item.get("step") != step or (unrequested and "requested" in item):
            return False
        for name, value in fields.items():
            if value is None:
                item.pop(name, None)
            else:
                item[name] = copy.deepcopy(value)
        item["step"] = step + 1
        return True

    def request_action(self, pk: str, sk: str, action: str) -> bool:
        self._run("request_action", pk, sk, action)
        item = self.items.get((pk, sk))
        if item is None or item.get("status") != "RUNNING":
            return False
        item["requested"] = action
        return True


class FakeMessageQueue(_Hooks):
    """``MessageQueue``: what was sent, in order; ``refuse`` makes the next sends fail (an outage)."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[dict] = []
        self.refuse = 0

    def send(self, messages: list[dict]) -> int:
        self._run("send", messages)
        if len(messages) > SEND_BATCH:
            raise ValueError(f"{len(messages)} messages: SendMessageBatch takes at most {SEND_BATCH}")
        if self.refuse:
            self.refuse -= 1
            raise StorageError("sqs send: unavailable (injected)")
        self.messages.extend(_stored(message) for message in messages)
        return len(messages)


class FakeDeadLetters(_Hooks):
    """``DeadLetters``: messages waiting, received ones hidden until deleted or released."""

    def __init__(self, bodies: list[dict | None] = ()) -> None:
        super().__init__()
        self._receipts = itertools.count(1)
        self.waiting: list[tuple[str, dict | None]] = []
        self.hidden: dict[str, dict | None] = {}
        for body in bodies:
            self.add(body)

    def add(self, body: dict | None) -> None:
        self.waiting.append((f"r-{next(self._receipts)}", body))

    def receive(self) -> list[tuple[str, dict | None]]:
        self._run("receive")
        got, self.waiting = self.waiting[:SEND_BATCH], self.waiting[SEND_BATCH:]
        self.hidden.update(got)
        return [(receipt, copy.deepcopy(body)) for receipt, body in got]

    def delete(self, receipts: list[str]) -> None:
        self._run("delete", receipts)
        for receipt in receipts:
            self.hidden.pop(receipt, None)

    def release(self, receipts: list[str]) -> None:
        self._run("release", receipts)
        self.waiting[:0] = [(receipt, self.hidden.pop(receipt)) for receipt in receipts if receipt in self.hidden]

    def depth(self) -> int:
        return len(self.waiting)

    def visibility_ends(self) -> None:
        """The visibility timeout of every received message passes: SQS shows them again, as it does for
        those a killed call received and never deleted or released."""
        self.waiting.extend(self.hidden.items())
        self.hidden.clear()
