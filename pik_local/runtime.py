"""Lambda functions run in a Python process (the stack's, or an API worker's: ADR 0204): the
template's handler, timeout and memory, one call at a time per function in that process.

Each function behaves like a Lambda with reserved concurrency 1: powertools' resolvers, loggers
and batch processors keep per-invocation state on module-level objects (one execution
environment handles one request at a time in AWS), so concurrent calls of one function queue
on a lock instead of sharing that state. Different functions run in parallel.

What a handler prints (powertools' JSON logs and EMF metrics: CloudWatch Logs in AWS) goes to
the function's log file, not to the terminal: ``sys.stdout``/``sys.stderr`` are routed per thread.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("pik_local")
ACCOUNT = "123456789012"  # moto's default account, so ARNs match the queues moto creates
_invocation = threading.local()


class _Routed:
    """A ``sys.stdout``/``sys.stderr`` stand-in: a thread running a handler writes to its log."""

    def __init__(self, default: IO[str]) -> None:
        self.default = default

    def _target(self) -> IO[str]:
        return getattr(_invocation, "log", None) or self.default

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.default, name)


def route_output() -> None:
    """Install the per-thread routing of stdout and stderr (idempotent). Logging handlers made
    before it (powertools' ``Logger`` is built when a handler module is imported, often before a
    stack starts) hold the original stream: they are pointed at the routed one too, so a handler's
    log lines reach its log file, never the terminal of ``pik demo``."""
    originals = {id(stream): stream for stream in (sys.stdout, sys.stderr) if not isinstance(stream, _Routed)}
    if not isinstance(sys.stdout, _Routed):
        sys.stdout = _Routed(sys.stdout)
    if not isinstance(sys.stderr, _Routed):
        sys.stderr = _Routed(sys.stderr)
    routed = {id(sys.stdout.default): sys.stdout, id(sys.stderr.default): sys.stderr}
    loggers = [logging.root, *(lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger))]
    for handler in {handler for logger in loggers for handler in logger.handlers}:
        if isinstance(handler, logging.StreamHandler) and id(handler.stream) in originals:
            handler.setStream(routed[id(handler.stream)])
    for handler in logging.root.handlers:  # e.g. the CLI's basicConfig, made after powertools' Logger
        if not any(isinstance(f, _WrittenByPowertools) for f in handler.filters):
            handler.addFilter(_WrittenByPowertools())


class _WrittenByPowertools(logging.Filter):
    """Keeps the handlers' own records (logger ``pik`` and below: powertools' JSON handler writes them)
    off the root's handlers, as powertools does for root handlers that exist when its ``Logger`` is
    built (its ``SuppressFilter``; in Lambda the runtime's handler): each line once, in JSON."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "pik" or record.name.startswith("pik."))


def unroute_output() -> None:
    """Put the original streams back (a logger that kept a routed stream still writes through it)."""
    if isinstance(sys.stdout, _Routed):
        sys.stdout = sys.stdout.default
    if isinstance(sys.stderr, _Routed):
        sys.stderr = sys.stderr.default


def open_log(path: Path | str, *, fresh: bool = False) -> IO[str]:
    """The functions' log file (``.pik/lambda.log``: CloudWatch Logs' stand-in), opened to append:
    the stack and its API worker processes write one file, and only ``O_APPEND`` puts each line at
    the end whoever wrote last (a ``"w"`` handle writes at its own offset, over the workers' lines).
    ``fresh`` empties it first (one log per stack run). Line-buffered: a line is one ``write``.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "lambda.log"
    >>> stack, worker = open_log(path, fresh=True), open_log(path)
    >>> _ = stack.write("a\\n"), worker.write("b\\n"), stack.write("c\\n")
    >>> path.read_text().split()
    ['a', 'b', 'c']
    """
    if fresh:
        Path(path).write_text("", encoding="utf-8")
    return open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 (the caller closes it)


class LambdaContext:
    """The Lambda context object: ``get_remaining_time_in_millis`` counts down from the timeout."""

    function_version = "$LATEST"

    def __init__(self, function_name: str, timeout_s: float, memory_mb: int, region: str) -> None:
        self.function_name = function_name
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{ACCOUNT}:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"local/{self.aws_request_id}"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def expired(self) -> bool:
        return time.monotonic() >= self._deadline


@dataclass(frozen=True)
class Invocation:
    """What one call produced: the handler's result, or an error (``timed_out`` when over time)."""

    result: Any = None
    error: str | None = None
    timed_out: bool = False
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class LocalFunction:
    """One function of the template, e.g. ``LocalFunction("IngestFunction", handler, timeout_s=30)``."""

    name: str
    handler: Callable[[dict, Any], Any]
    timeout_s: float = 3
    memory_mb: int = 128
    region: str = "us-east-1"
    log: IO[str] | None = None  # where the handler's output goes (None: the terminal)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def invoke(self, event: dict) -> Invocation:
        """Call the handler; a result that comes after the timeout is discarded, as Lambda would."""
        with self._lock:
            context = LambdaContext(self.name, self.timeout_s, self.memory_mb, self.region)
            started = time.monotonic()
            _invocation.log = self.log
            try:
                result, error = self.handler(event, context), None
            except Exception:  # the runtime reports any handler error instead of crashing
                result, error = None, traceback.format_exc()
            finally:
                _invocation.log = None
            duration_ms = int((time.monotonic() - started) * 1000)
            timed_out = context.expired()
        if timed_out:
            log.error("%s timed out after %d ms (timeout %ss)", self.name, duration_ms, self.timeout_s)
            return Invocation(
                error=f"Task timed out after {self.timeout_s} seconds", timed_out=True, duration_ms=duration_ms
            )
        if error:
            log.error("%s failed:\n%s", self.name, error)
        return Invocation(result=result, error=error, duration_ms=duration_ms)


def load_handler(path: str) -> Callable[[dict, Any], Any]:
    """``load_handler("pik.handlers.ingest.handler")`` imports the module and returns the function."""
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def functions(
    specs: dict[str, dict], region: str, log: IO[str] | None = None, memory_mb: int = 512
) -> dict[str, LocalFunction]:
    """A ``LocalFunction`` per entry of ``pik_local.template.function_specs()``, all logging to ``log``."""
    if log is not None:
        route_output()
    return {
        name: LocalFunction(
            name, load_handler(spec["handler"]), float(spec["timeout"]), int(spec.get("memory", memory_mb)), region, log
        )
        for name, spec in specs.items()
    }
