"""For the notebook kit's tests (tests/nb): a fixed day two days ago, ingest through the real handler, and
scripted answers to the kit's own AWS calls (its fast readers' too), and a Kit on a fresh local stack."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import urllib3
from botocore.awsrequest import AWSResponse

from pik.core.timefmt import UTC
from pik.handlers import ingest

from .lambdas import call


@contextmanager
def local_kit(folder: Path) -> Iterator:
    """A Kit (progress bars off) on a local stack whose info file is ``folder/local.json``, for the
    block's length: ``with local_kit(tmp_path_factory.mktemp("archive")) as kit: ...``."""
    import pik_nb
    from pik_local.stack import LocalStack

    info_file = folder / "local.json"
    with LocalStack(info_file=info_file):
        kit = pik_nb.connect(path=info_file)
        kit.progress = False
        yield kit


DAY = (datetime.now(UTC) - timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
DATE = DAY.date().isoformat()


def post(body: dict | str) -> dict:
    """Ingest through the real handler; returns the API's answer."""
    status, answer = call(ingest, "/ingest", body)
    assert status in (200, 400, 413), answer
    return answer


def intercept(kit, service: str, operation: str, answers: list[tuple[int, dict, bytes]]) -> list:
    """Answer the next ``operation`` calls (the kit's readers' too) with ``answers``, then let moto
    answer; returns the URLs intercepted."""
    seen = []

    def fault(request, **_):
        if not answers:
            return None
        status, headers, body = answers.pop(0)
        seen.append(request.url)
        raw = urllib3.HTTPResponse(body=io.BytesIO(body), status=status, headers=headers, preload_content=False)
        return AWSResponse(request.url, status, headers, raw)

    kit.client(service).meta.events.register_first(f"before-send.{service}.{operation}", fault)
    return seen
