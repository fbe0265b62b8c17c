"""`pik local up` as a real subprocess on free ports, stopped by its pid whatever the test asserts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest

from pik_local.info import LocalStackInfo

from .waits import wait_for

PIK = [sys.executable, "-c", "from pik_cli import main; main()"]


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


class StackProcess:
    """`pik local up` in a subprocess; ``info`` once it is ready; ``stop()`` by SIGTERM to its pid."""

    def __init__(self, tmp_path: Path, *extra: str, name: str = "stack") -> None:
        self.info_file = tmp_path / name / "local.json"
        self.log = (tmp_path / f"{name}.out").open("w")
        self.process = subprocess.Popen(
            [*PIK, "local", "up", "--info-file", str(self.info_file), *extra],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
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
