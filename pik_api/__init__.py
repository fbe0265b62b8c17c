"""pik_api: the one client of a pik stack's HTTP API, shared by ``pik_nb``, ``pik_local`` and ``pik``.

>>> from pik_api import ApiClient
>>> ApiClient("http://127.0.0.1:8080/v1").ingest([{"source": "app", ...}])[0].status    # doctest: +SKIP
'ACCEPTED'
"""

from .client import ARRIVAL_HEADER, ApiClient, ApiError, IngestResult, count_statuses, ingest_events, replay

__all__ = ["ApiClient", "ApiError", "IngestResult", "ingest_events", "replay", "count_statuses", "ARRIVAL_HEADER"]
