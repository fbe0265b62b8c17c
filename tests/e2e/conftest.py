"""End-to-end helpers: `pik local up` as a real subprocess on free ports, bounded polling, cleanup by pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import boto3
import pytest

from pik.core.timefmt import UTC
from pik_local.info import LocalStackInfo

PIK = [sys.executable, "-c", "from pik_cli import main; main()"]
T = TypeVar("T")


def wait_for(probe: Callable[[], T], *, timeout_s: float = 30, every_s: float = 0.1, what: str = "condition") -> T:
    """Poll ``probe`` until it returns something truthy; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(every_s)  # polling interval of a bounded wait
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


@contextmanager
def stopped(process: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """Whatever the test asserts, the child is gone afterwards: SIGTERM (it stops its own children),
    then SIGKILL if it has not exited within 30 s."""
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def port_is_free(port: int) -> bool:
    """Nobody listens on 127.0.0.1:port and a server could bind it (TIME_WAIT from old connections is fine)."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as every server binds
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def example_event(**overrides) -> dict:
    """The original project's documented example, with a recent event time."""
    event = {"source": "mobile_app", "event_type": "workout_completed", "entity_id": "user_123",
             "event_time": (datetime.now(UTC) - timedelta(minutes=5)).isoformat().replace("+00:00", "Z"),
             "payload": {"steps": 1200, "duration_sec": 300}}
    event.update(overrides)
    return event


class StackProcess:
    """`pik local up` in a subprocess; ``info`` once it is ready; ``stop()`` by SIGTERM to its pid."""

    def __init__(self, tmp_path: Path, *extra: str, name: str = "stack") -> None:
        self.info_file = tmp_path / name / "local.json"
        self.log = (tmp_path / f"{name}.out").open("w")
        self.process = subprocess.Popen([*PIK, "local", "up", "--info-file", str(self.info_file), *extra],
                                        stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.info = wait_for(self._ready, timeout_s=60, what="the local stack's info file")

    def _ready(self) -> LocalStackInfo | None:
        if self.process.poll() is not None:
            pytest.fail(f"pik local up exited with {self.process.returncode}: {self.output()}")
        try:
            info = LocalStackInfo.read(self.info_file)
        except (OSError, ValueError):
            return None
        return info if info.pid == self.process.pid else None

    def output(self) -> str:
        return Path(self.log.name).read_text()

    def session(self) -> boto3.session.Session:
        """Credentials and region of the stack; clients need ``endpoint_url=self.info.endpoint_url``."""
        return boto3.session.Session(region_name=self.info.region, **self.info.credentials)

    def client(self, service: str):
        return self.session().client(service, endpoint_url=self.info.endpoint_url)

    def stop(self, timeout_s: float = 60) -> int:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.log.close()


@pytest.fixture
def start_stack(tmp_path):
    """Factory: ``start_stack("--state-dir", d)``; every stack it started is stopped at the end."""
    started: list[StackProcess] = []

    def start(*extra: str, name: str = "stack") -> StackProcess:
        started.append(StackProcess(tmp_path, *extra, name=name))
        return started[-1]

    yield start
    for stack in started:
        stack.stop()
