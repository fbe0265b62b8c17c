"""Write-ahead journal of the local stack (``--state-dir``): what the API acknowledged survives kill -9.

moto keeps state in memory only, and a snapshot (``pik_local.state``) is written on a clean
stop. Between snapshots, every API worker process records each AWS write its handlers made that
succeeded — the call as boto3 received it: service, operation and parameters — in
``DIR/journal/<generation>.log``, and forces the file to disk (``fdatasync``) before its answer
leaves. On start, the stack loads the snapshot, then calls the journaled writes again, in
order, against the fresh moto: the state the handlers left is rebuilt exactly (same keys, bytes,
items and attributes; queued messages are sent again).

Journaled writes: S3 ``PutObject``/``DeleteObject``, DynamoDB ``PutItem``/``UpdateItem``/
``DeleteItem``/``TransactWriteItems``/``BatchWriteItem``, SQS ``SendMessage``/``SendMessageBatch``.
A call that failed (a condition that did not hold, a cancelled transaction) changed nothing and
is not journaled. Reads are not journaled.

One order per item: the workers share one file. A write call and the append of its record
happen under the locks of every item it writes (S3 key, DynamoDB table + ``pk``/``sk``, queue):
one of ``STRIPES`` lock files by a hash of the item, ``flock`` across processes plus a thread
lock within one, taken in a fixed order. So two writes of one item are journaled in the order
moto applied them, writes of different items (which commute: every condition names only its own
item) run in parallel, and replaying the journal meets every condition the original calls met.
A record is written with one ``write`` on an ``O_APPEND`` descriptor, under an append lock, framed as

    4-byte length (big-endian) | 4-byte CRC-32 of the payload | payload (JSON, bytes as base64)

so a torn tail (a kill during the write, a lost page after power loss) is detected when read and
ignored: it belongs to a call whose request was never answered.

Generations: each start opens a new generation (a number one above any seen); a snapshot's
manifest names the last generation it covers (``journal_through``), journals up to that number
are deleted after the snapshot is swapped in, and on start only later generations are replayed.
A kill at any point — mid-request, mid-replay, mid-snapshot, between the snapshot's rename and
the journal's deletion — leaves a snapshot and the journals past it, which together hold every
acknowledged request.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from botocore import xform_name
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

WRITES = {
    "s3": {"PutObject", "DeleteObject"},
    "dynamodb": {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"},
    "sqs": {"SendMessage", "SendMessageBatch"},
}
_HEADER = struct.Struct(">II")
_BYTES = "$b64"
STRIPES = 64
REPLAY_BATCH = 256


def directory(state_dir: Path | str) -> Path:
    """Where the journals of a state dir live: ``directory(".pik/state") -> .pik/state/journal``."""
    return Path(state_dir) / "journal"


def generations(state_dir: Path | str) -> list[int]:
    """The journal generations present, in order: ``[3, 4]``."""
    root = directory(state_dir)
    return sorted(int(path.stem) for path in root.glob("*.log") if path.stem.isdigit()) if root.exists() else []


def path_of(state_dir: Path | str, generation: int) -> Path:
    return directory(state_dir) / f"{generation:08d}.log"


class Journal:
    """The journal one API worker appends to; ``install()`` journals this process's boto3 writes.

    >>> journal = Journal(path_of(".pik/state", 5)); journal.install()   # doctest: +SKIP
    >>> ...handle a request...; journal.sync()                           # before answering
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        sync_directory(self.path.parent)  # the new file's name is durable too
        locks = self.path.parent / "locks"
        locks.mkdir(exist_ok=True)
        self._stripe_fds = [os.open(locks / f"{i:02d}", os.O_RDWR | os.O_CREAT, 0o644) for i in range(STRIPES)]
        # flock does not exclude threads sharing a descriptor: a thread lock per stripe, and for appends
        self._stripe_locks = [threading.Lock() for _ in range(STRIPES)]
        self._append_lock = threading.Lock()
        self._appended = self._synced = 0

    def install(self) -> None:
        """Route every boto3 write call of this process through ``call`` (once per process)."""
        original: Callable = BaseClient._make_api_call
        journal = self

        def journaled(client: BaseClient, operation: str, params: dict) -> Any:
            service = client.meta.service_model.service_name
            if operation not in WRITES.get(service, ()):
                return original(client, operation, params)
            return journal.call(service, operation, params, lambda: original(client, operation, params))

        BaseClient._make_api_call = journaled

    def call(self, service: str, operation: str, params: dict, send: Callable[[], Any]) -> Any:
        """``send()`` the write and, if it succeeded, append its record: both under the locks of the
        items it writes, so the journal holds one item's writes in the order moto applied them."""
        record = encode({"service": service, "operation": operation, "params": params})  # before anything is sent
        stripes = sorted(
            {zlib.crc32(item.encode("utf-8")) % STRIPES for item in items_written(service, operation, params)}
        )
        held: list[int] = []
        try:
            for stripe in stripes:  # thread locks first, then the files: one fixed order, no deadlock
                self._stripe_locks[stripe].acquire()
                held.append(stripe)
            for stripe in stripes:
                fcntl.flock(self._stripe_fds[stripe], fcntl.LOCK_EX)
            result = send()
            self._append(record)
        finally:
            for stripe in held:
                fcntl.flock(self._stripe_fds[stripe], fcntl.LOCK_UN)
                self._stripe_locks[stripe].release()
        return result

    def _append(self, record: bytes) -> None:
        with self._append_lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                start = os.fstat(self._fd).st_size
                if os.write(self._fd, record) != len(record):  # a full disk: leave no torn record mid-file
                    os.ftruncate(self._fd, start)
                    raise OSError(f"journal {self.path}: short write (disk full?)")
                self._appended += 1
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def sync(self) -> None:
        """Force every record appended so far to disk (before an answer leaves)."""
        appended = self._appended
        if appended > self._synced:
            os.fdatasync(self._fd)
            self._synced = max(self._synced, appended)

    def close(self) -> None:
        for fd in (self._fd, *self._stripe_fds):
            os.close(fd)


