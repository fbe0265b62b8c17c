"""The Glue catalog of the curated archive: the compaction step registers each partition it has
compacted as a partition of the Glue tables ``attempts`` and ``events``, so Athena lists them and
answers queries across streams (no ``injected`` projection;
docs/adr/0306-athena-partitions-registered-by-compaction.md).

``BatchCreatePartition`` takes at most 100 partitions a call and answers per partition: one that
exists already is ``AlreadyExistsException`` (fine, registration is idempotent); any other error is
a ``StorageError``. Each partition gets its table's storage descriptor with its own location
(AWS Glue API, ``PartitionInput``; Athena reads a partition through its SerDe and location).

    >>> GlueCatalog("pik_prod").register([Partition("checkout", "order_placed", "2026-11-20")])
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from ..core import curated
from ..core.curated import Partition
from ..core.errors import StorageError
from . import clients

BATCH = 100  # BatchCreatePartition: PartitionInputList of at most 100


class GlueCatalog:
    """Registers curated partitions in the Glue ``database``'s tables (one per layout)."""

    def __init__(self, database: str, client: Any = None, tables: Iterable[str] = curated.LAYOUTS) -> None:
        self.database, self.tables, self._client = database, tuple(tables), client
        self._descriptors: dict[str, dict] = {}

    @property
    def client(self) -> Any:
        return self._client or clients.client("glue")

    def register(self, partitions: list[Partition]) -> None:
        """Make each of ``partitions`` a partition of every table (existing ones are left as they are)."""
        for table in self.tables:
            for start in range(0, len(partitions), BATCH):
                inputs = [self._input(table, p) for p in partitions[start : start + BATCH]]
                try:
                    answer = self.client.batch_create_partition(
                        DatabaseName=self.database, TableName=table, PartitionInputList=inputs
                    )
                except ClientError as exc:
                    raise StorageError(f"glue register {len(inputs)} partitions of {table}: {exc}") from exc
                failed = [
                    e
                    for e in answer.get("Errors", [])
                    if e.get("ErrorDetail", {}).get("ErrorCode") != "AlreadyExistsException"
                ]
                if failed:
                    raise StorageError(f"glue register partitions of {table}: {failed[:3]}")

    def columns(self, table: str) -> dict[str, str] | None:
        """``table``'s columns and partition keys as Glue holds them now (``{name: type}``, names as
        Glue stores them: lower case), or None when the database has no such table. Read each call:
        a column added with ``ALTER TABLE ... ADD COLUMNS`` is there at once."""
        try:
            found = self.client.get_table(DatabaseName=self.database, Name=table)["Table"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "EntityNotFoundException":
                return None
            raise StorageError(f"glue get table {self.database}.{table}: {exc}") from exc
        declared = found.get("StorageDescriptor", {}).get("Columns", []) + found.get("PartitionKeys", [])
        return {column["Name"]: column.get("Type", "") for column in declared}

    def _input(self, table: str, partition: Partition) -> dict:
        descriptor = self._descriptor(table)
        location = descriptor["Location"].rstrip("/") + f"/{partition.path()}/"
        return {"Values": list(partition), "StorageDescriptor": {**descriptor, "Location": location}}

    def _descriptor(self, table: str) -> dict:
        if table not in self._descriptors:
            try:
                found = self.client.get_table(DatabaseName=self.database, Name=table)["Table"]
            except ClientError as exc:
                raise StorageError(f"glue get table {self.database}.{table}: {exc}") from exc
            descriptor = found["StorageDescriptor"]
            self._descriptors[table] = {
                key: descriptor[key]
                for key in ("Columns", "Location", "InputFormat", "OutputFormat", "SerdeInfo")
                if key in descriptor
            }
        return self._descriptors[table]
