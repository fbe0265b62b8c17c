"""The local stack's child processes: moto's server, and the API's Lambda execution environments.

One Python process cannot use more than one core (the GIL), and moto's server costs ~4 ms of
CPU per call. So the stack runs moto in a process of its own, and the HTTP API in ``workers``
processes that each load the handlers once and serve calls one at a time per function, like
Lambda execution environments (reserved concurrency = workers). The workers listen on one
port (``SO_REUSEPORT``: the kernel spreads connections over them).

Each child is ``python -m pik_local.processes moto|api ...``: it prints one JSON line when it
is ready (``{"port": N}``), and stops cleanly when its stdin closes (the stack's ``stop()``,
or the stack's process dying: no orphan outlives it).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from pik.core.errors import PikError

ROOT = Path(__file__).resolve().parent.parent


class ChildError(PikError):
    """A child process did not start (its output says why)."""


class Child:
    """``Child(["moto", "--port", "0"], env)``: started; ``ready`` is its first JSON line; ``stop()``."""

    def __init__(self, args: list[str], env: dict[str, str], *, timeout_s: float = 120) -> None:
        self.args = args
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pik_local.processes", *args],
            env=_same_code(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.ready: dict[str, Any] = {}
        self._timeout_s = timeout_s

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self) -> dict[str, Any]:
        """Block until the child says it is ready; ``ChildError`` if it exits first."""
        line = self.process.stdout.readline()  # the child's only output on stdout
        if not line:
            self.process.wait(timeout=self._timeout_s)
            raise ChildError(f"pik_local.processes {' '.join(self.args)} exited with {self.process.returncode}")
        self.ready = json.loads(line)
        return self.ready

    def stop(self, timeout_s: float = 70) -> int | None:
        """Close its stdin (it finishes what it is doing and exits); kill it by pid if it does not."""
        if self.process.poll() is None:
            try:
                self.process.stdin.close()
            except OSError:
                pass
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        return self.process.returncode


def _same_code(env: dict[str, str]) -> dict[str, str]:
    """``env`` with this process's ``pik_local`` and ``pik`` first on the child's import path."""
    import pik

    paths = [str(ROOT), str(Path(pik.__file__).resolve().parent.parent)]
    return {**env, "PYTHONPATH": os.pathsep.join(paths + [p for p in [env.get("PYTHONPATH")] if p])}


def reserve_port(port: int) -> socket.socket:
    """A bound (not listening) ``SO_REUSEPORT`` socket on 127.0.0.1 holding ``port`` (0: a free one)
    until the API workers listen on it too; ``OSError`` if someone else has it."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock


class ApiWorkers:
    """``workers`` API processes on one port: the local API Gateway in front of that many Lambda
    execution environments. ``routes`` (this process's functions) are what they serve."""

    def __init__(
        self,
        workers: int,
        port: int,
        stage: str,
        routes: dict,
        *,
        region: str,
        simulated_arrival: bool = False,
        log_path: Path | None = None,
        journal_path: Path | None = None,
    ) -> None:
        self.workers, self.stage, self.routes, self.region = workers, stage, routes, region
        self.simulated_arrival, self.log_path = simulated_arrival, log_path
        self.journal_path = journal_path  # every worker journals its writes there (pik_local.journal)
        self._reserved = reserve_port(port)  # OSError if taken: checked before anything starts
        self.port = self._reserved.getsockname()[1]
        self._children: list[Child] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.stage}"

    def start(self) -> None:
        args = ["api", "--port", str(self.port), "--stage", self.stage, "--region", self.region]
        args += ["--simulated-arrival"] if self.simulated_arrival else []
        args += ["--log", str(Path(self.log_path).resolve())] if self.log_path else []
        args += ["--journal", str(Path(self.journal_path).resolve())] if self.journal_path else []
        self._children = [Child(args, dict(os.environ)) for _ in range(self.workers)]
        try:
            for child in self._children:
                child.wait_ready()
        finally:
            self._reserved.close()  # the workers hold the port now

    @property
    def pids(self) -> list[int]:
        return [child.pid for child in self._children]

    def stop(self) -> None:
        """Every worker answers new calls 503, finishes the calls in flight and exits."""
        for child in self._children:  # all of them start stopping at once
            try:
                child.process.stdin.close()
            except OSError:
                pass
        for child in self._children:
            child.stop()
        self._children = []
        self._reserved.close()


def _serve_moto(port: int) -> None:
    from moto.server import ThreadedMotoServer

    from . import moto_patches

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto_patches.install()
    if os.environ.get("PIK_MOTO_KEEP_ALIVE", "1") == "1":
        moto_patches.keep_connections_alive()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    _ready({"port": server.get_host_and_port()[1]})
    try:
        sys.stdin.read()  # until the stack closes our stdin, or dies
    finally:
        server.stop()
        inner = getattr(server, "_server", None)
        if inner:
            inner.server_close()


def _serve_api(
    port: int, stage: str, simulated_arrival: bool, log_path: str | None, region: str, journal_path: str | None = None
) -> None:
    from . import template
    from .api import LocalApi, routes
    from .journal import Journal
    from .runtime import functions, open_log

    journal = Journal(journal_path) if journal_path else None
    if journal:
        journal.install()  # before any client exists

    specs = {
        name: spec
        for name, spec in template.function_specs().items()
        if any(event["Type"] == "Api" for event in spec["events"].values())
    }
    log = open_log(log_path) if log_path else None  # lives as long as the process
    api = LocalApi(port, stage, routes(specs, functions(specs, region, log=log)), simulated_arrival, reuse_port=True)
    api.durable = journal.sync if journal else None  # journaled writes reach the disk before an answer
    api.start()
    _ready({"port": api.server_address[1]})
    try:
        sys.stdin.read()
    finally:
        api.stop()  # new calls answer 503, calls in flight finish


def _ready(message: dict) -> None:
    real_stdout = sys.__stdout__
    real_stdout.write(json.dumps(message) + "\n")
    real_stdout.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pik_local.processes")
    commands = parser.add_subparsers(dest="command", required=True)
    moto = commands.add_parser("moto")
    moto.add_argument("--port", type=int, default=0)
    api = commands.add_parser("api")
    api.add_argument("--port", type=int, required=True)
    api.add_argument("--stage", required=True)
    api.add_argument("--region", required=True)
    api.add_argument("--simulated-arrival", action="store_true")
    api.add_argument("--log")
    api.add_argument("--journal")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the stack, which stops us in order
    sys.stdout = sys.stderr  # stray prints must not fill the pipe nobody reads after the ready line
    if args.command == "moto":
        _serve_moto(args.port)
    else:
        _serve_api(args.port, args.stage, args.simulated_arrival, args.log, args.region, args.journal)
    os._exit(0)  # daemon threads (servers, pools) need no further teardown


if __name__ == "__main__":
    main()