def items_written(service: str, operation: str, params: dict) -> list[str]:
    """The items one write call touches, as strings: an S3 key, a DynamoDB table + key, a queue.

    >>> items_written("s3", "PutObject", {"Bucket": "b", "Key": "raw/x.json", "Body": b""})
    ['s3 b raw/x.json']
    """
    if service == "s3":
        return [f"s3 {params.get('Bucket')} {params.get('Key')}"]
    if service == "sqs":
        return [f"sqs {params.get('QueueUrl')}"]
    if operation == "TransactWriteItems":
        return [_item(action) for entry in params.get("TransactItems", []) for action in entry.values()]
    if operation == "BatchWriteItem":
        return [
            _item({"TableName": table, **request})
            for table, requests in params.get("RequestItems", {}).items()
            for entry in requests
            for request in entry.values()
        ]
    return [_item(params)]


def _item(request: dict) -> str:
    """A DynamoDB item by table and key (``pk``/``sk``: every pik table); a table of other keys as a whole."""
    key = request.get("Key") or {name: value for name, value in request.get("Item", {}).items() if name in ("pk", "sk")}
    if "pk" not in key:
        return f"dynamodb {request.get('TableName')}"
    return f"dynamodb {request.get('TableName')} {json.dumps(key, sort_keys=True)}"


def encode(record: dict) -> bytes:
    """One framed record: ``decode_all(encode(r)) == [r]`` (bytes values survive as bytes)."""
    payload = json.dumps(_plain(record), separators=(",", ":")).encode("utf-8")
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def records(path: Path | str) -> Iterator[dict]:
    """The whole records of one journal file, in order; stops at a torn or corrupt tail."""
    data = Path(path).read_bytes()
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, offset)
        payload = data[offset + _HEADER.size : offset + _HEADER.size + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            return
        yield _typed(json.loads(payload))
        offset += _HEADER.size + length


def replay(
    session: Any, state_dir: Path | str, after: int, queue_urls: list[str] = (), *, workers: int = 8
) -> dict[str, int]:
    """Call every journaled write of generations past ``after`` again through ``session``; a message
    goes to the queue of the same name among ``queue_urls`` (moto's port changed).

    Writes of one item keep their journal order; runs of writes that touch distinct items (which
    commute) are sent ``workers`` at a time. Returns ``{"writes": N, "refused": M}``; ``refused``
    counts writes whose condition no longer held (none, when the journal follows its snapshot).
    """
    config = Config(max_pool_connections=workers)
    clients = {service: session.client(service, config=config) for service in WRITES}
    by_name = {url.rstrip("/").rsplit("/", 1)[-1]: url for url in queue_urls}
    outcomes: list[bool] = []

    def call(record: dict) -> bool:
        params = record["params"]
        if "QueueUrl" in params:
            params["QueueUrl"] = by_name.get(params["QueueUrl"].rstrip("/").rsplit("/", 1)[-1], params["QueueUrl"])
        try:
            getattr(clients[record["service"]], xform_name(record["operation"]))(**params)
        except ClientError:
            return False
        return True

    with ThreadPoolExecutor(workers) as pool:
        batch: list[dict] = []
        touched: set[str] = set()
        for record in _all_records(state_dir, after):
            items = set(items_written(record["service"], record["operation"], record["params"]))
            if items & touched or len(batch) >= REPLAY_BATCH:
                outcomes += pool.map(call, batch)  # every write of this run lands before the next run starts
                batch, touched = [], set()
            batch.append(record)
            touched |= items
        outcomes += pool.map(call, batch)
    return {"writes": sum(outcomes), "refused": len(outcomes) - sum(outcomes)}


def _all_records(state_dir: Path | str, after: int) -> Iterator[dict]:
    for generation in generations(state_dir):
        if generation > after:
            yield from records(path_of(state_dir, generation))


def discard(state_dir: Path | str, through: int) -> None:
    """Delete the journals a snapshot covers (generations up to ``through``)."""
    for generation in generations(state_dir):
        if generation <= through:
            path_of(state_dir, generation).unlink(missing_ok=True)


def sync_directory(path: Path) -> None:
    """fsync a directory, so the names created in it (a new file, a rename) survive a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _plain(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return {_BYTES: base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cannot journal a {type(value).__name__} parameter (send bytes or str)")


def _typed(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_BYTES}:
            return base64.b64decode(value[_BYTES])
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return value
